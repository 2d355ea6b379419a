//! The turn's decisions, driven without a model.
#![allow(clippy::panic)]

use serde_json::json;

use super::*;
use crate::report::{ChangedFile, RunReport};
use crate::text_calls::TextCallForm;
use crate::tools::{PoolKind, agent_tools};

fn policy(choice: ToolChoicePolicy) -> TurnPolicy {
    TurnPolicy::new(choice, 12, &agent_tools(PoolKind::Python, false))
}

fn args(value: Value) -> Map<String, Value> {
    value.as_object().cloned().unwrap_or_default()
}

/// A turn under `choice` after `code` ran and printed `output`.
fn after_run(choice: ToolChoicePolicy, code: &str, output: &str) -> TurnPolicy {
    let mut turn = policy(choice);
    turn.call_made("run_python", &args(json!({ "code": code })));
    turn.call_finished(StepOutcome::Ran);
    turn.saw_output(output, true);
    turn
}

const RUN_AS_TEXT: &str = r#"{"name": "run_python", "arguments": {"code": "print(1)"}}"#;

#[test]
fn a_plain_answer_ends_the_turn_and_an_empty_one_fails_in_words() {
    let mut turn = policy(ToolChoicePolicy::Auto);
    let next = turn.next("The mean is 4.2.", 2);
    assert_eq!(next, Next::Answer("The mean is 4.2.".into()));
    assert!(!next.withdraws_text());
    let empty = policy(ToolChoicePolicy::Auto).next("  \n", 1);
    assert!(
        matches!(&empty, Next::Fail(f) if f.kind == TurnFailureKind::Model && f.message.contains("without writing"))
    );
    assert!(!empty.withdraws_text(), "nothing was streamed to take back");
}

#[test]
fn a_call_written_as_text_runs_then_the_model_continues_from_its_result() {
    let mut turn = policy(ToolChoicePolicy::Guided);
    assert_eq!(
        turn.run_settings(),
        RunSettings { first: FirstCall::Tool(Tool::RunPython), tools: ToolsShown::WhileFailing, main: Tool::RunPython }
    );
    let next = turn.next(RUN_AS_TEXT, 1);
    let Next::RunTextCall { id, call } = &next else { panic!("{next:?}") };
    assert_eq!((id.as_str(), call.name.as_str()), ("text_call_1", "run_python"));
    assert!(next.withdraws_text());
    turn.text_call_ran(StepOutcome::Ran);
    assert_eq!(
        turn.run_settings(),
        RunSettings { first: FirstCall::Free, tools: ToolsShown::WhileFailing, main: Tool::RunPython }
    );
    assert_eq!(turn.next("It printed 1.", 1), Next::Answer("It printed 1.".into()));
}

#[test]
fn the_call_that_just_ran_copied_into_the_answer_is_an_echo_and_a_plain_answer_is_asked_for_once() {
    let mut turn = policy(ToolChoicePolicy::Guided);
    turn.call_made("run_python", &args(json!({"code": "print(1)"})));
    turn.call_finished(StepOutcome::Ran);
    let ask = turn.next(RUN_AS_TEXT, 2);
    assert!(matches!(&ask, Next::Ask { prompt, notice: None } if prompt.contains("plain sentences")), "{ask:?}");
    assert!(ask.withdraws_text());
    assert_eq!(turn.run_settings().tools, ToolsShown::Never, "the plain answer is asked for without tools");
    let again = turn.next(RUN_AS_TEXT, 1);
    assert!(matches!(&again, Next::Fail(f) if f.kind == TurnFailureKind::Model && f.message.contains("readable")));
    // With words around the echo, the words are the answer.
    let mut turn = policy(ToolChoicePolicy::Guided);
    turn.call_made("run_python", &args(json!({"code": "print(1)"})));
    turn.call_finished(StepOutcome::Ran);
    let echo = format!("{RUN_AS_TEXT}\nIt printed 1.");
    assert!(matches!(turn.next(&echo, 1), Next::Ask { .. }));
    assert_eq!(turn.next("It printed 1.\n[tool run_python result] 1", 1), Next::Answer("It printed 1.".into()));

    let mut failing = policy(ToolChoicePolicy::Guided);
    failing.call_made("run_python", &args(json!({"code": "print(1)", "ignored": true})));
    failing.call_finished(StepOutcome::Failed);
    let reminder = failing.next(RUN_AS_TEXT, 1);
    assert!(matches!(&reminder, Next::Ask { prompt, .. } if prompt.contains("it failed")), "{reminder:?}");
    let again = failing.next(RUN_AS_TEXT, 1);
    assert!(matches!(&again, Next::Fail(f) if f.kind == TurnFailureKind::Repeated));
}

#[test]
fn tool_syntax_anywhere_in_an_answer_is_never_shown() {
    for echo in [
        "Engineering pays most.\n[called tool run_python with {\"code\":\"x\"}]".to_owned(),
        "[tool send_file_to_user result] sorted.csv (198 bytes) will be offered to the user for download.".to_owned(),
        format!("First {RUN_AS_TEXT} then {RUN_AS_TEXT}"),
    ] {
        for choice in [ToolChoicePolicy::Guided, ToolChoicePolicy::Auto, ToolChoicePolicy::None] {
            let mut turn = policy(choice);
            turn.call_made("run_python", &args(json!({"code": "print(1)"})));
            turn.call_finished(StepOutcome::Ran);
            let first = turn.next(&echo, 1);
            let shown = match first {
                Next::Ask { .. } => turn.next(&echo, 1),
                Next::RunTextCall { .. } => continue,
                other => other,
            };
            if let Next::Answer(answer) = &shown {
                assert!(!crate::turn::echo::shows_tool_syntax(answer), "{choice:?}: {answer}");
            }
        }
    }
}

#[test]
fn a_call_to_a_tool_that_does_not_exist_is_corrected_once() {
    let mut turn = policy(ToolChoicePolicy::RequiredFirst);
    let text = r#"{"name": "python", "arguments": {"code": "1"}}"#;
    let correction = turn.next(text, 1);
    let Next::Ask { prompt, notice: Some(notice) } = &correction else { panic!("{correction:?}") };
    assert!(prompt.contains("There is no tool named python") && prompt.contains("run_python, list_files"));
    assert!(notice.contains("\"python\""));
    assert_eq!(
        turn.run_settings(),
        RunSettings { first: FirstCall::AnyTool, tools: ToolsShown::Always, main: Tool::RunPython }
    );
    let again = turn.next(text, 1);
    assert!(matches!(&again, Next::Fail(f) if f.kind == TurnFailureKind::NoToolCall));
}

#[test]
fn a_model_without_tools_runs_nothing_and_a_quoted_call_is_not_shown() {
    let quoted = format!("To run code I would send {RUN_AS_TEXT}, but the answer is 2.");
    assert!(matches!(policy(ToolChoicePolicy::Auto).next(&quoted, 1), Next::Ask { .. }), "asked for a plain answer");
    assert!(matches!(policy(ToolChoicePolicy::Auto).next(RUN_AS_TEXT, 1), Next::RunTextCall { .. }));
    let mut none = policy(ToolChoicePolicy::None);
    assert_eq!(none.run_settings().tools, ToolsShown::Never);
    assert!(matches!(none.next(RUN_AS_TEXT, 1), Next::Ask { .. }), "nothing runs");
}

#[test]
fn the_turn_stops_when_its_model_calls_are_used() {
    let mut turn = TurnPolicy::new(ToolChoicePolicy::Auto, 3, &agent_tools(PoolKind::Python, false));
    assert_eq!(turn.calls_left(), Ok(3));
    let _ = turn.next(RUN_AS_TEXT, 3);
    let failure = turn.calls_left().err();
    assert!(failure.is_some_and(|f| f.kind == TurnFailureKind::TooManySteps && f.message.contains("all 3")));
}

fn run(outcome: StepOutcome, files: bool) -> ToolInvocation {
    let report = RunReport {
        status: if outcome == StepOutcome::Ran { "Succeeded" } else { "Failed" }.into(),
        stdout: String::new(),
        stderr: "Traceback\nNameError: name 'plt' is not defined\n".into(),
        result: None,
        exit_code: None,
        images: 0,
        files_changed: if files {
            vec![ChangedFile { path: "out.csv".into(), change: "new", size: Some(3) }]
        } else {
            Vec::new()
        },
        notes: Vec::new(),
    };
    ToolInvocation { report: Some(report), ..ToolInvocation::text(outcome, String::new()) }
}

#[test]
fn guided_calls_retry_after_failures_twice_hand_files_over_once_and_otherwise_answer() {
    let settings =
        RunSettings { first: FirstCall::Tool(Tool::RunPython), tools: ToolsShown::WhileFailing, main: Tool::RunPython };
    let mut steering = CallSteering::default();
    assert_eq!(steering.demand(settings, true), Demand::Call(Some(Tool::RunPython)));
    let code = json!({"code": "plt.plot([1])"});
    for _ in 0..FORCED_RETRIES {
        steering.record("run_python", &code, &run(StepOutcome::Failed, false));
        assert_eq!(steering.demand(settings, false), Demand::Call(Some(Tool::RunPython)));
    }
    steering.record("run_python", &code, &run(StepOutcome::Failed, false));
    assert_eq!(steering.demand(settings, false), Demand::NoTools, "two forced retries a turn, then words");
    assert_eq!(
        steering.repeats_last_failure("run_python", &code).as_deref(),
        Some("NameError: name 'plt' is not defined")
    );
    steering.record("run_python", &json!({"code": "1"}), &run(StepOutcome::Ran, true));
    assert_eq!(steering.repeats_last_failure("run_python", &code), None, "a success clears it");
    assert_eq!(steering.demand(settings, false), Demand::Call(Some(Tool::SendFileToUser)));
    assert_eq!(steering.demand(settings, false), Demand::NoTools, "the hand-over is forced once");
    let always = RunSettings { first: FirstCall::Free, tools: ToolsShown::Always, main: Tool::RunPython };
    assert_eq!(steering.demand(always, true), Demand::Free);
    let never = RunSettings { first: FirstCall::Free, tools: ToolsShown::Never, main: Tool::RunPython };
    assert_eq!(steering.demand(never, true), Demand::NoTools);
}

#[test]
fn in_a_javascript_or_shell_pool_the_guided_turn_steers_to_that_pools_code_tool() {
    for (kind, main) in [(PoolKind::JavaScript, Tool::RunJavascript), (PoolKind::Shell, Tool::RunShell)] {
        let turn = TurnPolicy::new(ToolChoicePolicy::Guided, 12, &agent_tools(kind, false));
        let settings = turn.run_settings();
        assert_eq!(settings, RunSettings { first: FirstCall::Tool(main), tools: ToolsShown::WhileFailing, main });
        let mut steering = CallSteering::default();
        assert_eq!(steering.demand(settings, true), Demand::Call(Some(main)));
        steering.record(main.name(), &json!({"code": "x"}), &run(StepOutcome::Failed, false));
        assert_eq!(steering.demand(settings, false), Demand::Call(Some(main)), "{kind:?}: the retry too");
    }
}

#[test]
fn two_unusable_calls_end_the_turn_in_words() {
    let mut turn = policy(ToolChoicePolicy::Guided);
    let mut steering = CallSteering::default();
    let settings = turn.run_settings();
    let unusable = ToolInvocation::text(StepOutcome::Rejected, "the arguments are not usable".into());
    for _ in 0..MAX_REJECTED_CALLS {
        assert_ne!(steering.demand(settings, true), Demand::NoTools);
        steering.record("run_python", &json!({}), &unusable);
        turn.call_finished(StepOutcome::Rejected);
    }
    assert_eq!(steering.demand(settings, true), Demand::NoTools, "no more calls in this run");
    let end = turn.next("I will try again.", 3);
    assert!(
        matches!(&end, Next::Fail(f) if f.kind == TurnFailureKind::NoToolCall && f.message.contains("could not be used 2 times")),
        "{end:?}"
    );
    // A repeat of failed code is not an unusable call.
    let mut steering = CallSteering::default();
    let repeated = ToolInvocation::not_rerun("NameError: x");
    assert_eq!(repeated.outcome, StepOutcome::Repeated);
    for _ in 0..3 {
        steering.record("run_python", &json!({"code": "x"}), &repeated);
    }
    assert_ne!(steering.demand(settings, true), Demand::NoTools);
}

#[test]
fn after_code_that_failed_a_fenced_fix_runs_under_guided_only() {
    let fix = "The corrected code is:\n\n```python\nimport math\nprint(math.sqrt(2))\n```";
    let mut turn = policy(ToolChoicePolicy::Guided);
    turn.call_made("run_python", &args(json!({"code": "import math; print(math.sqroot(2))"})));
    turn.call_finished(StepOutcome::Failed);
    let Next::RunTextCall { call, .. } = turn.next(fix, 3) else { panic!("the fix runs") };
    assert_eq!(
        (call.name.as_str(), call.arguments["code"].as_str()),
        ("run_python", Some("import math\nprint(math.sqrt(2))"))
    );
    assert_eq!(call.form, TextCallForm::FencedCode);
    // The same code again is not run: the model is reminded that it failed.
    turn.text_call_ran(StepOutcome::Failed);
    assert!(matches!(turn.next(fix, 1), Next::Ask { .. }));

    // After a success, code in an answer is part of the answer.
    let mut turn = policy(ToolChoicePolicy::Guided);
    turn.call_made("run_python", &args(json!({"code": "print(1)"})));
    turn.call_finished(StepOutcome::Ran);
    assert_eq!(turn.next(fix, 1), Next::Answer(fix.into()));
    // Other policies never run Markdown.
    for choice in [ToolChoicePolicy::Auto, ToolChoicePolicy::RequiredFirst, ToolChoicePolicy::None] {
        let mut turn = policy(choice);
        turn.call_made("run_python", &args(json!({"code": "x"})));
        turn.call_finished(StepOutcome::Failed);
        assert_eq!(turn.next(fix, 1), Next::Answer(fix.into()), "{choice}");
    }
}

#[test]
fn a_guided_answer_with_a_number_nothing_printed_is_computed_with_code_once() {
    let squares: String = (1..=50).map(|i| format!("{}\n", i * i)).collect();
    let question = "What is the sum of the squares of the integers from 1 to 50?";
    let made_up = "The sum of the squares of the integers from 1 to 50 is 33125.";
    let mut turn = policy(ToolChoicePolicy::Guided);
    turn.saw(question);
    turn.call_made("run_python", &args(json!({"code": "for i in range(1, 51): print(i**2)"})));
    turn.call_finished(StepOutcome::Ran);
    turn.saw_output(&squares, true);
    let ask = turn.next(made_up, 2);
    let Next::Ask { prompt, notice: Some(notice) } = &ask else { panic!("{ask:?}") };
    assert!(
        prompt.contains("nothing the code printed") && !prompt.contains("33125"),
        "not named, not copied: {prompt}"
    );
    assert!(notice.contains("33125"), "{notice}");
    assert!(ask.withdraws_text(), "the made-up answer is taken back");
    assert_eq!(
        turn.run_settings(),
        RunSettings { first: FirstCall::Tool(Tool::RunPython), tools: ToolsShown::WhileFailing, main: Tool::RunPython },
        "the next run must run code"
    );
    turn.call_made("run_python", &args(json!({"code": "print(sum(i**2 for i in range(1, 51)))"})));
    turn.call_finished(StepOutcome::Ran);
    turn.saw_output("42925\n", true);
    assert_eq!(turn.next("The sum is 42,925.", 2), Next::Answer("The sum is 42,925.".into()));

    // Asked once a turn: a second unprinted number is the answer.
    let mut again = policy(ToolChoicePolicy::Guided);
    again.call_made("run_python", &args(json!({"code": "print(1)"})));
    again.call_finished(StepOutcome::Ran);
    assert!(matches!(again.next("It is 500.", 1), Next::Ask { .. }));
    again.call_finished(StepOutcome::Ran);
    assert_eq!(again.next("It is 600.", 1), Next::Answer("It is 600.".into()));

    // Numbers of the question, the code, rounding and small counts are quoted freely; other policies, code that
    // failed, and turns that ran nothing are not second-guessed.
    let mut grounded = policy(ToolChoicePolicy::Guided);
    grounded.saw("How many days from 2024-01-01 to 2024-12-25?");
    grounded.call_made("run_python", &args(json!({"code": "print(358.9999)"})));
    grounded.call_finished(StepOutcome::Ran);
    let days = "From 2024-01-01 to 2024-12-25 there are 359 days, 3 of them holidays.";
    assert_eq!(grounded.next(days, 1), Next::Answer(days.into()), "359 is 358.9999 rounded");
    for choice in [ToolChoicePolicy::Auto, ToolChoicePolicy::RequiredFirst] {
        let mut hosted = policy(choice);
        hosted.call_made("run_python", &args(json!({"code": "print(1)"})));
        hosted.call_finished(StepOutcome::Ran);
        assert_eq!(hosted.next("It is 500.", 1), Next::Answer("It is 500.".into()));
    }
    let mut failed = policy(ToolChoicePolicy::Guided);
    failed.call_made("run_python", &args(json!({"code": "1/0"})));
    failed.call_finished(StepOutcome::Failed);
    assert_eq!(failed.next("It failed at step 500.", 1), Next::Answer("It failed at step 500.".into()));
    assert_eq!(
        policy(ToolChoicePolicy::Guided).next("Hello! 2026 is here.", 1),
        Next::Answer("Hello! 2026 is here.".into())
    );
}

#[test]
fn a_guided_answer_that_miscopies_a_printed_string_is_asked_for_again_once_without_tools() {
    let mut turn = policy(ToolChoicePolicy::Guided);
    turn.saw("Reverse the string 'dynamic sessions' with Python.");
    turn.call_made("run_python", &args(json!({"code": "print('dynamic sessions'[::-1])"})));
    turn.call_finished(StepOutcome::Ran);
    turn.saw_output("The code ran successfully. It printed:\nsnoisses cimanyd", true);
    let ask = turn.next("The reversed string of 'dynamic sessions' is 'noisses cimanyd'.", 2);
    let Next::Ask { prompt, notice: None } = &ask else { panic!("{ask:?}") };
    assert!(prompt.contains("'noisses cimanyd'") && prompt.contains("'snoisses cimanyd'"), "{prompt}");
    assert!(ask.withdraws_text());
    assert_eq!(
        turn.run_settings(),
        RunSettings { first: FirstCall::Free, tools: ToolsShown::Never, main: Tool::RunPython },
        "a plain answer, no tools"
    );
    // Once a turn: a second slip is the answer.
    let again = "It is 'noisses cimanyd'.";
    assert_eq!(turn.next(again, 1), Next::Answer(again.into()));
    // An exact copy, and other policies, are answers at once.
    let mut exact = after_run(ToolChoicePolicy::Guided, "print(1)", "snoisses cimanyd");
    let right = "It is 'snoisses cimanyd'.";
    assert_eq!(exact.next(right, 1), Next::Answer(right.into()));
    let mut hosted = after_run(ToolChoicePolicy::Auto, "print(1)", "snoisses cimanyd");
    let slip = "It is 'noisses cimanyd'.";
    assert_eq!(hosted.next(slip, 1), Next::Answer(slip.into()));
}

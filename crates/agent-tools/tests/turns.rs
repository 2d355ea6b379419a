//! Turns as an application sees them (`ChatAgent::turn`: typed events), driven by a scripted
//! OpenAI-compatible server and running their tools against a real emulator: the order of text and steps,
//! the tool-choice policy, calls written as text, rejected arguments, corrections, time limits, context
//! overflow, arguments echoed back, expired sessions, and stopping.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

mod common;

use std::time::{Duration, Instant};

use common::{call, emulator, interpreter, local_model as model, run_turn as run};
use dynamic_sessions_agent_tools::rig::{ChatAgent, History};
use dynamic_sessions_agent_tools::turn::{StepOutcome, ToolChoicePolicy, TurnEvent, TurnFailureKind, TurnOptions};
use dynamic_sessions_emulator::testing::TestEmulator;
use dynamic_sessions_test_support::{Reply, ScriptedModel, assistant_calls, tool_messages};
use futures_util::StreamExt;
use serde_json::json;

/// The outcome of each step of a turn, in order.
fn outcomes_of(events: &[TurnEvent]) -> Vec<StepOutcome> {
    events
        .iter()
        .filter_map(|e| match e {
            TurnEvent::ToolResult(r) => Some(r.outcome),
            _ => None,
        })
        .collect()
}

/// A turn agent with the defaults for a model server of one's own (`guided`) on a scripted model.
async fn guided_agent(emu: &TestEmulator, replies: Vec<Reply>) -> (ChatAgent, ScriptedModel) {
    let server = ScriptedModel::start(replies).await;
    let config = model(&server);
    let agent = ChatAgent::new(&config, interpreter(emu), config.default_turn_options()).unwrap();
    (agent, server)
}

fn text_of(events: &[TurnEvent]) -> String {
    events
        .iter()
        .filter_map(|e| match e {
            TurnEvent::Text(t) => Some(t.as_str()),
            _ => None,
        })
        .collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_turn_streams_its_steps_and_answer_in_order() {
    let Some(emu) = emulator().await else { return };
    let server = ScriptedModel::start(vec![
        Reply::ToolCalls(vec![("call_1", "run_python", call("print(sum(range(10)))"))]),
        Reply::Text("The sum is 45."),
    ])
    .await;
    let agent = ChatAgent::new(&model(&server), interpreter(&emu), TurnOptions::default()).unwrap();
    let mut history = History::new();
    let events = run(&agent, &mut history, "Sum 0..9").await;
    let kinds: Vec<&str> = events
        .iter()
        .map(|e| match e {
            TurnEvent::ToolCallStarted { .. } => "started",
            TurnEvent::ToolCall(_) => "call",
            TurnEvent::ToolResult(_) => "result",
            TurnEvent::Text(_) => "text",
            TurnEvent::Done { .. } => "done",
            _ => "other",
        })
        .collect::<Vec<_>>()
        .into_iter()
        .fold(Vec::new(), |mut acc, k| {
            if acc.last() != Some(&k) {
                acc.push(k);
            }
            acc
        });
    assert_eq!(kinds, ["started", "call", "result", "text", "done"], "{events:?}");
    assert_eq!(text_of(&events), "The sum is 45.", "the answer streams as text, whole and in order");
    let Some(TurnEvent::ToolCall(step)) = events.iter().find(|e| matches!(e, TurnEvent::ToolCall(_))) else {
        panic!("no call")
    };
    assert_eq!(
        (step.name.as_str(), step.code(), step.written_as_text),
        ("run_python", Some("print(sum(range(10)))"), false)
    );
    let Some(TurnEvent::ToolResult(result)) = events.iter().find(|e| matches!(e, TurnEvent::ToolResult(_))) else {
        panic!("no result")
    };
    assert_eq!(result.outcome, StepOutcome::Ran);
    assert_eq!(result.id, step.id);
    assert_eq!(result.report.as_ref().map(|r| r.stdout.as_str()), Some("45\n"));
    assert!(matches!(events.last(), Some(TurnEvent::Done { answer }) if answer == "The sum is 45."));
    // The history holds the turn (user, call, result, answer), and the next turn sends it.
    assert_eq!(history.len(), 4);
    let bodies = server.script.bodies();
    assert_eq!(bodies[0]["max_tokens"], 2048, "every model call is bounded");
    assert!(bodies[0].get("tool_choice").is_none(), "auto: no tool_choice");
    emu.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn required_first_forces_a_tool_on_the_first_call_only() {
    let Some(emu) = emulator().await else { return };
    let server = ScriptedModel::start(vec![
        Reply::ToolCalls(vec![("call_1", "run_python", call("2**100"))]),
        Reply::Text("It is 1267650600228229401496703205376."),
    ])
    .await;
    let options =
        TurnOptions { tool_choice: ToolChoicePolicy::RequiredFirst, max_tokens: 321, ..TurnOptions::default() };
    let agent = ChatAgent::new(&model(&server), interpreter(&emu), options).unwrap();
    let events = run(&agent, &mut History::new(), "What is 2**100? Use Python.").await;
    assert!(matches!(events.last(), Some(TurnEvent::Done { .. })), "{events:?}");
    let bodies = server.script.bodies();
    assert_eq!(bodies[0]["tool_choice"], "required");
    assert_eq!(bodies[0]["tools"].as_array().map(Vec::len), Some(5), "any tool");
    assert!(bodies[1].get("tool_choice").is_none(), "later calls may answer: {}", bodies[1]);
    assert_eq!(bodies[1]["tools"].as_array().map(Vec::len), Some(5));
    assert!(bodies.iter().all(|b| b["max_tokens"] == 321));
    emu.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn guided_forces_python_first_then_lets_the_model_answer_and_retries_failures() {
    let Some(emu) = emulator().await else { return };
    let server = ScriptedModel::start(vec![
        Reply::ToolCalls(vec![("call_1", "run_python", call("len(df)"))]),
        Reply::ToolCalls(vec![("call_2", "run_python", call("2**100"))]),
        Reply::Text("It is 1267650600228229401496703205376."),
    ])
    .await;
    let config = model(&server);
    assert_eq!(config.default_tool_choice(), ToolChoicePolicy::Guided, "a compatible server of one's own");
    let options = config.default_turn_options();
    assert!(!options.images_to_model, "llama.cpp refuses images without a vision projector");
    let agent = ChatAgent::new(&config, interpreter(&emu), options).unwrap();
    let events = run(&agent, &mut History::new(), "What is 2**100? Use Python.").await;
    assert!(
        matches!(events.last(), Some(TurnEvent::Done { answer }) if answer.contains("1267650600228229401496703205376"))
    );
    let outcomes = outcomes_of(&events);
    assert_eq!(outcomes, [StepOutcome::Failed, StepOutcome::Ran]);
    let bodies = server.script.bodies();
    let tools = |body: &serde_json::Value| -> Vec<String> {
        body["tools"]
            .as_array()
            .into_iter()
            .flatten()
            .map(|t| t["function"]["name"].as_str().unwrap().to_owned())
            .collect()
    };
    // The first call: run_python, forced. After its failure: forced again. After a success: no tools, so a
    // small model answers instead of writing the call again.
    assert_eq!(
        (bodies[0]["tool_choice"].clone(), tools(&bodies[0])),
        (json!("required"), vec!["run_python".to_owned()])
    );
    assert_eq!(
        (bodies[1]["tool_choice"].clone(), tools(&bodies[1])),
        (json!("required"), vec!["run_python".to_owned()])
    );
    assert!(bodies[2].get("tools").is_none() && bodies[2].get("tool_choice").is_none(), "{}", bodies[2]);
    emu.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_tool_call_written_as_text_runs_as_a_call() {
    let Some(emu) = emulator().await else { return };
    // What Qwen2.5-Coder-0.5B writes without tool_choice (verbatim shape), then the answer.
    let server = ScriptedModel::start(vec![
        Reply::Text(
            "```json\n{\n  \"name\": \"run_python\",\n  \"arguments\": {\n    \"code\": \"print(2**100)\"\n  }\n}\n```",
        ),
        Reply::Text("2**100 is 1267650600228229401496703205376."),
    ])
    .await;
    let agent = ChatAgent::new(&model(&server), interpreter(&emu), TurnOptions::default()).unwrap();
    let mut history = History::new();
    let events = run(&agent, &mut history, "What is 2**100?").await;
    let withdrawn = events.iter().position(|e| matches!(e, TurnEvent::TextWithdrawn));
    let called = events.iter().position(|e| matches!(e, TurnEvent::ToolCall(c) if c.written_as_text));
    assert!(withdrawn.is_some() && withdrawn < called, "the JSON is withdrawn, then shown as a step: {events:?}");
    let Some(TurnEvent::ToolResult(result)) = events.iter().find(|e| matches!(e, TurnEvent::ToolResult(_))) else {
        panic!("no result: {events:?}")
    };
    assert_eq!(result.outcome, StepOutcome::Ran);
    assert_eq!(result.report.as_ref().map(|r| r.stdout.as_str()), Some("1267650600228229401496703205376\n"));
    assert!(
        matches!(events.last(), Some(TurnEvent::Done { answer }) if answer.contains("1267650600228229401496703205376"))
    );
    // The model continued from a real call and its result, not from its own JSON text.
    let bodies = server.script.bodies();
    assert_eq!(assistant_calls(&bodies[1]), [("run_python".to_owned(), r#"{"code":"print(2**100)"}"#.to_owned())]);
    assert!(tool_messages(&bodies[1])[0].contains("1267650600228229401496703205376"));
    emu.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_text_call_to_an_unknown_tool_gets_one_correction_then_a_plain_failure() {
    let Some(emu) = emulator().await else { return };
    let server = ScriptedModel::start(vec![
        Reply::Text(r#"{"name": "python", "arguments": {"code": "1+1"}}"#),
        Reply::Text(r#"<tool_call>{"name": "python", "arguments": {"code": "1+1"}}</tool_call>"#),
    ])
    .await;
    let agent = ChatAgent::new(&model(&server), interpreter(&emu), TurnOptions::default()).unwrap();
    let events = run(&agent, &mut History::new(), "1+1?").await;
    assert!(events.iter().any(|e| matches!(e, TurnEvent::Notice(n) if n.contains("\"python\""))), "{events:?}");
    assert!(!events.iter().any(|e| matches!(e, TurnEvent::Done { .. })), "JSON is never shown as an answer");
    let Some(TurnEvent::Failed(failure)) = events.last() else { panic!("{events:?}") };
    assert_eq!(failure.kind, TurnFailureKind::NoToolCall);
    assert!(failure.message.contains("nothing ran"), "{}", failure.message);
    let bodies = server.script.bodies();
    assert_eq!(bodies[1]["tool_choice"], "required", "the correction forces a tool call");
    let last = bodies[1]["messages"].as_array().unwrap().last().unwrap().to_string();
    assert!(last.contains("There is no tool named python") && last.contains("run_python"), "{last}");
    emu.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn rejected_arguments_are_a_step_where_nothing_ran() {
    let Some(emu) = emulator().await else { return };
    let server = ScriptedModel::start(vec![
        Reply::ToolCalls(vec![("call_1", "run_python", r#"{"cod": "print(1)"}"#.to_owned())]),
        Reply::ToolCalls(vec![("call_2", "read_file", json!({"path": "report.txt"}).to_string())]),
        Reply::Text("Sorry."),
    ])
    .await;
    let agent = ChatAgent::new(&model(&server), interpreter(&emu), TurnOptions::default()).unwrap();
    let events = run(&agent, &mut History::new(), "Do it").await;
    let results: Vec<_> = events
        .iter()
        .filter_map(|e| match e {
            TurnEvent::ToolResult(r) => Some(r),
            _ => None,
        })
        .collect();
    assert_eq!(results.len(), 2, "{events:?}");
    assert_eq!(results[0].outcome, StepOutcome::Rejected, "nothing ran: {:?}", results[0]);
    assert!(results[0].text.contains("code"), "the model was told what is wrong: {}", results[0].text);
    assert_eq!(results[1].outcome, StepOutcome::Failed);
    assert_eq!(results[1].text, "there is no file named report.txt in /mnt/data; list_files shows what is there");
    emu.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_turn_past_its_time_limit_stops_and_the_code_is_interrupted() {
    let Some(emu) = emulator().await else { return };
    let interpreter = interpreter(&emu);
    interpreter.run_python("kept = 'still here'").await.unwrap();
    let server = ScriptedModel::start(vec![Reply::ToolCalls(vec![(
        "call_1",
        "run_python",
        call("import time\ntime.sleep(60)"),
    )])])
    .await;
    let options = TurnOptions { time_limit: Duration::from_secs(2), ..TurnOptions::default() };
    let agent = ChatAgent::new(&model(&server), interpreter.clone(), options).unwrap();
    let mut history = History::new();
    let started = Instant::now();
    let events = run(&agent, &mut history, "Sleep").await;
    assert!(started.elapsed() < Duration::from_secs(10), "{:?}", started.elapsed());
    let Some(TurnEvent::Failed(failure)) = events.last() else { panic!("{events:?}") };
    assert_eq!(failure.kind, TurnFailureKind::TimedOut);
    assert!(failure.message.contains("2 seconds") && failure.message.contains("keeps its variables"));
    // The abandoned execution was interrupted: the session answers at once, with its state.
    let started = Instant::now();
    let after = interpreter.run_python("kept").await.unwrap();
    assert_eq!(after.execution.result, Some(json!("still here")));
    assert!(started.elapsed() < Duration::from_secs(10), "{:?}", started.elapsed());
    assert_eq!(history.len(), 2, "the history says the answer did not finish");
    emu.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_full_context_is_explained_in_plain_words() {
    let Some(emu) = emulator().await else { return };
    // llama.cpp's answer, verbatim.
    let server = ScriptedModel::start(vec![Reply::Error(
        400,
        r#"{"error":{"code":400,"message":"the request exceeds the available context size, try increasing it","type":"exceed_context_size_error","n_prompt_tokens":9000,"n_ctx":8192}}"#,
    )])
    .await;
    let agent = ChatAgent::new(&model(&server), interpreter(&emu), TurnOptions::default()).unwrap();
    let events = run(&agent, &mut History::new(), "Hello").await;
    let Some(TurnEvent::Failed(failure)) = events.last() else { panic!("{events:?}") };
    assert_eq!(failure.kind, TurnFailureKind::ContextOverflow, "{}", failure.message);
    assert!(failure.message.contains("longer than the model can read"), "{}", failure.message);
    emu.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn long_arguments_are_not_echoed_back_whole() {
    let Some(emu) = emulator().await else { return };
    // Long, and not one line over and over (a call looping like that is stopped as it streams).
    let lines: String = (0..3000).map(|i| format!("x{i} = {i}\n")).collect();
    let code = format!("{lines}print('ok')");
    let server = ScriptedModel::start(vec![
        Reply::ToolCalls(vec![("call_1", "run_python", call(&code))]),
        Reply::Text("Done."),
        Reply::Text("Still here."),
    ])
    .await;
    let options = TurnOptions { max_echoed_argument_chars: 500, ..TurnOptions::default() };
    let agent = ChatAgent::new(&model(&server), interpreter(&emu), options).unwrap();
    let mut history = History::new();
    run(&agent, &mut history, "Run it").await;
    run(&agent, &mut history, "And now?").await;
    let bodies = server.script.bodies();
    for body in &bodies[1..] {
        let calls = assistant_calls(body);
        assert_eq!(calls.len(), 1);
        assert!(calls[0].1.len() < 700, "echoed: {} characters", calls[0].1.len());
        assert!(calls[0].1.contains("more characters not repeated here"));
    }
    emu.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_expired_session_is_reported_not_silently_replaced() {
    let Some(emu) = emulator().await else { return };
    let interpreter = interpreter(&emu);
    let server = ScriptedModel::start(vec![
        Reply::ToolCalls(vec![("call_1", "run_python", call("open('/mnt/data/notes.txt', 'w').write('x')"))]),
        Reply::Text("Saved."),
        Reply::Text("Your files are gone."),
    ])
    .await;
    let agent = ChatAgent::new(&model(&server), interpreter.clone(), TurnOptions::default()).unwrap();
    let mut history = History::new();
    let first = run(&agent, &mut history, "Save a note").await;
    assert!(!first.iter().any(|e| matches!(e, TurnEvent::Notice(_))), "{first:?}");
    // The session expires (its cooldown ran out): the pool no longer knows it.
    interpreter.session().delete().await.unwrap();
    let second = run(&agent, &mut history, "Read my note").await;
    assert!(
        matches!(second.first(), Some(TurnEvent::Notice(n)) if n.contains("expired") && n.contains("files")),
        "{second:?}"
    );
    emu.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn dropping_a_turn_stops_the_model_and_the_running_code() {
    let Some(emu) = emulator().await else { return };
    let interpreter = interpreter(&emu);
    interpreter.run_python("kept = 'still here'").await.unwrap();
    let server = ScriptedModel::start(vec![
        Reply::ToolCalls(vec![("call_1", "run_python", call("import time\ntime.sleep(60)"))]),
        Reply::Text("never read"),
    ])
    .await;
    let agent = ChatAgent::new(&model(&server), interpreter.clone(), TurnOptions::default()).unwrap();
    let mut history = History::new();
    {
        let mut turn = std::pin::pin!(agent.turn(&mut history, "Sleep".to_owned()));
        // Wait until the code runs, then stop (as the Stop button or a closed page does).
        while let Some(event) = turn.next().await {
            if matches!(event, TurnEvent::ToolCall(_)) {
                tokio::time::sleep(Duration::from_millis(500)).await;
                break;
            }
        }
    }
    let started = Instant::now();
    let after = interpreter.run_python("kept").await.unwrap();
    assert_eq!(after.execution.result, Some(json!("still here")));
    assert!(started.elapsed() < Duration::from_secs(10), "the abandoned code kept running: {:?}", started.elapsed());
    assert_eq!(server.script.bodies().len(), 1, "no further model call");
    emu.stop().await;
}

/// Answers a small model gave after a successful run, copying the history's tool syntax (verbatim shapes from
/// Qwen2.5-Coder-1.5B through llama.cpp): at the start, in the middle, twice.
const ECHOES: [&str; 3] = [
    "[called tool run_python with {\"code\":\"print(6 * 7)\"}]\n[called tool run_python with {\"code\":\"print(6 * 7)\"}]",
    "The product is 42.\n[called tool run_python with {\"code\":\"print(6 * 7)\"}]",
    "[tool run_python result] The code ran. It printed: 42\nThe product is 42.",
];

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_answer_that_echoes_tool_syntax_is_never_shown_to_the_person() {
    let Some(emu) = emulator().await else { return };
    for echo in ECHOES {
        let server = ScriptedModel::start(vec![
            Reply::ToolCalls(vec![("call_1", "run_python", call("print(6 * 7)"))]),
            Reply::Text(echo),
            Reply::Text("The product of 6 and 7 is 42."),
        ])
        .await;
        let config = model(&server);
        let agent = ChatAgent::new(&config, interpreter(&emu), config.default_turn_options()).unwrap();
        let events = run(&agent, &mut History::new(), "What is 6 * 7? Use Python.").await;
        let Some(TurnEvent::Done { answer }) = events.last() else { panic!("{echo}: {events:?}") };
        assert_eq!(answer, "The product of 6 and 7 is 42.", "{echo}");
        assert!(events.iter().any(|e| matches!(e, TurnEvent::TextWithdrawn)), "the streamed echo is taken back");
        let ran = events.iter().filter(|e| matches!(e, TurnEvent::ToolResult(_))).count();
        assert_eq!(ran, 1, "{echo}: the echoed call did not run again");
        // The requests without tools carry the history in words: no syntax to copy.
        let bodies = server.script.bodies();
        for body in &bodies[1..] {
            let messages = body["messages"].to_string();
            assert!(body.get("tools").is_none(), "{body}");
            assert!(!messages.contains("[called tool") && !messages.contains("[tool "), "{messages}");
            assert!(
                messages.contains("You ran this Python code in the session:") && messages.contains("print(6 * 7)"),
                "the code is quoted with its result: {messages}"
            );
        }
        assert!(bodies[2]["messages"].to_string().contains("plain sentences"), "asked once for a plain answer");
    }
    // A model that echoes again after being asked: what is left without the syntax is the answer.
    let (agent, _server) = guided_agent(
        &emu,
        vec![
            Reply::ToolCalls(vec![("call_1", "run_python", call("print(6 * 7)"))]),
            Reply::Text(ECHOES[1]),
            Reply::Text(ECHOES[1]),
        ],
    )
    .await;
    let events = run(&agent, &mut History::new(), "What is 6 * 7? Use Python.").await;
    assert!(matches!(events.last(), Some(TurnEvent::Done { answer }) if answer == "The product is 42."), "{events:?}");
    emu.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_model_writing_the_same_stretch_over_and_over_is_stopped() {
    let Some(emu) = emulator().await else { return };
    // In the text of the answer, and in a tool call's arguments (what the 0.5B model did, 2,048 tokens long).
    let looping_text: &'static str = "The squares are 1, 4, 9. ".repeat(120).leak();
    let looping_code = "import pandas as pd\n".to_owned() + &"df.to_csv('/mnt/data/squares.csv')\n".repeat(80);
    let looping = |text: bool| {
        if text {
            Reply::Text(looping_text)
        } else {
            Reply::ToolCalls(vec![("call_1", "run_python", call(&looping_code))])
        }
    };
    for text in [true, false] {
        let server = ScriptedModel::start(vec![looping(text), looping(text), Reply::Text("never asked")]).await;
        let options = TurnOptions { tool_choice: ToolChoicePolicy::Guided, ..TurnOptions::default() };
        let agent = ChatAgent::new(&model(&server), interpreter(&emu), options).unwrap();
        let events = run(&agent, &mut History::new(), "Write the squares to a CSV").await;
        let Some(TurnEvent::Failed(failure)) = events.last() else { panic!("{events:?}") };
        assert_eq!(failure.kind, TurnFailureKind::Looping, "{events:?}");
        assert!(failure.message.contains("over and over"), "{}", failure.message);
        assert!(!events.iter().any(|e| matches!(e, TurnEvent::ToolResult(_))), "nothing ran: {events:?}");
        assert_eq!(events.iter().filter(|e| matches!(e, TurnEvent::TextWithdrawn)).count(), 2, "taken back twice");
        // Started again once, sampled; the second loop ends the turn.
        let bodies = server.script.bodies();
        assert_eq!(bodies.len(), 2, "the model was asked again once");
        assert_ne!(bodies[0]["temperature"], json!(0.7));
        assert_eq!((bodies[1]["temperature"].clone(), bodies[1]["seed"].clone()), (json!(0.7), json!(7)));
        assert!(events.iter().any(|e| matches!(e, TurnEvent::Notice(n) if n.contains("asked again"))));
    }
    // A run started again that answers is the answer.
    let server = ScriptedModel::start(vec![looping(true), Reply::Text("The squares are 1, 4 and 9.")]).await;
    let options = TurnOptions { tool_choice: ToolChoicePolicy::Guided, ..TurnOptions::default() };
    let agent = ChatAgent::new(&model(&server), interpreter(&emu), options).unwrap();
    let events = run(&agent, &mut History::new(), "Squares of 1 to 3?").await;
    assert!(matches!(events.last(), Some(TurnEvent::Done { answer }) if answer == "The squares are 1, 4 and 9."));
    // A hosted model's loop ends the turn at once: reasoning models refuse a temperature other than 1.
    let server = ScriptedModel::start(vec![looping(true), Reply::Text("never asked")]).await;
    let options = TurnOptions { tool_choice: ToolChoicePolicy::Auto, ..TurnOptions::default() };
    let agent = ChatAgent::new(&model(&server), interpreter(&emu), options).unwrap();
    let events = run(&agent, &mut History::new(), "Squares of 1 to 3?").await;
    assert!(matches!(events.last(), Some(TurnEvent::Failed(f)) if f.kind == TurnFailureKind::Looping), "{events:?}");
    assert_eq!(server.script.bodies().len(), 1, "not asked again");
    emu.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn guided_code_that_keeps_failing_may_be_fixed_in_a_fenced_block_that_runs() {
    let Some(emu) = emulator().await else { return };
    let failing = call("import math; print(math.sqroot(2))");
    let (agent, server) = guided_agent(
        &emu,
        vec![
            Reply::ToolCalls(vec![("call_1", "run_python", failing.clone())]),
            Reply::ToolCalls(vec![("call_2", "run_python", failing.clone())]),
            Reply::ToolCalls(vec![("call_3", "run_python", failing)]),
            Reply::Text("The corrected code is:\n\n```python\nimport math\nprint(math.sqrt(2))\n```"),
            Reply::Text("The square root of 2 is 1.4142135623730951."),
        ],
    )
    .await;
    let events =
        run(&agent, &mut History::new(), "Run import math; print(math.sqroot(2)) and fix it if it fails.").await;
    assert!(
        matches!(events.last(), Some(TurnEvent::Done { answer }) if answer.contains("1.4142135623730951")),
        "{events:?}"
    );
    let as_text: Vec<bool> = events
        .iter()
        .filter_map(|e| match e {
            TurnEvent::ToolCall(c) => Some(c.written_as_text),
            _ => None,
        })
        .collect();
    let outcomes = outcomes_of(&events);
    assert_eq!(as_text, [false, false, false, true], "the fenced fix ran as a step");
    assert_eq!(outcomes, [StepOutcome::Failed, StepOutcome::Repeated, StepOutcome::Repeated, StepOutcome::Ran]);
    let bodies = server.script.bodies();
    let asked = bodies[3]["messages"].to_string();
    assert!(bodies[3].get("tools").is_none(), "no tools once the retries are used up");
    assert!(asked.contains("reply with only the corrected call"), "the fix was asked for: {asked}");
    emu.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_number_the_model_worked_out_in_its_head_is_computed_with_code_before_anyone_sees_it() {
    let Some(emu) = emulator().await else { return };
    let (agent, server) = guided_agent(
        &emu,
        vec![
            Reply::ToolCalls(vec![("call_1", "run_python", call("for i in range(1, 51): print(i**2)"))]),
            Reply::Text("The sum of the squares of the integers from 1 to 50 is 33125."),
            Reply::ToolCalls(vec![("call_2", "run_python", call("print(sum(i**2 for i in range(1, 51)))"))]),
            Reply::Text("The sum of the squares of the integers from 1 to 50 is 42925."),
        ],
    )
    .await;
    let question = "What is the sum of the squares of the integers from 1 to 50? Use Python.";
    let events = run(&agent, &mut History::new(), question).await;
    let Some(TurnEvent::Done { answer }) = events.last() else { panic!("{events:?}") };
    assert_eq!(answer, "The sum of the squares of the integers from 1 to 50 is 42925.");
    assert_eq!(outcomes_of(&events), [StepOutcome::Ran, StepOutcome::Ran]);
    // The made-up number was streamed, then taken back, and the person is told why another step ran.
    let withdrawn = events.iter().position(|e| matches!(e, TurnEvent::TextWithdrawn)).unwrap();
    assert!(events[..withdrawn].iter().any(|e| matches!(e, TurnEvent::Text(t) if t.contains("33125"))));
    assert!(events.iter().any(|e| matches!(e, TurnEvent::Notice(n) if n.contains("33125"))), "{events:?}");
    // The request after the made-up answer asks for code that prints the value (without naming the number), and
    // forces code.
    let bodies = server.script.bodies();
    assert_eq!(bodies.len(), 4);
    assert!(bodies[2]["messages"].to_string().contains("Your answer gives a number"), "{}", bodies[2]);
    assert_eq!(bodies[2]["tool_choice"], json!("required"), "{}", bodies[2]);
    emu.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_model_that_writes_the_failing_code_again_is_sampled_for_its_next_try() {
    let Some(emu) = emulator().await else { return };
    let broken = "import math\nprint(math.sqroot(2))";
    let (agent, server) = guided_agent(
        &emu,
        vec![
            Reply::ToolCalls(vec![("call_1", "run_python", call(broken))]),
            Reply::ToolCalls(vec![("call_2", "run_python", call(broken))]),
            Reply::ToolCalls(vec![("call_3", "run_python", call("import math\nprint(math.sqrt(2))"))]),
            Reply::Text("The square root of 2 is 1.4142135623730951."),
        ],
    )
    .await;
    let events =
        run(&agent, &mut History::new(), "Run import math; print(math.sqroot(2)) and fix it if it fails.").await;
    assert!(matches!(events.last(), Some(TurnEvent::Done { answer }) if answer.contains("1.4142")), "{events:?}");
    assert_eq!(outcomes_of(&events), [StepOutcome::Failed, StepOutcome::Repeated, StepOutcome::Ran]);
    let bodies = server.script.bodies();
    // The first retry is taken as usual; the one after the repeat is sampled, with a seed.
    assert_ne!(bodies[1]["temperature"], json!(0.7), "{}", bodies[1]);
    assert_eq!((bodies[2]["temperature"].clone(), bodies[2]["seed"].clone()), (json!(0.7), json!(7)), "{}", bodies[2]);
    assert_eq!(bodies[2]["tool_choice"], json!("required"));
    assert_ne!(bodies[3]["temperature"], json!(0.7), "after a run, back to the turn's own temperature");
    // The answer is asked for with the failures told in a line each, the fix quoted whole.
    let last = bodies[3]["messages"].to_string();
    assert!(
        last.contains("An earlier attempt failed (AttributeError: module 'math' has no attribute 'sqroot'"),
        "{last}"
    );
    assert!(last.contains("Did you mean: 'sqrt'?") && last.contains("print(math.sqrt(2))"), "{last}");
    emu.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_printed_string_copied_with_a_slip_is_asked_for_again_before_anyone_sees_it() {
    let Some(emu) = emulator().await else { return };
    let (agent, server) = guided_agent(
        &emu,
        vec![
            Reply::ToolCalls(vec![("call_1", "run_python", call("print('dynamic sessions'[::-1])"))]),
            Reply::Text("The reversed string of 'dynamic sessions' is 'noisses cimanyd'."),
            Reply::Text("The reversed string of 'dynamic sessions' is 'snoisses cimanyd'."),
        ],
    )
    .await;
    let events = run(&agent, &mut History::new(), "Reverse the string 'dynamic sessions' with Python.").await;
    let Some(TurnEvent::Done { answer }) = events.last() else { panic!("{events:?}") };
    assert_eq!(answer, "The reversed string of 'dynamic sessions' is 'snoisses cimanyd'.");
    assert!(events.iter().any(|e| matches!(e, TurnEvent::TextWithdrawn)), "the slip is taken back");
    let bodies = server.script.bodies();
    assert_eq!(bodies.len(), 3);
    let asked = bodies[2]["messages"].to_string();
    assert!(asked.contains("but what was printed is 'snoisses cimanyd'"), "{asked}");
    assert!(bodies[2].get("tools").is_none(), "a plain answer: {}", bodies[2]);
    emu.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_answer_may_quote_what_earlier_turns_printed() {
    let Some(emu) = emulator().await else { return };
    let (agent, server) = guided_agent(
        &emu,
        vec![
            Reply::ToolCalls(vec![(
                "call_1",
                "run_python",
                call("total = sum(i*i for i in range(1, 51))\nprint(total)"),
            )]),
            Reply::Text("The sum is 42925."),
            Reply::ToolCalls(vec![("call_2", "run_python", call("print(total / 7)"))]),
            Reply::Text("42,925 divided by 7 is 6132.14."),
        ],
    )
    .await;
    let mut history = History::new();
    let first = run(&agent, &mut history, "Sum the squares of 1 to 50.").await;
    assert!(matches!(first.last(), Some(TurnEvent::Done { answer }) if answer == "The sum is 42925."), "{first:?}");
    let second = run(&agent, &mut history, "Divide it by 7.").await;
    let Some(TurnEvent::Done { answer }) = second.last() else { panic!("{second:?}") };
    assert_eq!(answer, "42,925 divided by 7 is 6132.14.");
    assert_eq!(server.script.bodies().len(), 4, "no request to compute 42,925 again");
    emu.stop().await;
}

//! What the agent does for models that stumble (each measured with the agent eval): the session's files
//! described with each message, identical failed code not run again, a file the code made handed over under
//! `guided`, and code Python would refuse whole for a plain slip repaired. Driven by a scripted
//! OpenAI-compatible server against a real emulator.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

mod common;

use common::{call, emulator, interpreter, local_model as model, run_turn as run};
use dynamic_sessions_agent_tools::repair::{FINAL_RETURN, STRAY_BRACKETS};
use dynamic_sessions_agent_tools::rig::{ChatAgent, History};
use dynamic_sessions_agent_tools::turn::{StepOutcome, ToolChoicePolicy, TurnEvent, TurnOptions};
use dynamic_sessions_agent_tools::{Artifact, CodeInterpreter};
use dynamic_sessions_test_support::{Reply, ScriptedModel, user_messages};
use serde_json::{Value, json};

fn results(events: &[TurnEvent]) -> Vec<(StepOutcome, String)> {
    events
        .iter()
        .filter_map(|e| match e {
            TurnEvent::ToolResult(r) => Some((r.outcome, r.text.clone())),
            _ => None,
        })
        .collect()
}

async fn download(interpreter: &CodeInterpreter, name: &str) -> String {
    let bytes = interpreter.session().files().download(name).await.unwrap().bytes().await.unwrap();
    String::from_utf8_lossy(&bytes).into_owned()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn each_message_describes_the_files_and_the_history_keeps_the_users_words() {
    let Some(emu) = emulator().await else { return };
    let server = ScriptedModel::start(vec![Reply::Text("Noted."), Reply::Text("Still noted.")]).await;
    let interpreter = interpreter(&emu);
    interpreter.session().files().upload("people.csv", "Name;Age;City\nAna;34;Lisbon\nBen;28;Oslo\n").await.unwrap();
    interpreter.session().files().upload("chart.png", vec![0x89u8, b'P', b'N', b'G', 0, 1]).await.unwrap();
    let agent = ChatAgent::new(&model(&server), interpreter.clone(), TurnOptions::default()).unwrap();
    let mut history = History::new();
    run(&agent, &mut history, "What is the average age?").await;
    run(&agent, &mut history, "And the oldest?").await;
    let bodies = server.script.bodies();
    let first = user_messages(&bodies[0]);
    let described = first.last().unwrap();
    assert!(described.starts_with("Files in /mnt/data now:\n- /mnt/data/chart.png (6 bytes)\n"), "{described}");
    assert!(
        described.contains(
            "- /mnt/data/people.csv (40 bytes), columns separated by ';' (read it with pd.read_csv(path, \
             sep=';')), first lines:\n    Name;Age;City\n    Ana;34;Lisbon\n    Ben;28;Oslo"
        ),
        "{described}"
    );
    assert!(described.ends_with("\n\nWhat is the average age?"), "the user's words come last: {described}");
    assert!(!described.contains("PNG"), "a binary file is listed, not shown: {described}");
    // The next request carries the earlier message as the user wrote it, and describes the files afresh.
    let second = user_messages(&bodies[1]);
    assert_eq!(second[0], "What is the average age?", "{second:?}");
    assert!(second[1].starts_with("Files in /mnt/data now:") && second[1].ends_with("And the oldest?"));
    emu.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn without_files_or_with_the_option_off_the_message_is_sent_as_written() {
    let Some(emu) = emulator().await else { return };
    let server = ScriptedModel::start(vec![Reply::Text("Hi."), Reply::Text("Hi again.")]).await;
    let interpreter = interpreter(&emu);
    let agent = ChatAgent::new(&model(&server), interpreter.clone(), TurnOptions::default()).unwrap();
    run(&agent, &mut History::new(), "Hello").await;
    interpreter.session().files().upload("notes.txt", "a note\n").await.unwrap();
    let quiet = TurnOptions { describe_files: false, ..TurnOptions::default() };
    let agent = ChatAgent::new(&model(&server), interpreter, quiet).unwrap();
    run(&agent, &mut History::new(), "Hello again").await;
    let bodies = server.script.bodies();
    assert_eq!(user_messages(&bodies[0]), ["Hello"]);
    assert_eq!(user_messages(&bodies[1]), ["Hello again"]);
    emu.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_exact_code_that_just_failed_is_not_run_again() {
    let Some(emu) = emulator().await else { return };
    let failing = "open('/mnt/data/runs.txt', 'a').write('x'); 1/0";
    let server = ScriptedModel::start(vec![
        Reply::ToolCalls(vec![("call_1", "run_python", call(failing))]),
        Reply::ToolCalls(vec![("call_2", "run_python", call(failing))]),
        Reply::ToolCalls(vec![("call_3", "run_python", call("open('/mnt/data/runs.txt').read()"))]),
        Reply::ToolCalls(vec![("call_4", "run_python", call(failing))]),
        Reply::Text("It divides by zero."),
    ])
    .await;
    let interpreter = interpreter(&emu);
    let agent = ChatAgent::new(&model(&server), interpreter.clone(), TurnOptions::default()).unwrap();
    let events = run(&agent, &mut History::new(), "Run it").await;
    let steps = results(&events);
    let outcomes: Vec<StepOutcome> = steps.iter().map(|(o, _)| *o).collect();
    assert_eq!(outcomes, [StepOutcome::Failed, StepOutcome::Repeated, StepOutcome::Ran, StepOutcome::Failed]);
    assert!(steps[1].1.contains("not run again") && steps[1].1.contains("ZeroDivisionError"), "{}", steps[1].1);
    // Once other code succeeded, the same code may run again (its state may have changed).
    assert_eq!(download(&interpreter, "runs.txt").await, "xx", "the refused call never ran");
    emu.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn guided_has_a_file_the_code_made_handed_to_the_user() {
    let Some(emu) = emulator().await else { return };
    let server = ScriptedModel::start(vec![
        Reply::ToolCalls(vec![("call_1", "run_python", call("open('/mnt/data/out.csv', 'w').write('n\\n1\\n')"))]),
        Reply::ToolCalls(vec![("call_2", "send_file_to_user", json!({"path": "out.csv"}).to_string())]),
        Reply::Text("Here it is."),
    ])
    .await;
    let options = TurnOptions { tool_choice: ToolChoicePolicy::Guided, ..TurnOptions::default() };
    let agent = ChatAgent::new(&model(&server), interpreter(&emu), options).unwrap();
    let events = run(&agent, &mut History::new(), "Make out.csv and send it to me").await;
    assert!(matches!(events.last(), Some(TurnEvent::Done { answer }) if answer == "Here it is."), "{events:?}");
    let handed: Vec<String> = events
        .iter()
        .filter_map(|e| match e {
            TurnEvent::ToolResult(r) => Some(r.artifacts.clone()),
            _ => None,
        })
        .flatten()
        .filter_map(|a| match a {
            Artifact::File { path, .. } => Some(path),
            _ => None,
        })
        .collect();
    assert_eq!(handed, ["out.csv"]);
    let steps = results(&events);
    assert!(steps[0].1.contains("call send_file_to_user with its path"), "the report says so: {}", steps[0].1);
    let bodies = server.script.bodies();
    let tools = |body: &Value| -> Vec<String> {
        body["tools"].as_array().into_iter().flatten().map(|t| t["function"]["name"].as_str().unwrap().into()).collect()
    };
    assert_eq!(
        (bodies[1]["tool_choice"].clone(), tools(&bodies[1])),
        (json!("required"), vec!["send_file_to_user".into()])
    );
    assert!(bodies[2].get("tools").is_none(), "after the hand-over the model answers: {}", bodies[2]);
    emu.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn code_python_would_refuse_for_a_slip_runs_repaired_and_the_report_says_so() {
    let Some(emu) = emulator().await else { return };
    let interpreter = interpreter(&emu);
    let outcome = interpreter.run_python("x = 2\nreturn x * 21}").await.unwrap();
    assert_eq!(outcome.report.result, Some(json!(42)), "{:?}", outcome.report);
    assert_eq!(outcome.report.notes, [STRAY_BRACKETS, FINAL_RETURN]);
    assert!(outcome.report.to_prose().contains("`return` outside a function"));
    // Valid code is never changed, even when it mentions return.
    let untouched = interpreter.run_python("def f():\n    return 'return 1}'\nf()").await.unwrap();
    assert_eq!(untouched.report.result, Some(json!("return 1}")));
    assert!(untouched.report.notes.is_empty(), "{:?}", untouched.report.notes);
    emu.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn slips_and_missing_names_get_repairs_and_hints_that_name_the_fix() {
    use dynamic_sessions_agent_tools::repair::LINE_BREAKS_IN_STRINGS;
    let Some(emu) = emulator().await else { return };
    let interpreter = interpreter(&emu);
    // The JSON-escaping slip, as the 1.5B model sent it: a real line break inside a one-line string.
    let slipped =
        "with open('/mnt/data/report.txt', 'w') as f:\n    f.write('Summary of the uploaded files:\n')\n'done'";
    let outcome = interpreter.run_python(slipped).await.unwrap();
    assert!(outcome.execution.is_success(), "{:?}", outcome.execution);
    assert_eq!(outcome.report.notes, [LINE_BREAKS_IN_STRINGS]);
    assert_eq!(download(&interpreter, "report.txt").await, "Summary of the uploaded files:\n");
    // A well-known alias used without its import: the hint is the import.
    let outcome = interpreter.run_python("plt.plot([1, 2])").await.unwrap();
    let text = outcome.report.to_prose();
    assert!(text.contains("put `import matplotlib.pyplot as plt` at the top"), "{text}");
    // A module the session lacks: it cannot be installed, and the pool's packages are named.
    let outcome = interpreter.run_python("import polars as pl\npl.DataFrame()").await.unwrap();
    let note = outcome.report.notes.join(" ");
    assert!(note.contains("no module `polars`") && note.contains("cannot be installed"), "{note}");
    assert!(note.contains("pandas") && note.contains("numpy"), "the pool's packages, from its metadata: {note}");
    emu.stop().await;
}

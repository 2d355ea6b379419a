//! The app killed with SIGKILL in the middle of a turn and started again: every step that had been streamed is
//! there, the turn is marked interrupted, and the conversation goes on (a code cell, then a whole turn). The
//! app is its own process, on SQLite in its data directory, with the key it generated on first start.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

mod support;

use std::time::Duration;

use dynamic_sessions_emulator::testing::TestEmulator;
use dynamic_sessions_test_support::{Reply, ScriptedModel};
use reqwest::Method;
use serde_json::{Value, json};
use support::app::{self, Visitor, read_events};

/// What the page keeps of a streamed event (the log a reload replays), as `PageEvent::logged` does.
fn logged(event: &Value) -> Option<Value> {
    match event["type"].as_str()? {
        "text" | "text_withdrawn" | "writing_code" | "files" => None,
        "done" => Some(json!({"type": "assistant", "html": event["html"]})),
        _ => Some(event.clone()),
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_turn_cut_off_by_sigkill_is_kept_and_marked_interrupted() {
    let Some(emulator) = TestEmulator::start(|_| {}).await.unwrap_or_else(|e| panic!("{e}")) else { return };
    let model = ScriptedModel::start(vec![
        // A first step that fails (so the model may try again), then one that runs for a while.
        Reply::ToolCalls(vec![(
            "call_1",
            "run_python",
            json!({"code": "step = 1\nprint('step one')\n1 / 0"}).to_string(),
        )]),
        Reply::ToolCalls(vec![(
            "call_2",
            "run_python",
            json!({"code": "import time\nprint('step two starts', flush=True)\ntime.sleep(4)"}).to_string(),
        )]),
        Reply::Text("Back again: step is 1."),
    ])
    .await;
    let data = tempfile::tempdir().unwrap();
    let env = vec![
        ("CHAT_APP_DATA_DIR", data.path().display().to_string()),
        ("POOL_MANAGEMENT_ENDPOINT", emulator.url()),
        ("DYNAMIC_SESSIONS_TOKEN", emulator.token().to_owned()),
        ("OPENAI_BASE_URL", model.base_url()),
        ("OPENAI_MODEL", "scripted".to_owned()),
    ];
    let first = app::start(&env).await;
    let visitor = Visitor::open(&first.base).await;
    let (_, history) = visitor.call(Method::GET, &first.base, "/api/history", None, None).await;
    let conversation = history["conversation"]["id"].as_str().unwrap().to_owned();

    let mut stream = visitor.chat(&first.base, &conversation, "Run two steps").await;
    let streamed = read_events(&mut stream, |e| e["type"] == "tool_call" && e["id"] == "call_2").await;
    assert!(streamed.iter().any(|e| e["type"] == "tool_result" && e["id"] == "call_1"), "{streamed:?}");
    // The second step runs now; the app dies without a word.
    tokio::time::sleep(Duration::from_millis(300)).await;
    first.kill().await;

    let second = app::start(&env).await;
    let (status, history) = visitor.call(Method::GET, &second.base, "/api/history", Some(&conversation), None).await;
    assert_eq!(status, 200, "the same cookie still works: the key was kept in the data directory");
    let events = history["events"].as_array().unwrap();
    let mut expected: Vec<Value> = vec![json!({"type": "user", "text": "Run two steps"})];
    expected.extend(streamed.iter().filter_map(logged));
    assert_eq!(&events[..expected.len()], &expected[..], "every step that was streamed, as it was streamed");
    assert_eq!(events.len(), expected.len() + 1, "{events:?}");
    let last = &events[expected.len()];
    assert_eq!(last["type"], "interrupted", "{last}");
    assert!(last["message"].as_str().unwrap().contains("cut off"));
    assert_eq!(history["running"], false);
    assert_eq!(history["conversation"]["title"], "Run two steps");

    // The conversation goes on: the session kept its variables, and a new turn runs to its answer.
    let (status, result) =
        visitor.call(Method::POST, &second.base, "/api/run", Some(&conversation), Some(json!({"code": "step"}))).await;
    assert_eq!(status, 200, "{result}");
    assert_eq!(result["report"]["result"], 1, "{result}");
    let mut stream = visitor.chat(&second.base, &conversation, "Still there?").await;
    let events = read_events(&mut stream, |e| e["type"] == "done" || e["type"] == "error").await;
    assert_eq!(events.last().unwrap()["type"], "done", "{events:?}");
    let (_, history) = visitor.call(Method::GET, &second.base, "/api/history", Some(&conversation), None).await;
    let kinds: Vec<&str> = history["events"].as_array().unwrap().iter().filter_map(|e| e["type"].as_str()).collect();
    assert_eq!(kinds.iter().filter(|k| **k == "interrupted").count(), 1, "{kinds:?}");
    assert_eq!(kinds.last(), Some(&"assistant"), "{kinds:?}");
    second.kill().await;
    emulator.stop().await;
}

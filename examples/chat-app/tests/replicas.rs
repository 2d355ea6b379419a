//! Several app processes on one PostgreSQL (the replicas `azd up` deploys), requests alternating between them;
//! a database lost and back; the start-up rules. Each app is its own process, on one emulator.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

mod support;

use std::time::{Duration, Instant};

use dynamic_sessions_emulator::testing::TestEmulator;
use dynamic_sessions_test_support::{Reply, ScriptedModel};
use reqwest::Method;
use serde_json::json;
use support::app::{self, Visitor, read_events};
use support::proxy::{Proxy, target_of};

const SECRET: &str = "replicas-share-this-secret-0123456789";

fn env(database_url: &str, emulator: &TestEmulator, model: Option<&ScriptedModel>) -> Vec<(&'static str, String)> {
    let mut env = vec![
        ("DATABASE_URL", database_url.to_owned()),
        ("CHAT_APP_SECRET", SECRET.to_owned()),
        ("POOL_MANAGEMENT_ENDPOINT", emulator.url()),
        ("DYNAMIC_SESSIONS_TOKEN", emulator.token().to_owned()),
    ];
    if let Some(model) = model {
        env.push(("OPENAI_BASE_URL", model.base_url()));
        env.push(("OPENAI_MODEL", "scripted".to_owned()));
    }
    env
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn two_replicas_serve_the_same_people_and_stop_reaches_across() {
    let Some(base) = support::postgres_base() else { return };
    let Some(emulator) = TestEmulator::start(|_| {}).await.unwrap_or_else(|e| panic!("{e}")) else { return };
    let model = ScriptedModel::start(vec![
        Reply::ToolCalls(vec![(
            "call_1",
            "run_python",
            json!({"code": "import pandas as pd\nprint(pd.read_csv('/mnt/data/sales.csv')['n'].sum())"}).to_string(),
        )]),
        Reply::Text("The total is 6."),
        Reply::ToolCalls(vec![(
            "call_2",
            "run_python",
            json!({"code": "import time\nprint('sleeping', flush=True)\ntime.sleep(60)"}).to_string(),
        )]),
        Reply::Text("never shown"),
    ])
    .await;
    let url = support::fresh_database(&base).await;
    let a = app::start(&env(&url, &emulator, Some(&model))).await;
    let b = app::start(&env(&url, &emulator, Some(&model))).await;
    let visitor = Visitor::open(&a.base).await;

    // The page from A, the conversation from B: one identity, one conversation, one session.
    let (status, history) = visitor.call(Method::GET, &b.base, "/api/history", None, None).await;
    assert_eq!(status, 200, "{history}");
    let id = history["conversation"]["id"].as_str().unwrap().to_owned();
    assert_eq!(visitor.upload(&b.base, &id, "sales.csv", b"month,n\n1,1\n2,5\n").await, 200);
    assert_eq!(visitor.files(&a.base, &id).await, ["sales.csv"], "B's upload, listed by A");

    // A full turn on A, seen from B.
    let mut stream = visitor.chat(&a.base, &id, "What is the total?").await;
    let events = read_events(&mut stream, |e| e["type"] == "done" || e["type"] == "error").await;
    assert_eq!(events.last().unwrap()["type"], "done", "{events:?}");
    assert_eq!(visitor.kinds(&b.base, &id).await, ["user", "tool_call", "tool_result", "assistant"]);

    // A code cell on B, seen from A; its variables live in the one session.
    let (status, result) =
        visitor.call(Method::POST, &b.base, "/api/run", Some(&id), Some(json!({"code": "x = 41\nx + 1"}))).await;
    assert_eq!((status, &result["report"]["result"]), (200, &json!(42)), "{result}");
    assert_eq!(visitor.kinds(&a.base, &id).await.len(), 6);

    // A turn on B, stopped from A.
    let mut stream = visitor.chat(&b.base, &id, "Sleep for a minute").await;
    read_events(&mut stream, |e| e["type"] == "tool_call").await;
    let (status, conflict) =
        visitor.call(Method::POST, &a.base, "/api/chat", Some(&id), Some(json!({"message": "and again"}))).await;
    assert_eq!(status, 409, "one turn at a time, across replicas: {conflict}");
    tokio::time::sleep(Duration::from_millis(500)).await;
    let started = Instant::now();
    let (status, stopped) = visitor.call(Method::POST, &a.base, "/api/chat/stop", Some(&id), None).await;
    assert_eq!((status, &stopped["stopped"]), (200, &json!(true)), "{stopped}");
    let events = read_events(&mut stream, |e| e["type"] == "stopped").await;
    let last = events.last().unwrap();
    assert_eq!(last["type"], "stopped", "{events:?}");
    assert!(last["message"].as_str().unwrap().starts_with("Stopped."), "stopped by Stop, not otherwise: {last}");
    assert!(started.elapsed() < Duration::from_secs(10), "Stop took {:?}", started.elapsed());
    assert_eq!(model.script.bodies().len(), 3, "the model was not called again after Stop");
    assert_eq!(visitor.kinds(&a.base, &id).await.last().map(String::as_str), Some("stopped"));
    let (_, result) = visitor.call(Method::POST, &a.base, "/api/run", Some(&id), Some(json!({"code": "x"}))).await;
    assert_eq!(result["report"]["result"], 41, "the session kept its state: {result}");

    // The list, rename and delete, across replicas.
    let (status, other) = visitor.call(Method::POST, &a.base, "/api/conversations", None, None).await;
    assert_eq!(status, 201, "{other}");
    let other_id = other["id"].as_str().unwrap();
    let path = format!("/api/conversations/{other_id}");
    let (status, _) = visitor.call(Method::PATCH, &b.base, &path, None, Some(json!({"title": "Second"}))).await;
    assert_eq!(status, 200);
    let (_, list) = visitor.call(Method::GET, &a.base, "/api/conversations", None, None).await;
    let titles: Vec<&str> =
        list["conversations"].as_array().unwrap().iter().map(|c| c["title"].as_str().unwrap()).collect();
    assert_eq!(titles, ["Second", "What is the total?"]);
    let (status, _) = visitor.call(Method::DELETE, &b.base, &format!("/api/conversations/{id}"), None, None).await;
    assert_eq!(status, 204);
    let (status, _) = visitor.call(Method::GET, &a.base, "/api/history", Some(&id), None).await;
    assert_eq!(status, 404, "deleted on B, gone on A");

    // Another person, on either replica, sees none of it.
    let stranger = Visitor::open(&b.base).await;
    let (status, _) = stranger.call(Method::GET, &a.base, "/api/history", Some(other_id), None).await;
    assert_eq!(status, 404);
    let (status, _) = stranger.call(Method::DELETE, &a.base, &path, None, None).await;
    assert_eq!(status, 404);
    let (status, _) = stranger.call(Method::PATCH, &b.base, &path, None, Some(json!({"title": "x"}))).await;
    assert_eq!(status, 404);
    a.kill().await;
    b.kill().await;
    emulator.stop().await;
}

/// Polls `check` until it holds, for at most 30 s.
async fn eventually(what: &str, mut check: impl AsyncFnMut() -> bool) {
    let started = Instant::now();
    while !check().await {
        assert!(started.elapsed() < Duration::from_secs(30), "never: {what}");
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_database_that_is_down_or_lost_gets_words_and_a_failing_readyz_then_recovers() {
    let Some(base) = support::postgres_base() else { return };
    let Some(emulator) = TestEmulator::start(|_| {}).await.unwrap_or_else(|e| panic!("{e}")) else { return };
    let url = support::fresh_database(&base).await;
    let proxy = Proxy::start(target_of(&url)).await;
    proxy.cut().await;

    // Down at start: the app serves, says why it is not ready, and does not crash.
    let app = app::start_listening(&env(&proxy.url_through(&url), &emulator, None)).await;
    let readyz = reqwest::get(format!("{}/readyz", app.base)).await.unwrap();
    assert_eq!(readyz.status(), 503);
    assert!(readyz.text().await.unwrap().contains("database"));
    let visitor = Visitor::open(&app.base).await;
    let (status, body) = visitor.call(Method::GET, &app.base, "/api/conversations", None, None).await;
    assert_eq!(status, 503, "{body}");
    assert!(body["error"].as_str().unwrap().contains("cannot be reached right now"), "{body}");

    // Back: ready, and usable.
    proxy.restore();
    app.wait_ready().await;
    let (_, history) = visitor.call(Method::GET, &app.base, "/api/history", None, None).await;
    let id = history["conversation"]["id"].as_str().unwrap().to_owned();
    let (status, _) =
        visitor.call(Method::POST, &app.base, "/api/run", Some(&id), Some(json!({"code": "print(1)"}))).await;
    assert_eq!(status, 200);

    // Lost mid-run: plain 503s; back: everything as it was.
    proxy.cut().await;
    let (status, body) = visitor.call(Method::GET, &app.base, "/api/history", Some(&id), None).await;
    assert_eq!(status, 503, "{body}");
    assert_eq!(reqwest::get(format!("{}/readyz", app.base)).await.unwrap().status(), 503);
    proxy.restore();
    eventually("the history answers again", async || {
        visitor.call(Method::GET, &app.base, "/api/history", Some(&id), None).await.0 == 200
    })
    .await;
    assert_eq!(visitor.kinds(&app.base, &id).await, ["tool_call", "tool_result"]);
    app.kill().await;
    emulator.stop().await;
}

#[tokio::test]
async fn postgres_without_a_shared_secret_refuses_to_start_in_words() {
    let output =
        app::command(&[("DATABASE_URL", "postgres://app@127.0.0.1:9/chat".to_owned())]).output().await.unwrap();
    assert!(!output.status.success());
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(stderr.contains("CHAT_APP_SECRET must be too"), "{stderr}");
}

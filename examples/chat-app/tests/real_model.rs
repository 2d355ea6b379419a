//! The chat app's agent with a real model: Qwen2.5-Coder-0.5B-Instruct served by llama.cpp on loopback
//! (installed by `.ci/run`; see `dynamic_sessions_test_support::LocalModel`). "What is 2**100? Use
//! Python." must make a real `run_python` call whose result is in the step and in the answer.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use std::time::{Duration, Instant};

use axum::body::Body;
use axum::http::{Request, StatusCode, header};
use chat_app::{AppConfig, AppState, app};
use dynamic_sessions::{Auth, SessionPoolClient};
use dynamic_sessions_agent_tools::InterpreterOptions;
use dynamic_sessions_agent_tools::rig::ModelConfig;
use dynamic_sessions_agent_tools::turn::ToolChoicePolicy;
use dynamic_sessions_emulator::testing::TestEmulator;
use dynamic_sessions_test_support::LocalModel;
use http_body_util::BodyExt;
use serde_json::{Value, json};
use tower::ServiceExt;

const HOST: &str = "127.0.0.1:8000";
const ANSWER: &str = "1267650600228229401496703205376";

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_real_model_runs_python_through_the_chat_app() {
    let Some(model) = LocalModel::start().await.unwrap_or_else(|e| panic!("{e}")) else { return };
    let Some(emulator) = TestEmulator::start(|_| {}).await.unwrap_or_else(|e| panic!("{e}")) else { return };
    let config = ModelConfig::OpenAi { api_key: None, model: "qwen".into(), base_url: Some(model.base_url.clone()) };
    // The defaults the app uses for a server of one's own, at temperature 0 for a repeatable test.
    let mut turn = config.default_turn_options();
    assert_eq!(turn.tool_choice, ToolChoicePolicy::Guided);
    turn.temperature = Some(0.0);
    let client = SessionPoolClient::new(emulator.url(), Auth::bearer(emulator.token())).unwrap();
    let app = app(AppState::new(
        client,
        AppConfig {
            secret: b"real-model-test-secret-0123456789abcdef".to_vec(),
            model: Some(config),
            max_upload_bytes: 1 << 20,
            secure_cookies: false,
            interpreter: InterpreterOptions::default(),
            turn,
        },
        chat_app::store::Store::in_memory().await.unwrap(),
    )
    .unwrap());

    // A browser: its cookie and CSRF token from the page.
    let page =
        app.clone().oneshot(Request::get("/").header(header::HOST, HOST).body(Body::empty()).unwrap()).await.unwrap();
    let cookie =
        page.headers().get(header::SET_COOKIE).unwrap().to_str().unwrap().split(';').next().unwrap().to_owned();
    let html = String::from_utf8(page.into_body().collect().await.unwrap().to_bytes().to_vec()).unwrap();
    let csrf = html.split("name=\"csrf-token\" content=\"").nth(1).unwrap().split('"').next().unwrap().to_owned();

    let started = Instant::now();
    let request = Request::post("/api/chat")
        .header(header::HOST, HOST)
        .header(header::COOKIE, &cookie)
        .header("x-csrf-token", &csrf)
        .header(header::CONTENT_TYPE, "application/json")
        .body(Body::from(json!({"message": "What is 2**100? Use Python."}).to_string()))
        .unwrap();
    let response = app.clone().oneshot(request).await.unwrap();
    assert_eq!(response.status(), StatusCode::OK);
    let body = tokio::time::timeout(Duration::from_secs(240), response.into_body().collect())
        .await
        .expect("the turn finished within 4 minutes")
        .unwrap()
        .to_bytes();
    let events: Vec<Value> = String::from_utf8_lossy(&body)
        .split("\n\n")
        .filter_map(|chunk| chunk.strip_prefix("data: ").or_else(|| chunk.strip_prefix("data:")))
        .filter_map(|data| serde_json::from_str(data.trim()).ok())
        .collect();
    eprintln!("the turn took {:?}: {events:#?}", started.elapsed());

    let call = events.iter().find(|e| e["type"] == "tool_call").expect("a tool call");
    assert_eq!(call["name"], "run_python", "{call}");
    assert_eq!(call["as_text"], false, "a real call, not text: {call}");
    let result = events.iter().find(|e| e["type"] == "tool_result").expect("a tool result");
    assert_eq!(result["outcome"], "ran", "{result}");
    let report = result["report"].to_string();
    assert!(report.contains(ANSWER), "the step shows the result: {report}");
    let done = events.iter().find(|e| e["type"] == "done").unwrap_or_else(|| panic!("an answer: {events:?}"));
    assert!(done["html"].as_str().unwrap().replace(',', "").contains(ANSWER), "the answer has the result: {done}");
    emulator.stop().await;
}

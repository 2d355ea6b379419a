//! Emulator, interpreter and turn helpers for the agent tests; the scripted model is in
//! `dynamic-sessions-test-support`.
#![allow(dead_code, clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use dynamic_sessions::{Auth, SessionId, SessionPoolClient};
use dynamic_sessions_agent_tools::CodeInterpreter;
use dynamic_sessions_emulator::testing::TestEmulator;

pub async fn emulator() -> Option<TestEmulator> {
    TestEmulator::start(|_| {}).await.unwrap_or_else(|e| panic!("{e}"))
}

pub fn interpreter(emulator: &TestEmulator) -> CodeInterpreter {
    let client = SessionPoolClient::new(emulator.url(), Auth::bearer(emulator.token())).unwrap();
    CodeInterpreter::new(client.session(SessionId::random()))
}

pub fn client(emulator: &TestEmulator) -> SessionPoolClient {
    SessionPoolClient::new(emulator.url(), Auth::bearer(emulator.token())).unwrap()
}

/// A `run_python` call's arguments, as a model writes them.
pub fn call(code: &str) -> String {
    serde_json::json!({"code": code}).to_string()
}

/// A local OpenAI-compatible model (the `guided` defaults) served by `server`.
#[cfg(feature = "rig")]
pub fn local_model(
    server: &dynamic_sessions_test_support::ScriptedModel,
) -> dynamic_sessions_agent_tools::rig::ModelConfig {
    dynamic_sessions_agent_tools::rig::ModelConfig::OpenAi {
        api_key: None,
        model: "local".into(),
        base_url: Some(server.base_url()),
    }
}

/// Runs one turn to its end and returns its events.
#[cfg(feature = "rig")]
pub async fn run_turn(
    agent: &dynamic_sessions_agent_tools::rig::ChatAgent,
    history: &mut dynamic_sessions_agent_tools::rig::History,
    message: &str,
) -> Vec<dynamic_sessions_agent_tools::turn::TurnEvent> {
    use futures_util::StreamExt;
    agent.turn(history, message.to_owned()).collect().await
}

//! Emulator and interpreter helpers for the agent tests; the scripted model is in `dynamic-sessions-test-support`.
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

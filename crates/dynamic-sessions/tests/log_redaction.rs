//! Tokens and request bodies never reach logs, `Debug` output or errors.
//!
//! This is the only test of its binary, and it installs its subscriber as the *global* default before any
//! span or event is created. A thread-local subscriber (`set_default`) shared a binary with other tests and
//! raced tracing's per-callsite interest cache: a callsite first hit by another test, while no subscriber
//! wanted it, stayed disabled, and the span never reached the capture (a flaky "no request span").
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

mod common;

use std::sync::{Arc, Mutex};

use common::*;
use dynamic_sessions::Auth;
use serde_json::json;
use wiremock::matchers::{method, path};
use wiremock::{Mock, MockServer, ResponseTemplate};

/// A writer that collects everything the tracing subscriber prints.
#[derive(Clone, Default)]
struct Captured(Arc<Mutex<Vec<u8>>>);

impl std::io::Write for Captured {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        self.0.lock().unwrap().extend_from_slice(buf);
        Ok(buf.len())
    }
    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

#[tokio::test]
async fn tokens_and_bodies_never_reach_logs_debug_or_errors() {
    let captured = Captured::default();
    let writer = captured.clone();
    let subscriber = tracing_subscriber::fmt()
        .with_max_level(tracing::Level::TRACE)
        .with_ansi(false)
        .with_writer(move || writer.clone())
        .with_span_events(tracing_subscriber::fmt::format::FmtSpan::CLOSE)
        .finish();
    tracing::subscriber::set_global_default(subscriber).expect("the only subscriber of this binary");

    let server = MockServer::start().await;
    Mock::given(method("POST"))
        .and(path(route("executions")))
        .respond_with(
            ResponseTemplate::new(403).set_body_json(json!({"error": {"code": "Forbidden", "message": "denied"}})),
        )
        .mount(&server)
        .await;
    let secret = "eyJ0eXAiOiJKV1QiLCJzZWNyZXQiOnRydWV9";
    let client = client_with(&server, CURRENT, Auth::bearer(secret));
    let err = client.session(session_id()).execute("print('my secret code')").await.unwrap_err();

    let logs = String::from_utf8(captured.0.lock().unwrap().clone()).unwrap();
    assert!(logs.contains("dynamic_sessions.request"), "no request span in:\n{logs}");
    assert!(logs.contains("op=\"execute\"") || logs.contains("op=execute"), "{logs}");
    assert!(logs.contains("session-1"), "{logs}");
    assert!(logs.contains("403"), "{logs}");
    for text in [logs.as_str(), &format!("{client:?}"), &format!("{err:?}"), &err.to_string()] {
        assert!(!text.contains(secret), "token leaked: {text}");
        assert!(!text.contains("my secret code"), "request body leaked: {text}");
    }
}

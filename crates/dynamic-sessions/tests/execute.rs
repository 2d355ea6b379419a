//! Code execution in both API families, against wiremock: exact requests, real-shaped responses.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

mod common;

use std::time::Duration;

use common::*;
use dynamic_sessions::{Error, ExecutionStatus, SessionId};
use serde_json::json;
use wiremock::matchers::{body_json, header, method, path, query_param};
use wiremock::{Mock, MockServer, ResponseTemplate};

#[tokio::test]
async fn legacy_execute_sends_wrapped_body_and_parses_result() {
    let server = MockServer::start().await;
    Mock::given(method("POST"))
        .and(path(route("code/execute")))
        .and(query_param("api-version", LEGACY))
        .and(query_param("identifier", "session-1"))
        .and(header("authorization", "Bearer test-token"))
        .and(header("content-type", "application/json"))
        .and(body_json(json!({"properties": {
            "codeInputType": "inline", "executionType": "synchronous", "code": "print('hello'); 1+1", "timeoutInSeconds": 100
        }})))
        .respond_with(ResponseTemplate::new(200).set_body_json(fixture("legacy_execute_success.json")))
        .expect(1)
        .mount(&server)
        .await;
    let run = client(&server, LEGACY).session(session_id()).execute("print('hello'); 1+1").await.unwrap();
    assert_eq!(run.status, ExecutionStatus::Succeeded);
    assert!(run.is_success());
    assert_eq!(run.stdout, "hello\n");
    assert_eq!(run.result, Some(json!(2)));
    assert_eq!(run.duration, Some(Duration::from_millis(11)));
}

#[tokio::test]
async fn legacy_failure_is_a_successful_call_with_the_traceback() {
    let server = MockServer::start().await;
    Mock::given(method("POST"))
        .and(path(route("code/execute")))
        .respond_with(ResponseTemplate::new(200).set_body_json(fixture("legacy_execute_failure.json")))
        .mount(&server)
        .await;
    let run = client(&server, LEGACY).session(session_id()).execute("1/0").await.unwrap();
    assert_eq!(run.status, ExecutionStatus::Failed);
    assert!(!run.is_success());
    assert!(run.stderr.contains("ZeroDivisionError: division by zero"), "{}", run.stderr);
    assert_eq!(run.result, None);
}

#[tokio::test]
async fn legacy_image_result_is_kept() {
    let server = MockServer::start().await;
    Mock::given(method("POST"))
        .and(path(route("code/execute")))
        .respond_with(ResponseTemplate::new(200).set_body_json(fixture("legacy_execute_image.json")))
        .mount(&server)
        .await;
    let run = client(&server, LEGACY).session(session_id()).execute("plt.plot([1,2])").await.unwrap();
    assert_eq!(run.images.len(), 1);
    let png = run.images[0].decode().unwrap();
    assert_eq!(&png[..8], b"\x89PNG\r\n\x1a\n");
    assert_eq!(run.result, None);
    assert_eq!(run.stdout, "plotted\n");
}

#[tokio::test]
async fn current_execute_sends_flat_body_and_operation_id() {
    let server = MockServer::start().await;
    Mock::given(method("POST"))
        .and(path(route("executions")))
        .and(query_param("api-version", CURRENT))
        .and(query_param("identifier", "session-1"))
        .and(header("operation-id", "my-op-7"))
        .and(body_json(json!({
            "codeInputType": "Inline", "executionType": "Synchronous", "code": "print(7*9)", "timeoutInSeconds": 30
        })))
        .respond_with(
            ResponseTemplate::new(200)
                .set_body_json(spec_body("2025-10-02-preview", "CodeExecution_Execute_Sync.json")),
        )
        .expect(1)
        .mount(&server)
        .await;
    let run = client(&server, CURRENT)
        .session(session_id())
        .execute("print(7*9)")
        .timeout(Duration::from_secs(30))
        .operation_id("my-op-7")
        .send()
        .await
        .unwrap();
    // The service's example answer (its stdout really is the four characters `63/n`).
    assert_eq!(run.id.as_deref(), Some("testExecutionId"));
    assert_eq!(run.stdout, "63/n");
    assert_eq!(run.result, None, "an empty executionResult is no result");
    assert_eq!(run.output_limit, Some(4096), "2025-10-02-preview cuts output at 4,096 characters by default");
}

#[tokio::test]
async fn current_failed_status_and_numeric_null_object_results() {
    let server = MockServer::start().await;
    Mock::given(method("POST"))
        .and(path(route("executions")))
        .respond_with(ResponseTemplate::new(200).set_body_json(fixture("current_execute_failed.json")))
        .mount(&server)
        .await;
    let run = client(&server, CURRENT).session(session_id()).execute("undefined_name").await.unwrap();
    assert_eq!(run.status, ExecutionStatus::Failed);
    assert!(run.stderr.contains("NameError"));
    assert_eq!(run.result, None);

    for value in [json!(4), json!(4.5), json!({"k": [1, "two"]}), json!("nan")] {
        let server = MockServer::start().await;
        Mock::given(method("POST"))
            .and(path(route("executions")))
            .respond_with(ResponseTemplate::new(202).set_body_json(json!({
                "id": "e", "identifier": "session-1", "executionType": "Synchronous", "status": "Succeeded",
                "result": {"stdout": "", "stderr": "", "executionResult": value, "executionTimeInMilliseconds": 1}
            })))
            .mount(&server)
            .await;
        let run = client(&server, V2024_10).session(session_id()).execute("x").await.unwrap();
        assert_eq!(run.result, Some(value));
    }
}

#[tokio::test]
async fn identifier_is_url_encoded() {
    let server = MockServer::start().await;
    let id = SessionId::new("user|42{a}&b=c").unwrap();
    Mock::given(method("POST"))
        .and(path(route("executions")))
        .and(query_param("identifier", "user|42{a}&b=c"))
        .and(|req: &wiremock::Request| req.url.query().unwrap_or("").contains("identifier=user%7C42%7Ba%7D%26b%3Dc"))
        .respond_with(
            ResponseTemplate::new(200)
                .set_body_json(spec_body("2025-10-02-preview", "CodeExecution_Execute_Sync.json")),
        )
        .expect(1)
        .mount(&server)
        .await;
    client(&server, CURRENT).session(id).execute("1").await.unwrap();
}

#[tokio::test]
async fn async_execution_polls_until_done() {
    let server = MockServer::start().await;
    Mock::given(method("POST"))
        .and(path(route("executions")))
        .and(wiremock::matchers::body_partial_json(json!({"executionType": "Asynchronous"})))
        .and(wiremock::matchers::header_exists("operation-id"))
        .respond_with(
            ResponseTemplate::new(202)
                .set_body_json(spec_body("2025-10-02-preview", "CodeExecution_Execute_Async_Running.json"))
                .insert_header("Operation-Location", "/executions/testExecutionId?api-version=2025-10-02-preview"),
        )
        .expect(1)
        .mount(&server)
        .await;
    Mock::given(method("GET"))
        .and(path(route("executions/testExecutionId")))
        .and(query_param("identifier", "session-1"))
        .respond_with(
            ResponseTemplate::new(200)
                .set_body_json(spec_body("2025-10-02-preview", "CodeExecution_Execute_Async_Running.json")),
        )
        .up_to_n_times(2)
        .expect(2)
        .mount(&server)
        .await;
    Mock::given(method("GET"))
        .and(path(route("executions/testExecutionId")))
        .respond_with(
            ResponseTemplate::new(200)
                .set_body_json(spec_body("2025-10-02-preview", "CodeExecution_Get_Completed.json")),
        )
        .expect(1)
        .mount(&server)
        .await;
    let run = client(&server, CURRENT)
        .session(session_id())
        .execute("import time; time.sleep(1); 3")
        .asynchronous()
        .poll_interval(Duration::from_millis(10))
        .send()
        .await
        .unwrap();
    assert_eq!(run.status, ExecutionStatus::Succeeded);
    assert_eq!(run.stdout, "63/n");
    assert_eq!(run.id.as_deref(), Some("testExecutionId"));
}

#[tokio::test]
async fn async_on_legacy_is_refused_before_sending() {
    let server = MockServer::start().await;
    Mock::given(method("POST")).respond_with(ResponseTemplate::new(500)).expect(0).mount(&server).await;
    let err = client(&server, LEGACY).session(session_id()).execute("1").asynchronous().send().await.unwrap_err();
    assert!(matches!(err, Error::InvalidInput { .. }), "{err}");
}

fn properties_missing() -> ResponseTemplate {
    ResponseTemplate::new(400)
        .insert_header("x-ms-error-code", "SessionPropertiesMissing")
        .set_body_json(json!({"error": {"code": "SessionPropertiesMissing", "message": "Properties are missing"}}))
}

/// `SessionPropertiesMissing` means "send it flat": a wrapped (legacy) body is sent once more, flat.
#[tokio::test]
async fn session_properties_missing_resends_a_wrapped_body_flat() {
    let server = MockServer::start().await;
    Mock::given(method("POST"))
        .and(path(route("code/execute")))
        .and(body_json(json!({
            "codeInputType": "Inline", "executionType": "Synchronous", "code": "1+1", "timeoutInSeconds": 100
        })))
        .respond_with(ResponseTemplate::new(200).set_body_json(fixture("legacy_execute_success.json")))
        .expect(1)
        .mount(&server)
        .await;
    Mock::given(method("POST"))
        .and(path(route("code/execute")))
        .and(wiremock::matchers::body_partial_json(json!({"properties": {"code": "1+1"}})))
        .respond_with(properties_missing())
        .expect(1)
        .mount(&server)
        .await;
    let run = client(&server, LEGACY).session(session_id()).execute("1+1").await.unwrap();
    assert!(run.is_success());
}

/// A flat body refused with `SessionPropertiesMissing` is never re-sent wrapped (that is the shape the
/// service refuses): the error comes back, saying what the service said.
#[tokio::test]
async fn session_properties_missing_on_a_flat_body_is_not_retried_wrapped() {
    let server = MockServer::start().await;
    Mock::given(method("POST"))
        .and(path(route("executions")))
        .respond_with(properties_missing())
        .expect(1)
        .mount(&server)
        .await;
    let err = client(&server, CURRENT).session(session_id()).execute("1+1").await.unwrap_err();
    assert!(matches!(&err, Error::Service(e) if e.code.as_deref() == Some("SessionPropertiesMissing")), "{err:?}");
    let bodies: Vec<serde_json::Value> =
        server.received_requests().await.unwrap().iter().map(|r| serde_json::from_slice(&r.body).unwrap()).collect();
    assert!(bodies.iter().all(|b| b.get("properties").is_none()), "{bodies:?}");
}

#[tokio::test]
async fn limits_are_enforced_client_side() {
    let server = MockServer::start().await;
    Mock::given(method("POST")).respond_with(ResponseTemplate::new(200)).expect(0).mount(&server).await;
    let session = client(&server, CURRENT).session(session_id());
    let err = session.execute("1").timeout(Duration::from_secs(221)).send().await.unwrap_err();
    assert!(matches!(&err, Error::InvalidInput { message } if message.contains("220")), "{err}");
    assert!(!err.was_sent());
    let err = session.execute("  \n").await.unwrap_err();
    assert!(matches!(err, Error::InvalidInput { .. }));
}

#[tokio::test]
async fn execute_503_after_sending_is_not_retried() {
    let server = MockServer::start().await;
    Mock::given(method("POST"))
        .and(path(route("executions")))
        .respond_with(ResponseTemplate::new(503).set_body_string("upstream unavailable"))
        .expect(1)
        .mount(&server)
        .await;
    let err = client(&server, CURRENT).session(session_id()).execute("x = 1").await.unwrap_err();
    assert_eq!(err.status().map(|s| s.as_u16()), Some(503));
    assert!(err.was_sent());
}

#[tokio::test]
async fn execute_is_retried_when_the_connection_never_opened() {
    // Reserve a port, close it, and point the client there: connect fails, nothing is sent.
    let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let addr = listener.local_addr().unwrap();
    drop(listener);
    let client = dynamic_sessions::SessionPoolClient::builder(format!("http://{addr}/p"))
        .retry_policy(quick_retries().with_max_retries(2))
        .build()
        .unwrap();
    let started = std::time::Instant::now();
    let err = client.session(session_id()).execute("1").await.unwrap_err();
    assert!(matches!(err, Error::Transport { sent: false, .. }), "{err:?}");
    assert!(!err.was_sent());
    // Two backoff sleeps (5 ms, 10 ms) prove the retries happened.
    assert!(started.elapsed() >= Duration::from_millis(15));
}

#[tokio::test]
async fn execution_timeout_is_reported_as_maybe_run() {
    let server = MockServer::start().await;
    Mock::given(method("POST"))
        .and(path(route("executions")))
        .respond_with(ResponseTemplate::new(200).set_delay(Duration::from_secs(3)))
        .mount(&server)
        .await;
    let client = dynamic_sessions::SessionPoolClient::builder(format!("{}{POOL_PATH}", server.uri()))
        .execution_grace(Duration::from_millis(100))
        .build()
        .unwrap();
    let err = client
        .session(session_id())
        .execute("while True: pass")
        .timeout(Duration::from_secs(1))
        .send()
        .await
        .unwrap_err();
    assert!(matches!(err, Error::Timeout { may_have_run: true, .. }), "{err:?}");
    assert!(err.to_string().contains("may have run"), "{err}");
}

#[tokio::test]
async fn an_answer_without_status_is_a_decode_error() {
    let server = MockServer::start().await;
    Mock::given(method("POST"))
        .and(path(route("executions")))
        .respond_with(ResponseTemplate::new(200).set_body_json(json!({"unexpected": true})))
        .mount(&server)
        .await;
    let err = client(&server, CURRENT).session(session_id()).execute("1").await.unwrap_err();
    assert!(matches!(err, Error::Decode { .. }), "{err:?}");
}

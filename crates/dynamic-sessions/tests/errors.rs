//! Every error status maps to the variant that tells the caller what to do; retries are safe.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

mod common;

use std::time::{Duration, Instant};

use common::*;
use dynamic_sessions::Error;
use serde_json::json;
use wiremock::matchers::{method, path};
use wiremock::{Mock, MockServer, ResponseTemplate};

async fn list_error(body: ResponseTemplate) -> Error {
    let server = MockServer::start().await;
    Mock::given(method("GET")).and(path(route("files"))).respond_with(body).mount(&server).await;
    client(&server, CURRENT).session(session_id()).files().list().path("sub").await.unwrap_err()
}

fn azure_error(status: u16, code: &str, message: &str) -> ResponseTemplate {
    ResponseTemplate::new(status)
        .insert_header("x-ms-error-code", code)
        .insert_header("x-ms-request-id", "req-42")
        .set_body_json(json!({"error": {"code": code, "message": message, "traceId": "trace-1"}}))
}

#[tokio::test]
async fn status_mapping() {
    let e = list_error(azure_error(401, "Unauthorized", "token expired")).await;
    assert!(matches!(e, Error::Unauthorized(_)), "{e:?}");
    assert!(e.to_string().contains("dynamicsessions.io"));

    let e = list_error(azure_error(403, "Forbidden", "no role")).await;
    assert!(matches!(e, Error::Forbidden(_)), "{e:?}");
    assert!(e.to_string().contains("Azure ContainerApps Session Executor"), "{e}");
    assert_eq!(e.service_error().and_then(|s| s.request_id.clone()).as_deref(), Some("req-42"));

    let e = list_error(azure_error(404, "DirectoryNotFound", "no such directory")).await;
    assert!(matches!(e, Error::NotFound(_)), "{e:?}");

    let e = list_error(azure_error(400, "SessionPropertiesMissing", "bad body")).await;
    assert!(matches!(&e, Error::Service(s) if s.code.as_deref() == Some("SessionPropertiesMissing")), "{e:?}");
    assert!(!e.is_retryable());
    assert!(e.to_string().contains("bad body"));
}

#[tokio::test]
async fn full_pool_is_a_404_on_a_new_session() {
    let server = MockServer::start().await;
    Mock::given(method("POST"))
        .and(path(route("executions")))
        .respond_with(ResponseTemplate::new(404).set_body_string("no more sessions"))
        .expect(1)
        .mount(&server)
        .await;
    let e = client(&server, CURRENT).session(session_id()).execute("1").await.unwrap_err();
    assert!(matches!(e, Error::PoolFull(_)), "{e:?}");
    assert!(e.to_string().contains("maxConcurrentSessions"));
}

#[tokio::test]
async fn a_404_naming_a_missing_resource_is_not_a_full_pool() {
    let server = MockServer::start().await;
    Mock::given(method("POST"))
        .and(path(route("files")))
        .respond_with(azure_error(404, "DirectoryNotFound", "no such directory"))
        .mount(&server)
        .await;
    let e = client(&server, CURRENT).session(session_id()).files().upload("x/y.bin", vec![1u8]).await.unwrap_err();
    assert!(matches!(e, Error::NotFound(_)), "{e:?}");
}

#[tokio::test]
async fn payload_too_large_from_the_service() {
    let server = MockServer::start().await;
    Mock::given(method("POST")).and(path(route("files"))).respond_with(ResponseTemplate::new(413)).mount(&server).await;
    let e = client(&server, CURRENT).session(session_id()).files().upload("x.bin", vec![0u8; 10]).await.unwrap_err();
    assert!(matches!(e, Error::PayloadTooLarge { service: Some(_), .. }), "{e:?}");
}

#[tokio::test]
async fn html_5xx_keeps_status_and_raw_body() {
    let server = MockServer::start().await;
    Mock::given(method("GET"))
        .and(path(route("metadata")))
        .respond_with(ResponseTemplate::new(500).set_body_string("<html><body>Internal Server Error</body></html>"))
        .expect(4) // first attempt + 3 retries
        .mount(&server)
        .await;
    let e = client(&server, CURRENT).metadata().await.unwrap_err();
    let s = e.service_error().unwrap();
    assert_eq!(s.status.as_u16(), 500);
    assert!(s.raw_body.contains("Internal Server Error"));
    assert!(e.is_retryable());
}

#[tokio::test]
async fn malformed_json_is_a_decode_error() {
    let server = MockServer::start().await;
    Mock::given(method("GET"))
        .and(path(route("metadata")))
        .respond_with(ResponseTemplate::new(200).set_body_string("{not json"))
        .mount(&server)
        .await;
    let e = client(&server, CURRENT).metadata().await.unwrap_err();
    assert!(matches!(&e, Error::Decode { body_snippet, .. } if body_snippet.contains("{not json")), "{e:?}");
}

#[tokio::test]
async fn idempotent_503_is_retried_then_succeeds() {
    let server = MockServer::start().await;
    Mock::given(method("GET"))
        .and(path(route("files")))
        .respond_with(ResponseTemplate::new(503))
        .up_to_n_times(2)
        .expect(2)
        .mount(&server)
        .await;
    Mock::given(method("GET"))
        .and(path(route("files")))
        .respond_with(ResponseTemplate::new(200).set_body_json(json!({"value": []})))
        .expect(1)
        .mount(&server)
        .await;
    let files = client(&server, CURRENT).session(session_id()).files().list().await.unwrap();
    assert!(files.is_empty());
}

#[tokio::test]
async fn throttling_honours_retry_after() {
    let server = MockServer::start().await;
    Mock::given(method("GET"))
        .and(path(route("metadata")))
        .respond_with(ResponseTemplate::new(429).insert_header("Retry-After", "1"))
        .up_to_n_times(1)
        .expect(1)
        .mount(&server)
        .await;
    Mock::given(method("GET"))
        .and(path(route("metadata")))
        .respond_with(
            ResponseTemplate::new(200).set_body_json(spec_body("2025-10-02-preview", "SessionPoolMetadata_Get.json")),
        )
        .expect(1)
        .mount(&server)
        .await;
    let started = Instant::now();
    client(&server, CURRENT).metadata().await.unwrap();
    // The backoff alone would wait 5 ms; waiting a second proves Retry-After was used.
    assert!(started.elapsed() >= Duration::from_millis(950), "{:?}", started.elapsed());
}

#[tokio::test]
async fn throttling_beyond_the_cap_is_returned_with_the_delay() {
    let server = MockServer::start().await;
    Mock::given(method("GET"))
        .and(path(route("metadata")))
        .respond_with(ResponseTemplate::new(429).insert_header("Retry-After", "3600"))
        .expect(1)
        .mount(&server)
        .await;
    let e = client(&server, CURRENT).metadata().await.unwrap_err();
    assert!(matches!(e, Error::Throttled { retry_after: Some(d), .. } if d == Duration::from_secs(3600)), "{e:?}");
    assert_eq!(e.retry_after(), Some(Duration::from_secs(3600)));
}

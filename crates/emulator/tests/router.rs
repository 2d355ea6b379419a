//! Router-level tests (`oneshot`): bad input gets the service's error shape, never a panic or a 5xx.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use axum::Router;
use axum::body::Body;
use axum::http::{Request, StatusCode, header};
use dynamic_sessions_emulator::config::{EmulatorConfig, SandboxMode};
use dynamic_sessions_emulator::{Emulator, router};
use http_body_util::BodyExt;
use serde_json::Value;
use tower::ServiceExt;

/// An emulator whose HTTP layer is under test; no kernel is started (no code runs in these tests).
async fn app(token: Option<&str>) -> (Router, Emulator, tempfile::TempDir) {
    let dir = tempfile::tempdir().unwrap();
    let config = EmulatorConfig {
        data_dir: dir.path().to_path_buf(),
        setup_runtime: false,
        ready_sessions: 0,
        sandbox: SandboxMode::InsecureNoSandbox,
        token: token.map(str::to_owned),
        ..EmulatorConfig::default()
    };
    let emulator = Emulator::start(config).await.unwrap();
    (router(emulator.state()), emulator, dir)
}

async fn send(app: &Router, request: Request<Body>) -> (StatusCode, Option<String>, Value) {
    let response = app.clone().oneshot(request).await.unwrap();
    let status = response.status();
    let code = response.headers().get("x-ms-error-code").map(|v| v.to_str().unwrap().to_owned());
    let bytes = response.into_body().collect().await.unwrap().to_bytes();
    (status, code, serde_json::from_slice(&bytes).unwrap_or(Value::Null))
}

fn post_json(uri: &str, body: &str) -> Request<Body> {
    Request::post(uri).header(header::CONTENT_TYPE, "application/json").body(Body::from(body.to_owned())).unwrap()
}

const Q: &str = "api-version=2025-10-02-preview&identifier=router-test";

/// Asserts an Azure-shaped error: the status, the code in the header and the body, and a message.
fn assert_error(got: &(StatusCode, Option<String>, Value), status: StatusCode, code: &str) {
    assert_eq!(got.0, status, "{got:?}");
    assert_eq!(got.1.as_deref(), Some(code), "{got:?}");
    assert_eq!(got.2["error"]["code"], code, "{got:?}");
    assert!(got.2["error"]["message"].as_str().is_some_and(|m| !m.is_empty()), "{got:?}");
}

#[tokio::test]
async fn query_and_body_errors_have_the_service_shape() {
    let (app, emulator, _dir) = app(None).await;
    let cases: Vec<(Request<Body>, StatusCode, &str)> = vec![
        (post_json("/executions?identifier=x", "{}"), StatusCode::BAD_REQUEST, "MissingApiVersionParameter"),
        (
            post_json("/executions?api-version=latest&identifier=x", "{}"),
            StatusCode::BAD_REQUEST,
            "InvalidApiVersionParameter",
        ),
        (
            post_json("/executions?api-version=2025-10-02-preview", r#"{"code":"1"}"#),
            StatusCode::BAD_REQUEST,
            "MissingIdentifier",
        ),
        (
            post_json(
                &format!("/executions?api-version=2025-10-02-preview&identifier={}", "x".repeat(300)),
                r#"{"code":"1"}"#,
            ),
            StatusCode::BAD_REQUEST,
            "InvalidIdentifier",
        ),
        (post_json(&format!("/executions?{Q}"), "{not json"), StatusCode::BAD_REQUEST, "InvalidRequestBody"),
        (
            post_json(&format!("/executions?{Q}"), r#"{"codeInputType":"Inline"}"#),
            StatusCode::BAD_REQUEST,
            "SessionPropertiesMissing",
        ),
        (
            post_json(&format!("/code/execute?{Q}"), r#"{"properties":{"shellCommand":"ls"}}"#),
            StatusCode::BAD_REQUEST,
            "SessionPropertiesMissing",
        ),
        (
            post_json(&format!("/executions?{Q}"), r#"{"code":"1","timeoutInSeconds":-5}"#),
            StatusCode::BAD_REQUEST,
            "InvalidRequestBody",
        ),
        (
            post_json(&format!("/executions?{Q}"), r#"{"code":"1","executionType":"Later"}"#),
            StatusCode::BAD_REQUEST,
            "InvalidRequestBody",
        ),
        (
            Request::get(format!("/executions/unknown-id?{Q}")).body(Body::empty()).unwrap(),
            StatusCode::NOT_FOUND,
            "ExecutionNotFound",
        ),
        (Request::get("/no/such/route").body(Body::empty()).unwrap(), StatusCode::NOT_FOUND, "NotFound"),
        (
            Request::put(format!("/executions?{Q}")).body(Body::empty()).unwrap(),
            StatusCode::METHOD_NOT_ALLOWED,
            "MethodNotAllowed",
        ),
        (Request::get(format!("/session?{Q}")).body(Body::empty()).unwrap(), StatusCode::NOT_FOUND, "SessionNotFound"),
        (
            Request::delete(format!("/session?{Q}")).body(Body::empty()).unwrap(),
            StatusCode::NOT_FOUND,
            "SessionNotFound",
        ),
        (
            Request::get(format!("/files/missing.txt/content?{Q}")).body(Body::empty()).unwrap(),
            StatusCode::NOT_FOUND,
            "FileNotFound",
        ),
        (
            Request::get(format!("/files/content/missing.txt?{Q}")).body(Body::empty()).unwrap(),
            StatusCode::NOT_FOUND,
            "FileNotFound",
        ),
        (
            Request::get(format!("/files?{Q}&path=..%2F..")).body(Body::empty()).unwrap(),
            StatusCode::BAD_REQUEST,
            "InvalidFilePath",
        ),
        (
            Request::get(format!("/files?{Q}&path=%2Fetc")).body(Body::empty()).unwrap(),
            StatusCode::BAD_REQUEST,
            "InvalidFilePath",
        ),
        (
            Request::get(format!("/files?{Q}&path=nowhere")).body(Body::empty()).unwrap(),
            StatusCode::NOT_FOUND,
            "DirectoryNotFound",
        ),
        (
            Request::delete(format!("/files/nothing.txt?{Q}")).body(Body::empty()).unwrap(),
            StatusCode::NOT_FOUND,
            "FileNotFound",
        ),
        (
            Request::post(format!("/files?{Q}")).body(Body::from("plain")).unwrap(),
            StatusCode::BAD_REQUEST,
            "InvalidRequestBody",
        ),
    ];
    for (request, status, code) in cases {
        let label = format!("{} {}", request.method(), request.uri());
        let got = send(&app, request).await;
        assert!(got.0 != StatusCode::INTERNAL_SERVER_ERROR, "{label}: {got:?}");
        assert_error(&got, status, code);
    }
    emulator.shutdown().await;
}

fn multipart(filename: &str, content: &[u8]) -> Request<Body> {
    let mut body = Vec::new();
    body.extend_from_slice(b"--XBOUNDARY\r\nContent-Disposition: form-data; name=\"file\"; filename=\"");
    body.extend_from_slice(filename.as_bytes());
    body.extend_from_slice(b"\"\r\nContent-Type: application/octet-stream\r\n\r\n");
    body.extend_from_slice(content);
    body.extend_from_slice(b"\r\n--XBOUNDARY--\r\n");
    Request::post(format!("/files?{Q}"))
        .header(header::CONTENT_TYPE, "multipart/form-data; boundary=XBOUNDARY")
        .body(Body::from(body))
        .unwrap()
}

#[tokio::test]
async fn hostile_file_names_are_rejected_and_write_nothing() {
    let (app, emulator, dir) = app(None).await;
    for name in ["../../escape.txt", "/etc/escape.txt", "a/../../escape.txt", "/mnt/data/../escape.txt", "./x"] {
        let got = send(&app, multipart(name, b"x")).await;
        assert_error(&got, StatusCode::BAD_REQUEST, "InvalidFilePath");
    }
    let got = send(&app, multipart("", b"x")).await;
    assert_eq!(got.0, StatusCode::BAD_REQUEST, "{got:?}");
    assert!(!dir.path().join("escape.txt").exists() && !std::path::Path::new("/etc/escape.txt").exists());
    // Odd but legal names work, in the current family's shape.
    let got = send(&app, multipart("/mnt/data/sub dir/ünïcode #1 (copy).txt", b"hello")).await;
    assert_eq!(got.0, StatusCode::OK, "{got:?}");
    assert_eq!(got.2["name"], "ünïcode #1 (copy).txt");
    assert!(got.2.get("directory").is_none(), "as the service: an upload answer names no directory: {:?}", got.2);
    assert_eq!(got.2["sizeInBytes"], 5);
    emulator.shutdown().await;
}

#[tokio::test]
async fn oversized_upload_is_413_and_leaves_nothing() {
    let (app, emulator, _dir) = app(None).await;
    let chunk = bytes::Bytes::from(vec![b'x'; 1 << 20]);
    let head = bytes::Bytes::from_static(
        b"--XBOUNDARY\r\nContent-Disposition: form-data; name=\"file\"; filename=\"big.bin\"\r\n\r\n",
    );
    let tail = bytes::Bytes::from_static(b"\r\n--XBOUNDARY--\r\n");
    let parts = std::iter::once(head).chain(std::iter::repeat_n(chunk, 129)).chain(std::iter::once(tail));
    let stream = futures_util::stream::iter(parts.map(Ok::<_, std::io::Error>));
    let request = Request::post(format!("/files?{Q}"))
        .header(header::CONTENT_TYPE, "multipart/form-data; boundary=XBOUNDARY")
        .body(Body::from_stream(stream))
        .unwrap();
    let got = send(&app, request).await;
    assert_error(&got, StatusCode::PAYLOAD_TOO_LARGE, "PayloadTooLarge");
    let listing = send(&app, Request::get(format!("/files?{Q}")).body(Body::empty()).unwrap()).await;
    assert_eq!(listing.2["value"], serde_json::json!([]), "no partial file: {listing:?}");
    emulator.shutdown().await;
}

#[tokio::test]
async fn auth_is_enforced_except_on_health() {
    let (app, emulator, _dir) = app(Some("t0ken")).await;
    let response = app.clone().oneshot(Request::get(format!("/files?{Q}")).body(Body::empty()).unwrap()).await.unwrap();
    assert_eq!(response.status(), StatusCode::UNAUTHORIZED);
    assert_eq!(response.headers().get(header::WWW_AUTHENTICATE).unwrap(), "Bearer");
    let wrong =
        Request::get(format!("/files?{Q}")).header(header::AUTHORIZATION, "Bearer nope").body(Body::empty()).unwrap();
    assert_error(&send(&app, wrong).await, StatusCode::UNAUTHORIZED, "Unauthorized");
    let right =
        Request::get(format!("/files?{Q}")).header(header::AUTHORIZATION, "Bearer t0ken").body(Body::empty()).unwrap();
    assert_eq!(send(&app, right).await.0, StatusCode::OK);
    let health = send(&app, Request::get("/health").body(Body::empty()).unwrap()).await;
    assert_eq!(health.0, StatusCode::OK);
    assert_eq!(health.2["sandbox"]["tier"], "none");
    assert_eq!(health.2["auth"], true);
    emulator.shutdown().await;
}

#[tokio::test]
async fn garbage_never_causes_a_server_error() {
    let (app, emulator, _dir) = app(None).await;
    let paths = [
        "/executions",
        "/code/execute",
        "/files",
        "/files/upload",
        "/files/x",
        "/files/x/content",
        "/files/content/x",
        "/session",
        "/listSessions",
        "/metadata",
        "/executions/x",
    ];
    let queries = [
        "",
        "?api-version=",
        "?api-version=2024-02-02-preview",
        "?api-version=2025-10-02-preview&identifier=%00",
        "?api-version=2025-10-02-preview&identifier=ok-id&path=%2F..%2F",
        "?api-version=2025-10-02-preview&identifier=ok-id&skip=-1",
    ];
    let bodies = ["", "null", "[]", "{\"properties\":7}", "{\"code\":5}", "\u{0}\u{1}"];
    for path in paths {
        for query in queries {
            for body in bodies {
                for method in ["GET", "POST", "DELETE"] {
                    let request = Request::builder()
                        .method(method)
                        .uri(format!("{path}{query}"))
                        .header(header::CONTENT_TYPE, "application/json")
                        .body(Body::from(body))
                        .unwrap();
                    let got = send(&app, request).await;
                    assert!(!got.0.is_server_error(), "{method} {path}{query} {body:?}: {got:?}");
                    if !got.0.is_success() {
                        assert!(got.1.is_some(), "{method} {path}{query}: no x-ms-error-code");
                    }
                }
            }
        }
    }
    emulator.shutdown().await;
}

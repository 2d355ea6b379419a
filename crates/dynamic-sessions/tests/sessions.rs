//! Session management and pool-level calls.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

mod common;

use common::*;
use dynamic_sessions::Error;
use reqwest::Method;
use serde_json::json;
use wiremock::matchers::{body_string, header, method, path, query_param, query_param_is_missing};
use wiremock::{Mock, MockServer, ResponseTemplate};

#[tokio::test]
async fn session_info_and_delete() {
    let server = MockServer::start().await;
    Mock::given(method("GET"))
        .and(path(route("session")))
        .and(query_param("api-version", CURRENT))
        .and(query_param("identifier", "session-1"))
        .respond_with(
            ResponseTemplate::new(200).set_body_json(spec_body("2025-10-02-preview", "SessionManagement_Get.json")),
        )
        .expect(1)
        .mount(&server)
        .await;
    Mock::given(method("DELETE"))
        .and(path(route("session")))
        .and(query_param("identifier", "session-1"))
        .respond_with(ResponseTemplate::new(204))
        .expect(1)
        .mount(&server)
        .await;
    let session = client(&server, CURRENT).session(session_id());
    let info = session.info().await.unwrap();
    assert_eq!(info.identifier, "testid1");
    assert_eq!(info.etag.as_deref(), Some("9334cb07-aafd-45a0-90bd-448080a91f57"));
    // (The service's example expires before it was created: only the parsing is checked.)
    assert!(info.expire_at.is_some() && info.created_at.is_some() && info.last_accessed_at.is_some());
    session.delete().await.unwrap();
}

#[tokio::test]
async fn deleting_a_gone_session_succeeds() {
    let server = MockServer::start().await;
    Mock::given(method("DELETE"))
        .and(path(route("session")))
        .respond_with(ResponseTemplate::new(404))
        .expect(1)
        .mount(&server)
        .await;
    client(&server, CURRENT).session(session_id()).delete().await.unwrap();
}

/// An expired session can be answered with 400 `SessionWithIdentifierNotFound` (seen on `.management` routes);
/// it is gone all the same.
#[tokio::test]
async fn deleting_an_expired_session_answered_with_400_succeeds() {
    let server = MockServer::start().await;
    let gone = ResponseTemplate::new(400).set_body_json(json!({"error": {
        "code": "SessionWithIdentifierNotFound", "message": "Session with identifier session-1 not found."}}));
    Mock::given(method("DELETE")).and(path(route("session"))).respond_with(gone.clone()).expect(1).mount(&server).await;
    Mock::given(method("POST"))
        .and(path(route(".management/stopSession")))
        .respond_with(gone.clone())
        .expect(1)
        .mount(&server)
        .await;
    Mock::given(method("GET")).and(path(route("session"))).respond_with(gone).expect(1).mount(&server).await;
    let session = client(&server, CURRENT).session(session_id());
    session.delete().await.unwrap();
    session.stop().await.unwrap();
    let err = session.info().await.unwrap_err();
    assert!(matches!(&err, Error::NotFound(e) if e.status.as_u16() == 400), "{err:?}");
}

#[tokio::test]
async fn legacy_clients_use_a_current_version_for_session_management() {
    let server = MockServer::start().await;
    Mock::given(method("DELETE"))
        .and(path(route("session")))
        .and(query_param("api-version", "2025-10-02-preview"))
        .respond_with(ResponseTemplate::new(204))
        .expect(1)
        .mount(&server)
        .await;
    client(&server, LEGACY).session(session_id()).delete().await.unwrap();
}

#[tokio::test]
async fn list_sessions_follows_next_link_without_identifier() {
    let server = MockServer::start().await;
    let next = format!("{}{}?skip=1", server.uri(), route("listSessions"));
    let page1: serde_json::Value =
        serde_json::from_str(&fixture("list_sessions_page1.json").to_string().replace("NEXT_LINK", &next)).unwrap();
    Mock::given(method("GET"))
        .and(path(route("listSessions")))
        .and(query_param("skip", "1"))
        .and(query_param("api-version", "2025-02-02-preview"))
        .respond_with(ResponseTemplate::new(200).set_body_json(fixture("list_sessions_page2.json")))
        .expect(1)
        .mount(&server)
        .await;
    Mock::given(method("GET"))
        .and(path(route("listSessions")))
        .and(query_param_is_missing("identifier"))
        .and(query_param("api-version", "2025-02-02-preview"))
        .respond_with(ResponseTemplate::new(200).set_body_json(page1))
        .expect(1)
        .mount(&server)
        .await;
    let sessions = client(&server, "2025-02-02-preview").list_sessions().await.unwrap();
    assert_eq!(sessions.iter().map(|s| s.identifier.as_str()).collect::<Vec<_>>(), ["a-1", "b-2"]);
}

#[tokio::test]
async fn pool_metadata() {
    let server = MockServer::start().await;
    Mock::given(method("GET"))
        .and(path(route("metadata")))
        .and(query_param_is_missing("identifier"))
        .respond_with(
            ResponseTemplate::new(200).set_body_json(spec_body("2025-10-02-preview", "SessionPoolMetadata_Get.json")),
        )
        .expect(1)
        .mount(&server)
        .await;
    let meta = client(&server, CURRENT).metadata().await.unwrap();
    assert_eq!(meta.runtimes[0].name, "node");
    assert_eq!(meta.runtimes[0].version.as_deref(), Some("20.2.4"));
    assert_eq!(meta.preinstalled_packages.len(), 1);
    assert_eq!(meta.jupyter_kernel.map(|k| k.name), Some("IJavascript".to_owned()));
    assert_eq!(meta.last_updated_at, meta.created_at);
}

#[tokio::test]
async fn raw_requests_carry_auth_identifier_and_body() {
    let server = MockServer::start().await;
    Mock::given(method("POST"))
        .and(path(route("api/uploadfile")))
        .and(query_param("identifier", "session-1"))
        .and(query_param("x", "1"))
        .and(query_param_is_missing("api-version"))
        .and(header("authorization", "Bearer test-token"))
        .and(header("x-custom", "yes"))
        .and(body_string("{\"k\":\"v\"}"))
        .respond_with(ResponseTemplate::new(201).set_body_string("ok"))
        .expect(1)
        .mount(&server)
        .await;
    let session = client(&server, CURRENT).session(session_id());
    let response = session
        .request(Method::POST, "/api/uploadfile")
        .without_api_version()
        .query("x", "1")
        .header("x-custom", "yes")
        .json(&json!({"k": "v"}))
        .unwrap()
        .send()
        .await
        .unwrap();
    assert_eq!(response.status().as_u16(), 201);
    let err = session.request(Method::GET, "a/../b").send().await.unwrap_err();
    assert!(matches!(err, dynamic_sessions::Error::InvalidInput { .. }));
}

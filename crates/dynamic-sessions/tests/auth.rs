//! Token handling: refresh ahead of expiry, one refresh under contention, 401 invalidation.
//! (That tokens never reach logs is checked in `log_redaction.rs`, a binary of its own.)
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

mod common;

use std::time::Duration;

use common::*;
use dynamic_sessions::{Auth, Error};
use serde_json::json;
use wiremock::matchers::{header, method, path};
use wiremock::{Mock, MockServer, ResponseTemplate};

async fn ok_server() -> MockServer {
    let server = MockServer::start().await;
    Mock::given(method("GET"))
        .and(path(route("files")))
        .respond_with(ResponseTemplate::new(200).set_body_json(json!({"value": []})))
        .mount(&server)
        .await;
    server
}

#[tokio::test]
async fn token_is_cached_while_fresh() {
    let server = ok_server().await;
    let credential = FakeCredential::new(Duration::from_secs(3600), Duration::ZERO);
    let files = client_with(&server, CURRENT, Auth::credential(credential.clone())).session(session_id()).files();
    for _ in 0..5 {
        files.list().await.unwrap();
    }
    assert_eq!(credential.calls(), 1);
    let requests = server.received_requests().await.unwrap();
    assert!(requests.iter().all(|r| r.headers.get("authorization").is_some_and(|v| v == "Bearer tok-0")));
}

#[tokio::test]
async fn token_is_refreshed_ahead_of_expiry() {
    let server = ok_server().await;
    // Four minutes left is inside the five-minute refresh margin: every call refreshes.
    let credential = FakeCredential::new(Duration::from_secs(240), Duration::ZERO);
    let files = client_with(&server, CURRENT, Auth::credential(credential.clone())).session(session_id()).files();
    files.list().await.unwrap();
    files.list().await.unwrap();
    assert_eq!(credential.calls(), 2);
    let requests = server.received_requests().await.unwrap();
    assert_eq!(requests[1].headers.get("authorization").unwrap(), "Bearer tok-1");
}

/// `n` file listings at once, each on its own task.
async fn list_concurrently(client: &dynamic_sessions::SessionPoolClient, n: usize) {
    let tasks: Vec<_> = (0..n)
        .map(|_| {
            let files = client.session(session_id()).files();
            tokio::spawn(async move { files.list().await })
        })
        .collect();
    for task in tasks {
        task.await.unwrap().unwrap();
    }
}

#[tokio::test]
async fn fifty_concurrent_calls_share_one_refresh() {
    let server = ok_server().await;
    let credential = FakeCredential::new(Duration::from_secs(3600), Duration::from_millis(100));
    let client = client_with(&server, CURRENT, Auth::credential(credential.clone()));
    list_concurrently(&client, 50).await;
    assert_eq!(credential.calls(), 1);
    assert_eq!(server.received_requests().await.unwrap().len(), 50);
}

#[tokio::test]
async fn concurrent_calls_near_expiry_use_the_old_token_while_one_refreshes() {
    let server = ok_server().await;
    let credential = FakeCredential::new(Duration::from_secs(240), Duration::from_millis(100));
    let client = client_with(&server, CURRENT, Auth::credential(credential.clone()));
    client.session(session_id()).files().list().await.unwrap(); // tok-0, inside the margin
    list_concurrently(&client, 50).await;
    // One refresh for the whole burst (the others kept using the still-valid tok-0).
    assert_eq!(credential.calls(), 2);
}

#[tokio::test]
async fn a_401_drops_the_cached_token() {
    let server = MockServer::start().await;
    Mock::given(method("GET"))
        .and(path(route("files")))
        .and(header("authorization", "Bearer tok-0"))
        .respond_with(ResponseTemplate::new(401))
        .mount(&server)
        .await;
    Mock::given(method("GET"))
        .and(path(route("files")))
        .and(header("authorization", "Bearer tok-1"))
        .respond_with(ResponseTemplate::new(200).set_body_json(json!({"value": []})))
        .expect(1)
        .mount(&server)
        .await;
    let credential = FakeCredential::new(Duration::from_secs(3600), Duration::ZERO);
    let files = client_with(&server, CURRENT, Auth::credential(credential.clone())).session(session_id()).files();
    let err = files.list().await.unwrap_err();
    assert!(matches!(err, Error::Unauthorized(_)));
    files.list().await.unwrap();
    assert_eq!(credential.calls(), 2);
}

#[tokio::test]
async fn no_auth_sends_no_header() {
    let server = ok_server().await;
    client_with(&server, CURRENT, Auth::none()).session(session_id()).files().list().await.unwrap();
    let requests = server.received_requests().await.unwrap();
    assert!(requests[0].headers.get("authorization").is_none());
    assert!(
        requests[0]
            .headers
            .get("user-agent")
            .is_some_and(|v| v.to_str().unwrap().starts_with("dynamic-sessions-rust/"))
    );
}

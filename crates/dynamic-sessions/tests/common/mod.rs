//! Shared helpers for the wiremock tests.
#![allow(dead_code)]

use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Duration;

use dynamic_sessions::azure_core::credentials::{AccessToken, TokenCredential, TokenRequestOptions};
use dynamic_sessions::azure_core::time::OffsetDateTime;
use dynamic_sessions::{ApiVersion, Auth, RetryPolicy, SessionId, SessionPoolClient};
use wiremock::MockServer;

/// The pool path every test endpoint has, as on the real service.
pub const POOL_PATH: &str = "/subscriptions/sub-1/resourceGroups/rg-1/sessionPools/pool-1";

pub fn route(suffix: &str) -> String {
    format!("{POOL_PATH}/{suffix}")
}

/// The response body of one of the service's published examples (`fixtures/spec/<version>/<file>`, copied
/// verbatim; see `fixtures/spec/SOURCES.md`).
pub fn spec_body(version: &str, file: &str) -> serde_json::Value {
    let path = format!("{}/tests/fixtures/spec/{version}/{file}", env!("CARGO_MANIFEST_DIR"));
    let text = std::fs::read_to_string(&path).unwrap_or_else(|e| panic!("example {path}: {e}"));
    let example: serde_json::Value = serde_json::from_str(&text).unwrap_or_else(|e| panic!("example {path}: {e}"));
    let responses = example["responses"].as_object().unwrap_or_else(|| panic!("{path}: no responses"));
    responses.values().next().map(|r| r["body"].clone()).unwrap_or_default()
}

/// A hand-written fixture (`fixtures/*.json`), for shapes no published example shows; `fixtures/SOURCES.md`
/// says where each comes from.
pub fn fixture(name: &str) -> serde_json::Value {
    let path = format!("{}/tests/fixtures/{name}", env!("CARGO_MANIFEST_DIR"));
    let text = std::fs::read_to_string(&path).unwrap_or_else(|e| panic!("fixture {path}: {e}"));
    serde_json::from_str(&text).unwrap_or_else(|e| panic!("fixture {path}: {e}"))
}

/// A fast retry policy so retry tests take milliseconds.
pub fn quick_retries() -> RetryPolicy {
    RetryPolicy::new()
        .with_initial_delay(Duration::from_millis(5))
        .with_max_delay(Duration::from_millis(20))
        .without_jitter()
}

pub fn client(server: &MockServer, version: &str) -> SessionPoolClient {
    client_with(server, version, Auth::bearer("test-token"))
}

pub fn client_with(server: &MockServer, version: &str, auth: Auth) -> SessionPoolClient {
    SessionPoolClient::builder(format!("{}{POOL_PATH}", server.uri()))
        .api_version(ApiVersion::new(version).expect("version"))
        .auth(auth)
        .retry_policy(quick_retries())
        .build()
        .expect("client")
}

pub fn session_id() -> SessionId {
    SessionId::new("session-1").expect("id")
}

pub const LEGACY: &str = "2024-02-02-preview";
pub const CURRENT: &str = "2025-10-02-preview";
pub const V2024_10: &str = "2024-10-02-preview";

/// A credential that hands out `tok-0`, `tok-1`, ... valid for `lifetime`, after `delay`.
#[derive(Debug)]
pub struct FakeCredential {
    pub calls: AtomicUsize,
    pub lifetime: Duration,
    pub delay: Duration,
}

impl FakeCredential {
    pub fn new(lifetime: Duration, delay: Duration) -> Arc<Self> {
        Arc::new(FakeCredential { calls: AtomicUsize::new(0), lifetime, delay })
    }
    pub fn calls(&self) -> usize {
        self.calls.load(Ordering::SeqCst)
    }
}

#[async_trait::async_trait]
impl TokenCredential for FakeCredential {
    async fn get_token(
        &self,
        scopes: &[&str],
        _options: Option<TokenRequestOptions<'_>>,
    ) -> dynamic_sessions::azure_core::Result<AccessToken> {
        assert_eq!(scopes, ["https://dynamicsessions.io/.default"]);
        let n = self.calls.fetch_add(1, Ordering::SeqCst);
        tokio::time::sleep(self.delay).await;
        let lifetime = dynamic_sessions::azure_core::time::Duration::try_from(self.lifetime).expect("lifetime");
        Ok(AccessToken::new(format!("tok-{n}"), OffsetDateTime::now_utc() + lifetime))
    }
}

/// A matcher on the raw multipart body.
pub fn multipart_contains(needle: &'static str) -> impl Fn(&wiremock::Request) -> bool + Send + Sync + 'static {
    move |req: &wiremock::Request| String::from_utf8_lossy(&req.body).contains(needle)
}

//! The Azure OpenAI path: deployment URL and api-version, `api-key` versus Entra ID bearer tokens, and a fresh
//! token on every request.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

mod common;

use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};

use common::{emulator, interpreter};
use dynamic_sessions::azure_core::credentials::{AccessToken, TokenCredential, TokenRequestOptions};
use dynamic_sessions::azure_core::time::{Duration, OffsetDateTime};
use dynamic_sessions_agent_tools::rig::{AzureAuth, ModelConfig, agent_builder};
use dynamic_sessions_test_support::{Reply, ScriptedModel};
use serde_json::json;
use wiremock::MockServer;

#[derive(Debug, Default)]
struct FakeCredential(AtomicUsize);

#[async_trait::async_trait]
impl TokenCredential for FakeCredential {
    async fn get_token(
        &self,
        scopes: &[&str],
        _: Option<TokenRequestOptions<'_>>,
    ) -> dynamic_sessions::azure_core::Result<AccessToken> {
        assert_eq!(scopes, ["https://cognitiveservices.azure.com/.default"]);
        let n = self.0.fetch_add(1, Ordering::SeqCst);
        Ok(AccessToken::new(format!("entra-token-{n}"), OffsetDateTime::now_utc() + Duration::minutes(60)))
    }
}

async fn azure_server() -> MockServer {
    let model = ScriptedModel::start_at(
        "/openai/deployments/chat-dep/chat/completions",
        vec![
            Reply::ToolCalls(vec![("call_1", "run_python", json!({"code": "print(2 + 2)"}).to_string())]),
            Reply::Text("It is 4."),
        ],
    )
    .await;
    model.server
}

/// Every request went to the deployment's chat-completions route with the configured api-version.
fn assert_url_shape(requests: &[wiremock::Request]) {
    for request in requests {
        assert_eq!(request.url.path(), "/openai/deployments/chat-dep/chat/completions");
        assert_eq!(request.url.query(), Some("api-version=2024-10-21"));
    }
}

fn config(server: &MockServer, auth: AzureAuth) -> ModelConfig {
    ModelConfig::AzureOpenAi {
        endpoint: format!("{}/", server.uri()),
        deployment: "chat-dep".into(),
        api_version: "2024-10-21".into(),
        auth,
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn api_key_goes_in_the_api_key_header() {
    let Some(emu) = emulator().await else { return };
    let server = azure_server().await;
    let model = config(&server, AzureAuth::ApiKey("azure-key-123".into())).completion_model().unwrap();
    let agent = agent_builder(model, &interpreter(&emu)).build();
    assert_eq!(agent.prompt("2+2?").await.unwrap().output(), "It is 4.");
    let requests = server.received_requests().await.unwrap();
    assert_eq!(requests.len(), 2);
    assert_url_shape(&requests);
    for request in &requests {
        assert_eq!(request.headers.get("api-key").unwrap(), "azure-key-123");
        assert!(request.headers.get("authorization").is_none());
    }
    emu.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn entra_id_sends_a_fresh_bearer_token_per_request() {
    let Some(emu) = emulator().await else { return };
    let server = azure_server().await;
    let credential = Arc::new(FakeCredential::default());
    let model = config(&server, AzureAuth::Entra(credential.clone())).completion_model().unwrap();
    let agent = agent_builder(model, &interpreter(&emu)).build();
    assert_eq!(agent.prompt("2+2?").await.unwrap().output(), "It is 4.");
    let requests = server.received_requests().await.unwrap();
    assert_url_shape(&requests);
    let tokens: Vec<String> = requests
        .iter()
        .map(|r| {
            assert!(r.headers.get("api-key").is_none(), "no api-key with Entra ID");
            assert_eq!(r.headers.get_all("authorization").iter().count(), 1);
            r.headers.get("authorization").unwrap().to_str().unwrap().to_owned()
        })
        .collect();
    assert_eq!(tokens, ["Bearer entra-token-0", "Bearer entra-token-1"]);
    assert_eq!(credential.0.load(Ordering::SeqCst), 2);
    emu.stop().await;
}

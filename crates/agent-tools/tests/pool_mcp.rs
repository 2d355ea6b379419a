//! rmcp's streamable HTTP client, a strict MCP client, drives the emulator pool's own MCP endpoint with the
//! `x-ms-apikey` header, as it would drive the service's.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use dynamic_sessions_emulator::testing::TestEmulator;
use rmcp::ServiceExt;
use rmcp::model::CallToolRequestParams;
use rmcp::transport::StreamableHttpClientTransport;
use rmcp::transport::streamable_http_client::StreamableHttpClientTransportConfig;
use serde_json::{Value, json};

fn args(value: Value) -> serde_json::Map<String, Value> {
    value.as_object().cloned().unwrap()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn rmcps_client_drives_the_pools_mcp_endpoint() {
    let Some(emu) = TestEmulator::start(|c| c.mcp = true).await.unwrap_or_else(|e| panic!("{e}")) else { return };
    let key = emu.emulator.mcp_api_key().unwrap();
    let connect = |key: &str| {
        let mut config = StreamableHttpClientTransportConfig::with_uri(format!("{}/mcp", emu.url()));
        config.custom_headers.insert(
            reqwest::header::HeaderName::from_static("x-ms-apikey"),
            reqwest::header::HeaderValue::from_str(key).unwrap(),
        );
        ().serve(StreamableHttpClientTransport::from_config(config))
    };
    let client = connect(&key).await.unwrap();
    let info = client.peer_info().unwrap();
    assert_eq!(info.server_info.as_ref().map(|s| s.name.as_str()), Some("Microsoft Container Apps MCP Server"));
    let mut names: Vec<String> =
        client.list_all_tools().await.unwrap().into_iter().map(|t| t.name.to_string()).collect();
    names.sort();
    assert_eq!(names, ["launchShell", "runPythonCodeInRemoteEnvironment", "runShellCommandInRemoteEnvironment"]);
    let launched =
        client.call_tool(CallToolRequestParams::new("launchShell").with_arguments(args(json!({})))).await.unwrap();
    let environment = launched.structured_content.unwrap()["environmentId"].as_str().unwrap().to_owned();
    let run = CallToolRequestParams::new("runPythonCodeInRemoteEnvironment")
        .with_arguments(args(json!({"environmentId": environment, "pythonCode": "print(sum(range(10)))"})));
    let ran = client.call_tool(run).await.unwrap();
    assert_eq!(ran.structured_content.unwrap()["stdout"], "45\n");
    let _ = client.cancel().await;
    assert!(connect("wrong-key").await.is_err(), "a wrong key is refused at initialize");
    emu.stop().await;
}

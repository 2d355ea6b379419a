//! A pool's own MCP endpoint, as the service serves it: the Python and shell MCP tutorials' requests,
//! verbatim, give the fields they document; the API key (x-ms-apikey) is required and can be fetched and
//! rotated through the ARM-shaped routes; JSON-RPC mistakes get JSON-RPC errors; environments end with their
//! sessions and say so.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

mod common;

use std::time::Duration;

use common::{Harness, start};
use dynamic_sessions_emulator::config::{ContainerType, PoolSpec};
use serde_json::{Value, json};

async fn emulator(cooldown: Duration) -> Option<Harness> {
    start(|c| {
        c.mcp = true;
        c.cooldown = cooldown;
        c.pools = vec![PoolSpec { name: "shellpool".into(), container_type: ContainerType::Shell }];
    })
    .await
}

/// What the tutorial's `az rest` calls give: the pool's MCP endpoint (from the pool resource) and the key
/// (from `fetchMCPServerCredentials`), through the ARM-shaped routes with the emulator's bearer token.
async fn endpoint_and_key(h: &Harness, pool: &str) -> (String, String) {
    let http = reqwest::Client::new();
    let resource =
        format!("{}/subscriptions/sub/resourceGroups/rg/providers/Microsoft.App/sessionPools/{pool}", h.emulator.url());
    let pool_json: Value = http
        .get(format!("{resource}?api-version=2025-02-02-preview"))
        .bearer_auth(h.emulator.token())
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    let endpoint = pool_json["properties"]["mcpServerSettings"]["mcpServerEndpoint"].as_str().unwrap().to_owned();
    assert_eq!(pool_json["properties"]["mcpServerSettings"]["isMcpServerEnabled"], true, "{pool_json}");
    let credentials: Value = http
        .post(format!("{resource}/fetchMCPServerCredentials?api-version=2025-02-02-preview"))
        .bearer_auth(h.emulator.token())
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    (endpoint, credentials["apiKey"].as_str().unwrap().to_owned())
}

/// `curl -sS -X POST "$MCP_ENDPOINT" -H "Content-Type: application/json" -H "x-ms-apikey: $API_KEY" -d '...'`.
async fn curl(endpoint: &str, key: &str, body: &str) -> (u16, Value) {
    let response = reqwest::Client::new()
        .post(endpoint)
        .header("Content-Type", "application/json")
        .header("x-ms-apikey", key)
        .body(body.to_owned())
        .send()
        .await
        .unwrap();
    let status = response.status().as_u16();
    let text = response.text().await.unwrap();
    (status, serde_json::from_str(&text).unwrap_or(Value::Null))
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_python_tutorials_requests_get_the_documented_fields() {
    let Some(h) = emulator(Duration::from_secs(300)).await else { return };
    let (endpoint, key) = endpoint_and_key(&h, "default").await;
    assert!(endpoint.ends_with("/sessionPools/default/mcp"), "{endpoint}");

    let (status, init) = curl(&endpoint, &key, r#"{ "jsonrpc": "2.0", "id": "1", "method": "initialize" }"#).await;
    assert_eq!(status, 200, "{init}");
    assert_eq!(init["id"], "1");
    assert_eq!(init["result"]["protocolVersion"], "2025-03-26");
    assert_eq!(init["result"]["serverInfo"]["name"], "Microsoft Container Apps MCP Server");
    assert_eq!(init["result"]["capabilities"]["tools"], json!({ "call": true, "list": true }));

    let launch = r#"{ "jsonrpc": "2.0", "id": "2", "method": "tools/call", "params": { "name": "launchShell", "arguments": {} } }"#;
    let (_, launched) = curl(&endpoint, &key, launch).await;
    let environment = launched["result"]["structuredContent"]["environmentId"].as_str().unwrap().to_owned();
    assert_eq!(environment.len(), 36, "a UUID: {launched}");

    let version = r#"{
        "jsonrpc": "2.0",
        "id": "3",
        "method": "tools/call",
        "params": {
            "name": "runPythonCodeInRemoteEnvironment",
            "arguments": {
                "environmentId": "ENVIRONMENT_ID",
                "pythonCode": "import sys; print(f\"Python {sys.version}\")"
            }
        }
    }"#
    .replace("ENVIRONMENT_ID", &environment);
    let (_, answer) = curl(&endpoint, &key, &version).await;
    assert!(answer["result"]["structuredContent"]["stdout"].as_str().unwrap().starts_with("Python 3."), "{answer}");
    assert_eq!(answer["result"]["isError"], false);

    let factorials = r#"{
        "jsonrpc": "2.0",
        "id": "4",
        "method": "tools/call",
        "params": {
            "name": "runPythonCodeInRemoteEnvironment",
            "arguments": {
                "environmentId": "ENVIRONMENT_ID",
                "pythonCode": "import math\nresults = {n: math.factorial(n) for n in range(1, 11)}\nfor k, v in results.items():\n    print(f\"{k}! = {v}\")"
            }
        }
    }"#
    .replace("ENVIRONMENT_ID", &environment);
    let (_, answer) = curl(&endpoint, &key, &factorials).await;
    let stdout = answer["result"]["structuredContent"]["stdout"].as_str().unwrap();
    assert!(stdout.starts_with("1! = 1\n") && stdout.ends_with("10! = 3628800\n"), "{answer}");
    assert_eq!(answer["result"]["content"][0]["type"], "text", "a text block for clients that read only text");

    // The older tutorial's tool name still launches an environment.
    let older = r#"{ "jsonrpc": "2.0", "id": "2", "method": "tools/call", "params": { "name": "launchPythonEnvironment", "arguments": {} } }"#;
    let (_, launched) = curl(&endpoint, &key, older).await;
    assert!(launched["result"]["structuredContent"]["environmentId"].is_string(), "{launched}");
    h.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_shell_tutorials_requests_get_the_documented_fields() {
    let Some(h) = emulator(Duration::from_secs(300)).await else { return };
    let (endpoint, key) = endpoint_and_key(&h, "shellpool").await;
    let (_, tools) = curl(&endpoint, &key, r#"{"jsonrpc":"2.0","id":"2","method":"tools/list"}"#).await;
    let names: Vec<&str> =
        tools["result"]["tools"].as_array().unwrap().iter().filter_map(|t| t["name"].as_str()).collect();
    assert_eq!(names, ["launchShell", "runShellCommandInRemoteEnvironment"]);
    let launch = r#"{ "jsonrpc": "2.0", "id": "2", "method": "tools/call", "params": { "name": "launchShell", "arguments": {} } }"#;
    let (_, launched) = curl(&endpoint, &key, launch).await;
    let environment = launched["result"]["structuredContent"]["environmentId"].as_str().unwrap().to_owned();
    let hello = r#"{
        "jsonrpc": "2.0",
        "id": "3",
        "method": "tools/call",
        "params": {
            "name": "runShellCommandInRemoteEnvironment",
            "arguments": {
                "environmentId": "ENVIRONMENT_ID",
                "shellCommand": "echo Hello from Azure Container Apps Shell Session!"
            }
        }
    }"#
    .replace("ENVIRONMENT_ID", &environment);
    let (_, answer) = curl(&endpoint, &key, &hello).await;
    assert_eq!(answer["result"]["structuredContent"]["stdout"], "Hello from Azure Container Apps Shell Session!\n");
    assert_eq!(answer["result"]["structuredContent"]["exitCode"], 0, "{answer}");
    let os = r#"{
        "jsonrpc": "2.0",
        "id": "4",
        "method": "tools/call",
        "params": {
            "name": "runShellCommandInRemoteEnvironment",
            "arguments": {
                "environmentId": "ENVIRONMENT_ID",
                "shellCommand": "cat /etc/os-release && uname -a"
            }
        }
    }"#
    .replace("ENVIRONMENT_ID", &environment);
    let (_, answer) = curl(&endpoint, &key, &os).await;
    let stdout = answer["result"]["structuredContent"]["stdout"].as_str().unwrap();
    assert!(stdout.contains("ID=") && stdout.contains("Linux"), "{answer}");
    // Python is not a Shell pool's tool.
    let python = format!(
        r#"{{"jsonrpc":"2.0","id":5,"method":"tools/call","params":{{"name":"runPythonCodeInRemoteEnvironment","arguments":{{"environmentId":"{environment}","pythonCode":"1"}}}}}}"#
    );
    let (_, refused) = curl(&endpoint, &key, &python).await;
    assert_eq!(refused["error"]["code"], -32602, "{refused}");
    assert!(refused["error"]["message"].as_str().unwrap().contains("Shell pool"), "{refused}");
    h.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_key_is_required_fetched_rotated_and_kept_for_its_owner_only() {
    let Some(h) = emulator(Duration::from_secs(300)).await else { return };
    let (endpoint, key) = endpoint_and_key(&h, "default").await;
    let init = r#"{ "jsonrpc": "2.0", "id": "1", "method": "initialize" }"#;
    assert_eq!(curl(&endpoint, "", init).await.0, 401, "no key");
    let (status, wrong) = curl(&endpoint, "not-the-key", init).await;
    assert_eq!(status, 401);
    assert!(wrong["error"]["message"].as_str().unwrap().contains("x-ms-apikey"), "{wrong}");
    // A bearer token is not the key (the service answers 401 too).
    let bearer = reqwest::Client::new()
        .post(&endpoint)
        .bearer_auth(h.emulator.token())
        .header("Content-Type", "application/json")
        .body(init)
        .send()
        .await
        .unwrap();
    assert_eq!(bearer.status(), 401);
    assert!(bearer.text().await.unwrap().contains("not a bearer token"));
    // The key file is the key, for its owner only.
    let file = h.data_dir().join("mcp-api-key");
    assert_eq!(std::fs::read_to_string(&file).unwrap(), key);
    use std::os::unix::fs::PermissionsExt;
    assert_eq!(std::fs::metadata(&file).unwrap().permissions().mode() & 0o777, 0o600);
    // Rotating makes a new key; the old one stops working.
    let rotate = format!(
        "{}/subscriptions/sub/resourceGroups/rg/providers/Microsoft.App/sessionPools/default/rotateMcpServerCredentials",
        h.emulator.url()
    );
    let rotated: Value =
        reqwest::Client::new().post(rotate).bearer_auth(h.emulator.token()).send().await.unwrap().json().await.unwrap();
    let new_key = rotated["apiKey"].as_str().unwrap();
    assert_ne!(new_key, key);
    assert_eq!(curl(&endpoint, &key, init).await.0, 401, "the old key");
    assert_eq!(curl(&endpoint, new_key, init).await.0, 200, "the new key");
    assert_eq!(h.emulator.emulator.mcp_api_key().as_deref(), Some(new_key));
    assert_eq!(std::fs::read_to_string(&file).unwrap(), new_key);
    // The ARM routes need the emulator's token, as ARM needs an Entra token.
    let anonymous = reqwest::Client::new()
        .post(format!(
            "{}/subscriptions/sub/resourceGroups/rg/providers/Microsoft.App/sessionPools/default/fetchMCPServerCredentials",
            h.emulator.url()
        ))
        .send()
        .await
        .unwrap();
    assert_eq!(anonymous.status(), 401);
    // A web page cannot reach the endpoint.
    let browser = reqwest::Client::new()
        .post(&endpoint)
        .header("x-ms-apikey", new_key)
        .header("Origin", "https://evil.example")
        .header("Sec-Fetch-Site", "cross-site")
        .header("Content-Type", "application/json")
        .body(init)
        .send()
        .await
        .unwrap();
    assert_eq!(browser.status(), 403);
    h.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn json_rpc_mistakes_get_json_rpc_errors() {
    let Some(h) = emulator(Duration::from_secs(300)).await else { return };
    let (endpoint, key) = endpoint_and_key(&h, "default").await;
    let (status, parse) = curl(&endpoint, &key, "{not json").await;
    assert_eq!((status, parse["error"]["code"].as_i64()), (400, Some(-32700)), "{parse}");
    let (_, method) = curl(&endpoint, &key, r#"{"jsonrpc":"2.0","id":1,"method":"tools.list"}"#).await;
    assert_eq!(method["error"]["code"], -32601);
    assert!(method["error"]["message"].as_str().unwrap().contains("tools/list"), "{method}");
    let (_, version) = curl(&endpoint, &key, r#"{"jsonrpc":"1.0","id":1,"method":"initialize"}"#).await;
    assert_eq!(version["error"]["code"], -32600);
    let (_, tool) =
        curl(&endpoint, &key, r#"{"jsonrpc":"2.0","id":1,"method":"tools/call","params":{"name":"rm -rf"}}"#).await;
    assert_eq!(tool["error"]["code"], -32602);
    let (_, missing) = curl(
        &endpoint,
        &key,
        r#"{"jsonrpc":"2.0","id":1,"method":"tools/call","params":{"name":"runShellCommandInRemoteEnvironment","arguments":{}}}"#,
    )
    .await;
    assert!(missing["error"]["message"].as_str().unwrap().contains("environmentId"), "{missing}");
    // A notification is answered with nothing (202); a batch with an answer per request.
    let (status, nothing) = curl(&endpoint, &key, r#"{"jsonrpc":"2.0","method":"notifications/initialized"}"#).await;
    assert_eq!((status, nothing), (202, Value::Null));
    let batch = r#"[{"jsonrpc":"2.0","method":"notifications/initialized"},{"jsonrpc":"2.0","id":"a","method":"ping"},{"jsonrpc":"2.0","id":"b","method":"tools/list"}]"#;
    let (_, answers) = curl(&endpoint, &key, batch).await;
    let ids: Vec<&str> = answers.as_array().unwrap().iter().filter_map(|a| a["id"].as_str()).collect();
    assert_eq!(ids, ["a", "b"], "{answers}");
    // No event stream: GET is refused, saying how to talk to it.
    let get = reqwest::Client::new().get(&endpoint).header("x-ms-apikey", &key).send().await.unwrap();
    assert_eq!(get.status(), 405);
    assert_eq!(get.headers()["allow"], "POST");
    h.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_environment_ends_with_its_session_and_says_so() {
    let Some(h) = emulator(Duration::from_secs(1)).await else { return };
    let (endpoint, key) = endpoint_and_key(&h, "default").await;
    let launch = r#"{"jsonrpc":"2.0","id":1,"method":"tools/call","params":{"name":"launchShell","arguments":{}}}"#;
    let (_, launched) = curl(&endpoint, &key, launch).await;
    let environment = launched["result"]["structuredContent"]["environmentId"].as_str().unwrap().to_owned();
    let run = |code: &str| {
        json!({"jsonrpc": "2.0", "id": 2, "method": "tools/call", "params": {"name": "runPythonCodeInRemoteEnvironment", "arguments": {"environmentId": environment, "pythonCode": code}}}).to_string()
    };
    let (_, first) = curl(&endpoint, &key, &run("x = 1")).await;
    assert_eq!(first["result"]["structuredContent"]["status"], "Succeeded", "{first}");
    // The environment's session is a pool session like any other.
    let sessions: Value = reqwest::Client::new()
        .get(format!("{}/listSessions?api-version=2025-02-02-preview", h.emulator.url()))
        .bearer_auth(h.emulator.token())
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert!(
        sessions["sessions"].as_array().unwrap().iter().any(|s| s["identifier"] == environment.as_str()),
        "{sessions}"
    );
    // After the cooldown (untouched meanwhile) the session is gone, and the environment says it expired.
    let deadline = std::time::Instant::now() + Duration::from_secs(30);
    while std::time::Instant::now() < deadline {
        tokio::time::sleep(Duration::from_millis(300)).await;
        let sessions: Value = reqwest::Client::new()
            .get(format!("{}/listSessions?api-version=2025-02-02-preview", h.emulator.url()))
            .bearer_auth(h.emulator.token())
            .send()
            .await
            .unwrap()
            .json()
            .await
            .unwrap();
        if sessions["sessions"].as_array().unwrap().iter().all(|s| s["identifier"] != environment.as_str()) {
            break;
        }
    }
    let (_, answer) = curl(&endpoint, &key, &run("x")).await;
    let expired = answer["error"]["message"].as_str().unwrap_or_default();
    assert!(expired.contains("expired") && expired.contains("launchShell"), "{answer}");
    let (_, unknown) = curl(&endpoint, &key, &run("x").replace(&environment, "made-up")).await;
    assert!(unknown["error"]["message"].as_str().unwrap().contains("not found"), "{unknown}");
    h.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn without_mcp_the_endpoint_says_how_to_turn_it_on() {
    let Some(h) = start(|_| {}).await else { return };
    let (status, body) = curl(&format!("{}/mcp", h.emulator.url()), "x", "{}").await;
    assert_eq!(status, 404);
    assert!(body["error"]["message"].as_str().unwrap().contains("--mcp"), "{body}");
    h.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_rust_client_drives_the_endpoint_typed() {
    use dynamic_sessions::Error;
    use dynamic_sessions::pool_mcp::PoolMcpClient;
    let Some(h) = emulator(Duration::from_secs(300)).await else { return };
    let (endpoint, key) = endpoint_and_key(&h, "default").await;
    let mcp = PoolMcpClient::new(&endpoint, key).unwrap();
    let info = mcp.initialize().await.unwrap();
    assert_eq!(
        (info.name.as_str(), info.protocol_version.as_str()),
        ("Microsoft Container Apps MCP Server", "2025-03-26")
    );
    assert_eq!(mcp.tools().await.unwrap().len(), 3);
    let environment = mcp.launch_shell().await.unwrap();
    let run = mcp.run_python(&environment, "x = 41\nx + 1").await.unwrap();
    assert_eq!((run.is_error, run.result), (false, Some(json!(42))));
    let failed = mcp.run_python(&environment, "1 / 0").await.unwrap();
    assert!(failed.is_error && failed.stderr.contains("ZeroDivisionError"), "{failed:?}");
    let shell = mcp.run_shell(&environment, "echo $((x + 1)); exit 4").await.unwrap();
    assert_eq!((shell.is_error, shell.exit_code), (true, Some(4)), "{shell:?}");
    let argv = mcp.exec(&environment, &["printf", "%s", "a b"]).await.unwrap();
    assert_eq!(argv.stdout, "a b");
    let unknown = mcp.run_shell("made-up", "true").await.unwrap_err();
    assert!(matches!(&unknown, Error::Service(e) if e.code.as_deref() == Some("-32602")), "{unknown:?}");
    assert!(unknown.to_string().contains("launchShell"), "{unknown}");
    let wrong = PoolMcpClient::new(&endpoint, "wrong").unwrap().initialize().await.unwrap_err();
    assert!(matches!(wrong, Error::Unauthorized(_)), "{wrong:?}");
    h.stop().await;
}

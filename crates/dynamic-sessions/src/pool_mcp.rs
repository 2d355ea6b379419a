//! A pool's own MCP endpoint (the platform-managed MCP server of a session pool with
//! `mcpServerSettings.isMCPServerEnabled`): JSON-RPC 2.0 over HTTP POST with the `x-ms-apikey` header, and its
//! three tools, typed.
//!
//! Use it to drive a pool's MCP endpoint from Rust without an MCP library; an MCP client (rmcp, the official
//! SDKs, VS Code) works too, with the header. This crate's [`SessionPoolClient`](crate::SessionPoolClient) uses
//! the data-plane API instead, which has files, both API families and Entra ID.
//!
//! ```no_run
//! # async fn run() -> Result<(), dynamic_sessions::Error> {
//! use dynamic_sessions::pool_mcp::PoolMcpClient;
//!
//! // The pool resource's properties.mcpServerSettings.mcpServerEndpoint, and fetchMCPServerCredentials' apiKey.
//! let mcp = PoolMcpClient::new("https://eastus.dynamicsessions.io/subscriptions/.../sessionPools/p/mcp", "key")?;
//! let environment = mcp.launch_shell().await?;
//! let run = mcp.run_python(&environment, "print(6 * 7)").await?;
//! assert_eq!(run.stdout, "42\n");
//! # Ok(()) }
//! ```

use std::fmt;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

use reqwest::StatusCode;
use serde_json::{Value, json};
use url::Url;

use crate::builder::validate_endpoint;
use crate::error::{Error, ServiceError};

/// The header that carries the key.
pub const KEY_HEADER: &str = "x-ms-apikey";

/// A client of one pool's MCP endpoint. Cheap to clone.
#[derive(Clone)]
pub struct PoolMcpClient {
    http: reqwest::Client,
    endpoint: Url,
    key: String,
    ids: std::sync::Arc<AtomicU64>,
}

impl fmt::Debug for PoolMcpClient {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("PoolMcpClient").field("endpoint", &self.endpoint.as_str()).field("key", &"<redacted>").finish()
    }
}

/// What `initialize` says about the server.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub struct McpServerInfo {
    /// `serverInfo.name` (the service's is `Microsoft Container Apps MCP Server`).
    pub name: String,
    /// The MCP protocol version it speaks (the service's is `2025-03-26`).
    pub protocol_version: String,
}

/// What a run tool answered.
#[derive(Debug, Clone, PartialEq)]
#[non_exhaustive]
pub struct McpRun {
    /// Whether the code or command failed (an exception, a non-zero exit code).
    pub is_error: bool,
    /// Standard output.
    pub stdout: String,
    /// Standard error.
    pub stderr: String,
    /// The last expression's value (Python), when the server reports one.
    pub result: Option<Value>,
    /// The exit code (shell commands), when the server reports one.
    pub exit_code: Option<i64>,
    /// The whole tool result (`content`, `structuredContent`, `isError`), for fields this client does not model.
    pub raw: Value,
}

impl PoolMcpClient {
    /// A client of the MCP endpoint `endpoint` (https, or http on loopback) with the pool's MCP API key.
    ///
    /// # Errors
    /// [`Error::Config`] for an endpoint that is not a usable URL, or an empty key.
    pub fn new(endpoint: &str, api_key: impl Into<String>) -> Result<PoolMcpClient, Error> {
        let key = api_key.into();
        if key.trim().is_empty() {
            return Err(Error::config("the MCP API key is empty: use fetchMCPServerCredentials' apiKey"));
        }
        let endpoint = validate_endpoint(endpoint)?;
        let http = reqwest::Client::builder()
            .connect_timeout(Duration::from_secs(10))
            .timeout(crate::MAX_EXECUTION_TIMEOUT + Duration::from_secs(30))
            .build()
            .map_err(|e| Error::config(format!("cannot build the HTTP client: {e}")))?;
        Ok(PoolMcpClient { http, endpoint, key, ids: std::sync::Arc::new(AtomicU64::new(1)) })
    }

    /// `initialize`.
    ///
    /// # Errors
    /// [`Error::Unauthorized`] for a wrong key; [`Error::Service`] for a JSON-RPC error; transport errors.
    pub async fn initialize(&self) -> Result<McpServerInfo, Error> {
        let result = self.call("initialize", json!({})).await?;
        Ok(McpServerInfo {
            name: result["serverInfo"]["name"].as_str().unwrap_or_default().to_owned(),
            protocol_version: result["protocolVersion"].as_str().unwrap_or_default().to_owned(),
        })
    }

    /// The names of the tools the server offers (`tools/list`).
    ///
    /// # Errors
    /// As [`PoolMcpClient::initialize`].
    pub async fn tools(&self) -> Result<Vec<String>, Error> {
        let result = self.call("tools/list", json!({})).await?;
        let tools = result["tools"].as_array().map(Vec::as_slice).unwrap_or_default();
        Ok(tools.iter().filter_map(|t| t["name"].as_str().map(str::to_owned)).collect())
    }

    /// A new environment (`launchShell`): its id. The session behind it is made on its first use.
    ///
    /// # Errors
    /// As [`PoolMcpClient::initialize`], and [`Error::Decode`] when the answer has no `environmentId`.
    pub async fn launch_shell(&self) -> Result<String, Error> {
        let result = self.tool("launchShell", json!({})).await?;
        result["structuredContent"]["environmentId"].as_str().map(str::to_owned).ok_or_else(|| Error::Decode {
            operation: "mcp.launchShell",
            message: "no structuredContent.environmentId".into(),
            body_snippet: result.to_string().chars().take(200).collect(),
        })
    }

    /// Runs Python in `environment` (`runPythonCodeInRemoteEnvironment`).
    ///
    /// # Errors
    /// As [`PoolMcpClient::initialize`]; an unknown or expired environment is [`Error::Service`] with the
    /// server's message.
    pub async fn run_python(&self, environment: &str, code: &str) -> Result<McpRun, Error> {
        let arguments = json!({"environmentId": environment, "pythonCode": code});
        Ok(run(self.tool("runPythonCodeInRemoteEnvironment", arguments).await?))
    }

    /// Runs a Bash command line in `environment` (`runShellCommandInRemoteEnvironment` with `shellCommand`).
    ///
    /// # Errors
    /// As [`PoolMcpClient::run_python`].
    pub async fn run_shell(&self, environment: &str, command: &str) -> Result<McpRun, Error> {
        let arguments = json!({"environmentId": environment, "shellCommand": command});
        Ok(run(self.tool("runShellCommandInRemoteEnvironment", arguments).await?))
    }

    /// Runs a program with arguments, without a shell (`execCommandAndArgs`).
    ///
    /// # Errors
    /// As [`PoolMcpClient::run_python`].
    pub async fn exec(&self, environment: &str, argv: &[&str]) -> Result<McpRun, Error> {
        let arguments = json!({"environmentId": environment, "execCommandAndArgs": argv});
        Ok(run(self.tool("runShellCommandInRemoteEnvironment", arguments).await?))
    }

    async fn tool(&self, name: &str, arguments: Value) -> Result<Value, Error> {
        self.call("tools/call", json!({"name": name, "arguments": arguments})).await
    }

    /// One JSON-RPC call; its `result`.
    async fn call(&self, method: &'static str, params: Value) -> Result<Value, Error> {
        let id = self.ids.fetch_add(1, Ordering::Relaxed);
        let body = json!({"jsonrpc": "2.0", "id": id.to_string(), "method": method, "params": params});
        let response = self
            .http
            .post(self.endpoint.clone())
            .header(KEY_HEADER, &self.key)
            .json(&body)
            .send()
            .await
            .map_err(|source| Error::Transport { operation: "mcp", sent: !source.is_connect(), source })?;
        let status = response.status();
        let headers = response.headers().clone();
        let bytes =
            response.bytes().await.map_err(|source| Error::Transport { operation: "mcp", sent: true, source })?;
        let parsed: Option<Value> = serde_json::from_slice(&bytes).ok();
        let rpc_error =
            parsed.as_ref().and_then(|v| v.get("error")).filter(|e| e.get("code").is_some_and(Value::is_i64));
        if rpc_error.is_some() || !status.is_success() {
            let mut service = ServiceError::from_parts(status, &headers, &bytes);
            if let Some(error) = rpc_error {
                // A JSON-RPC error: its numeric code and message.
                service.code = error["code"].as_i64().map(|c| c.to_string());
                service.message = error["message"].as_str().map(str::to_owned);
            }
            let service = Box::new(service);
            return Err(match status {
                StatusCode::UNAUTHORIZED => Error::Unauthorized(service),
                StatusCode::FORBIDDEN => Error::Forbidden(service),
                StatusCode::NOT_FOUND => Error::NotFound(service),
                StatusCode::TOO_MANY_REQUESTS => Error::Throttled { retry_after: service.retry_after, error: service },
                _ => Error::Service(service),
            });
        }
        parsed.and_then(|mut v| v.get_mut("result").map(Value::take)).ok_or_else(|| Error::Decode {
            operation: method,
            message: "no JSON-RPC result".into(),
            body_snippet: String::from_utf8_lossy(&bytes).chars().take(200).collect(),
        })
    }
}

fn run(result: Value) -> McpRun {
    let structured = &result["structuredContent"];
    let text = |name: &str| structured[name].as_str().unwrap_or_default().to_owned();
    McpRun {
        is_error: result["isError"].as_bool().unwrap_or(false),
        stdout: text("stdout"),
        stderr: text("stderr"),
        result: structured.get("result").filter(|v| !v.is_null()).cloned(),
        exit_code: structured["exitCode"].as_i64(),
        raw: result,
    }
}

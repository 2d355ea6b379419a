//! The pool's own MCP endpoint, as the service serves it when a pool's `mcpServerSettings.isMCPServerEnabled`
//! is true: JSON-RPC 2.0 over HTTP POST at `<pool management endpoint>/mcp`, authenticated by the
//! `x-ms-apikey` header (not a bearer token), with the tools `launchShell`, `runPythonCodeInRemoteEnvironment`
//! and `runShellCommandInRemoteEnvironment` (the `tools` module). Opt-in (`--mcp`), one API key per emulator, made at
//! start (or given), kept in `<data-dir>/mcp-api-key` (mode 0600) and served by the ARM-shaped
//! `fetchMCPServerCredentials` route.

pub(crate) mod environments;
mod jsonrpc;
mod tools;

use std::io::Write as _;
use std::os::unix::fs::OpenOptionsExt as _;
use std::path::{Path, PathBuf};
use std::sync::RwLock;

use axum::body::Bytes;
use axum::extract::State;
use axum::http::{HeaderMap, HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use serde_json::{Value, json};

use crate::api::{AppState, Pool, TokenCheck};
use crate::pool::SessionPool;
use environments::Environments;
use jsonrpc::{METHOD_NOT_FOUND, Request, RpcError};

/// The MCP protocol version the service answers with.
pub const PROTOCOL_VERSION: &str = "2025-03-26";
/// The name the service's MCP server gives itself.
pub const SERVER_NAME: &str = "Microsoft Container Apps MCP Server";
/// The MCP endpoint's path under a pool's management endpoint.
pub const ENDPOINT_PATH: &str = "/mcp";
/// The file in the data directory that holds the API key.
pub const KEY_FILE: &str = "mcp-api-key";
/// The header that carries the API key.
pub const KEY_HEADER: &str = "x-ms-apikey";

/// The key in force, and how it is checked.
struct Key {
    value: String,
    check: TokenCheck,
}

/// The MCP servers of an emulator's pools: their API key and the environments handed out.
pub(crate) struct McpServer {
    key: RwLock<Key>,
    key_file: PathBuf,
    environments: Environments,
}

impl std::fmt::Debug for McpServer {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("McpServer").field("key_file", &self.key_file).finish_non_exhaustive()
    }
}

impl McpServer {
    /// The servers with the key `given`, or a new random one, written to `<data_dir>/mcp-api-key`.
    pub(crate) fn start(data_dir: &Path, given: Option<&str>) -> std::io::Result<McpServer> {
        let value = given.map(str::to_owned).filter(|k| !k.trim().is_empty()).unwrap_or_else(new_key);
        let key_file = data_dir.join(KEY_FILE);
        write_key(&key_file, &value)?;
        let check = TokenCheck::new(&value);
        Ok(McpServer { key: RwLock::new(Key { value, check }), key_file, environments: Environments::default() })
    }

    /// The API key in force.
    pub(crate) fn key(&self) -> String {
        self.key.read().map(|k| k.value.clone()).unwrap_or_default()
    }

    /// Where the key is kept.
    pub(crate) fn key_file(&self) -> &Path {
        &self.key_file
    }

    /// A new key in place of the old one (which stops working at once); written to the key file.
    pub(crate) fn rotate(&self) -> std::io::Result<String> {
        let value = new_key();
        write_key(&self.key_file, &value)?;
        if let Ok(mut key) = self.key.write() {
            *key = Key { check: TokenCheck::new(&value), value: value.clone() };
        }
        Ok(value)
    }

    fn accepts(&self, presented: &str) -> bool {
        self.key.read().is_ok_and(|k| k.check.matches(presented))
    }
}

/// 64 hexadecimal digits from the OS's random generator.
fn new_key() -> String {
    format!("{}{}", uuid::Uuid::new_v4().simple(), uuid::Uuid::new_v4().simple())
}

/// Writes the key for its owner's eyes only (0600), replacing the file whole.
fn write_key(path: &Path, key: &str) -> std::io::Result<()> {
    let temporary = path.with_extension("tmp");
    let _ = std::fs::remove_file(&temporary);
    let mut file = std::fs::OpenOptions::new().write(true).create_new(true).mode(0o600).open(&temporary)?;
    file.write_all(key.as_bytes())?;
    file.sync_all()?;
    std::fs::rename(&temporary, path)
}

/// How a key is shown in logs: its first four characters.
pub(crate) fn redacted(key: &str) -> String {
    format!("{}…", key.chars().take(4).collect::<String>())
}

/// `POST <pool>/mcp`: one JSON-RPC request or a batch.
pub(crate) async fn handle(
    State(state): State<AppState>,
    Pool(pool): Pool,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    let Some(mcp) = state.inner.mcp.as_ref() else {
        return not_enabled(&pool);
    };
    let presented = headers.get(KEY_HEADER).and_then(|v| v.to_str().ok()).unwrap_or("");
    if !mcp.accepts(presented) {
        let why = if presented.is_empty() && headers.contains_key(header::AUTHORIZATION) {
            "The MCP endpoint takes an API key in the x-ms-apikey header, not a bearer token."
        } else if presented.is_empty() {
            "The request has no x-ms-apikey header: send the pool's MCP API key (fetchMCPServerCredentials)."
        } else {
            "The x-ms-apikey header does not hold the pool's MCP API key (fetchMCPServerCredentials gives it)."
        };
        let body = jsonrpc::error(Value::Null, &RpcError::new(-32001, format!("Unauthorized: {why}")));
        return (StatusCode::UNAUTHORIZED, axum::Json(body)).into_response();
    }
    let (messages, batch) = match jsonrpc::parse(&body) {
        Ok(parsed) => parsed,
        Err(e) => return (StatusCode::BAD_REQUEST, axum::Json(jsonrpc::error(Value::Null, &e))).into_response(),
    };
    let mut answers = Vec::new();
    for message in messages {
        let answer = match message {
            Ok(request) => answer(&pool, &mcp.environments, request).await,
            Err((id, e)) => Some(jsonrpc::error(id, &e)),
        };
        answers.extend(answer);
    }
    match (batch, answers.len()) {
        (_, 0) => StatusCode::ACCEPTED.into_response(),
        (false, _) => axum::Json(answers.swap_remove(0)).into_response(),
        (true, _) => axum::Json(Value::Array(answers)).into_response(),
    }
}

/// The answer to one request; `None` for a notification.
async fn answer(pool: &SessionPool, environments: &Environments, request: Request) -> Option<Value> {
    let outcome = match request.method.as_str() {
        "initialize" => Ok(json!({
            "protocolVersion": PROTOCOL_VERSION,
            "capabilities": {"tools": {"call": true, "list": true}},
            "serverInfo": {"name": SERVER_NAME, "version": env!("CARGO_PKG_VERSION")},
            "instructions": instructions(pool),
        })),
        "ping" => Ok(json!({})),
        "tools/list" => Ok(tools::list(pool.kind().spec.container_type)),
        "tools/call" => tools::call(pool, environments, &request.params).await,
        method if request.id.is_none() && method.starts_with("notifications/") => return None,
        method => Err(RpcError::new(
            METHOD_NOT_FOUND,
            format!("Method not found: '{method}'. The methods are initialize, tools/list and tools/call."),
        )),
    };
    let id = request.id?;
    Some(match outcome {
        Ok(result) => jsonrpc::result(id, result),
        Err(e) => jsonrpc::error(id, &e),
    })
}

fn instructions(pool: &SessionPool) -> String {
    format!(
        "A {} session pool (the dynamic-sessions emulator). Call launchShell for an environmentId, then run code or \
         commands in it; files live in /mnt/data; an environment ends after {} seconds without use.",
        pool.kind().spec.container_type,
        pool.config().cooldown.as_secs()
    )
}

/// `GET` and `DELETE <pool>/mcp`: this server sends no event stream and keeps no MCP session.
pub(crate) async fn only_post() -> Response {
    let mut response = (
        StatusCode::METHOD_NOT_ALLOWED,
        axum::Json(json!({"error": {"code": "MethodNotAllowed", "message": "The MCP endpoint takes JSON-RPC requests by POST."}})),
    )
        .into_response();
    response.headers_mut().insert(header::ALLOW, HeaderValue::from_static("POST"));
    response
}

fn not_enabled(pool: &SessionPool) -> Response {
    let message = format!(
        "The MCP server of the session pool '{}' is not enabled: start the emulator with --mcp (DS_EMULATOR_MCP=true).",
        pool.kind().spec.name
    );
    (StatusCode::NOT_FOUND, axum::Json(json!({"error": {"code": "SessionMCPServerNotEnabled", "message": message}})))
        .into_response()
}

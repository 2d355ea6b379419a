//! The tools as an MCP server ([rmcp](https://docs.rs/rmcp) 3.x), plus upload and download.
//!
//! One [`SessionsMcpServer`] serves one MCP connection and owns one session. Tool failures are returned as
//! tool results with `isError: true` (the model can read them and try again), never as protocol errors.

use base64::Engine as _;
use rmcp::handler::server::router::tool::ToolRouter;
use rmcp::handler::server::wrapper::Parameters;
use rmcp::model::{CallToolResult, ContentBlock, Implementation, ResourceContents, ServerCapabilities, ServerConfig};
use rmcp::{ErrorData, ServerHandler, tool, tool_handler, tool_router};
use schemars::JsonSchema;
use serde::Deserialize;

use crate::interpreter::{Artifact, CodeInterpreter};
use crate::tools::{
    ListFilesArgs, ReadFileArgs, ResetArgs, RunPythonArgs, RunShellArgs, SendFileArgs, descriptions, names,
};

/// The largest file `download_file` and `send_file_to_user` return inline (base64 grows it by a third).
pub const MAX_INLINE_BYTES: usize = 16 << 20;

/// `upload_file` arguments.
#[derive(Debug, Clone, Deserialize, JsonSchema)]
pub struct UploadArgs {
    /// Where to put the file, relative to /mnt/data or absolute under it.
    pub path: String,
    /// The content as text (UTF-8). Give this or `content_base64`.
    #[serde(default)]
    pub content: Option<String>,
    /// The content, base64-encoded (for binary files).
    #[serde(default)]
    pub content_base64: Option<String>,
}

/// `download_file` arguments.
#[derive(Debug, Clone, Deserialize, JsonSchema)]
pub struct DownloadArgs {
    /// The file, relative to /mnt/data or absolute under it.
    pub path: String,
}

/// An MCP server on one session.
#[derive(Debug, Clone)]
pub struct SessionsMcpServer {
    interpreter: CodeInterpreter,
    tool_router: ToolRouter<Self>,
    /// Shared by every clone; the last one dropped (the MCP session closed) deletes the pool session.
    lease: Option<std::sync::Arc<DeleteOnClose>>,
}

/// Deletes a session when dropped: the streamable HTTP transport drops a server when its MCP session is
/// closed (by the client, or when it expires), and the pool session then frees its slot.
#[derive(Debug)]
struct DeleteOnClose {
    session: dynamic_sessions::Session,
}

impl Drop for DeleteOnClose {
    fn drop(&mut self) {
        let session = self.session.clone();
        match tokio::runtime::Handle::try_current() {
            Ok(runtime) => {
                runtime.spawn(async move {
                    match session.delete().await {
                        Ok(()) => tracing::info!(session = %session.id(), "MCP session closed: pool session deleted"),
                        Err(e) => {
                            tracing::warn!(session = %session.id(), error = %e, "could not delete the pool session")
                        }
                    }
                });
            }
            Err(_) => tracing::warn!(session = %session.id(), "no runtime to delete the pool session on"),
        }
    }
}

/// An execution's result: the report in sentences for the model to read (measured: small models answer
/// from sentences, and continue JSON with more JSON), and the same report as `structuredContent` for
/// programs.
fn report_result(success: bool, content: Vec<ContentBlock>, report: &crate::RunReport) -> CallToolResult {
    let mut result = if success { CallToolResult::success(content) } else { CallToolResult::error(content) };
    result.structured_content = serde_json::to_value(report).ok();
    result
}

fn failure(message: impl Into<String>) -> CallToolResult {
    CallToolResult::error(vec![ContentBlock::text(message.into())])
}

impl SessionsMcpServer {
    /// A server on `interpreter`'s session. `run_shell` is offered only when the interpreter's options enable it.
    pub fn new(interpreter: CodeInterpreter) -> Self {
        let mut tool_router = Self::tool_router();
        if !interpreter.options().shell {
            tool_router.remove_route(names::RUN_SHELL);
        }
        SessionsMcpServer { interpreter, tool_router, lease: None }
    }

    /// Deletes the session when the server is dropped for good (its last clone), as the streamable HTTP
    /// transport does when the MCP session closes. Without this the session stays until its cooldown.
    pub fn delete_session_on_close(mut self) -> Self {
        self.lease = Some(std::sync::Arc::new(DeleteOnClose { session: self.interpreter.session().clone() }));
        self
    }

    /// The interpreter (for deleting the session when the connection ends).
    pub fn interpreter(&self) -> &CodeInterpreter {
        &self.interpreter
    }

    async fn file_block(&self, path: &str) -> Result<ContentBlock, String> {
        let download = self
            .interpreter
            .session()
            .files()
            .download(path)
            .await
            .map_err(|e| crate::interpreter::missing(e, path, "file").to_string())?;
        if download.content_length().is_some_and(|n| n as usize > MAX_INLINE_BYTES) {
            return Err(format!(
                "{path} is larger than {MAX_INLINE_BYTES} bytes; summarise or compress it with Python first."
            ));
        }
        let mime = download.content_type().unwrap_or("application/octet-stream").to_owned();
        let bytes = download.bytes().await.map_err(|e| crate::ToolError::from(e).to_string())?;
        let uri = format!("file:///mnt/data/{}", path.trim_start_matches("/mnt/data/").trim_start_matches('/'));
        let contents = match std::str::from_utf8(&bytes) {
            Ok(text) if !bytes.contains(&0) => ResourceContents::text(text, uri).with_mime_type(mime),
            _ => ResourceContents::blob(base64::engine::general_purpose::STANDARD.encode(&bytes), uri)
                .with_mime_type(mime),
        };
        Ok(ContentBlock::resource(contents))
    }
}

#[tool_router]
impl SessionsMcpServer {
    #[tool(name = "run_python", description = descriptions::RUN_PYTHON)]
    async fn run_python(&self, Parameters(args): Parameters<RunPythonArgs>) -> Result<CallToolResult, ErrorData> {
        match self.interpreter.run_python(&args.code).await {
            Ok(outcome) => {
                let mut content = vec![ContentBlock::text(outcome.report.to_prose())];
                content
                    .extend(outcome.images.iter().map(|i| ContentBlock::image(i.base64_data.clone(), i.mime_type())));
                // Images are already returned inline; do not keep them as artifacts.
                self.interpreter.take_artifacts();
                Ok(report_result(outcome.execution.is_success(), content, &outcome.report))
            }
            Err(e) => Ok(failure(e.to_string())),
        }
    }

    #[tool(name = "run_shell", description = descriptions::RUN_SHELL)]
    async fn run_shell(&self, Parameters(args): Parameters<RunShellArgs>) -> Result<CallToolResult, ErrorData> {
        Ok(match self.interpreter.run_shell(&args.command, args.stdin.as_deref()).await {
            Ok(outcome) => {
                let content = vec![ContentBlock::text(outcome.report.to_prose())];
                report_result(outcome.execution.is_success(), content, &outcome.report)
            }
            Err(e) => failure(e.to_string()),
        })
    }

    #[tool(name = "list_files", description = descriptions::LIST_FILES)]
    async fn list_files(&self, Parameters(args): Parameters<ListFilesArgs>) -> Result<CallToolResult, ErrorData> {
        Ok(match self.interpreter.list_files(args.path.as_deref(), args.recursive.unwrap_or(false)).await {
            Ok(files) => CallToolResult::success(vec![ContentBlock::text(
                serde_json::to_string_pretty(&files).unwrap_or_else(|_| "[]".into()),
            )]),
            Err(e) => failure(e.to_string()),
        })
    }

    #[tool(name = "read_file", description = descriptions::READ_FILE)]
    async fn read_file(&self, Parameters(args): Parameters<ReadFileArgs>) -> Result<CallToolResult, ErrorData> {
        Ok(match self.interpreter.read_file(&args.path, args.max_bytes.map(|b| b as usize)).await {
            Ok(text) => CallToolResult::success(vec![ContentBlock::text(text)]),
            Err(e) => failure(e.to_string()),
        })
    }

    #[tool(
        name = "send_file_to_user",
        description = "Give a file from /mnt/data to the user: it is returned as an embedded resource the MCP client can save."
    )]
    async fn send_file_to_user(&self, Parameters(args): Parameters<SendFileArgs>) -> Result<CallToolResult, ErrorData> {
        let note = match self.interpreter.send_file_to_user(&args.path, args.description).await {
            Ok(note) => note,
            Err(e) => return Ok(failure(e.to_string())),
        };
        let path = match self.interpreter.take_artifacts().into_iter().rev().find_map(|a| match a {
            Artifact::File { path, .. } => Some(path),
            _ => None,
        }) {
            Some(path) => path,
            None => args.path,
        };
        Ok(match self.file_block(&path).await {
            Ok(block) => CallToolResult::success(vec![ContentBlock::text(note), block]),
            Err(message) => failure(message),
        })
    }

    #[tool(name = "reset_session", description = descriptions::RESET_SESSION)]
    async fn reset_session(&self, Parameters(_): Parameters<ResetArgs>) -> Result<CallToolResult, ErrorData> {
        Ok(match self.interpreter.reset().await {
            Ok(text) => CallToolResult::success(vec![ContentBlock::text(text)]),
            Err(e) => failure(e.to_string()),
        })
    }

    #[tool(
        name = "upload_file",
        description = "Put a file into the session's /mnt/data (text, or base64 for binary content), for the code to use."
    )]
    async fn upload_file(&self, Parameters(args): Parameters<UploadArgs>) -> Result<CallToolResult, ErrorData> {
        let bytes = match (args.content, args.content_base64) {
            (Some(text), None) => text.into_bytes(),
            (None, Some(b64)) => match base64::engine::general_purpose::STANDARD.decode(b64.trim()) {
                Ok(bytes) => bytes,
                Err(e) => return Ok(failure(format!("content_base64 is not valid base64: {e}"))),
            },
            _ => return Ok(failure("give exactly one of `content` (text) or `content_base64`")),
        };
        Ok(match self.interpreter.session().files().upload(args.path.as_str(), bytes).await {
            Ok(file) => CallToolResult::success(vec![ContentBlock::text(format!(
                "Uploaded /mnt/data/{} ({} bytes).",
                file.path(),
                file.size.map(|s| s.to_string()).unwrap_or_else(|| "?".into())
            ))]),
            Err(e) => failure(crate::ToolError::from(e).to_string()),
        })
    }

    #[tool(
        name = "download_file",
        description = "Return a file from /mnt/data as an embedded resource (text, or base64 for binary files)."
    )]
    async fn download_file(&self, Parameters(args): Parameters<DownloadArgs>) -> Result<CallToolResult, ErrorData> {
        Ok(match self.file_block(&args.path).await {
            Ok(block) => CallToolResult::success(vec![block]),
            Err(message) => failure(message),
        })
    }
}

#[tool_handler(router = self.tool_router)]
impl ServerHandler for SessionsMcpServer {
    fn get_info(&self) -> ServerConfig {
        ServerConfig::new(ServerCapabilities::builder().enable_tools().build())
            .with_server_info(Implementation::new("dynamic-sessions", env!("CARGO_PKG_VERSION")))
            .with_instructions(
                "A sandboxed, stateful Python session (Azure Container Apps dynamic sessions or its local emulator). \
                 Run code with run_python; files live in /mnt/data; move files in and out with upload_file and \
                 download_file.",
            )
    }
}

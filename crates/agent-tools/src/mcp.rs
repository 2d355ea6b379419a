//! The tools as an MCP server ([rmcp](https://docs.rs/rmcp) 3.x), plus upload and download.
//!
//! One [`SessionsMcpServer`] serves one MCP connection and owns one session. Tool failures are returned as
//! tool results with `isError: true` (the model can read them and try again), never as protocol errors.

use std::sync::Arc;

use base64::Engine as _;
use rmcp::model::{
    CallToolRequestParams, CallToolResponse, CallToolResult, ContentBlock, Implementation, ListToolsResult,
    PaginatedRequestParams, ResourceContents, ServerCapabilities, ServerConfig,
};
use rmcp::service::{RequestContext, RoleServer};
use rmcp::{ErrorData, ServerHandler};

use crate::interpreter::{Artifact, CodeInterpreter};
use crate::invoke::ToolInvocation;
use crate::tools::{Tool, ToolCall};
use crate::turn::StepOutcome;

/// The largest file `download_file` and `send_file_to_user` return inline (base64 grows it by a third).
pub const MAX_INLINE_BYTES: usize = 16 << 20;

/// How `send_file_to_user` works for an MCP client (an agent's application offers the file for download).
const SEND_FILE_OVER_MCP: &str =
    "Give a file from /mnt/data to the user: it is returned as an embedded resource the MCP client can save.";

/// An MCP server on one session.
#[derive(Debug, Clone)]
pub struct SessionsMcpServer {
    interpreter: CodeInterpreter,
    /// Shared by every clone; the last one dropped (the MCP session closed) deletes the pool session.
    lease: Option<Arc<DeleteOnClose>>,
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

impl SessionsMcpServer {
    /// A server on `interpreter`'s session. `run_shell` is offered only when the interpreter's options enable it.
    pub fn new(interpreter: CodeInterpreter) -> Self {
        SessionsMcpServer { interpreter, lease: None }
    }

    /// The tools it offers: the interpreter's, and upload and download (an MCP client's way to move files).
    pub fn tools(&self) -> Vec<Tool> {
        let mut tools = self.interpreter.tools();
        tools.extend([Tool::UploadFile, Tool::DownloadFile]);
        tools
    }

    /// Deletes the session when the server is dropped for good (its last clone), as the streamable HTTP
    /// transport does when the MCP session closes. Without this the session stays until its cooldown.
    pub fn delete_session_on_close(mut self) -> Self {
        self.lease = Some(Arc::new(DeleteOnClose { session: self.interpreter.session().clone() }));
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
                "{path} is larger than {MAX_INLINE_BYTES} bytes; summarise or compress it in the session first."
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

    /// What an MCP client gets for a call: the model's text (an execution's report in sentences: measured,
    /// small models answer from sentences and continue JSON with more JSON) with the images drawn, the
    /// report as `structuredContent` for programs, and files as embedded resources. A failure is a result
    /// with `isError: true` (the model reads it and can try again), never a protocol error.
    async fn result(&self, call: &ToolCall, invocation: ToolInvocation) -> CallToolResult {
        // Images are returned inline and files as resources: none waits in the interpreter.
        self.interpreter.take_artifacts();
        // An execution's report in sentences; a file list as JSON, for the programs among MCP clients.
        let text = match (&invocation.report, &invocation.data) {
            (Some(report), _) => report.to_prose(),
            (None, Some(data)) => serde_json::to_string_pretty(data).unwrap_or_else(|_| "[]".into()),
            (None, None) => invocation.model_text.clone(),
        };
        let mut content = Vec::new();
        if call.tool() != Tool::DownloadFile {
            content.push(ContentBlock::text(text));
        }
        content.extend(invocation.images.iter().map(|i| ContentBlock::image(i.base64_data.clone(), i.mime_type())));
        for artifact in &invocation.artifacts {
            if let Artifact::File { path, .. } = artifact {
                match self.file_block(path).await {
                    Ok(block) => content.push(block),
                    Err(message) => return failure(message),
                }
            }
        }
        let mut result = if invocation.outcome == StepOutcome::Ran {
            CallToolResult::success(content)
        } else {
            CallToolResult::error(content)
        };
        result.structured_content = invocation.report.as_ref().and_then(|r| serde_json::to_value(r).ok());
        result
    }
}

fn failure(message: impl Into<String>) -> CallToolResult {
    CallToolResult::error(vec![ContentBlock::text(message.into())])
}

/// A tool as MCP lists it.
fn mcp_tool(tool: Tool) -> rmcp::model::Tool {
    let description = if tool == Tool::SendFileToUser { SEND_FILE_OVER_MCP } else { tool.description() };
    let schema = match tool.parameters() {
        serde_json::Value::Object(schema) => schema,
        _ => serde_json::Map::new(),
    };
    rmcp::model::Tool::new(tool.name(), description, Arc::new(schema))
}

/// What the server tells its client about the session, by the pool's kind.
fn instructions(pool: crate::PoolKind) -> String {
    let (what, tool) = match Tool::main_for(pool) {
        Tool::RunJavascript => ("JavaScript (Node.js) session", Tool::RunJavascript),
        Tool::RunShell => ("Bash shell session", Tool::RunShell),
        _ => ("Python session", Tool::RunPython),
    };
    format!(
        "A sandboxed, stateful {what} (Azure Container Apps dynamic sessions or its local emulator). Run code with \
         {}; files live in /mnt/data; move files in and out with upload_file and download_file.",
        tool.name()
    )
}

impl ServerHandler for SessionsMcpServer {
    fn get_info(&self) -> ServerConfig {
        ServerConfig::new(ServerCapabilities::builder().enable_tools().build())
            .with_server_info(Implementation::new("dynamic-sessions", env!("CARGO_PKG_VERSION")))
            .with_instructions(instructions(self.interpreter.options().pool))
    }

    async fn list_tools(
        &self,
        _request: Option<PaginatedRequestParams>,
        _context: RequestContext<RoleServer>,
    ) -> Result<ListToolsResult, ErrorData> {
        Ok(ListToolsResult::with_all_items(self.tools().into_iter().map(mcp_tool).collect()))
    }

    async fn call_tool(
        &self,
        request: CallToolRequestParams,
        _context: RequestContext<RoleServer>,
    ) -> Result<CallToolResponse, ErrorData> {
        let offered = self.tools();
        let Some(tool) = Tool::from_name(&request.name).filter(|t| offered.contains(t)) else {
            let names: Vec<&str> = offered.iter().map(|t| t.name()).collect();
            return Err(ErrorData::invalid_params(
                format!("there is no tool named {}; the tools are {}", request.name, names.join(", ")),
                None,
            ));
        };
        let arguments = request.arguments.unwrap_or_default();
        let call = tool.parse(&arguments).map_err(|why| ErrorData::invalid_params(why, None))?;
        let result = match self.interpreter.invoke_call(&call).await {
            Ok(invocation) => self.result(&call, invocation).await,
            Err(e) => failure(e.to_string()),
        };
        Ok(result.into())
    }
}

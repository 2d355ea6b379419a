//! Session pools as LLM tools.
//!
//! The core is framework-agnostic: a [`CodeInterpreter`] owns a [`Session`](dynamic_sessions::Session) and
//! offers five model-facing tools: **run code** (`run_python` in a Python pool, `run_javascript` in a NodeLTS
//! pool, `run_shell` in a Shell pool: [`pool_kind`] reads which from the pool), **list files**, **read a
//! file's head**, **send a file to the user**, and **reset the session**. What the model sees is honest and bounded: the status (a failure is a
//! failure), stdout and stderr cut to a budget with a note saying how much was cut, the result value, the files
//! that appeared or changed, and a plain statement when a timeout cost the session its state. Images reach the
//! model as image content and the application as [`Artifact`]s. Uploading stays an application action.
//!
//! Integrations (cargo features, both on by default; without them the crate needs neither rig nor rmcp):
//! * `rig` — the `rig` module: the tools as `rig_core::tool::Tool`s and an agent builder for Azure OpenAI
//!   (API key, or Entra ID with a fresh token per request), OpenAI and OpenAI-compatible servers;
//! * `mcp` — the `mcp` module: an MCP server (the `dynamic-sessions-mcp` binary, stdio or streamable HTTP);
//! * [`openai_tools`]: the schemas as OpenAI function-calling JSON, for any other framework.
//!
//! ```no_run
//! use dynamic_sessions::{Auth, SessionId, SessionPoolClient};
//! use dynamic_sessions_agent_tools::CodeInterpreter;
//!
//! # async fn run() -> Result<(), Box<dyn std::error::Error>> {
//! let client = SessionPoolClient::new("http://127.0.0.1:8484", Auth::none())?;
//! let interpreter = CodeInterpreter::new(client.session(SessionId::random()));
//! let outcome = interpreter.run_python("```python\nprint(6 * 7)\n```").await?;
//! println!("{}", outcome.report.to_text());
//! # Ok(()) }
//! ```

#![warn(missing_docs)]

mod error;
pub mod file_context;
mod interpreter;
mod invoke;
#[cfg(feature = "mcp")]
pub mod mcp;
pub mod repair;
mod report;
#[cfg(feature = "rig")]
pub mod rig;
pub mod sanitize;
pub mod text_calls;
pub mod tools;
pub mod turn;

pub use error::ToolError;
pub use interpreter::{
    Artifact, CodeInterpreter, FileEntry, InterpreterOptions, RunOutcome, SessionCheck, SessionProvider, ShellOutcome,
    pool_kind,
};
pub use invoke::{ToolInvocation, tool_names};
pub use report::{ChangedFile, OutputBudget, ReportFormat, RunReport};
pub use sanitize::sanitize_code;
pub use tools::{
    PoolKind, Tool, ToolCall, ToolSpec, canonical_arguments, openai_tools, openai_tools_for, tool_specs, tool_specs_for,
};

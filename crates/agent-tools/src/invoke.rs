//! A tool call, dispatched: what it did for the model (the text it reads, images) and for the application
//! (the outcome, the report, artifacts). Agent integrations, the MCP server and tool calls a model wrote as
//! text all go through [`CodeInterpreter::invoke_call`], which holds each tool's handler.

use base64::Engine as _;
use dynamic_sessions::Image;
use serde_json::{Map, Value};

use crate::error::ToolError;
use crate::interpreter::RunOutcome;
use crate::interpreter::{Artifact, CodeInterpreter};
use crate::report::RunReport;
use crate::tools::{
    DownloadArgs, ListFilesArgs, ReadFileArgs, RunShellArgs, SendFileArgs, Tool, ToolCall, UploadArgs, agent_tools,
};
use crate::turn::StepOutcome;

/// What one tool call did.
#[derive(Debug, Clone)]
pub struct ToolInvocation {
    /// Ran, failed, or rejected (nothing ran).
    pub outcome: StepOutcome,
    /// The execution report (`run_python`, `run_shell`).
    pub report: Option<RunReport>,
    /// What the model is told.
    pub model_text: String,
    /// Images for the model (they are in `artifacts` too, decoded).
    pub images: Vec<Image>,
    /// Images drawn and files handed to the user (or asked for, with `download_file`).
    pub artifacts: Vec<Artifact>,
    /// The result as data for programs, where it has a shape: the file list of `list_files`.
    pub data: Option<Value>,
}

/// How the result of a call not run again begins ([`ToolInvocation::not_rerun`]).
pub(crate) const NOT_RERUN: &str = "This is exactly the code that just failed";

impl ToolInvocation {
    /// An invocation that is only text for the model.
    pub fn text(outcome: StepOutcome, model_text: String) -> ToolInvocation {
        ToolInvocation { outcome, report: None, model_text, images: Vec::new(), artifacts: Vec::new(), data: None }
    }

    /// A call of the exact code that just failed, not run again; `error` is that failure's last line.
    pub fn not_rerun(error: &str) -> ToolInvocation {
        let error = if error.is_empty() { String::new() } else { format!(" The error was:\n{error}\n") };
        ToolInvocation::text(
            StepOutcome::Repeated,
            format!(
                "{NOT_RERUN}, so it was not run again: it would fail the same way.{error} Change the code to fix that \
                 error, or tell the user in plain words what went wrong."
            ),
        )
    }

    /// A failed call: arguments the service refused are a rejection (nothing ran), anything else a failure.
    pub fn from_error(error: &ToolError) -> ToolInvocation {
        let outcome = match error {
            ToolError::InvalidArguments(_) => StepOutcome::Rejected,
            _ => StepOutcome::Failed,
        };
        ToolInvocation::text(outcome, error.to_string())
    }
}

/// The tools an interpreter offers a model, by name (`run_shell` only when its options enable it).
pub fn tool_names(interpreter: &CodeInterpreter) -> Vec<&'static str> {
    interpreter.tools().into_iter().map(Tool::name).collect()
}

impl CodeInterpreter {
    /// The tools this interpreter offers a model in an agent: the main tool of its pool first
    /// ([`Tool::main_for`]), `run_shell` beside it only when its options enable it.
    pub fn tools(&self) -> Vec<Tool> {
        agent_tools(self.options().pool, self.options().shell)
    }

    /// Runs the tool `name` with `arguments` (a model's call) and says what happened. Never fails: unusable
    /// arguments, a tool this interpreter does not offer and service errors are outcomes the model reads.
    pub async fn invoke(&self, name: &str, arguments: &Map<String, Value>) -> ToolInvocation {
        let offered = self.tools();
        let Some(tool) = Tool::from_name(name).filter(|tool| offered.contains(tool)) else {
            let known = tool_names(self).join(", ");
            return ToolInvocation::text(
                StepOutcome::Rejected,
                format!("there is no tool named {name}; the tools are {known}"),
            );
        };
        match tool.parse(arguments) {
            Ok(call) => self.invoke_call(&call).await.unwrap_or_else(|e| ToolInvocation::from_error(&e)),
            Err(why) => ToolInvocation::text(StepOutcome::Rejected, why),
        }
    }

    /// Runs a parsed call: the handler of each tool.
    ///
    /// # Errors
    /// The tool's own errors ([`ToolError`]): a missing file, a session the service refused.
    pub async fn invoke_call(&self, call: &ToolCall) -> Result<ToolInvocation, ToolError> {
        match call {
            ToolCall::RunPython(args) => Ok(self.ran_code(self.run_python(&args.code).await?)),
            ToolCall::RunJavascript(args) => Ok(self.ran_code(self.run_javascript(&args.code).await?)),
            ToolCall::RunShell(args) => self.invoke_run_shell(args).await,
            ToolCall::ListFiles(args) => self.invoke_list_files(args).await,
            ToolCall::ReadFile(args) => self.invoke_read_file(args).await,
            ToolCall::SendFileToUser(args) => self.invoke_send_file(args).await,
            ToolCall::ResetSession(_) => Ok(ToolInvocation::text(StepOutcome::Ran, self.reset().await?)),
            ToolCall::UploadFile(args) => self.invoke_upload(args).await,
            ToolCall::DownloadFile(args) => self.invoke_download(args).await,
        }
    }

    /// `run_python`, `run_javascript`: the report in prose, the images attached.
    fn ran_code(&self, outcome: RunOutcome) -> ToolInvocation {
        let artifacts = outcome
            .images
            .iter()
            .filter_map(|image| image.decode().ok().map(|data| Artifact::Image { format: image.format.clone(), data }))
            .collect();
        ToolInvocation {
            outcome: if outcome.execution.is_success() { StepOutcome::Ran } else { StepOutcome::Failed },
            model_text: outcome.report.render(self.options().report_format),
            report: Some(outcome.report),
            images: outcome.images,
            artifacts,
            data: None,
        }
    }

    /// `run_shell`: the report in prose.
    async fn invoke_run_shell(&self, args: &RunShellArgs) -> Result<ToolInvocation, ToolError> {
        let outcome = self.run_shell(&args.command, args.stdin.as_deref()).await?;
        Ok(ToolInvocation {
            outcome: if outcome.execution.is_success() { StepOutcome::Ran } else { StepOutcome::Failed },
            model_text: outcome.report.render(self.options().report_format),
            report: Some(outcome.report),
            images: Vec::new(),
            artifacts: Vec::new(),
            data: None,
        })
    }

    /// `list_files`.
    async fn invoke_list_files(&self, args: &ListFilesArgs) -> Result<ToolInvocation, ToolError> {
        let files = self.list_files(args.path.as_deref(), args.recursive.unwrap_or(false)).await?;
        let text = if files.is_empty() {
            "No files.".to_owned()
        } else {
            serde_json::to_string_pretty(&files).unwrap_or_else(|_| "[]".into())
        };
        Ok(ToolInvocation { data: serde_json::to_value(&files).ok(), ..ToolInvocation::text(StepOutcome::Ran, text) })
    }

    /// `read_file`.
    async fn invoke_read_file(&self, args: &ReadFileArgs) -> Result<ToolInvocation, ToolError> {
        let text = self.read_file(&args.path, args.max_bytes.map(|b| b as usize)).await?;
        Ok(ToolInvocation::text(StepOutcome::Ran, text))
    }

    /// `send_file_to_user`: the file as an artifact.
    async fn invoke_send_file(&self, args: &SendFileArgs) -> Result<ToolInvocation, ToolError> {
        let (text, artifact) = self.offer_file(&args.path, args.description.clone()).await?;
        Ok(ToolInvocation { artifacts: vec![artifact], ..ToolInvocation::text(StepOutcome::Ran, text) })
    }

    /// `upload_file`: text or base64 content into `/mnt/data`.
    async fn invoke_upload(&self, args: &UploadArgs) -> Result<ToolInvocation, ToolError> {
        let bytes = match (&args.content, &args.content_base64) {
            (Some(text), None) => text.clone().into_bytes(),
            (None, Some(b64)) => base64::engine::general_purpose::STANDARD
                .decode(b64.trim())
                .map_err(|e| ToolError::InvalidArguments(format!("content_base64 is not valid base64: {e}")))?,
            _ => {
                return Err(ToolError::InvalidArguments(
                    "give exactly one of `content` (text) or `content_base64`".into(),
                ));
            }
        };
        let file = self.session().files().upload(args.path.as_str(), bytes).await?;
        let size = file.size.map(|s| s.to_string()).unwrap_or_else(|| "?".into());
        Ok(ToolInvocation::text(StepOutcome::Ran, format!("Uploaded /mnt/data/{} ({size} bytes).", file.path())))
    }

    /// `download_file`: the file as an artifact (an MCP server returns its content).
    async fn invoke_download(&self, args: &DownloadArgs) -> Result<ToolInvocation, ToolError> {
        let (text, artifact) = self.offer_file(&args.path, None).await?;
        Ok(ToolInvocation { artifacts: vec![artifact], ..ToolInvocation::text(StepOutcome::Ran, text) })
    }
}

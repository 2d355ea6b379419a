//! `rig_core::tool::Tool` implementations.

use rig_core::message::{ImageMediaType, ToolResultContent};
use rig_core::tool::{Tool, ToolContext, ToolExecutionError, ToolOutput};
use serde_json::Value;

use super::steps::StepSink;
use crate::error::ToolError;
use crate::interpreter::CodeInterpreter;
use crate::invoke::ToolInvocation;
use crate::tools::{
    ListFilesArgs, ReadFileArgs, ResetArgs, RunPythonArgs, RunShellArgs, SendFileArgs, descriptions, names,
    parameters_schema,
};

/// Maps a tool failure for rig: its kind, whether retrying may help, and the model-facing message.
fn map_error(error: ToolError) -> ToolExecutionError {
    use dynamic_sessions::Error as E;
    let message = error.to_string();
    let retryable = error.is_retryable();
    let mapped = match &error {
        ToolError::InvalidArguments(_) => ToolExecutionError::invalid_args(message),
        ToolError::NotFound(_) => ToolExecutionError::not_found(message),
        ToolError::Session { source, .. } => match source.as_ref() {
            E::Throttled { .. } | E::PoolFull(_) => ToolExecutionError::rate_limited(message),
            E::Timeout { .. } => ToolExecutionError::timeout(message),
            E::Unauthorized(_) | E::Forbidden(_) | E::Credential { .. } => {
                ToolExecutionError::permission_denied(message)
            }
            E::Transport { .. } => ToolExecutionError::network(message),
            _ => ToolExecutionError::provider(message),
        },
    };
    mapped.with_retryable(retryable).with_source(error)
}

fn media_type(format: &str) -> Option<ImageMediaType> {
    match format.to_ascii_lowercase().as_str() {
        "png" => Some(ImageMediaType::PNG),
        "jpeg" | "jpg" => Some(ImageMediaType::JPEG),
        "gif" => Some(ImageMediaType::GIF),
        "webp" => Some(ImageMediaType::WEBP),
        "svg" => Some(ImageMediaType::SVG),
        _ => None,
    }
}

/// The methods every tool shares: its description, the schema of its arguments, and the error mapping.
macro_rules! common_methods {
    ($args:ty, $description:expr) => {
        fn description(&self) -> String {
            $description.to_owned()
        }
        fn parameters(&self) -> Value {
            parameters_schema::<$args>()
        }
        fn map_error(&self, error: ToolError) -> ToolExecutionError {
            map_error(error)
        }
    };
}

macro_rules! tool_struct {
    ($(#[$doc:meta])* $name:ident) => {
        $(#[$doc])*
        #[derive(Debug, Clone)]
        pub struct $name {
            interpreter: CodeInterpreter,
            sink: Option<StepSink>,
            /// Attach images to the result (the model reads images).
            images: bool,
        }

        impl $name {
            /// The tool on `interpreter`'s session.
            pub fn new(interpreter: CodeInterpreter) -> Self {
                $name { interpreter, sink: None, images: true }
            }

            /// The tool, recording what each call did for a turn's events.
            pub(crate) fn recording(interpreter: CodeInterpreter, sink: StepSink, images: bool) -> Self {
                $name { interpreter, sink: Some(sink), images }
            }

            fn record<A: serde::Serialize>(&self, args: &A, result: &Result<ToolInvocation, ToolError>) {
                if let Some(sink) = &self.sink {
                    let invocation = match result {
                        Ok(invocation) => invocation.clone(),
                        Err(e) => ToolInvocation::from_error(e),
                    };
                    sink.record(<Self as Tool>::NAME, serde_json::to_value(args).unwrap_or(Value::Null), &invocation);
                }
            }
        }
    };
}

tool_struct!(
    /// `run_python`: runs code; the result carries the report as text and the images as image content.
    RunPython
);
tool_struct!(
    /// `list_files`: the session's files.
    ListFiles
);
tool_struct!(
    /// `read_file`: the head of a text file.
    ReadFile
);
tool_struct!(
    /// `send_file_to_user`: hands a file to the application as an artifact.
    SendFileToUser
);
tool_struct!(
    /// `reset_session`: a fresh session.
    ResetSession
);
tool_struct!(
    /// `run_shell`: a Bash command in the session (registered only when the interpreter's options enable it).
    RunShell
);

/// The model's view of an invocation: its text, then its images (when the model reads images).
fn output(invocation: ToolInvocation, images: bool) -> ToolOutput {
    let mut content = vec![ToolResultContent::text(invocation.model_text.clone())];
    if images {
        content.extend(invocation.images.iter().map(image_content));
    }
    ToolOutput::content(content).unwrap_or_else(|_| ToolOutput::text(invocation.model_text))
}

/// An image as tool-result content.
pub(crate) fn image_content(image: &dynamic_sessions::Image) -> ToolResultContent {
    ToolResultContent::image_base64(image.base64_data.clone(), media_type(&image.format), None)
}

impl Tool for RunPython {
    const NAME: &'static str = names::RUN_PYTHON;
    type Args = RunPythonArgs;
    type Output = ToolOutput;
    type Error = ToolError;

    common_methods!(RunPythonArgs, descriptions::RUN_PYTHON);
    async fn call(&self, _context: &mut ToolContext, args: RunPythonArgs) -> Result<ToolOutput, ToolError> {
        // In a turn, the exact code that just failed is not run again: it would fail the same way, and
        // small models otherwise send it again and again (measured: three identical runs, then giving up).
        if let Some(sink) = &self.sink
            && let Ok(key) = serde_json::to_value(&args)
            && let Some(error) = sink.repeats_last_failure(Self::NAME, &key)
        {
            let invocation = ToolInvocation::not_rerun(&error);
            self.record(&args, &Ok(invocation.clone()));
            return Ok(output(invocation, self.images));
        }
        let result = self.interpreter.invoke_run_python(&args).await;
        self.record(&args, &result);
        result.map(|i| output(i, self.images))
    }
}

impl Tool for ListFiles {
    const NAME: &'static str = names::LIST_FILES;
    type Args = ListFilesArgs;
    type Output = ToolOutput;
    type Error = ToolError;

    common_methods!(ListFilesArgs, descriptions::LIST_FILES);
    async fn call(&self, _context: &mut ToolContext, args: ListFilesArgs) -> Result<ToolOutput, ToolError> {
        let result = self.interpreter.invoke_list_files(&args).await;
        self.record(&args, &result);
        result.map(|i| output(i, self.images))
    }
}

impl Tool for ReadFile {
    const NAME: &'static str = names::READ_FILE;
    type Args = ReadFileArgs;
    type Output = ToolOutput;
    type Error = ToolError;

    common_methods!(ReadFileArgs, descriptions::READ_FILE);
    async fn call(&self, _context: &mut ToolContext, args: ReadFileArgs) -> Result<ToolOutput, ToolError> {
        let result = self.interpreter.invoke_read_file(&args).await;
        self.record(&args, &result);
        result.map(|i| output(i, self.images))
    }
}

impl Tool for SendFileToUser {
    const NAME: &'static str = names::SEND_FILE;
    type Args = SendFileArgs;
    type Output = ToolOutput;
    type Error = ToolError;

    common_methods!(SendFileArgs, descriptions::SEND_FILE);
    async fn call(&self, _context: &mut ToolContext, args: SendFileArgs) -> Result<ToolOutput, ToolError> {
        let result = self.interpreter.invoke_send_file(&args).await;
        self.record(&args, &result);
        if self.sink.is_none()
            && let Ok(invocation) = &result
        {
            // Applications that use the tools without a turn take files from the interpreter.
            for artifact in &invocation.artifacts {
                self.interpreter.offer(artifact.clone());
            }
        }
        result.map(|i| output(i, self.images))
    }
}

impl Tool for ResetSession {
    const NAME: &'static str = names::RESET_SESSION;
    type Args = ResetArgs;
    type Output = ToolOutput;
    type Error = ToolError;

    common_methods!(ResetArgs, descriptions::RESET_SESSION);
    async fn call(&self, _context: &mut ToolContext, args: ResetArgs) -> Result<ToolOutput, ToolError> {
        let result = self.interpreter.invoke_reset().await;
        self.record(&args, &result);
        result.map(|i| output(i, self.images))
    }
}

impl Tool for RunShell {
    const NAME: &'static str = names::RUN_SHELL;
    type Args = RunShellArgs;
    type Output = ToolOutput;
    type Error = ToolError;

    common_methods!(RunShellArgs, descriptions::RUN_SHELL);
    async fn call(&self, _context: &mut ToolContext, args: RunShellArgs) -> Result<ToolOutput, ToolError> {
        let result = self.interpreter.invoke_run_shell(&args).await;
        self.record(&args, &result);
        result.map(|i| output(i, self.images))
    }
}

//! The tools for rig: one `rig_core::tool::DynamicTool` per [`Tool`](crate::tools::Tool) the interpreter
//! offers, each parsing the model's arguments and dispatching to the interpreter.

use rig_core::message::{ImageMediaType, ToolName, ToolResultContent};
use rig_core::tool::{DynamicTool, ToolExecutionError, ToolOutput};
use serde_json::{Map, Value};

use super::steps::StepSink;
use crate::error::ToolError;
use crate::interpreter::CodeInterpreter;
use crate::invoke::ToolInvocation;
use crate::tools::Tool;
use crate::turn::StepOutcome;

/// The interpreter's tools for a rig agent (see [`agent_builder`](super::agent_builder)): the files a call
/// hands over wait in the interpreter ([`CodeInterpreter::take_artifacts`]), and images reach the model.
pub fn tools(interpreter: &CodeInterpreter) -> Vec<DynamicTool> {
    build(interpreter, None, true)
}

/// The tools of a turn: each call's invocation is recorded in `sink` for the turn's events; images reach
/// the model when `images` is true.
pub(crate) fn recording(interpreter: &CodeInterpreter, sink: &StepSink, images: bool) -> Vec<DynamicTool> {
    build(interpreter, Some(sink), images)
}

fn build(interpreter: &CodeInterpreter, sink: Option<&StepSink>, images: bool) -> Vec<DynamicTool> {
    interpreter
        .tools()
        .into_iter()
        .filter_map(|tool| {
            let name = ToolName::new(tool.name()).ok()?;
            let runner = Runner { tool, interpreter: interpreter.clone(), sink: sink.cloned(), images };
            Some(DynamicTool::new(name, tool.description(), tool.parameters(), move |arguments| {
                let runner = runner.clone();
                Box::pin(async move { runner.call(arguments).await })
            }))
        })
        .collect()
}

/// One tool, bound to the interpreter and the turn's sink.
#[derive(Debug, Clone)]
struct Runner {
    tool: Tool,
    interpreter: CodeInterpreter,
    sink: Option<StepSink>,
    images: bool,
}

impl Runner {
    async fn call(&self, arguments: Value) -> Result<ToolOutput, ToolExecutionError> {
        let arguments = match arguments {
            Value::Object(map) => map,
            Value::Null => Map::new(),
            other => {
                let why = format!("the arguments for {} must be a JSON object, not {other}", self.tool.name());
                return self.rejected(Map::new(), why);
            }
        };
        let call = match self.tool.parse(&arguments) {
            Ok(call) => call,
            Err(why) => return self.rejected(arguments, why),
        };
        // In a turn, the exact code that just failed is not run again: it would fail the same way, and small
        // models otherwise send it again and again (measured: three identical runs, then giving up).
        if let Some(sink) = &self.sink
            && self.tool.runs_code()
            && let Some(error) = sink.repeats_last_failure(self.tool.name(), &call.canonical_arguments())
        {
            let invocation = ToolInvocation::not_rerun(&error);
            sink.record(self.tool.name(), call.canonical_arguments(), &invocation);
            return Ok(output(invocation, self.images));
        }
        let result = self.interpreter.invoke_call(&call).await;
        let recorded = match &result {
            Ok(invocation) => invocation.clone(),
            Err(e) => ToolInvocation::from_error(e),
        };
        match &self.sink {
            Some(sink) => sink.record(self.tool.name(), call.canonical_arguments(), &recorded),
            // Applications that use the tools without a turn take the files handed over from the interpreter
            // (a run keeps its images there itself).
            None if self.tool == Tool::SendFileToUser => {
                recorded.artifacts.iter().cloned().for_each(|artifact| self.interpreter.offer(artifact))
            }
            None => {}
        }
        result.map(|invocation| output(invocation, self.images)).map_err(map_error)
    }

    /// Arguments that do not fit the tool: nothing runs, and the model is told why.
    fn rejected(&self, arguments: Map<String, Value>, why: String) -> Result<ToolOutput, ToolExecutionError> {
        if let Some(sink) = &self.sink {
            sink.record(
                self.tool.name(),
                Value::Object(arguments),
                &ToolInvocation::text(StepOutcome::Rejected, why.clone()),
            );
        }
        Err(ToolExecutionError::invalid_args(why))
    }
}

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

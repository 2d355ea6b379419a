//! A tool call by name: what it did for the model (the text it reads, images) and for the application (the
//! outcome, the report, artifacts). Agent integrations and tool calls a model wrote as text share it.

use dynamic_sessions::Image;
use serde::de::DeserializeOwned;
use serde_json::{Map, Value};

use crate::error::ToolError;
use crate::interpreter::{Artifact, CodeInterpreter};
use crate::report::RunReport;
use crate::tools::{ListFilesArgs, ReadFileArgs, ResetArgs, RunPythonArgs, RunShellArgs, SendFileArgs, names};
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
    /// Images drawn and files handed to the user.
    pub artifacts: Vec<Artifact>,
}

impl ToolInvocation {
    fn text(outcome: StepOutcome, model_text: String) -> ToolInvocation {
        ToolInvocation { outcome, report: None, model_text, images: Vec::new(), artifacts: Vec::new() }
    }

    /// A call of the exact code that just failed, not run again; `error` is that failure's last line.
    pub fn not_rerun(error: &str) -> ToolInvocation {
        let error = if error.is_empty() { String::new() } else { format!(" The error was:\n{error}\n") };
        ToolInvocation::text(
            StepOutcome::Rejected,
            format!(
                "This is exactly the code that just failed, so it was not run again: it would fail the same way.{error} \
                 Change the code to fix that error, or tell the user in plain words what went wrong."
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

/// The tools an interpreter offers, by name (`run_shell` only when its options enable it).
pub fn tool_names(interpreter: &CodeInterpreter) -> Vec<&'static str> {
    let mut names =
        vec![names::RUN_PYTHON, names::LIST_FILES, names::READ_FILE, names::SEND_FILE, names::RESET_SESSION];
    if interpreter.options().shell {
        names.push(names::RUN_SHELL);
    }
    names
}

fn parse<T: DeserializeOwned>(name: &str, arguments: &Map<String, Value>) -> Result<T, String> {
    serde_json::from_value(Value::Object(arguments.clone()))
        .map_err(|e| format!("the arguments for {name} are not usable ({e}); call {name} again with valid arguments"))
}

/// `arguments` as the tool reads them (unknown fields dropped, defaults filled), so two spellings of one
/// call compare equal; `None` when they do not parse (the call is rejected).
pub fn canonical_arguments(name: &str, arguments: &Map<String, Value>) -> Option<Value> {
    fn again<T: DeserializeOwned + serde::Serialize>(name: &str, arguments: &Map<String, Value>) -> Option<Value> {
        parse::<T>(name, arguments).ok().and_then(|args| serde_json::to_value(args).ok())
    }
    match name {
        names::RUN_PYTHON => again::<RunPythonArgs>(name, arguments),
        names::RUN_SHELL => again::<RunShellArgs>(name, arguments),
        names::LIST_FILES => again::<ListFilesArgs>(name, arguments),
        names::READ_FILE => again::<ReadFileArgs>(name, arguments),
        names::SEND_FILE => again::<SendFileArgs>(name, arguments),
        names::RESET_SESSION => again::<ResetArgs>(name, arguments),
        _ => None,
    }
}

impl CodeInterpreter {
    /// Runs the tool `name` with `arguments` (a model's call) and says what happened. Never fails: unusable
    /// arguments, an unknown tool and service errors are outcomes the model reads.
    pub async fn invoke(&self, name: &str, arguments: &Map<String, Value>) -> ToolInvocation {
        if !tool_names(self).contains(&name) {
            let known = tool_names(self).join(", ");
            return ToolInvocation::text(
                StepOutcome::Rejected,
                format!("there is no tool named {name}; the tools are {known}"),
            );
        }
        let result = match name {
            names::RUN_PYTHON => match parse::<RunPythonArgs>(name, arguments) {
                Ok(args) => self.invoke_run_python(&args).await,
                Err(why) => return ToolInvocation::text(StepOutcome::Rejected, why),
            },
            names::RUN_SHELL => match parse::<RunShellArgs>(name, arguments) {
                Ok(args) => self.invoke_run_shell(&args).await,
                Err(why) => return ToolInvocation::text(StepOutcome::Rejected, why),
            },
            names::LIST_FILES => match parse::<ListFilesArgs>(name, arguments) {
                Ok(args) => self.invoke_list_files(&args).await,
                Err(why) => return ToolInvocation::text(StepOutcome::Rejected, why),
            },
            names::READ_FILE => match parse::<ReadFileArgs>(name, arguments) {
                Ok(args) => self.invoke_read_file(&args).await,
                Err(why) => return ToolInvocation::text(StepOutcome::Rejected, why),
            },
            names::SEND_FILE => match parse::<SendFileArgs>(name, arguments) {
                Ok(args) => self.invoke_send_file(&args).await,
                Err(why) => return ToolInvocation::text(StepOutcome::Rejected, why),
            },
            _ => self.invoke_reset().await,
        };
        result.unwrap_or_else(|e| ToolInvocation::from_error(&e))
    }

    /// `run_python`: the report in prose, the images attached.
    ///
    /// # Errors
    /// As [`CodeInterpreter::run_python`].
    pub async fn invoke_run_python(&self, args: &RunPythonArgs) -> Result<ToolInvocation, ToolError> {
        let outcome = self.run_python(&args.code).await?;
        let artifacts = outcome
            .images
            .iter()
            .filter_map(|image| image.decode().ok().map(|data| Artifact::Image { format: image.format.clone(), data }))
            .collect();
        Ok(ToolInvocation {
            outcome: if outcome.execution.is_success() { StepOutcome::Ran } else { StepOutcome::Failed },
            model_text: outcome.report.render(self.options().report_format),
            report: Some(outcome.report),
            images: outcome.images,
            artifacts,
        })
    }

    /// `run_shell`: the report in prose.
    ///
    /// # Errors
    /// As [`CodeInterpreter::run_shell`].
    pub async fn invoke_run_shell(&self, args: &RunShellArgs) -> Result<ToolInvocation, ToolError> {
        let outcome = self.run_shell(&args.command, args.stdin.as_deref()).await?;
        Ok(ToolInvocation {
            outcome: if outcome.execution.is_success() { StepOutcome::Ran } else { StepOutcome::Failed },
            model_text: outcome.report.render(self.options().report_format),
            report: Some(outcome.report),
            images: Vec::new(),
            artifacts: Vec::new(),
        })
    }

    /// `list_files`.
    ///
    /// # Errors
    /// As [`CodeInterpreter::list_files`].
    pub async fn invoke_list_files(&self, args: &ListFilesArgs) -> Result<ToolInvocation, ToolError> {
        let files = self.list_files(args.path.as_deref(), args.recursive.unwrap_or(false)).await?;
        let text = if files.is_empty() {
            "No files.".to_owned()
        } else {
            serde_json::to_string_pretty(&files).unwrap_or_else(|_| "[]".into())
        };
        Ok(ToolInvocation::text(StepOutcome::Ran, text))
    }

    /// `read_file`.
    ///
    /// # Errors
    /// As [`CodeInterpreter::read_file`].
    pub async fn invoke_read_file(&self, args: &ReadFileArgs) -> Result<ToolInvocation, ToolError> {
        let text = self.read_file(&args.path, args.max_bytes.map(|b| b as usize)).await?;
        Ok(ToolInvocation::text(StepOutcome::Ran, text))
    }

    /// `send_file_to_user`: the file as an artifact.
    ///
    /// # Errors
    /// As [`CodeInterpreter::send_file_to_user`].
    pub async fn invoke_send_file(&self, args: &SendFileArgs) -> Result<ToolInvocation, ToolError> {
        let (text, artifact) = self.offer_file(&args.path, args.description.clone()).await?;
        Ok(ToolInvocation { artifacts: vec![artifact], ..ToolInvocation::text(StepOutcome::Ran, text) })
    }

    /// `reset_session`.
    ///
    /// # Errors
    /// As [`CodeInterpreter::reset`].
    pub async fn invoke_reset(&self) -> Result<ToolInvocation, ToolError> {
        Ok(ToolInvocation::text(StepOutcome::Ran, self.reset().await?))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn map(value: Value) -> Map<String, Value> {
        value.as_object().cloned().unwrap_or_default()
    }

    #[test]
    fn canonical_arguments_ignore_spelling_and_reject_unusable_ones() {
        let a = canonical_arguments("run_python", &map(json!({"code": "1+1", "extra": true})));
        let b = canonical_arguments("run_python", &map(json!({"code": "1+1"})));
        assert_eq!(a, b);
        assert!(a.is_some());
        assert_eq!(canonical_arguments("run_python", &map(json!({"cod": "1+1"}))), None);
        assert_eq!(canonical_arguments("no_such_tool", &map(json!({}))), None);
        assert_eq!(
            canonical_arguments("list_files", &map(json!({}))),
            canonical_arguments("list_files", &map(json!({"path": null})))
        );
    }
}

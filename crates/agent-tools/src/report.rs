//! What the model is told about an execution: honest (a failure is a failure) and bounded.

use dynamic_sessions::{Execution, ExecutionStatus, ShellExecution};
use serde::Serialize;
use serde_json::Value;

/// How much of each output stream the model sees.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct OutputBudget {
    /// Characters of stdout and of stderr, each.
    pub chars_per_stream: usize,
    /// Characters of the result value's text.
    pub result_chars: usize,
}

impl Default for OutputBudget {
    fn default() -> Self {
        OutputBudget { chars_per_stream: 8_000, result_chars: 4_000 }
    }
}

/// A file that appeared or changed in `/mnt/data` during an execution.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct ChangedFile {
    /// Path relative to `/mnt/data`.
    pub path: String,
    /// `new` or `modified`.
    pub change: &'static str,
    /// Size in bytes, when known.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub size: Option<u64>,
}

/// The model-facing summary of one execution.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct RunReport {
    /// `Succeeded` or `Failed` (or another service status).
    pub status: String,
    /// Standard output, possibly shortened.
    pub stdout: String,
    /// Standard error (the traceback on failure), possibly shortened.
    pub stderr: String,
    /// The value of the last expression.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub result: Option<Value>,
    /// A shell command's exit code.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub exit_code: Option<i32>,
    /// How many images the code produced (they are attached to the tool result).
    pub images: usize,
    /// Files that appeared or changed in `/mnt/data`.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub files_changed: Vec<ChangedFile>,
    /// Plain statements the model must not miss: truncation, lost state, timeouts.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub notes: Vec<String>,
}

impl RunReport {
    /// Builds the report of an execution, within `budget`.
    pub fn new(execution: &Execution, budget: OutputBudget, files_changed: Vec<ChangedFile>) -> RunReport {
        let mut notes = Vec::new();
        let stdout = shorten("stdout", &execution.stdout, budget.chars_per_stream, &mut notes);
        let stderr = shorten("stderr", &execution.stderr, budget.chars_per_stream, &mut notes);
        let result = execution.result.as_ref().map(|value| match value {
            Value::String(s) => Value::String(shorten("result", s, budget.result_chars, &mut notes)),
            other => other.clone(),
        });
        if execution.output_may_be_truncated() {
            let limit = execution.output_limit.unwrap_or_default();
            notes.push(format!(
                "The service returned only the first {limit} characters of stdout or stderr; the rest is missing. \
                 Print less, or write large output to a file in /mnt/data and read the part you need."
            ));
        }
        if let Some(error) = &execution.error {
            let code = error.code.as_deref().unwrap_or("error");
            let message = error.message.as_deref().unwrap_or("the service reported an error");
            notes.push(format!("{code}: {message}"));
        }
        if execution.status == ExecutionStatus::Failed
            && execution.stderr.trim().is_empty()
            && execution.error.is_none()
        {
            notes.push("The execution failed without an error message.".to_owned());
        }
        RunReport {
            status: execution.status.to_string(),
            stdout,
            stderr,
            result,
            exit_code: None,
            images: execution.images.len(),
            files_changed,
            notes,
        }
    }

    /// Builds the report of a shell command, within `budget`.
    pub fn for_shell(execution: &ShellExecution, budget: OutputBudget, files_changed: Vec<ChangedFile>) -> RunReport {
        let mut notes = Vec::new();
        let stdout = shorten("stdout", &execution.stdout, budget.chars_per_stream, &mut notes);
        let stderr = shorten("stderr", &execution.stderr, budget.chars_per_stream, &mut notes);
        if execution.output_may_be_truncated() {
            let limit = execution.output_limit.unwrap_or_default();
            notes.push(format!("The service returned only the first {limit} characters of stdout or stderr."));
        }
        if let Some(error) = &execution.error {
            let code = error.code.as_deref().unwrap_or("error");
            notes.push(format!("{code}: {}", error.message.as_deref().unwrap_or("the command did not finish")));
        }
        RunReport {
            status: execution.status.to_string(),
            stdout,
            stderr,
            result: None,
            exit_code: execution.exit_code,
            images: 0,
            files_changed,
            notes,
        }
    }

    /// The report as the JSON text the model reads.
    pub fn to_text(&self) -> String {
        serde_json::to_string_pretty(self).unwrap_or_else(|_| format!("status: {}", self.status))
    }
}

/// Keeps the first 40 % and the last 60 % of a long text (errors are usually at the end) and says how much
/// was cut.
fn shorten(name: &str, text: &str, budget: usize, notes: &mut Vec<String>) -> String {
    let total = text.chars().count();
    if total <= budget {
        return text.to_owned();
    }
    let head = budget * 2 / 5;
    let tail = budget - head;
    let omitted = total - head - tail;
    let start: String = text.chars().take(head).collect();
    let end: String = text.chars().skip(total - tail).collect();
    notes.push(format!("{name} was truncated: {omitted} of {total} characters were cut from the middle."));
    format!("{start}\n[... {omitted} characters cut ...]\n{end}")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn shortening_keeps_both_ends_and_says_so() {
        let mut notes = Vec::new();
        let text: String = (0..1000).map(|i| char::from(b'a' + (i % 26) as u8)).collect();
        let short = shorten("stdout", &text, 100, &mut notes);
        assert!(short.starts_with(&text[..40]));
        assert!(short.ends_with(&text[940..]));
        assert!(short.contains("[... 900 characters cut ...]"));
        assert_eq!(notes, ["stdout was truncated: 900 of 1000 characters were cut from the middle."]);
        let mut none = Vec::new();
        assert_eq!(shorten("stdout", "short", 100, &mut none), "short");
        assert!(none.is_empty());
    }
}

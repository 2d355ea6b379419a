//! What the model is told about an execution: honest (a failure is a failure) and bounded.

use dynamic_sessions::{Execution, ExecutionStatus, ShellExecution};
use serde::Serialize;
use serde_json::Value;

/// How an execution report is worded for the model.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
#[non_exhaustive]
pub enum ReportFormat {
    /// Plain sentences ending with the next step ([`RunReport::to_prose`]); small local models answer from
    /// it.
    #[default]
    Prose,
    /// The report as JSON ([`RunReport::to_text`]); the format of earlier versions, and what the MCP server
    /// returns.
    Json,
}

impl RunReport {
    /// The report in `format`.
    pub fn render(&self, format: ReportFormat) -> String {
        match format {
            ReportFormat::Prose => self.to_prose(),
            ReportFormat::Json => self.to_text(),
        }
    }
}

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

    /// The report as JSON (the MCP server's tool results, and programs that parse it).
    pub fn to_text(&self) -> String {
        serde_json::to_string_pretty(self).unwrap_or_else(|_| format!("status: {}", self.status))
    }

    /// Whether the execution succeeded (a shell command: with exit code 0).
    pub fn succeeded(&self) -> bool {
        matches!(self.status.as_str(), "Succeeded" | "Success") && self.exit_code.is_none_or(|c| c == 0)
    }

    /// The report as the agent's model reads it: plain sentences, then what to do next. Measured with small
    /// local models (see the README's agent eval): in key-value or JSON form they continue the pattern with
    /// more JSON instead of answering; in sentences ending with the next step, they answer.
    pub fn to_prose(&self) -> String {
        let mut out = String::new();
        let what = if self.exit_code.is_some() { "command" } else { "code" };
        match (self.succeeded(), self.exit_code) {
            (true, _) => out.push_str(&format!("The {what} ran successfully.")),
            (false, Some(code)) => out.push_str(&format!("{COMMAND_FAILED} with exit code {code}.")),
            (false, None) if self.status == "Failed" => out.push_str(&format!("{CODE_FAILED}.")),
            (false, None) => out.push_str(&format!("{CODE_UNFINISHED} ({}).", self.status)),
        }
        if !self.stdout.is_empty() {
            out.push_str(" It printed:\n");
            out.push_str(self.stdout.trim_end_matches('\n'));
        }
        if let Some(result) = &self.result {
            let text = match result {
                Value::String(s) => s.clone(),
                other => other.to_string(),
            };
            out.push_str("\nThe value of its last expression is:\n");
            out.push_str(&text);
        }
        if self.stdout.is_empty() && self.result.is_none() && self.succeeded() {
            out.push_str(" It printed nothing and returned no value.");
        }
        if !self.stderr.is_empty() {
            out.push_str(if self.succeeded() { "\nIt wrote warnings:\n" } else { "\nThe error:\n" });
            out.push_str(self.stderr.trim_end_matches('\n'));
        }
        if self.images > 0 {
            let images = if self.images == 1 { "1 image".to_owned() } else { format!("{} images", self.images) };
            out.push_str(&format!("\nIt drew {images}, attached; the user sees them too."));
        }
        for file in &self.files_changed {
            let size = file.size.map(|s| format!(", {s} bytes")).unwrap_or_default();
            out.push_str(&format!("\n{} file: /mnt/data/{}{size}.", capitalised(file.change), file.path));
        }
        for note in &self.notes {
            out.push_str("\nNote: ");
            out.push_str(note);
        }
        if self.succeeded() && !self.files_changed.is_empty() {
            out.push_str(
                "\nIf the user asked for a file, give it to them now: call send_file_to_user with its path. Otherwise \
                 answer the user's question in plain words, quoting values exactly as printed.",
            );
        } else if self.succeeded() {
            out.push_str(
                "\nNow answer the user's question in plain words, quoting values exactly as printed (do not call the \
                 tool again unless something is missing).",
            );
        } else {
            if let Some((alias, import)) = missing_alias(&self.stderr) {
                out.push_str(&format!(
                    "\n`{alias}` is not defined because the code does not import it: put `{import}` at the top of the \
                     code and run it again."
                ));
            } else if let Some((wrong, suggested)) = suggested_name(&self.stderr) {
                out.push_str(&format!(
                    "\n`{wrong}` does not exist; Python suggests `{suggested}`: if that is the name you meant, use it in the code \
                     and run it again."
                ));
            } else if self.stderr.contains("KeyError")
                || self.stderr.contains("NameError")
                || self.stderr.contains("AttributeError")
            {
                out.push_str(
                    "\nA name the code used does not exist. Look before guessing again: print the names that exist \
                     (for a table: print(df.columns.tolist()) and print(df.head()); names are case-sensitive).",
                );
            }
            out.push_str("\nFix the code and run it again, or tell the user what went wrong.");
        }
        out
    }
}

/// How [`RunReport::to_prose`] begins for code that failed, a command that failed, and code that did not finish.
const CODE_FAILED: &str = "The code failed";
const COMMAND_FAILED: &str = "The command failed";
const CODE_UNFINISHED: &str = "The code did not finish";

/// Whether a tool result, as the model read it, says that the code did not run well: a report of a failure, or
/// a call not run again because it was the code that had just failed.
#[cfg(feature = "rig")]
pub(crate) fn reads_as_failure(text: &str) -> bool {
    [CODE_FAILED, COMMAND_FAILED, CODE_UNFINISHED, crate::invoke::NOT_RERUN]
        .iter()
        .any(|opening| text.starts_with(opening))
}

/// Well-known aliases and the imports that define them.
const ALIASES: [(&str, &str); 7] = [
    ("plt", "import matplotlib.pyplot as plt"),
    ("np", "import numpy as np"),
    ("pd", "import pandas as pd"),
    ("sns", "import seaborn as sns"),
    ("px", "import plotly.express as px"),
    ("tf", "import tensorflow as tf"),
    ("torch", "import torch"),
];

/// The alias a `NameError` names, when it is a well-known one, and its import.
fn missing_alias(stderr: &str) -> Option<(&'static str, &'static str)> {
    let line = stderr.lines().rev().find(|l| l.starts_with("NameError: name '"))?;
    let name = line.strip_prefix("NameError: name '")?.split('\'').next()?;
    ALIASES.iter().find(|(alias, _)| *alias == name).copied()
}

/// The misspelt name of a `NameError` or an `AttributeError` and the name Python suggests instead (the error's
/// "Did you mean: 'sqrt'?").
fn suggested_name(stderr: &str) -> Option<(&str, &str)> {
    let line = stderr.lines().rev().find(|l| !l.trim().is_empty())?;
    let (message, suggested) = line.rsplit_once(". Did you mean: '")?;
    let suggested = suggested.strip_suffix("'?")?;
    let quoted = if message.starts_with("NameError: name '") {
        message.strip_prefix("NameError: name '")?
    } else if message.starts_with("AttributeError: ") {
        message.rsplit_once(" has no attribute '")?.1
    } else {
        return None;
    };
    let wrong = quoted.split('\'').next().filter(|w| !w.is_empty())?;
    (!suggested.is_empty()).then_some((wrong, suggested))
}

/// The module a `ModuleNotFoundError` names (its top-level package).
pub(crate) fn missing_module(stderr: &str) -> Option<&str> {
    let line = stderr.lines().rev().find(|l| l.starts_with("ModuleNotFoundError: No module named '"))?;
    line.strip_prefix("ModuleNotFoundError: No module named '")?.split(['\'', '.']).next().filter(|m| !m.is_empty())
}

fn capitalised(word: &str) -> String {
    let mut chars = word.chars();
    chars.next().map(|c| c.to_uppercase().chain(chars).collect()).unwrap_or_default()
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

    fn report(status: &str, stdout: &str, stderr: &str, result: Option<Value>) -> RunReport {
        RunReport {
            status: status.into(),
            stdout: stdout.into(),
            stderr: stderr.into(),
            result,
            exit_code: None,
            images: 0,
            files_changed: Vec::new(),
            notes: Vec::new(),
        }
    }

    #[test]
    fn prose_says_what_happened_and_what_to_do_next() {
        let ok = report("Succeeded", "1267650600228229401496703205376\n", "", None).to_prose();
        assert_eq!(
            ok,
            "The code ran successfully. It printed:\n1267650600228229401496703205376\nNow answer the user's question \
             in plain words, quoting values exactly as printed (do not call the tool again unless something is \
             missing)."
        );
        let value = report("Succeeded", "", "", Some(Value::from(42))).to_prose();
        assert!(value.contains("The value of its last expression is:\n42"), "{value}");
        let failed = report("Failed", "", "Traceback ...\nNameError: name 'pd' is not defined\n", None).to_prose();
        assert!(failed.starts_with("The code failed.\nThe error:\nTraceback"), "{failed}");
        assert!(failed.contains("put `import pandas as pd` at the top"), "a missing alias names its import: {failed}");
        let other = report("Failed", "", "NameError: name 'totl' is not defined\n", None).to_prose();
        assert!(other.contains("print(df.columns.tolist())"), "a missing name gets a hint: {other}");
        let misspelt = report(
            "Failed",
            "",
            "Traceback ...\nAttributeError: module 'math' has no attribute 'sqroot'. Did you mean: 'sqrt'?\n",
            None,
        )
        .to_prose();
        assert!(misspelt.contains("`sqroot` does not exist; Python suggests `sqrt`"), "{misspelt}");
        assert_eq!(
            suggested_name("NameError: name 'prnt' is not defined. Did you mean: 'print'?"),
            Some(("prnt", "print"))
        );
        // A well-known alias names its import, not Python's guess (`id` for `pd`).
        let alias = report("Failed", "", "NameError: name 'pd' is not defined. Did you mean: 'id'?\n", None).to_prose();
        assert!(alias.contains("import pandas as pd") && !alias.contains("suggests"), "{alias}");
        for line in ["ValueError: x. Did you mean: 'y'?", "NameError: name 'a' is not defined", "Did you mean: ''?"] {
            assert_eq!(suggested_name(line), None, "{line}");
        }
        assert_eq!(missing_module("ModuleNotFoundError: No module named 'polars.io'\n"), Some("polars"));
        assert_eq!(missing_module("ImportError: cannot import name 'x'"), None);
        assert!(failed.ends_with("Fix the code and run it again, or tell the user what went wrong."));
        let mut shell = report("Succeeded", "", "", None);
        shell.exit_code = Some(2);
        assert!(shell.to_prose().starts_with("The command failed with exit code 2."));
        let mut files = report("Succeeded", "", "", None);
        files.images = 1;
        files.files_changed.push(ChangedFile { path: "chart.png".into(), change: "new", size: Some(10) });
        let text = files.to_prose();
        assert!(
            text.contains("It drew 1 image") && text.contains("New file: /mnt/data/chart.png, 10 bytes."),
            "{text}"
        );
    }

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

//! A conversation to take home: a Jupyter notebook (nbformat 4.5) and a Markdown document, built from the log
//! the page replays. Messages become Markdown cells, runs of code become code cells with their outputs
//! (stdout and stderr as streams, the result as `text/plain`, charts as `image/png`), and everything else
//! (other tools, files handed over, notices, failures) a line of Markdown.

use std::fmt::Write as _;

use dynamic_sessions_agent_tools::{PoolKind, Tool};
use serde_json::{Map, Value, json};

use crate::events::PageEvent;

/// The notebook of `log`, for a pool of `pool` (its kernel and language in the metadata).
pub fn notebook(log: &[PageEvent], pool: PoolKind) -> Value {
    let mut cells = Cells::default();
    for event in log {
        match event {
            // Call ids repeat across turns: a result belongs to a call of its own turn.
            PageEvent::User { .. } => {
                cells.calls.clear();
                cells.markdown(&markdown_of(event).unwrap_or_default());
            }
            PageEvent::ToolCall { id, name, code: Some(code), .. } if in_kernel(pool, name) => {
                cells.code(id.clone(), &source_for(pool, name, code));
            }
            PageEvent::ToolResult { id, name, report, images, text, .. }
                if in_kernel(pool, name) && cells.outputs(id.as_deref(), report.as_ref(), images, text.as_deref()) => {}
            other => {
                if let PageEvent::ToolCall { id, .. } = other {
                    // A call that is not a cell: its result is told in words, not put on an earlier cell.
                    cells.calls.retain(|(call, _)| call.is_none() || call != id);
                }
                if let Some(markdown) = markdown_block(other) {
                    cells.markdown(&markdown);
                }
            }
        }
    }
    let (kernel, display, language, extension) = match Tool::main_for(pool) {
        Tool::RunJavascript => ("javascript", "JavaScript (Node.js)", "javascript", ".js"),
        Tool::RunShell => ("bash", "Bash", "bash", ".sh"),
        _ => ("python3", "Python 3", "python", ".py"),
    };
    json!({
        "nbformat": 4,
        "nbformat_minor": 5,
        "metadata": {
            "kernelspec": {"name": kernel, "display_name": display, "language": language},
            "language_info": {"name": language, "file_extension": extension},
        },
        "cells": cells.cells,
    })
}

/// The Markdown document of `log`: messages as text, code in fenced blocks in its language with its output,
/// charts as embedded images.
pub fn markdown(log: &[PageEvent]) -> String {
    let mut out = String::from("# Conversation\n");
    for block in log.iter().filter_map(markdown_block) {
        if !block.is_empty() {
            out.push('\n');
            out.push_str(&block);
            out.push('\n');
        }
    }
    out
}

/// One event as Markdown: a run's code in a fenced block, its outputs in fenced blocks and charts as
/// embedded images, anything else as [`markdown_of`] says it.
fn markdown_block(event: &PageEvent) -> Option<String> {
    match event {
        PageEvent::ToolCall { name, code: Some(code), .. } if runs_code(name) => {
            let language = Tool::from_name(name).and_then(Tool::code_parts).map_or("", |(_, _, fence)| fence);
            Some(fenced(language, code))
        }
        PageEvent::ToolResult { name, report, images, text, .. } if runs_code(name) => {
            let mut block = String::new();
            for (title, body) in report_parts(report.as_ref(), text.as_deref()) {
                let _ = write!(block, "{title}:\n\n{}\n\n", fenced("text", &body));
            }
            for image in images.iter().filter(|i| i.starts_with("data:image/")) {
                let _ = write!(block, "![A chart the code drew]({image})\n\n");
            }
            Some(block.trim_end().to_owned())
        }
        other => markdown_of(other),
    }
}

/// `body` in a fenced block longer than any run of backticks in it (so output cannot close it).
fn fenced(language: &str, body: &str) -> String {
    let mut longest = 0;
    let mut run = 0;
    for c in body.chars() {
        run = if c == '`' { run + 1 } else { 0 };
        longest = longest.max(run);
    }
    let fence = "`".repeat(longest.max(2) + 1);
    format!("{fence}{language}\n{}\n{fence}", body.trim_end())
}

/// Text that is not code, with the characters HTML gives meaning to escaped (Markdown renders raw HTML).
fn escaped(text: &str) -> String {
    text.replace('&', "&amp;").replace('<', "&lt;").replace('>', "&gt;")
}

/// Sanitised HTML as one Markdown HTML block: a blank line would end the block, so each one becomes a line
/// break entity at the end of the line before it (which keeps the line breaks of a `<pre>`).
fn html_block(html: &str) -> String {
    let mut lines: Vec<String> = Vec::new();
    for line in html.lines() {
        match lines.last_mut() {
            Some(previous) if line.trim().is_empty() => previous.push_str("&#10;"),
            _ if line.trim().is_empty() => {}
            _ => lines.push(line.to_owned()),
        }
    }
    lines.join("\n")
}

/// Whether a call of `name` is a code cell of the notebook of a `pool` pool: the pool's own language, and
/// shell commands in a Python notebook (as `%%bash` cells).
fn in_kernel(pool: PoolKind, name: &str) -> bool {
    let main = Tool::main_for(pool);
    name == main.name() || (main == Tool::RunPython && name == Tool::RunShell.name())
}

/// Whether the tool `name` runs code.
fn runs_code(name: &str) -> bool {
    Tool::from_name(name).is_some_and(Tool::runs_code)
}

/// A call's code as a cell of the notebook's kernel: a shell command in a Python notebook is a `%%bash` cell.
fn source_for(pool: PoolKind, name: &str, code: &str) -> String {
    let python = Tool::main_for(pool) == Tool::RunPython;
    if python && name == Tool::RunShell.name() { format!("%%bash\n{code}") } else { code.to_owned() }
}

/// The event as a line (or paragraph) of Markdown, when it is shown at all.
fn markdown_of(event: &PageEvent) -> Option<String> {
    match event {
        PageEvent::User { text } => Some(format!("**You:**\n\n{}", quoted(text))),
        // Answers are kept as sanitised HTML, which Markdown (and a notebook's Markdown cells) render.
        PageEvent::Assistant { html } | PageEvent::Done { html } => {
            Some(format!("**Assistant:**\n\n{}", html_block(html)))
        }
        PageEvent::ToolCall { name, args, .. } => {
            let args = args.as_ref().map(|a| Value::Object(a.clone()).to_string()).unwrap_or_default();
            Some(format!("*Tool `{name}`*\n\n{}", fenced("json", &args)))
        }
        PageEvent::ToolResult { text: Some(text), .. } if !text.is_empty() => Some(quoted(text)),
        PageEvent::Artifact { path, size, description } => {
            let size = size.map(|s| format!(" ({s} bytes)")).unwrap_or_default();
            let about = description.as_ref().map(|d| format!(": {}", escaped(d))).unwrap_or_default();
            Some(format!("*File handed over:* {}{size}{about}", escaped(path)))
        }
        PageEvent::Notice { message } => Some(format!("*Note:* {}", escaped(message))),
        PageEvent::Error { message, .. } => Some(format!("*The turn ended without an answer:* {}", escaped(message))),
        PageEvent::Stopped { message } => Some(format!("*Stopped:* {}", escaped(message))),
        PageEvent::Narration { text } => Some(format!("**Assistant:**\n\n{}", escaped(text))),
        PageEvent::Interrupted { message } => Some(format!("*Interrupted:* {}", escaped(message))),
        _ => None,
    }
}

/// `text` as a Markdown block quote, HTML escaped (what a person typed, or a tool read from a file, is words,
/// not markup).
fn quoted(text: &str) -> String {
    escaped(text).lines().map(|line| format!("> {line}")).collect::<Vec<_>>().join("\n")
}

/// The titled parts of a run's report: what it printed, its errors, its result; or the text the model was
/// told when there is no report (a run refused before it started).
fn report_parts(report: Option<&Value>, text: Option<&str>) -> Vec<(&'static str, String)> {
    let field = |name: &str| report.and_then(|r| r.get(name)).and_then(Value::as_str).filter(|s| !s.is_empty());
    let mut parts = Vec::new();
    if let Some(stdout) = field("stdout") {
        parts.push(("Output", stdout.to_owned()));
    }
    if let Some(stderr) = field("stderr") {
        parts.push(("Errors", stderr.to_owned()));
    }
    if let Some(result) = report.and_then(|r| r.get("result")).filter(|v| !v.is_null()) {
        parts.push(("Result", result.as_str().map_or_else(|| result.to_string(), str::to_owned)));
    }
    if report.is_none()
        && let Some(text) = text.filter(|t| !t.is_empty())
    {
        parts.push(("Not run", text.to_owned()));
    }
    parts
}

/// A `data:` URL as a notebook's MIME bundle: raster images base64-encoded, SVG as its text (nbformat's
/// convention).
fn image_bundle(url: &str) -> Option<Map<String, Value>> {
    use base64::Engine as _;
    let (mime, data) = url.strip_prefix("data:")?.split_once(";base64,")?;
    let value = if mime == "image/svg+xml" {
        let bytes = base64::engine::general_purpose::STANDARD.decode(data).ok()?;
        String::from_utf8(bytes).ok()?
    } else {
        data.to_owned()
    };
    let mut bundle = Map::new();
    bundle.insert(mime.to_owned(), Value::String(value));
    Some(bundle)
}

/// The notebook's cells as they are built.
#[derive(Default)]
struct Cells {
    cells: Vec<Value>,
    /// Code cells run so far (their execution counts).
    runs: u64,
    /// The call id of each code cell, by index in `cells`, to attach its outputs.
    calls: Vec<(Option<String>, usize)>,
}

impl Cells {
    fn id(&self) -> String {
        format!("cell-{}", self.cells.len() + 1)
    }

    fn markdown(&mut self, text: &str) {
        let cell = json!({"cell_type": "markdown", "id": self.id(), "metadata": {}, "source": text});
        self.cells.push(cell);
    }

    fn code(&mut self, call: Option<String>, source: &str) {
        self.runs += 1;
        let cell = json!({
            "cell_type": "code",
            "id": self.id(),
            "metadata": {},
            "execution_count": self.runs,
            "source": source,
            "outputs": [],
        });
        self.calls.push((call, self.cells.len()));
        self.cells.push(cell);
    }

    /// The outputs of a run, on the code cell of its call (the last code cell when the call has no id);
    /// `false` when there is no such cell (a call whose arguments were refused), for the caller to say it in
    /// words instead.
    fn outputs(&mut self, call: Option<&str>, report: Option<&Value>, images: &[String], text: Option<&str>) -> bool {
        let index = match call {
            Some(id) => self.calls.iter().rev().find(|(c, _)| c.as_deref() == Some(id)),
            None => self.calls.last(),
        };
        let Some(&(_, index)) = index else { return false };
        let count = self.cells[index].get("execution_count").cloned().unwrap_or(Value::Null);
        let mut outputs = Vec::new();
        for (title, body) in report_parts(report, text) {
            let output = match title {
                "Output" => json!({"output_type": "stream", "name": "stdout", "text": body}),
                "Errors" | "Not run" => json!({"output_type": "stream", "name": "stderr", "text": body}),
                _ => json!({
                    "output_type": "execute_result",
                    "execution_count": count,
                    "data": {"text/plain": body},
                    "metadata": {},
                }),
            };
            outputs.push(output);
        }
        for image in images {
            if let Some(bundle) = image_bundle(image) {
                outputs.push(json!({"output_type": "display_data", "data": bundle, "metadata": {}}));
            }
        }
        match self.cells.get_mut(index) {
            Some(cell) => {
                cell["outputs"] = Value::Array(outputs);
                true
            }
            None => false,
        }
    }
}

#[cfg(test)]
mod tests;

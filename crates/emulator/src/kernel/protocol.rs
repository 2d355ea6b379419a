//! The protocol between the emulator and a session's kernel, in one place: what a session is asked to run
//! ([`Work`]), the request lines sent for it ([`Request`]), the lines a kernel writes back ([`Reply`]), and
//! the neutral result the API renders per family ([`RunResult`]).
//!
//! Newline-delimited JSON over the kernel's pipes. The kernels' side (`kernel/python/kernel.py`,
//! `kernel/node/kernel.js`) names its messages the same way:
//!
//! ```text
//! emulator -> kernel  {"op": "exec", "id": "...", "code": "..."}
//! emulator -> kernel  {"op": "shell", "id": "...", "command": "..." | "argv": [...], "stdin": "..." | null}
//! emulator -> kernel  {"op": "interrupt", "id": "..."}                      (at any time)
//! kernel -> emulator  {"op": "ready", "pid": 2, "version": "3.11.2", "preimport_ms": 1.2, "preimport_errors": []}
//! kernel -> emulator  {"op": "result", "id": "...", "status": "Success" | "Failure", "stdout": "...",
//!                      "stderr": "...", "result": <json> | null, "result_kind": "none" | "json" |
//!                      "nonfinite" | "repr", "result_repr": "..." | null, "images": [...],
//!                      "exit_code": <int> | null, "duration_ms": 1.2, "interrupted": false}
//! ```
//!
//! Every line a kernel writes is untrusted: it is parsed once, into these types, and anything else is an
//! error that ends the kernel.

use serde::{Deserialize, Serialize};
use serde_json::Value;

/// The language a kernel runs code in.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize)]
#[serde(rename_all = "lowercase")]
pub(crate) enum Language {
    /// `kernel/python/kernel.py`: a notebook-style Python kernel.
    Python,
    /// `kernel/node/kernel.js`: a notebook-style JavaScript kernel on Node.js.
    JavaScript,
}

/// A piece of work for a session's kernel.
#[derive(Debug, Clone)]
pub(crate) enum Work {
    /// Code in the kernel's language, run like a notebook cell.
    Code(String),
    /// A Bash command line (`shellCommand`), with optional standard input.
    Shell { command: String, stdin: Option<String> },
    /// A program and its arguments, without a shell (`execCommandAndArgs`).
    Exec { argv: Vec<String>, stdin: Option<String> },
}

impl Work {
    /// The request line for this work, identified by `id`.
    pub(crate) fn request<'a>(&'a self, id: &'a str) -> Request<'a> {
        match self {
            Work::Code(code) => Request::Exec { id, code },
            Work::Shell { command, stdin } => {
                Request::Shell { id, command: Some(command), argv: None, stdin: stdin.as_deref() }
            }
            Work::Exec { argv, stdin } => {
                Request::Shell { id, command: None, argv: Some(argv), stdin: stdin.as_deref() }
            }
        }
    }

    /// Whether the work is a shell command (its result carries an exit code).
    pub(crate) fn is_shell(&self) -> bool {
        !matches!(self, Work::Code(_))
    }
}

/// A line sent to a kernel.
#[derive(Debug, Serialize)]
#[serde(tag = "op", rename_all = "lowercase")]
pub(crate) enum Request<'a> {
    /// Run code.
    Exec { id: &'a str, code: &'a str },
    /// Run a command line or an argument list.
    Shell {
        id: &'a str,
        #[serde(skip_serializing_if = "Option::is_none")]
        command: Option<&'a str>,
        #[serde(skip_serializing_if = "Option::is_none")]
        argv: Option<&'a [String]>,
        stdin: Option<&'a str>,
    },
    /// Stop the running request `id`.
    Interrupt { id: &'a str },
}

impl Request<'_> {
    /// The request as one line, newline included.
    pub(crate) fn line(&self) -> Vec<u8> {
        let mut line = serde_json::to_vec(self).unwrap_or_default();
        line.push(b'\n');
        line
    }
}

/// What a kernel reports when it is ready.
#[derive(Debug, Clone, Default, Deserialize)]
pub(crate) struct Ready {
    /// The interpreter's version.
    pub(crate) version: String,
    /// How long the kernel's own imports took.
    #[serde(default)]
    pub(crate) preimport_ms: f64,
    /// Imports that failed (reported, not fatal).
    #[serde(default)]
    pub(crate) preimport_errors: Vec<String>,
}

/// How to read a result's value.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Deserialize)]
#[serde(rename_all = "lowercase")]
pub(crate) enum ResultKind {
    /// No value (no trailing expression, or `None`).
    #[default]
    None,
    /// A JSON scalar, as it is.
    Json,
    /// NaN or an infinity (its repr in `value`).
    NonFinite,
    /// Any other value, as its text.
    Repr,
}

/// One execution's result as the kernel reports it.
#[derive(Debug, Clone, Deserialize)]
pub(crate) struct KernelResult {
    pub(crate) id: String,
    pub(crate) status: String,
    #[serde(default)]
    pub(crate) stdout: String,
    #[serde(default)]
    pub(crate) stderr: String,
    /// The last expression's value as JSON (see `result_kind`).
    #[serde(default)]
    pub(crate) result: Value,
    #[serde(default)]
    pub(crate) result_kind: ResultKind,
    /// The notebook text of the value (`'nan'` for the string "nan"), when there is a value.
    #[serde(default)]
    pub(crate) result_repr: Option<String>,
    /// Every figure the execution drew, in order.
    #[serde(default)]
    pub(crate) images: Vec<Value>,
    /// A shell command's exit code.
    #[serde(default)]
    pub(crate) exit_code: Option<i64>,
    #[serde(default)]
    pub(crate) duration_ms: f64,
}

/// A line a kernel writes.
#[derive(Debug, Deserialize)]
#[serde(tag = "op", rename_all = "lowercase")]
pub(crate) enum Reply {
    /// Started and waiting for requests.
    Ready(Ready),
    /// A request finished.
    Result(Box<KernelResult>),
}

impl Reply {
    /// Parses one line of a kernel's output.
    pub(crate) fn parse(line: &str) -> Result<Reply, String> {
        serde_json::from_str(line).map_err(|e| format!("the kernel wrote a line that is not its protocol: {e}"))
    }
}

/// The neutral result of one execution, rendered per API family and version by the API layer.
#[derive(Debug, Clone)]
pub(crate) struct RunResult {
    pub(crate) succeeded: bool,
    pub(crate) stdout: String,
    pub(crate) stderr: String,
    /// The last expression's value (see `kind`).
    pub(crate) value: Value,
    pub(crate) kind: ResultKind,
    /// The notebook text of the value, when there is one.
    pub(crate) repr: Option<String>,
    /// Every figure drawn, as `{"type":"image","format":"png","base64_data":..}`.
    pub(crate) images: Vec<Value>,
    /// A shell command's exit code (`None` for code).
    pub(crate) exit_code: Option<i64>,
    /// Whether the work was a shell command.
    pub(crate) shell: bool,
    pub(crate) duration_ms: f64,
    /// A service-style error for timeouts and kernel deaths.
    pub(crate) error: Option<(&'static str, String)>,
}

impl RunResult {
    /// The result of `work` as its kernel reported it.
    pub(crate) fn from_kernel(r: KernelResult, work: &Work) -> RunResult {
        RunResult {
            succeeded: r.status == "Success",
            stdout: r.stdout,
            stderr: r.stderr,
            value: r.result,
            kind: r.result_kind,
            repr: r.result_repr,
            images: r.images,
            exit_code: r.exit_code,
            shell: work.is_shell(),
            duration_ms: r.duration_ms,
            error: None,
        }
    }

    /// A failure before or around the code (a timeout, a dead kernel), with its service-style error.
    pub(crate) fn failure(stdout: String, stderr: String, duration_ms: f64, code: &'static str, note: String) -> Self {
        RunResult {
            succeeded: false,
            stdout,
            stderr,
            value: Value::Null,
            kind: ResultKind::None,
            repr: None,
            images: Vec::new(),
            exit_code: None,
            shell: false,
            duration_ms,
            error: Some((code, note)),
        }
    }

    /// Cuts stdout and stderr to their first `limit` characters, silently, as the service does with
    /// `outputStreamsMaxLength`.
    pub(crate) fn limit_streams(&mut self, limit: usize) {
        for stream in [&mut self.stdout, &mut self.stderr] {
            if let Some((cut, _)) = stream.char_indices().nth(limit) {
                stream.truncate(cut);
            }
        }
    }

    /// Roughly how many bytes the result holds (for bounding what is kept in memory).
    pub(crate) fn weight(&self) -> usize {
        let images: usize =
            self.images.iter().map(|i| i.get("base64_data").and_then(Value::as_str).map_or(0, str::len)).sum();
        self.stdout.len() + self.stderr.len() + self.repr.as_ref().map_or(0, String::len) + images + 256
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn requests_are_the_lines_the_kernel_reads() {
        let exec = Work::Code("1+1".into());
        assert_eq!(exec.request("a").line(), b"{\"op\":\"exec\",\"id\":\"a\",\"code\":\"1+1\"}\n");
        let shell = Work::Shell { command: "ls".into(), stdin: None };
        assert_eq!(shell.request("b").line(), b"{\"op\":\"shell\",\"id\":\"b\",\"command\":\"ls\",\"stdin\":null}\n");
        let argv = Work::Exec { argv: vec!["echo".into(), "x".into()], stdin: Some("in".into()) };
        assert_eq!(
            argv.request("c").line(),
            b"{\"op\":\"shell\",\"id\":\"c\",\"argv\":[\"echo\",\"x\"],\"stdin\":\"in\"}\n"
        );
        assert_eq!(Request::Interrupt { id: "d" }.line(), b"{\"op\":\"interrupt\",\"id\":\"d\"}\n");
    }

    #[test]
    fn replies_parse_once_and_anything_else_is_an_error() -> Result<(), String> {
        let ready =
            Reply::parse(r#"{"op":"ready","pid":2,"version":"3.11.2","preimport_ms":1.5,"preimport_errors":[]}"#);
        assert!(matches!(ready, Ok(Reply::Ready(r)) if r.version == "3.11.2" && r.preimport_ms == 1.5));
        let result = Reply::parse(
            r#"{"op":"result","id":"x","status":"Success","stdout":"","stderr":"","result":2,"result_kind":"json","result_repr":"2","images":[],"duration_ms":0.5,"interrupted":false}"#,
        );
        let Reply::Result(result) = result? else { return Err("not a result".into()) };
        let run = RunResult::from_kernel(*result, &Work::Code("1+1".into()));
        assert!(run.succeeded && run.kind == ResultKind::Json && run.value == 2 && !run.shell);
        for bad in ["", "{}", r#"{"op":"pong"}"#, r#"{"op":"result","status":"Success"}"#, "not json"] {
            assert!(Reply::parse(bad).is_err(), "{bad:?}");
        }
        Ok(())
    }
}

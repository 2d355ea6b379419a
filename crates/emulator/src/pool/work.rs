//! What a session is asked to run, and what comes back, independent of any API family's shapes.

use serde_json::{Map, Value, json};

use crate::kernel::{KernelResult, Outcome};

/// A piece of work for a session's kernel.
#[derive(Debug, Clone)]
pub(crate) enum Work {
    /// Python code, run like a notebook cell.
    Python(String),
    /// A Bash command line (`shellCommand`), with optional standard input.
    Shell { command: String, stdin: Option<String> },
    /// A program and its arguments, without a shell (`execCommandAndArgs`).
    Exec { argv: Vec<String>, stdin: Option<String> },
}

impl Work {
    /// The kernel protocol message (without its id).
    pub(crate) fn message(&self) -> Map<String, Value> {
        let value = match self {
            Work::Python(code) => json!({"op": "exec", "code": code}),
            Work::Shell { command, stdin } => json!({"op": "shell", "command": command, "stdin": stdin}),
            Work::Exec { argv, stdin } => json!({"op": "shell", "argv": argv, "stdin": stdin}),
        };
        match value {
            Value::Object(map) => map,
            _ => Map::new(),
        }
    }

    pub(crate) fn is_shell(&self) -> bool {
        !matches!(self, Work::Python(_))
    }
}

/// How to read a result's value.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum ResultKind {
    /// No value (no trailing expression, or `None`).
    None,
    /// A JSON scalar, as it is.
    Json,
    /// NaN or an infinity (its repr in `value`).
    NonFinite,
    /// Any other value, as its text.
    Repr,
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
    /// A shell command's exit code (`None` for Python).
    pub(crate) exit_code: Option<i64>,
    /// Whether the work was a shell command.
    pub(crate) shell: bool,
    pub(crate) duration_ms: f64,
    /// A service-style error for timeouts and kernel deaths.
    pub(crate) error: Option<(&'static str, String)>,
}

impl RunResult {
    pub(crate) fn from_kernel(r: KernelResult) -> RunResult {
        let kind = match r.result_kind.as_str() {
            "json" => ResultKind::Json,
            "nonfinite" => ResultKind::NonFinite,
            "repr" => ResultKind::Repr,
            // Older kernels (and anything unexpected) tell by the value.
            _ if r.result.is_null() => ResultKind::None,
            _ => ResultKind::Repr,
        };
        RunResult {
            succeeded: r.status == "Success",
            stdout: r.stdout,
            stderr: r.stderr,
            value: r.result,
            kind,
            repr: r.result_repr,
            images: r.images,
            exit_code: r.exit_code,
            shell: false,
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

/// A run that cost the kernel its life: it ignored the interrupt (`killed`) or died; `note` says so in words.
#[derive(Debug)]
pub(crate) struct Lost {
    pub(crate) killed: bool,
    pub(crate) note: String,
}

/// What became of a run, as the session reports it.
pub(crate) fn result_of(outcome: Outcome, seconds: u64) -> Result<RunResult, Lost> {
    match outcome {
        Outcome::Finished(r) => Ok(RunResult::from_kernel(r)),
        Outcome::Interrupted(r) => {
            let note = format!(
                "Execution timed out after {seconds} seconds and was interrupted. The session state (variables, \
                 imports) is intact."
            );
            let mut result = RunResult::from_kernel(r);
            result.succeeded = false;
            result.stderr = format!("{}\n{note}\n", result.stderr.trim_end());
            result.value = Value::Null;
            result.kind = ResultKind::None;
            result.repr = None;
            result.error = Some(("ExecutionTimeout", note));
            Ok(result)
        }
        other => {
            let killed = matches!(other, Outcome::Killed);
            let note = match &other {
                Outcome::Died(why) => format!(
                    "The Python kernel died during the execution ({why}); for example the code exceeded the \
                     session's memory limit. The kernel was restarted: the session state (variables, imports) \
                     was lost. Files in /mnt/data were kept."
                ),
                _ => format!(
                    "Execution timed out after {seconds} seconds and did not stop when interrupted. The kernel \
                     was restarted: the session state (variables, imports) was lost. Files in /mnt/data were kept."
                ),
            };
            Err(Lost { killed, note })
        }
    }
}

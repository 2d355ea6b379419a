//! Shell commands (`shellCommand`, `execCommandAndArgs`): [`ShellBuilder`] and [`ShellExecution`].

use std::future::{Future, IntoFuture};
use std::pin::Pin;
use std::time::Duration;

use serde_json::{Value, json};

use super::DEFAULT_OUTPUT_STREAMS_MAX_LENGTH;
use super::builder::needs;
use super::model::{ExecutionError, ExecutionStatus};
use super::submit;
use crate::api_version::ApiVersion;
use crate::error::Error;
use crate::session::Session;
use crate::wire;

/// The longest `timeoutInSeconds` a shell command may ask for (the service's own Shell example sends 600).
pub const MAX_SHELL_TIMEOUT: Duration = Duration::from_secs(600);

/// What to run.
#[derive(Debug, Clone)]
enum Command {
    /// A Bash command line (`shellCommand`).
    Line(String),
    /// An executable and its arguments, without a shell (`execCommandAndArgs`).
    Exec(Vec<String>),
}

/// A shell command to run in a session. Await it directly, or call [`ShellBuilder::send`].
///
/// ```no_run
/// # async fn run(session: dynamic_sessions::Session) -> Result<(), dynamic_sessions::Error> {
/// let listing = session.shell("ls -la /mnt/data").await?;
/// println!("exit {:?}:\n{}", listing.exit_code, listing.stdout);
/// let counted = session.shell("wc -l").stdin("a\nb\n").await?;
/// assert_eq!(counted.stdout.trim(), "2");
/// # Ok(()) }
/// ```
#[derive(Debug)]
#[must_use = "a shell command does nothing until it is awaited"]
pub struct ShellBuilder {
    session: Session,
    command: Command,
    stdin: Option<String>,
    timeout: Option<Duration>,
    operation_id: Option<String>,
    output_streams_max_length: Option<u32>,
}

impl ShellBuilder {
    pub(crate) fn line(session: Session, line: String) -> Self {
        Self::new(session, Command::Line(line))
    }

    pub(crate) fn exec(session: Session, argv: Vec<String>) -> Self {
        Self::new(session, Command::Exec(argv))
    }

    fn new(session: Session, command: Command) -> Self {
        ShellBuilder {
            session,
            command,
            stdin: None,
            timeout: None,
            operation_id: None,
            output_streams_max_length: None,
        }
    }

    /// Text fed to the command's standard input (`stdin`, 2025-10-02-preview and later).
    pub fn stdin(mut self, input: impl Into<String>) -> Self {
        self.stdin = Some(input.into());
        self
    }

    /// The time limit sent as `timeoutInSeconds` (whole seconds, 1–600; default: the client's execution timeout).
    pub fn timeout(mut self, timeout: Duration) -> Self {
        self.timeout = Some(timeout);
        self
    }

    /// A client-chosen execution id, sent as the `operation-id` header.
    pub fn operation_id(mut self, id: impl Into<String>) -> Self {
        self.operation_id = Some(id.into());
        self
    }

    /// `outputStreamsMaxLength` (2025-10-02-preview and later; the service's default is 4,096 characters).
    pub fn output_streams_max_length(mut self, characters: u32) -> Self {
        self.output_streams_max_length = Some(characters);
        self
    }

    /// Runs the command. A non-zero exit code is `Ok`, with [`ShellExecution::exit_code`] saying so.
    ///
    /// # Errors
    /// [`Error::InvalidInput`] for an empty command, a timeout outside 1–600 s, or a field the api-version
    /// does not have (shell commands need 2025-02-02-preview; `stdin` and argument lists 2025-10-02-preview);
    /// [`Error::Timeout`] when no answer came in time; auth, service and transport errors.
    pub async fn send(self) -> Result<ShellExecution, Error> {
        let t = &self.session.client.transport;
        let version = &t.api_version;
        let limit = self.timeout.unwrap_or(t.execution_timeout);
        if limit.is_zero() || limit > MAX_SHELL_TIMEOUT {
            return Err(Error::invalid(format!("shell timeout {limit:?} is outside 1-600 s")));
        }
        let seconds = limit.as_secs().max(1);
        let mut body = match &self.command {
            Command::Line(line) => {
                if line.trim().is_empty() {
                    return Err(Error::invalid("there is no shell command to run (the command is empty)"));
                }
                if !version.has_shell_commands() {
                    return Err(needs(version, ApiVersion::V2025_02_02_PREVIEW, "a shell command"));
                }
                json!({"codeInputType": "Inline", "executionType": "Synchronous", "shellCommand": line})
            }
            Command::Exec(argv) => {
                if argv.first().is_none_or(|program| program.trim().is_empty()) {
                    return Err(Error::invalid("execCommandAndArgs needs at least the program to run"));
                }
                if !version.has_execution_options() {
                    return Err(needs(version, ApiVersion::V2025_10_02_PREVIEW, "execCommandAndArgs"));
                }
                json!({"execCommandAndArgs": argv})
            }
        };
        let extra = [
            ("stdin", self.stdin.clone().map(Value::from)),
            ("outputStreamsMaxLength", self.output_streams_max_length.map(Value::from)),
        ];
        if let Some(fields) = body.as_object_mut() {
            for (name, value) in extra {
                if let Some(value) = value {
                    if !version.has_execution_options() {
                        return Err(needs(version, ApiVersion::V2025_10_02_PREVIEW, name));
                    }
                    fields.insert(name.to_owned(), value);
                }
            }
            fields.insert("timeoutInSeconds".to_owned(), Value::from(seconds));
        }
        let answer = submit::post(&self.session, &["executions"], &body, self.operation_id.as_deref(), limit).await?;
        let mut shell = ShellExecution::from_json(&answer.body);
        shell.id = shell.id.or(answer.operation_id).or(self.operation_id);
        shell.output_limit = match self.output_streams_max_length {
            Some(n) => Some(n as usize),
            None => version.has_execution_options().then_some(DEFAULT_OUTPUT_STREAMS_MAX_LENGTH),
        };
        Ok(shell)
    }
}

impl IntoFuture for ShellBuilder {
    type Output = Result<ShellExecution, Error>;
    type IntoFuture = Pin<Box<dyn Future<Output = Self::Output> + Send>>;

    fn into_future(self) -> Self::IntoFuture {
        Box::pin(self.send())
    }
}

/// The outcome of a shell command.
#[derive(Debug, Clone, PartialEq)]
#[non_exhaustive]
pub struct ShellExecution {
    /// The execution id.
    pub id: Option<String>,
    /// The exit code. Shell pools send it as the `status` (`"0"`); the custom-container shell image as
    /// `exitCode` next to a `Succeeded`/`Failed` status. `None` when the answer has neither.
    pub exit_code: Option<i32>,
    /// `Succeeded` for exit code 0, `Failed` otherwise (or the service's own status word).
    pub status: ExecutionStatus,
    /// Captured standard output.
    pub stdout: String,
    /// Captured standard error.
    pub stderr: String,
    /// Execution time reported by the service.
    pub duration: Option<Duration>,
    /// The service's error object (for example a timeout), when it sent one.
    pub error: Option<ExecutionError>,
    /// The most characters of each stream the service returns; see [`ShellExecution::output_may_be_truncated`].
    pub output_limit: Option<usize>,
}

impl ShellExecution {
    /// Whether the command exited with code 0.
    pub fn is_success(&self) -> bool {
        self.exit_code == Some(0)
    }

    /// Whether stdout or stderr may have been cut at [`ShellExecution::output_limit`] (the service says nothing).
    pub fn output_may_be_truncated(&self) -> bool {
        self.output_limit.is_some_and(|limit| self.stdout.len() >= limit || self.stderr.len() >= limit)
    }

    /// Reads a shell execution resource.
    pub fn from_json(v: &Value) -> ShellExecution {
        let execution = super::Execution::from_json(v);
        let status_word = wire::string(v, &["status"]).unwrap_or_default();
        let exit_code = status_word
            .trim()
            .parse::<i32>()
            .ok()
            .or_else(|| wire::float(v, &["exitCode"]).filter(|f| f.fract() == 0.0).map(|f| f as i32));
        let status = match exit_code {
            Some(0) => ExecutionStatus::Succeeded,
            Some(_) => ExecutionStatus::Failed,
            None => execution.status,
        };
        ShellExecution {
            id: execution.id,
            exit_code,
            status,
            stdout: execution.stdout,
            stderr: execution.stderr,
            duration: execution.duration,
            error: execution.error,
            output_limit: None,
        }
    }
}

//! [`CodeInterpreter`]: a session as an agent's workspace (Python, JavaScript or a shell), independent of any
//! agent framework. [`SessionProvider`] gives each user and conversation its own; `files` holds what the
//! interpreter says about files (what changed in a run, what is missing).

mod files;
mod provider;

use files::{Snapshot, diff};
pub(crate) use files::{human_size, missing};
pub use provider::SessionProvider;

use std::fmt;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use dynamic_sessions::{ApiFamily, Execution, Image, PoolKind, Session, SessionPoolClient, ShellExecution};
use futures_util::StreamExt;
use serde::Serialize;
use time::OffsetDateTime;

use crate::error::ToolError;
use crate::repair::{refused_for_a_slip, repair};
use crate::report::{OutputBudget, ReportFormat, RunReport};
use crate::sanitize::{sanitize_code, sanitize_javascript};
use crate::tools::Tool;

/// How an interpreter behaves.
#[derive(Debug, Clone, PartialEq)]
pub struct InterpreterOptions {
    /// How much output the model sees.
    pub budget: OutputBudget,
    /// The time limit of each execution (default: the client's).
    pub execution_timeout: Option<Duration>,
    /// List `/mnt/data` before and after each run to report new and changed files (two extra calls per run).
    pub track_files: bool,
    /// The most bytes `read_file` shows.
    pub read_file_bytes: usize,
    /// The `outputStreamsMaxLength` sent on api-versions that have it (2025-10-02-preview and later): how much
    /// of each stream the service returns. The service's own default is 4,096 characters, cut from the end
    /// without a word; the report keeps both ends of whatever comes back within [`OutputBudget`], so this asks
    /// for more. The model then sees the same on Azure as on the emulator.
    pub output_streams_max_length: u32,
    /// Offer the `run_shell` tool (Bash in the same session) beside the code tool. Off by default: a model
    /// that has Python needs no shell, and a shell is one more way to do something unexpected. (In a `Shell`
    /// pool `run_shell` is the main tool, always offered.)
    pub shell: bool,
    /// What the pool runs, which decides the main tool (`run_python`, `run_javascript` or `run_shell`); read
    /// it from the pool with [`pool_kind`]. Default: Python.
    pub pool: PoolKind,
    /// How agent tools word execution reports for the model (the MCP server always sends JSON).
    pub report_format: ReportFormat,
}

impl Default for InterpreterOptions {
    fn default() -> Self {
        InterpreterOptions {
            budget: OutputBudget::default(),
            execution_timeout: None,
            track_files: true,
            read_file_bytes: 8 * 1024,
            output_streams_max_length: 64 * 1024,
            shell: false,
            pool: PoolKind::Python,
            report_format: ReportFormat::default(),
        }
    }
}

/// Something the application can offer the user: a file the model handed over, or an image the code drew.
#[derive(Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum Artifact {
    /// A file in the session that the model wants the user to have.
    File {
        /// Path relative to `/mnt/data`.
        path: String,
        /// Size in bytes, when known.
        size: Option<u64>,
        /// What the model said about it.
        description: Option<String>,
    },
    /// An image produced by an execution.
    Image {
        /// Format, e.g. `png`.
        format: String,
        /// The image bytes.
        data: Vec<u8>,
    },
}

impl fmt::Debug for Artifact {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Artifact::File { path, size, .. } => write!(f, "Artifact::File({path}, {size:?} bytes)"),
            Artifact::Image { format, data } => write!(f, "Artifact::Image({format}, {} bytes)", data.len()),
        }
    }
}

/// What the pool behind `client` runs, from its metadata; Python when the pool does not say (an
/// api-version before 2025-02-02-preview has no `metadata`, and custom containers may not answer it).
pub async fn pool_kind(client: &SessionPoolClient) -> PoolKind {
    match client.metadata().await {
        Ok(metadata) => match metadata.kind() {
            PoolKind::Other => PoolKind::Python,
            kind => kind,
        },
        Err(e) => {
            tracing::info!(error = %e, "the pool's metadata is not available; taking it for a Python pool");
            PoolKind::Python
        }
    }
}

/// The outcome of [`CodeInterpreter::run_python`] and [`CodeInterpreter::run_javascript`].
#[derive(Debug, Clone)]
pub struct RunOutcome {
    /// What the model is told.
    pub report: RunReport,
    /// The images, for the model and the application.
    pub images: Vec<Image>,
    /// The full execution as the service returned it.
    pub execution: Execution,
}

/// The outcome of [`CodeInterpreter::run_shell`].
#[derive(Debug, Clone)]
pub struct ShellOutcome {
    /// What the model is told.
    pub report: RunReport,
    /// The full answer as the service returned it.
    pub execution: ShellExecution,
}

/// A file as `list_files` reports it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct FileEntry {
    /// Path relative to `/mnt/data`.
    pub path: String,
    /// `file` or `directory`.
    pub kind: &'static str,
    /// Size in bytes, when known.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub size: Option<u64>,
    /// Last modification (RFC 3339), when known.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub modified: Option<String>,
}

struct Inner {
    session: Session,
    options: InterpreterOptions,
    /// `std` mutex: only pushed to and drained, never held across `.await`.
    artifacts: Mutex<Vec<Artifact>>,
    /// One tool call at a time per session, so file snapshots match their run.
    busy: tokio::sync::Mutex<()>,
    /// When the session was created, as last seen ([`CodeInterpreter::check_session`]).
    created: Mutex<Option<Option<OffsetDateTime>>>,
    /// The pool's pre-installed packages, read from its metadata when first needed.
    packages: tokio::sync::OnceCell<Vec<String>>,
}

/// What [`CodeInterpreter::check_session`] found.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub enum SessionCheck {
    /// The session has not been used yet.
    NotStarted,
    /// The session is the one used before.
    Alive,
    /// The session expired (or was deleted) since it was last seen: its state and files are gone.
    Expired,
}

/// The most artifacts kept for [`CodeInterpreter::take_artifacts`] (an application that never takes them
/// keeps the newest).
const MAX_KEPT_ARTIFACTS: usize = 64;

/// A session as a tool for an LLM agent: runs Python, lists and reads files, hands files to the user, resets.
///
/// Cheap to clone; clones share the session and the collected artifacts.
#[derive(Clone)]
pub struct CodeInterpreter {
    inner: Arc<Inner>,
}

impl fmt::Debug for CodeInterpreter {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("CodeInterpreter").field("session", &self.inner.session.id()).finish_non_exhaustive()
    }
}

impl CodeInterpreter {
    /// An interpreter on `session` with default options.
    pub fn new(session: Session) -> Self {
        Self::with_options(session, InterpreterOptions::default())
    }

    /// An interpreter on `session`.
    pub fn with_options(session: Session, options: InterpreterOptions) -> Self {
        CodeInterpreter {
            inner: Arc::new(Inner {
                session,
                options,
                artifacts: Mutex::new(Vec::new()),
                busy: tokio::sync::Mutex::new(()),
                created: Mutex::new(None),
                packages: tokio::sync::OnceCell::new(),
            }),
        }
    }

    /// The session.
    pub fn session(&self) -> &Session {
        &self.inner.session
    }

    /// The options.
    pub fn options(&self) -> &InterpreterOptions {
        &self.inner.options
    }

    /// Takes the artifacts collected since the last call (files handed over, images drawn).
    pub fn take_artifacts(&self) -> Vec<Artifact> {
        self.inner.artifacts.lock().map(|mut a| std::mem::take(&mut *a)).unwrap_or_default()
    }

    /// Adds an artifact for [`CodeInterpreter::take_artifacts`].
    #[cfg(feature = "rig")]
    pub(crate) fn offer(&self, artifact: Artifact) {
        self.push_artifact(artifact);
    }

    fn push_artifact(&self, artifact: Artifact) {
        if let Ok(mut artifacts) = self.inner.artifacts.lock() {
            if artifacts.len() >= MAX_KEPT_ARTIFACTS {
                artifacts.remove(0);
            }
            artifacts.push(artifact);
        }
    }

    async fn snapshot(&self) -> Option<Snapshot> {
        let files = self.inner.session.files();
        let recursive = self.inner.session.client().api_version().family() != ApiFamily::Legacy;
        let listing = files.list().recursive(recursive).await.ok()?;
        Some(listing.into_iter().filter(|f| !f.is_dir()).map(|f| (f.path(), (f.size, f.last_modified))).collect())
    }

    /// Runs Python code (after [`sanitize_code`]; code Python refused whole for a final top-level `return` or
    /// stray closing brackets at the end runs again [`crate::repair`]ed) and reports what happened: status, bounded output, the
    /// result, images, and the files that appeared or changed.
    ///
    /// # Errors
    /// [`ToolError::InvalidArguments`] for empty code or a pool that does not run Python; [`ToolError::Session`]
    /// when the call itself failed (a Python exception is not an error: it is a report with status `Failed`).
    pub async fn run_python(&self, code: &str) -> Result<RunOutcome, ToolError> {
        self.run_code(code, PoolKind::Python).await
    }

    /// Runs JavaScript code in a `NodeLTS` pool (after [`sanitize_javascript`]) and reports what happened, as
    /// [`CodeInterpreter::run_python`] does.
    ///
    /// # Errors
    /// [`ToolError::InvalidArguments`] for empty code or a pool that does not run JavaScript;
    /// [`ToolError::Session`] when the call itself failed.
    pub async fn run_javascript(&self, code: &str) -> Result<RunOutcome, ToolError> {
        self.run_code(code, PoolKind::JavaScript).await
    }

    async fn run_code(&self, code: &str, language: PoolKind) -> Result<RunOutcome, ToolError> {
        let main = Tool::main_for(self.inner.options.pool);
        if main != Tool::main_for(language) {
            return Err(ToolError::InvalidArguments(format!(
                "this session does not run {}; use {}.",
                Tool::main_for(language).name().trim_start_matches("run_"),
                main.name()
            )));
        }
        let code = if language == PoolKind::JavaScript { sanitize_javascript(code) } else { sanitize_code(code) };
        if code.trim().is_empty() {
            return Err(ToolError::InvalidArguments("`code` is empty: send the code to run.".into()));
        }
        let _busy = self.inner.busy.lock().await;
        let track = self.inner.options.track_files;
        let before = if track { self.snapshot().await } else { None };
        let mut execution = self.execute(&code).await?;
        // Python refused the whole cell for a slip small models make, so nothing ran: run it repaired, once.
        let python = language == PoolKind::Python;
        let repaired = if python && refused_for_a_slip(&execution) { repair(&code) } else { None };
        if let Some(repaired) = &repaired {
            execution = self.execute(&repaired.code).await?;
        }
        let changed = match (before, if track { self.snapshot().await } else { None }) {
            (Some(before), Some(after)) => diff(&before, &after),
            _ => Vec::new(),
        };
        for image in &execution.images {
            if let Ok(data) = image.decode() {
                self.push_artifact(Artifact::Image { format: image.format.clone(), data });
            }
        }
        let mut report = RunReport::new(&execution, self.inner.options.budget, changed);
        report.notes.extend(repaired.iter().flat_map(|r| r.notes.iter().map(|n| (*n).to_owned())));
        if let Some(module) = crate::report::missing_module(&execution.stderr) {
            report.notes.push(self.missing_module_note(module).await);
        }
        Ok(RunOutcome { report, images: execution.images.clone(), execution })
    }

    /// What to say when the code imports a module the session lacks: it cannot be installed, and what is there
    /// (the pool's packages, from its metadata, read once).
    async fn missing_module_note(&self, module: &str) -> String {
        let packages = self
            .inner
            .packages
            .get_or_init(|| async {
                match self.inner.session.client().metadata().await {
                    Ok(metadata) => metadata.preinstalled_packages.into_iter().map(|p| p.name).collect(),
                    Err(_) => Vec::new(),
                }
            })
            .await;
        let listed = if packages.is_empty() {
            String::new()
        } else {
            let mut names = packages.clone();
            names.sort_by_key(|n| n.to_ascii_lowercase());
            format!(" The installed packages are: {}.", names.join(", "))
        };
        format!(
            "The session has no module `{module}`, and packages cannot be installed here (no network).{listed} Use one \
             of those, or the standard library."
        )
    }

    /// Sends code to the session with the interpreter's timeout and output limit.
    async fn execute(&self, code: &str) -> Result<Execution, ToolError> {
        let mut request = self.inner.session.execute(code);
        if let Some(limit) = self.inner.options.execution_timeout {
            request = request.timeout(limit);
        }
        if self.inner.session.client().api_version().has_execution_options() {
            request = request.output_streams_max_length(self.inner.options.output_streams_max_length);
        }
        Ok(request.send().await?)
    }

    /// Runs a Bash command line in the session (in a `Shell` pool, or when [`InterpreterOptions::shell`] is
    /// on) and reports the exit code, bounded output and the files that appeared or changed.
    ///
    /// # Errors
    /// [`ToolError::InvalidArguments`] for an empty command or when the shell is off; [`ToolError::Session`]
    /// when the call failed (a non-zero exit code is not an error: it is in the report).
    pub async fn run_shell(&self, command: &str, stdin: Option<&str>) -> Result<ShellOutcome, ToolError> {
        let main = Tool::main_for(self.inner.options.pool);
        if !self.inner.options.shell && main != Tool::RunShell {
            return Err(ToolError::InvalidArguments(format!("run_shell is not enabled here; use {}.", main.name())));
        }
        if command.trim().is_empty() {
            return Err(ToolError::InvalidArguments("`command` is empty: send the command line to run.".into()));
        }
        let _busy = self.inner.busy.lock().await;
        let track = self.inner.options.track_files;
        let before = if track { self.snapshot().await } else { None };
        let mut request = self.inner.session.shell(command);
        if let Some(input) = stdin {
            request = request.stdin(input);
        }
        if let Some(limit) = self.inner.options.execution_timeout {
            request = request.timeout(limit);
        }
        if self.inner.session.client().api_version().has_execution_options() {
            request = request.output_streams_max_length(self.inner.options.output_streams_max_length);
        }
        let execution = request.send().await?;
        let changed = match (before, if track { self.snapshot().await } else { None }) {
            (Some(before), Some(after)) => diff(&before, &after),
            _ => Vec::new(),
        };
        let report = RunReport::for_shell(&execution, self.inner.options.budget, changed);
        Ok(ShellOutcome { report, execution })
    }

    /// Lists files under `path` (default `/mnt/data`).
    ///
    /// # Errors
    /// [`ToolError::InvalidArguments`] for a path outside `/mnt/data`; [`ToolError::NotFound`]; session errors.
    pub async fn list_files(&self, path: Option<&str>, recursive: bool) -> Result<Vec<FileEntry>, ToolError> {
        let mut listing = self.inner.session.files().list();
        if let Some(path) = path.filter(|p| !p.trim().is_empty()) {
            listing = listing.path(path.trim());
        }
        let recursive = recursive && self.inner.session.client().api_version().family() != ApiFamily::Legacy;
        let files = listing
            .recursive(recursive)
            .send()
            .await
            .map_err(|e| missing(e, path.unwrap_or("/mnt/data"), "directory"))?;
        Ok(files
            .into_iter()
            .map(|f| FileEntry {
                path: f.path(),
                kind: if f.is_dir() { "directory" } else { "file" },
                size: if f.is_dir() { None } else { f.size },
                modified: f.last_modified.and_then(|t| t.format(&time::format_description::well_known::Rfc3339).ok()),
            })
            .collect())
    }

    /// The beginning of a text file (at most `max_bytes`, default from the options).
    ///
    /// # Errors
    /// [`ToolError::NotFound`] when there is no such file; session errors.
    pub async fn read_file(&self, path: &str, max_bytes: Option<usize>) -> Result<String, ToolError> {
        let limit = max_bytes.unwrap_or(self.inner.options.read_file_bytes).clamp(1, 1 << 20);
        let download = self.inner.session.files().download(path).await.map_err(|e| missing(e, path, "file"))?;
        let total = download.content_length();
        let mut stream = Box::pin(download.into_stream());
        let mut head = Vec::with_capacity(limit.min(64 * 1024));
        while head.len() < limit {
            match stream.next().await {
                Some(chunk) => head.extend_from_slice(&chunk?),
                None => break,
            }
        }
        let complete = match total {
            Some(total) => total <= limit as u64,
            None => head.len() <= limit,
        };
        head.truncate(limit);
        if head.contains(&0) {
            let size = total.map(|t| format!("{t} bytes")).unwrap_or_else(|| "unknown size".into());
            return Ok(format!("{path} is a binary file ({size}); inspect it in code instead."));
        }
        let mut text = String::from_utf8_lossy(&head).into_owned();
        if !complete {
            let total = total.map(|t| format!(" of {t}")).unwrap_or_default();
            text.push_str(&format!("\n[showing the first {} bytes{total}; read more in code]", head.len()));
        }
        Ok(text)
    }

    /// Offers a file of the session to the user (the application shows a download); returns what to tell the model.
    ///
    /// # Errors
    /// [`ToolError::NotFound`] when there is no such file; session errors.
    pub async fn send_file_to_user(&self, path: &str, description: Option<String>) -> Result<String, ToolError> {
        let (text, artifact) = self.offer_file(path, description).await?;
        self.push_artifact(artifact);
        Ok(text)
    }

    /// What [`CodeInterpreter::send_file_to_user`] tells the model, and the artifact (not collected).
    pub(crate) async fn offer_file(
        &self,
        path: &str,
        description: Option<String>,
    ) -> Result<(String, Artifact), ToolError> {
        let file = self.inner.session.files().metadata(path).await.map_err(|e| missing(e, path, "file"))?;
        if file.is_dir() {
            return Err(ToolError::InvalidArguments(format!("{} is a directory; send a file.", file.path())));
        }
        let size = file.size.map(human_size).unwrap_or_else(|| "unknown size".into());
        let text = format!("{} ({size}) will be offered to the user for download.", file.path());
        Ok((text, Artifact::File { path: file.path(), size: file.size, description }))
    }

    /// Whether the session this interpreter uses is still the one it used before: `Expired` when the pool
    /// no longer knows it, or made a new one under the same identifier (its idle cooldown ran out: its
    /// variables and files are gone). Asking also counts as use of the session.
    ///
    /// # Errors
    /// Service errors other than "not found".
    pub async fn check_session(&self) -> Result<SessionCheck, ToolError> {
        let seen = match self.inner.session.info().await {
            Ok(info) => Some(info.created_at),
            Err(dynamic_sessions::Error::NotFound(_)) => None,
            Err(e) => return Err(e.into()),
        };
        let Ok(mut known) = self.inner.created.lock() else { return Ok(SessionCheck::Alive) };
        let check = match (&*known, &seen) {
            (None, None) => SessionCheck::NotStarted,
            (Some(_), None) => SessionCheck::Expired,
            (Some(before), Some(now)) if before != now => SessionCheck::Expired,
            _ => SessionCheck::Alive,
        };
        *known = seen;
        Ok(check)
    }

    /// What [`CodeInterpreter::check_session`] last saw: `None` before it looked or after a reset;
    /// `Some(created)` once it saw the session (with its creation time when the pool reports one). An
    /// application keeps this between processes and gives it back with
    /// [`CodeInterpreter::remember_session`], so an expired session is still noticed after a restart.
    pub fn session_seen(&self) -> Option<Option<OffsetDateTime>> {
        self.inner.created.lock().map(|known| *known).unwrap_or(None)
    }

    /// Restores what [`CodeInterpreter::session_seen`] returned (in another process, or after a restart).
    pub fn remember_session(&self, seen: Option<Option<OffsetDateTime>>) {
        if let Ok(mut known) = self.inner.created.lock() {
            *known = seen;
        }
    }

    /// Deletes the session: variables, imports and files are gone; the next run starts fresh.
    ///
    /// # Errors
    /// Session errors.
    pub async fn reset(&self) -> Result<String, ToolError> {
        let _busy = self.inner.busy.lock().await;
        self.inner.session.delete().await?;
        if let Ok(mut known) = self.inner.created.lock() {
            *known = None;
        }
        Ok("The session was reset: all variables, imports and files in /mnt/data are gone.".into())
    }
}

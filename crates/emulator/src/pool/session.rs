//! One session: its workspace, its files and its (lazily started) kernel.

use std::collections::{HashMap, VecDeque};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use serde_json::Value;
use time::OffsetDateTime;

use crate::kernel::{Kernel, KernelError, Outcome};
use crate::safefs::SessionFs;
use crate::sandbox::{Sandbox, Workspace};

/// How long a kernel may take to report ready (pre-imports included).
pub(crate) const KERNEL_STARTUP: Duration = Duration::from_secs(120);
/// Asynchronous execution records kept per session.
const KEPT_EXECUTIONS: usize = 256;

/// The neutral result of one execution, rendered per API family by the API layer.
#[derive(Debug, Clone)]
pub(crate) struct RunResult {
    pub(crate) succeeded: bool,
    pub(crate) stdout: String,
    pub(crate) stderr: String,
    /// The last expression's value, or the first image object.
    pub(crate) result: Value,
    pub(crate) duration_ms: f64,
    /// A service-style error for timeouts and kernel deaths.
    pub(crate) error: Option<(&'static str, String)>,
}

/// The state of an execution.
#[derive(Debug, Clone)]
pub(crate) enum ExecutionState {
    Running,
    Done(RunResult),
}

/// A recorded execution, for `GET executions/{id}`.
#[derive(Debug, Clone)]
pub(crate) struct ExecutionRecord {
    pub(crate) asynchronous: bool,
    pub(crate) state: ExecutionState,
}

/// A session of the pool.
#[derive(Debug)]
pub(crate) struct Session {
    pub(crate) identifier: String,
    pub(crate) created_at: OffsetDateTime,
    pub(crate) etag: String,
    last_access: Mutex<(Instant, OffsetDateTime)>,
    pub(crate) workspace: Workspace,
    pub(crate) fs: Arc<SessionFs>,
    kernel: tokio::sync::Mutex<Option<Kernel>>,
    executions: Mutex<(HashMap<String, ExecutionRecord>, VecDeque<String>)>,
}

impl Session {
    pub(crate) fn new(identifier: String, workspace: Workspace, kernel: Option<Kernel>) -> std::io::Result<Session> {
        let fs = Arc::new(SessionFs::open(&workspace.data, workspace.uid)?);
        let now = OffsetDateTime::now_utc();
        Ok(Session {
            identifier,
            created_at: now,
            etag: uuid::Uuid::new_v4().to_string(),
            last_access: Mutex::new((Instant::now(), now)),
            workspace,
            fs,
            kernel: tokio::sync::Mutex::new(kernel),
            executions: Mutex::new((HashMap::new(), VecDeque::new())),
        })
    }

    /// Resets the idle timer (every request does).
    pub(crate) fn touch(&self) {
        if let Ok(mut last) = self.last_access.lock() {
            *last = (Instant::now(), OffsetDateTime::now_utc());
        }
    }

    pub(crate) fn idle_for(&self) -> Duration {
        self.last_access.lock().map(|l| l.0.elapsed()).unwrap_or_default()
    }

    pub(crate) fn last_accessed_at(&self) -> OffsetDateTime {
        self.last_access.lock().map(|l| l.1).unwrap_or(self.created_at)
    }

    /// Whether an execution is running (the session is then never expired).
    pub(crate) fn is_busy(&self) -> bool {
        self.kernel.try_lock().is_err()
    }

    /// Runs code, one execution at a time. Timeouts interrupt the code; code that ignores the interrupt, or
    /// a kernel that dies, costs the session its state (the kernel is restarted; files are kept).
    pub(crate) async fn run(
        &self,
        sandbox: &Sandbox,
        code: &str,
        limit: Duration,
        grace: Duration,
    ) -> Result<RunResult, KernelError> {
        let mut guard = self.kernel.lock().await;
        self.touch();
        if guard.is_none() {
            *guard = Some(Kernel::start(sandbox, &self.workspace, KERNEL_STARTUP).await?);
        }
        let Some(kernel) = guard.as_mut() else {
            return Err(KernelError::Startup("no kernel".into()));
        };
        let seconds = limit.as_secs();
        let outcome = kernel.execute(code, limit, grace).await;
        let result = match outcome {
            Outcome::Finished(r) => RunResult {
                succeeded: r.status == "Success",
                stdout: r.stdout,
                stderr: r.stderr,
                result: r.result,
                duration_ms: r.duration_ms,
                error: None,
            },
            Outcome::Interrupted(r) => {
                let note = format!(
                    "Execution timed out after {seconds} seconds and was interrupted. The session state (variables, \
                     imports) is intact."
                );
                RunResult {
                    succeeded: false,
                    stdout: r.stdout,
                    stderr: format!("{}\n{note}\n", r.stderr.trim_end()),
                    result: Value::Null,
                    duration_ms: r.duration_ms,
                    error: Some(("ExecutionTimeout", note)),
                }
            }
            Outcome::Killed | Outcome::Died(_) => {
                let note = match &outcome {
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
                if let Some(dead) = guard.take() {
                    dead.shutdown().await;
                }
                match Kernel::start(sandbox, &self.workspace, KERNEL_STARTUP).await {
                    Ok(fresh) => *guard = Some(fresh),
                    Err(e) => {
                        tracing::warn!(session = %self.identifier, error = %e, "kernel restart failed; retrying on next use")
                    }
                }
                let code = if matches!(outcome, Outcome::Killed) { "ExecutionTimeout" } else { "KernelDied" };
                RunResult {
                    succeeded: false,
                    stdout: String::new(),
                    stderr: format!("{note}\n"),
                    result: Value::Null,
                    duration_ms: limit.as_secs_f64() * 1000.0,
                    error: Some((code, note)),
                }
            }
        };
        self.touch();
        Ok(result)
    }

    /// Records an execution's state for `GET executions/{id}`.
    pub(crate) fn record(&self, id: &str, asynchronous: bool, state: ExecutionState) {
        if let Ok(mut guard) = self.executions.lock() {
            let (map, order) = &mut *guard;
            if map.insert(id.to_owned(), ExecutionRecord { asynchronous, state }).is_none() {
                order.push_back(id.to_owned());
                while order.len() > KEPT_EXECUTIONS {
                    if let Some(old) = order.pop_front() {
                        map.remove(&old);
                    }
                }
            }
        }
    }

    pub(crate) fn execution(&self, id: &str) -> Option<ExecutionRecord> {
        self.executions.lock().ok().and_then(|g| g.0.get(id).cloned())
    }

    /// Stops the kernel (waiting for a running execution to finish first).
    pub(crate) async fn stop_kernel(&self) {
        let kernel = self.kernel.lock().await.take();
        if let Some(kernel) = kernel {
            kernel.shutdown().await;
        }
    }
}

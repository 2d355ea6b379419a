//! One session: its workspace, its files and its (lazily started) kernel.

use std::collections::{HashMap, VecDeque};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use time::OffsetDateTime;

use super::work::{RunResult, Work, result_of};
use crate::kernel::{Flavor, Kernel, KernelError, Stop};
use crate::safefs::SessionFs;
use crate::sandbox::{Sandbox, Workspace};

/// How long a kernel may take to report ready (pre-imports included).
pub(crate) const KERNEL_STARTUP: Duration = Duration::from_secs(120);
/// Execution records kept per session, at most ...
const KEPT_EXECUTIONS: usize = 256;
/// ... and at most this many bytes of them (outputs, results, images).
const KEPT_EXECUTION_BYTES: usize = 32 << 20;
/// Asynchronous executions one session may have queued or running; more get 429.
pub(crate) const MAX_PENDING_ASYNC: usize = 8;

/// The state of an execution.
#[derive(Debug, Clone)]
pub(crate) enum ExecutionState {
    Running,
    Done(Box<RunResult>),
}

/// How a recorded execution was asked for, so that `GET executions/{id}` answers in the same shape.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct RecordMeta {
    pub(crate) asynchronous: bool,
    /// Whether the answer names an `executionType` (not for `execCommandAndArgs`, as in the service's example).
    pub(crate) execution_type: bool,
    /// Whether the result is rendered in Jupyter's format.
    pub(crate) jupyter: bool,
}

/// A recorded execution, for `GET executions/{id}`.
#[derive(Debug, Clone)]
pub(crate) struct ExecutionRecord {
    pub(crate) meta: RecordMeta,
    pub(crate) state: ExecutionState,
}

/// The kernels of a session: the default one, and the empty one `useEmptyKernel` asks for.
#[derive(Debug, Default)]
struct Kernels {
    preloaded: Option<Kernel>,
    empty: Option<Kernel>,
    /// Set when the session is deleted: a request that was already waiting must not start a new kernel.
    closed: bool,
}

impl Kernels {
    fn slot(&mut self, flavor: Flavor) -> &mut Option<Kernel> {
        match flavor {
            Flavor::Preloaded => &mut self.preloaded,
            Flavor::Empty => &mut self.empty,
        }
    }
}

/// Recorded executions, oldest first, bounded in number and bytes.
#[derive(Debug, Default)]
struct Records {
    by_id: HashMap<String, ExecutionRecord>,
    order: VecDeque<(String, usize)>,
    bytes: usize,
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
    /// One execution at a time, whichever kernel runs it.
    kernels: tokio::sync::Mutex<Kernels>,
    executions: Mutex<Records>,
    /// Asynchronous executions queued or running.
    pub(crate) pending: std::sync::atomic::AtomicUsize,
}

impl Session {
    pub(crate) fn new(identifier: String, workspace: Workspace, kernel: Option<Kernel>) -> std::io::Result<Session> {
        let fs = Arc::new(SessionFs::for_workspace(&workspace)?);
        let now = OffsetDateTime::now_utc();
        Ok(Session {
            identifier,
            created_at: now,
            etag: uuid::Uuid::new_v4().to_string(),
            last_access: Mutex::new((Instant::now(), now)),
            workspace,
            fs,
            kernels: tokio::sync::Mutex::new(Kernels { preloaded: kernel, empty: None, closed: false }),
            executions: Mutex::new(Records::default()),
            pending: std::sync::atomic::AtomicUsize::new(0),
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
        self.kernels.try_lock().is_err()
    }

    /// Runs work in the `flavor` kernel, one execution at a time. Timeouts interrupt the code; code that
    /// ignores the interrupt, or a kernel that dies, costs that kernel its state (it is restarted; files are
    /// kept).
    pub(crate) async fn run(
        &self,
        sandbox: &Sandbox,
        work: &Work,
        flavor: Flavor,
        limit: Duration,
        grace: Duration,
        stop: &mut Stop,
    ) -> Result<RunResult, KernelError> {
        let mut kernels = self.kernels.lock().await;
        if kernels.closed {
            return Err(KernelError::Startup("the session was deleted while this request waited".into()));
        }
        self.touch();
        let slot = kernels.slot(flavor);
        if slot.is_none() {
            *slot = Some(Kernel::start(sandbox, &self.workspace, flavor, KERNEL_STARTUP).await?);
        }
        let Some(kernel) = slot.as_mut() else {
            return Err(KernelError::Startup("no kernel".into()));
        };
        let outcome = kernel.execute(work.message(), limit, grace, stop).await;
        let result = match result_of(outcome, limit.as_secs()) {
            Ok(result) => result,
            Err(lost) => {
                if let Some(dead) = slot.take() {
                    dead.shutdown().await;
                }
                match Kernel::start(sandbox, &self.workspace, flavor, KERNEL_STARTUP).await {
                    Ok(fresh) => *slot = Some(fresh),
                    Err(e) => {
                        tracing::warn!(session = %self.identifier, error = %e, "kernel restart failed; retrying on next use")
                    }
                }
                let code = if lost.killed { "ExecutionTimeout" } else { "KernelDied" };
                RunResult::failure(
                    String::new(),
                    format!("{}\n", lost.note),
                    limit.as_secs_f64() * 1000.0,
                    code,
                    lost.note,
                )
            }
        };
        self.touch();
        Ok(RunResult { shell: work.is_shell(), ..result })
    }

    /// Records an execution's state for `GET executions/{id}`; the oldest records go when there are more than
    /// 256 or they hold more than 32 MiB.
    pub(crate) fn record(&self, id: &str, meta: RecordMeta, state: ExecutionState) {
        let weight = match &state {
            ExecutionState::Done(r) => r.weight(),
            ExecutionState::Running => 256,
        };
        let Ok(mut records) = self.executions.lock() else { return };
        if records.by_id.insert(id.to_owned(), ExecutionRecord { meta, state }).is_some() {
            if let Some(entry) = records.order.iter_mut().find(|(rid, _)| rid == id) {
                let previous = entry.1;
                entry.1 = weight;
                records.bytes = records.bytes.saturating_sub(previous) + weight;
            }
        } else {
            records.order.push_back((id.to_owned(), weight));
            records.bytes += weight;
        }
        while records.order.len() > KEPT_EXECUTIONS || (records.bytes > KEPT_EXECUTION_BYTES && records.order.len() > 1)
        {
            let Some((old, bytes)) = records.order.pop_front() else { break };
            records.by_id.remove(&old);
            records.bytes = records.bytes.saturating_sub(bytes);
        }
    }

    pub(crate) fn execution(&self, id: &str) -> Option<ExecutionRecord> {
        self.executions.lock().ok().and_then(|g| g.by_id.get(id).cloned())
    }

    /// Stops the kernels (waiting for a running execution to finish first).
    pub(crate) async fn stop_kernel(&self) {
        let kernels =
            std::mem::replace(&mut *self.kernels.lock().await, Kernels { closed: true, ..Kernels::default() });
        for kernel in [kernels.preloaded, kernels.empty].into_iter().flatten() {
            kernel.shutdown().await;
        }
    }
}

//! One session: its workspace, its files, its (lazily started) kernels and its recorded executions.

use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use time::OffsetDateTime;

use super::records::{ExecutionRecord, ExecutionState, RecordMeta, Records};
use crate::kernel::protocol::{Language, RunResult, Work};
use crate::kernel::{Flavor, Kernel, KernelError, Stop};
use crate::safefs::SessionFs;
use crate::sandbox::{Sandbox, Workspace};

/// How long a kernel may take to report ready (pre-imports included).
pub(crate) const KERNEL_STARTUP: Duration = Duration::from_secs(120);
/// Asynchronous executions one session may have queued or running; more get 429.
pub(crate) const MAX_PENDING_ASYNC: usize = 8;

/// The kernels of a session: the default one, and the empty one `useEmptyKernel` asks for.
#[derive(Debug, Default)]
struct Kernels {
    preloaded: Option<Kernel>,
    empty: Option<Kernel>,
    /// Set when the session is deleted: a request that was already waiting must not start a new kernel.
    closed: bool,
}

impl Kernels {
    /// The kernels of a new session: `kernel` (a ready one) in its slot.
    fn with(kernel: Option<Kernel>) -> Kernels {
        let mut kernels = Kernels { preloaded: None, empty: None, closed: false };
        if let Some(kernel) = kernel {
            let flavor = kernel.flavor();
            *kernels.slot(flavor) = Some(kernel);
        }
        kernels
    }

    fn slot(&mut self, flavor: Flavor) -> &mut Option<Kernel> {
        match flavor {
            Flavor::Preloaded => &mut self.preloaded,
            Flavor::Empty => &mut self.empty,
        }
    }
}

/// What one execution needs besides its work: which kernel, and how long it may run.
#[derive(Debug, Clone, Copy)]
pub(crate) struct RunSpec {
    pub(crate) language: Language,
    pub(crate) flavor: Flavor,
    /// The execution's time limit.
    pub(crate) limit: Duration,
    /// How long an interrupted execution may take to stop before its kernel is killed.
    pub(crate) grace: Duration,
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
    pending: AtomicUsize,
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
            kernels: tokio::sync::Mutex::new(Kernels::with(kernel)),
            executions: Mutex::new(Records::default()),
            pending: AtomicUsize::new(0),
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

    /// Runs `work` in the kernel `spec` names, one execution at a time. Timeouts interrupt the code; code that
    /// ignores the interrupt, or a kernel that dies, costs that kernel its state (it is restarted; files are
    /// kept).
    pub(crate) async fn run(
        &self,
        sandbox: &Sandbox,
        work: &Work,
        spec: RunSpec,
        stop: &mut Stop,
    ) -> Result<RunResult, KernelError> {
        let mut kernels = self.kernels.lock().await;
        if kernels.closed {
            return Err(KernelError::Startup("the session was deleted while this request waited".into()));
        }
        self.touch();
        let slot = kernels.slot(spec.flavor);
        if slot.is_none() {
            *slot = Some(Kernel::start(sandbox, &self.workspace, spec.language, spec.flavor, KERNEL_STARTUP).await?);
        }
        let Some(kernel) = slot.as_mut() else {
            return Err(KernelError::Startup("no kernel".into()));
        };
        let outcome = kernel.execute(work, spec.limit, spec.grace, stop).await;
        let result = match outcome.into_result(work, spec.limit.as_secs()) {
            Ok(result) => result,
            Err(lost) => {
                if let Some(dead) = slot.take() {
                    dead.shutdown().await;
                }
                match Kernel::start(sandbox, &self.workspace, spec.language, spec.flavor, KERNEL_STARTUP).await {
                    Ok(fresh) => *slot = Some(fresh),
                    Err(e) => {
                        tracing::warn!(session = %self.identifier, error = %e, "kernel restart failed; retrying on next use")
                    }
                }
                let code = if lost.killed { "ExecutionTimeout" } else { "KernelDied" };
                let mut failure = RunResult::failure(
                    String::new(),
                    format!("{}\n", lost.note),
                    spec.limit.as_secs_f64() * 1000.0,
                    code,
                    lost.note,
                );
                failure.shell = work.is_shell();
                failure
            }
        };
        self.touch();
        Ok(result)
    }

    /// Counts an asynchronous execution in, unless `MAX_PENDING_ASYNC` are queued or running already.
    pub(crate) fn admit_async(&self) -> bool {
        if self.pending.fetch_add(1, Ordering::AcqRel) >= MAX_PENDING_ASYNC {
            self.pending.fetch_sub(1, Ordering::AcqRel);
            return false;
        }
        true
    }

    /// Counts a finished asynchronous execution out.
    pub(crate) fn finish_async(&self) {
        self.pending.fetch_sub(1, Ordering::AcqRel);
    }

    /// Records an execution's state for `GET executions/{id}`.
    pub(crate) fn record(&self, id: &str, meta: RecordMeta, state: ExecutionState) {
        if let Ok(mut records) = self.executions.lock() {
            records.record(id, meta, state);
        }
    }

    /// A recorded execution.
    pub(crate) fn execution(&self, id: &str) -> Option<ExecutionRecord> {
        self.executions.lock().ok().and_then(|records| records.get(id))
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

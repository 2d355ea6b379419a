//! The pool: sessions by identifier, a maximum, idle expiry, and ready sandboxes for new identifiers.

mod execution;
mod kind;
mod pools;
mod records;
mod session;

use std::collections::{HashMap, VecDeque};
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use tokio::sync::Notify;
use tokio::task::JoinHandle;

pub(crate) use execution::{Job, TooManyPending};
pub(crate) use kind::PoolKind;
pub(crate) use pools::Pools;
pub(crate) use records::{ExecutionState, RecordMeta};
pub(crate) use session::{MAX_PENDING_ASYNC, Session};

use crate::config::EmulatorConfig;
use crate::kernel::{Flavor, Kernel};
use crate::sandbox::{Sandbox, Workspace};

/// Why a session could not be had.
#[derive(Debug, thiserror::Error)]
pub(crate) enum PoolError {
    #[error("the session pool is full ({0} sessions); wait for idle sessions to expire or delete one")]
    Full(usize),
    #[error("the pool is shutting down")]
    Closing,
    #[error("cannot create the session: {0}")]
    Internal(String),
}

/// Where a freshly made workspace ended up.
enum Placement {
    Inserted(Arc<Session>),
    /// Another request created the session meanwhile; the workspace is not needed.
    Existing(Arc<Session>, Workspace),
    /// The pool filled up meanwhile; the workspace is not needed.
    Full(Workspace),
}

/// A ready sandbox: a workspace with a running kernel.
#[derive(Debug)]
struct Prepared {
    workspace: Workspace,
    kernel: Kernel,
}

#[derive(Debug)]
struct Inner {
    config: EmulatorConfig,
    kind: PoolKind,
    sandbox: Arc<Sandbox>,
    /// `std` mutexes: held for map and queue operations only, never across `.await`.
    sessions: Mutex<HashMap<String, Arc<Session>>>,
    ready: Mutex<VecDeque<Prepared>>,
    preparing: AtomicUsize,
    wake: Notify,
    /// Wakes the background tasks at shutdown.
    closed: Notify,
    closing: AtomicBool,
    tasks: Mutex<Vec<JoinHandle<()>>>,
}

/// The emulator's session pool. Cheap to clone.
#[derive(Debug, Clone)]
pub(crate) struct SessionPool {
    inner: Arc<Inner>,
}

impl SessionPool {
    /// Creates the pool and starts its background tasks (idle expiry, ready-pool refill).
    pub(crate) fn start(config: EmulatorConfig, kind: PoolKind, sandbox: Arc<Sandbox>) -> SessionPool {
        let pool = SessionPool {
            inner: Arc::new(Inner {
                config,
                kind,
                sandbox,
                sessions: Mutex::new(HashMap::new()),
                ready: Mutex::new(VecDeque::new()),
                preparing: AtomicUsize::new(0),
                wake: Notify::new(),
                closed: Notify::new(),
                closing: AtomicBool::new(false),
                tasks: Mutex::new(Vec::new()),
            }),
        };
        let reaper = tokio::spawn(pool.clone().reap_idle());
        let refill = tokio::spawn(pool.clone().refill_ready());
        if let Ok(mut tasks) = pool.inner.tasks.lock() {
            tasks.extend([reaper, refill]);
        }
        pool
    }

    pub(crate) fn sandbox(&self) -> &Sandbox {
        &self.inner.sandbox
    }

    pub(crate) fn config(&self) -> &EmulatorConfig {
        &self.inner.config
    }

    /// What the pool's sessions run.
    pub(crate) fn kind(&self) -> &PoolKind {
        &self.inner.kind
    }

    /// Sandboxes kept started for new identifiers: none while the pool's kernels cannot start.
    fn ready_target(&self) -> usize {
        if self.inner.kind.unavailable.is_some() { 0 } else { self.inner.config.ready_sessions }
    }

    /// Whether a session with `identifier` exists (without touching it).
    pub(crate) fn contains(&self, identifier: &str) -> bool {
        self.inner.sessions.lock().is_ok_and(|sessions| sessions.contains_key(identifier))
    }

    /// An existing session (touched), or `None`.
    pub(crate) fn get(&self, identifier: &str) -> Option<Arc<Session>> {
        let session = self.inner.sessions.lock().ok()?.get(identifier).cloned()?;
        session.touch();
        Some(session)
    }

    /// The session for `identifier`, created on first use from a ready sandbox when one is available. A new
    /// workspace (when none is ready) is made on a blocking thread, outside the lock.
    pub(crate) async fn acquire(&self, identifier: &str) -> Result<Arc<Session>, PoolError> {
        if self.inner.closing.load(Ordering::Acquire) {
            return Err(PoolError::Closing);
        }
        {
            let mut sessions = self.lock_sessions()?;
            if let Some(session) = sessions.get(identifier) {
                session.touch();
                return Ok(session.clone());
            }
            if sessions.len() >= self.inner.config.max_sessions {
                return Err(PoolError::Full(sessions.len()));
            }
            let prepared = self.inner.ready.lock().ok().and_then(|mut r| r.pop_front());
            if let Some(p) = prepared {
                let session = self.insert(&mut sessions, identifier, p.workspace, Some(p.kernel))?;
                self.inner.wake.notify_one();
                return Ok(session);
            }
        }
        let sandbox = self.inner.sandbox.clone();
        let workspace = tokio::task::spawn_blocking(move || sandbox.create_workspace())
            .await
            .map_err(|e| PoolError::Internal(e.to_string()))?
            .map_err(|e| PoolError::Internal(e.to_string()))?;
        // Another request may have created the session, or filled the pool, meanwhile. (The guard lives in
        // this block only: it must not be held across an `.await`.)
        let placement = {
            let mut sessions = self.lock_sessions()?;
            match sessions.get(identifier).cloned() {
                Some(existing) => Placement::Existing(existing, workspace),
                None if sessions.len() >= self.inner.config.max_sessions => Placement::Full(workspace),
                None => Placement::Inserted(self.insert(&mut sessions, identifier, workspace, None)?),
            }
        };
        let (result, unused) = match placement {
            Placement::Inserted(session) => {
                self.inner.wake.notify_one();
                return Ok(session);
            }
            Placement::Existing(session, workspace) => (Ok(session), workspace),
            Placement::Full(workspace) => (Err(PoolError::Full(self.inner.config.max_sessions)), workspace),
        };
        let sandbox = self.inner.sandbox.clone();
        let _ = tokio::task::spawn_blocking(move || sandbox.destroy_workspace(&unused)).await;
        result
    }

    fn lock_sessions(&self) -> Result<std::sync::MutexGuard<'_, HashMap<String, Arc<Session>>>, PoolError> {
        self.inner.sessions.lock().map_err(|_| PoolError::Internal("lock poisoned".into()))
    }

    fn insert(
        &self,
        sessions: &mut HashMap<String, Arc<Session>>,
        identifier: &str,
        workspace: Workspace,
        kernel: Option<Kernel>,
    ) -> Result<Arc<Session>, PoolError> {
        let session = Arc::new(
            Session::new(identifier.to_owned(), workspace, kernel)
                .map_err(|e| PoolError::Internal(format!("cannot open the session directory: {e}")))?,
        );
        sessions.insert(identifier.to_owned(), session.clone());
        tracing::info!(session = %identifier, "session allocated");
        Ok(session)
    }

    /// All sessions.
    pub(crate) fn list(&self) -> Vec<Arc<Session>> {
        let mut all: Vec<_> = self.inner.sessions.lock().map(|m| m.values().cloned().collect()).unwrap_or_default();
        all.sort_by(|a, b| a.created_at.cmp(&b.created_at).then_with(|| a.identifier.cmp(&b.identifier)));
        all
    }

    /// (sessions, ready sandboxes).
    pub(crate) fn counts(&self) -> (usize, usize) {
        let sessions = self.inner.sessions.lock().map(|m| m.len()).unwrap_or(0);
        let ready = self.inner.ready.lock().map(|r| r.len()).unwrap_or(0);
        (sessions, ready)
    }

    /// Deletes a session and its files; false when there was none.
    pub(crate) async fn remove(&self, identifier: &str) -> bool {
        let removed = self.inner.sessions.lock().ok().and_then(|mut m| m.remove(identifier));
        match removed {
            Some(session) => {
                self.destroy(session).await;
                self.inner.wake.notify_one();
                true
            }
            None => false,
        }
    }

    async fn destroy(&self, session: Arc<Session>) {
        tracing::info!(session = %session.identifier, "session destroyed");
        session.stop_kernel().await;
        let sandbox = self.inner.sandbox.clone();
        let _ = tokio::task::spawn_blocking(move || sandbox.destroy_workspace(&session.workspace)).await;
    }

    /// Destroys sessions idle for longer than the cooldown (never one that is running code).
    async fn reap_idle(self) {
        let cooldown = self.inner.config.cooldown;
        let tick = (cooldown / 4).clamp(Duration::from_millis(100), Duration::from_secs(5));
        loop {
            tokio::select! {
                _ = tokio::time::sleep(tick) => {}
                _ = self.inner.closed.notified() => {}
            }
            if self.inner.closing.load(Ordering::Acquire) {
                return;
            }
            let expired: Vec<Arc<Session>> = match self.inner.sessions.lock() {
                Ok(mut map) => {
                    let ids: Vec<String> = map
                        .iter()
                        .filter(|(_, s)| s.idle_for() >= cooldown && !s.is_busy())
                        .map(|(id, _)| id.clone())
                        .collect();
                    ids.iter().filter_map(|id| map.remove(id)).collect()
                }
                Err(_) => Vec::new(),
            };
            for session in expired {
                tracing::info!(session = %session.identifier, "session expired after its cooldown");
                self.destroy(session).await;
                self.inner.wake.notify_one();
            }
        }
    }

    /// Keeps `ready_sessions` sandboxes started, within the pool's capacity.
    async fn refill_ready(self) {
        let target = self.ready_target();
        let capacity = self.inner.config.max_sessions + target;
        loop {
            if self.inner.closing.load(Ordering::Acquire) {
                return;
            }
            let (sessions, ready) = self.counts();
            let preparing = self.inner.preparing.load(Ordering::Acquire);
            if ready + preparing < target && sessions + ready + preparing < capacity {
                self.inner.preparing.fetch_add(1, Ordering::AcqRel);
                let result = self.prepare().await;
                self.inner.preparing.fetch_sub(1, Ordering::AcqRel);
                match result {
                    Ok(prepared) if !self.inner.closing.load(Ordering::Acquire) => {
                        if let Ok(mut ready) = self.inner.ready.lock() {
                            ready.push_back(prepared);
                        }
                    }
                    Ok(prepared) => self.discard(prepared).await,
                    Err(e) => {
                        tracing::warn!(error = %e, "could not pre-start a sandbox; retrying in 5 s");
                        tokio::time::sleep(Duration::from_secs(5)).await;
                    }
                }
                continue;
            }
            tokio::select! {
                _ = self.inner.wake.notified() => {}
                _ = self.inner.closed.notified() => {}
                _ = tokio::time::sleep(Duration::from_secs(1)) => {}
            }
        }
    }

    async fn prepare(&self) -> Result<Prepared, String> {
        let sandbox = self.inner.sandbox.clone();
        let workspace = tokio::task::spawn_blocking(move || sandbox.create_workspace())
            .await
            .map_err(|e| e.to_string())?
            .map_err(|e| e.to_string())?;
        let (language, flavor) = self.inner.kind.kernel(Flavor::Preloaded);
        match Kernel::start(&self.inner.sandbox, &workspace, language, flavor, session::KERNEL_STARTUP).await {
            Ok(kernel) => Ok(Prepared { workspace, kernel }),
            Err(e) => {
                let sandbox = self.inner.sandbox.clone();
                let _ = tokio::task::spawn_blocking(move || sandbox.destroy_workspace(&workspace)).await;
                Err(e.to_string())
            }
        }
    }

    async fn discard(&self, prepared: Prepared) {
        prepared.kernel.shutdown().await;
        let sandbox = self.inner.sandbox.clone();
        let _ = tokio::task::spawn_blocking(move || sandbox.destroy_workspace(&prepared.workspace)).await;
    }

    /// Stops every session and ready sandbox of the pool: no kernel, cgroup or session directory is left behind
    /// (the sandbox itself is stopped by [`Pools::shutdown`], after every pool).
    pub(crate) async fn shutdown(&self) {
        self.inner.closing.store(true, Ordering::Release);
        self.inner.closed.notify_waiters();
        // The tasks finish what they are doing (a sandbox being prepared is then discarded) and return.
        let tasks: Vec<JoinHandle<()>> = self.inner.tasks.lock().map(|mut t| t.drain(..).collect()).unwrap_or_default();
        for mut task in tasks {
            if tokio::time::timeout(Duration::from_secs(150), &mut task).await.is_err() {
                task.abort();
            }
        }
        // Sessions and ready sandboxes are torn down side by side: one at a time took a third of a second each.
        let sessions: Vec<Arc<Session>> =
            self.inner.sessions.lock().map(|mut m| m.drain().map(|(_, s)| s).collect()).unwrap_or_default();
        futures_util::future::join_all(sessions.into_iter().map(|session| self.destroy(session))).await;
        let ready: Vec<Prepared> = self.inner.ready.lock().map(|mut r| r.drain(..).collect()).unwrap_or_default();
        futures_util::future::join_all(ready.into_iter().map(|prepared| self.discard(prepared))).await;
    }
}

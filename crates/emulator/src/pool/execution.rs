//! Executions as the API asks for them: run while the client waits (and interrupted if it goes away), or
//! submitted to run in the background and polled, with the per-session bound on those.

use std::sync::Arc;

use super::SessionPool;
use super::records::{ExecutionState, RecordMeta};
use super::session::{RunSpec, Session};
use crate::kernel::protocol::{RunResult, Work};
use crate::kernel::{Flavor, KernelError, Stop};

/// One execution: the work, which kernel runs it, its time limit, and how much of each output stream is
/// returned.
#[derive(Debug, Clone)]
pub(crate) struct Job {
    pub(crate) work: Work,
    pub(crate) flavor: Flavor,
    pub(crate) limit: std::time::Duration,
    /// Each stream is cut at this many characters (`outputStreamsMaxLength`), silently, as the service does.
    pub(crate) stream_limit: Option<usize>,
}

/// Why a background execution was not started.
#[derive(Debug)]
pub(crate) struct TooManyPending;

impl SessionPool {
    async fn execute(&self, session: &Session, job: &Job, stop: &mut Stop) -> Result<RunResult, KernelError> {
        let (language, flavor) = self.kind().kernel(job.flavor);
        let spec = RunSpec { language, flavor, limit: job.limit, grace: self.config().interrupt_grace };
        let mut result = session.run(self.sandbox(), &job.work, spec, stop).await?;
        if let Some(limit) = job.stream_limit {
            result.limit_streams(limit);
        }
        Ok(result)
    }

    /// Runs `job` in `session` while the caller waits. The run is a task of its own: if the caller goes
    /// away (its future is dropped, as when an HTTP client disconnects), the code is interrupted as if its
    /// time limit had run out, and the kernel keeps its state. (A client that stops waiting, like a chat
    /// whose user pressed Stop, should not leave code running.)
    pub(crate) async fn run(&self, session: &Arc<Session>, job: Job) -> Result<RunResult, KernelError> {
        struct InterruptOnDrop(Option<tokio::sync::oneshot::Sender<()>>);
        impl Drop for InterruptOnDrop {
            fn drop(&mut self) {
                if let Some(caller_gone) = self.0.take() {
                    let _ = caller_gone.send(());
                }
            }
        }
        let (sender, receiver) = tokio::sync::oneshot::channel();
        let mut guard = InterruptOnDrop(Some(sender));
        let (pool, session) = (self.clone(), Arc::clone(session));
        let task = tokio::spawn(async move { pool.execute(&session, &job, &mut Stop::on(receiver)).await });
        let result = task.await.map_err(|e| KernelError::Startup(format!("the execution task failed: {e}")))?;
        // Finished: dropping the sender without sending stops nothing.
        guard.0 = None;
        result
    }

    /// Starts `job` in `session` in the background, recorded under `id` (`Running`, then its result), unless
    /// the session already has `MAX_PENDING_ASYNC` background executions queued or running.
    pub(crate) fn submit(
        &self,
        session: &Arc<Session>,
        id: String,
        meta: RecordMeta,
        job: Job,
    ) -> Result<(), TooManyPending> {
        if !session.admit_async() {
            return Err(TooManyPending);
        }
        session.record(&id, meta, ExecutionState::Running);
        let (pool, session) = (self.clone(), Arc::clone(session));
        tokio::spawn(async move {
            let done = match pool.execute(&session, &job, &mut Stop::never()).await {
                Ok(result) => result,
                Err(e) => {
                    tracing::error!(cause = %e, "the session's kernel could not start");
                    let message = "the session's kernel could not start; see the emulator log".to_owned();
                    RunResult::failure(String::new(), message.clone(), 0.0, "InternalServerError", message)
                }
            };
            session.record(&id, meta, ExecutionState::Done(Box::new(done)));
            session.finish_async();
        });
        Ok(())
    }
}

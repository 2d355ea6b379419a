//! A session's kernel: one long-lived sandboxed process that runs code like a notebook, spoken to over its
//! pipes with the protocol of [`protocol`].
//!
//! The kernels' own sources (`python/kernel.py`; `python/template.py`, the namespaces tier's template;
//! `node/kernel.js` and `python/launch.py`, which starts it) are embedded in the binary and written to
//! `<data>/kernel` at start. Every line a kernel writes is treated
//! as untrusted: lines are capped, and an unparseable line or EOF means the kernel is gone.

pub(crate) mod protocol;

use std::collections::VecDeque;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use futures_util::StreamExt;
use tokio::io::{AsyncBufReadExt, AsyncWriteExt, BufReader};
use tokio::net::unix::pipe;
use tokio_util::codec::{FramedRead, LinesCodec};

use crate::sandbox::{Cgroup, KernelProcess, Sandbox, SandboxError, Workspace};
use protocol::{KernelResult, Language, Ready, Reply, Request, ResultKind, RunResult, Work};

/// The Python kernel's source.
pub(crate) const KERNEL_SOURCE: &str = include_str!("python/kernel.py");
/// The kernels' files, by name, written to `<data>/kernel` at start: the Python kernel, the namespaces tier's
/// session template, the JavaScript kernel and what starts it.
pub(crate) const SOURCES: [(&str, &str); 4] = [
    ("kernel.py", KERNEL_SOURCE),
    ("template.py", include_str!("python/template.py")),
    (JAVASCRIPT_KERNEL, include_str!("node/kernel.js")),
    (JAVASCRIPT_LAUNCHER, include_str!("python/launch.py")),
];
/// `ds-init` (`init.c`), built with the crate: what a namespace-tier session keeps running besides its kernel
/// (see `python/template.py`). Empty when the build had no C compiler: the template then keeps Python processes.
pub(crate) const INIT: &[u8] = include_bytes!(concat!(env!("OUT_DIR"), "/ds-init"));
/// Its file name in the kernel directory.
pub(crate) const INIT_NAME: &str = "ds-init";
/// The JavaScript kernel's file name in the kernel directory.
pub(crate) const JAVASCRIPT_KERNEL: &str = "kernel.js";
/// The file that starts the JavaScript kernel with its descriptors (see `python/launch.py`).
pub(crate) const JAVASCRIPT_LAUNCHER: &str = "launch.py";

/// The longest protocol line accepted from a kernel (images are base64 inside result lines).
const MAX_LINE: usize = 64 << 20;
/// Lines of a kernel's own stderr kept, to say why it failed.
const STDERR_TAIL: usize = 20;

/// Which kernel of a session runs the code.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub(crate) enum Flavor {
    /// The default kernel, with the runtime's preloaded modules.
    Preloaded,
    /// `useEmptyKernel`: a kernel without preloaded modules, with its own state.
    Empty,
}

/// Kernel start-up failures.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum KernelError {
    /// The sandbox could not start it.
    #[error(transparent)]
    Sandbox(#[from] SandboxError),
    /// It started but never reported ready.
    #[error("the kernel did not start: {0}")]
    Startup(String),
}

/// How an execution ended.
#[derive(Debug)]
pub(crate) enum Outcome {
    /// The code finished (successfully or with an exception).
    Finished(KernelResult),
    /// The time limit passed and the interrupt stopped the code; the kernel's state is intact.
    Interrupted(KernelResult),
    /// The time limit passed and the code ignored the interrupt; the kernel was killed.
    Killed,
    /// The kernel died (for example killed by the memory cgroup), with what it last said.
    Died(String),
}

/// A run that cost the kernel its life: it ignored the interrupt (`killed`) or died; `note` says so in words.
#[derive(Debug)]
pub(crate) struct Lost {
    pub(crate) killed: bool,
    pub(crate) note: String,
}

impl Outcome {
    /// What became of `work`, with a time limit of `seconds`, as the session reports it.
    pub(crate) fn into_result(self, work: &Work, seconds: u64) -> Result<RunResult, Lost> {
        match self {
            Outcome::Finished(r) => Ok(RunResult::from_kernel(r, work)),
            Outcome::Interrupted(r) => {
                let note = format!(
                    "Execution timed out after {seconds} seconds and was interrupted. The session state \
                     (variables, imports) is intact."
                );
                let mut result = RunResult::from_kernel(r, work);
                result.succeeded = false;
                result.stderr = format!("{}\n{note}\n", result.stderr.trim_end());
                result.value = serde_json::Value::Null;
                result.kind = ResultKind::None;
                result.repr = None;
                result.error = Some(("ExecutionTimeout", note));
                Ok(result)
            }
            Outcome::Killed => Err(Lost {
                killed: true,
                note: format!(
                    "Execution timed out after {seconds} seconds and did not stop when interrupted. The kernel \
                     was restarted: the session state (variables, imports) was lost. Files in /mnt/data were kept."
                ),
            }),
            Outcome::Died(why) => Err(Lost {
                killed: false,
                note: format!(
                    "The kernel died during the execution ({why}); for example the code exceeded the session's \
                     memory limit. The kernel was restarted: the session state (variables, imports) was lost. \
                     Files in /mnt/data were kept."
                ),
            }),
        }
    }
}

/// A running kernel.
#[derive(Debug)]
pub(crate) struct Kernel {
    process: Option<KernelProcess>,
    stdin: pipe::Sender,
    stdout: FramedRead<pipe::Receiver, LinesCodec>,
    cgroup: Option<Cgroup>,
    stderr_tail: Arc<Mutex<VecDeque<String>>>,
    flavor: Flavor,
}

impl Kernel {
    /// Which kernel of its session this is.
    pub(crate) fn flavor(&self) -> Flavor {
        self.flavor
    }

    /// Starts a `language` kernel of `flavor` for `workspace` and waits until it reports ready.
    pub(crate) async fn start(
        sandbox: &Sandbox,
        workspace: &Workspace,
        language: Language,
        flavor: Flavor,
        timeout: Duration,
    ) -> Result<Kernel, KernelError> {
        let spawned = sandbox.spawn_kernel(workspace, language, flavor).await?;
        let pipes = |fd| pipe::Receiver::from_owned_fd(fd).map_err(|e| KernelError::Startup(e.to_string()));
        let stderr = pipes(spawned.stderr)?;
        let stdout = pipes(spawned.stdout)?;
        let stdin = pipe::Sender::from_owned_fd(spawned.stdin).map_err(|e| KernelError::Startup(e.to_string()))?;
        let stderr_tail = Arc::new(Mutex::new(VecDeque::new()));
        tokio::spawn(keep_stderr_tail(stderr, stderr_tail.clone(), workspace.name()));
        let mut kernel = Kernel {
            process: spawned.process,
            stdin,
            stdout: FramedRead::new(stdout, LinesCodec::new_with_max_length(MAX_LINE)),
            cgroup: spawned.cgroup,
            stderr_tail,
            flavor,
        };
        match tokio::time::timeout(timeout, kernel.wait_ready()).await.ok().flatten() {
            Some(ready) => {
                for error in &ready.preimport_errors {
                    tracing::warn!(%error, "a pre-import failed");
                }
                tracing::debug!(workspace = %workspace.name(), version = %ready.version, preimport_ms = ready.preimport_ms, "kernel ready");
                Ok(kernel)
            }
            None => {
                // Give the stderr reader a moment to collect bwrap's or the interpreter's complaint.
                tokio::time::sleep(Duration::from_millis(50)).await;
                let why = kernel.stderr_text();
                kernel.shutdown().await;
                Err(KernelError::Startup(if why.is_empty() { "no ready message".into() } else { why }))
            }
        }
    }

    /// Reads the kernel's first line: `ready`.
    async fn wait_ready(&mut self) -> Option<Ready> {
        let line = self.stdout.next().await?.ok()?;
        match Reply::parse(&line).ok()? {
            Reply::Ready(ready) => Some(ready),
            Reply::Result(_) => None,
        }
    }

    fn stderr_text(&self) -> String {
        self.stderr_tail.lock().map(|t| t.iter().cloned().collect::<Vec<_>>().join("\n")).unwrap_or_default()
    }

    async fn send(&mut self, request: &Request<'_>) -> std::io::Result<()> {
        self.stdin.write_all(&request.line()).await?;
        self.stdin.flush().await
    }

    /// Reads lines until the result for `id`.
    async fn result_for(&mut self, id: &str) -> Result<KernelResult, String> {
        loop {
            match self.stdout.next().await {
                Some(Ok(line)) => match Reply::parse(&line)? {
                    Reply::Result(result) if result.id == id => return Ok(*result),
                    // A late answer to an earlier, interrupted request.
                    Reply::Result(_) => {}
                    Reply::Ready(_) => return Err("the kernel restarted unasked".into()),
                },
                Some(Err(e)) => return Err(format!("kernel protocol error: {e}")),
                None => {
                    let why = self.stderr_text();
                    return Err(if why.is_empty() {
                        "the kernel exited".into()
                    } else {
                        format!("the kernel exited: {why}")
                    });
                }
            }
        }
    }

    /// Runs `work` with a time limit. At the limit (or when `stop` is requested) the kernel is interrupted;
    /// if it has not stopped after `grace`, it is killed (the caller then starts a new one).
    pub(crate) async fn execute(&mut self, work: &Work, limit: Duration, grace: Duration, stop: &mut Stop) -> Outcome {
        let id = uuid::Uuid::new_v4().to_string();
        if let Err(e) = self.send(&work.request(&id)).await {
            return Outcome::Died(format!("cannot send code to the kernel: {e}"));
        }
        tokio::select! {
            finished = tokio::time::timeout(limit, self.result_for(&id)) => match finished {
                Ok(Ok(result)) => return Outcome::Finished(result),
                Ok(Err(why)) => return Outcome::Died(why),
                Err(_) => {}
            },
            () = stop.requested() => {}
        }
        if self.send(&Request::Interrupt { id: &id }).await.is_err() {
            return Outcome::Died("the kernel stopped reading".into());
        }
        match tokio::time::timeout(grace, self.result_for(&id)).await {
            Ok(Ok(result)) => Outcome::Interrupted(result),
            Ok(Err(why)) => Outcome::Died(why),
            Err(_) => Outcome::Killed,
        }
    }

    /// Stops the kernel: closes its input, kills the sandbox and its cgroup.
    pub(crate) async fn shutdown(mut self) {
        let _ = self.stdin.shutdown().await;
        drop(self.stdin);
        if let Some(process) = self.process.as_mut()
            && (process.kill_first() || !process.wait(Duration::from_millis(300)).await)
        {
            process.kill();
            let _ = process.wait(Duration::from_secs(2)).await;
        }
        if let Some(cgroup) = self.cgroup.take() {
            let _ = tokio::task::spawn_blocking(move || cgroup.destroy(Duration::from_secs(5))).await;
        }
    }
}

/// Keeps the last lines a kernel wrote to its own stderr (an interpreter's or bwrap's complaint).
async fn keep_stderr_tail(stderr: pipe::Receiver, tail: Arc<Mutex<VecDeque<String>>>, workspace: String) {
    let mut lines = BufReader::new(stderr).lines();
    while let Ok(Some(line)) = lines.next_line().await {
        tracing::debug!(%workspace, "kernel stderr: {line}");
        if let Ok(mut t) = tail.lock() {
            if t.len() >= STDERR_TAIL {
                t.pop_front();
            }
            t.push_back(line);
        }
    }
}

/// A request to stop an execution early (its client went away), treated as its time limit running out:
/// the code is interrupted and the kernel keeps its state.
#[derive(Debug, Default)]
pub(crate) struct Stop(Option<tokio::sync::oneshot::Receiver<()>>);

impl Stop {
    /// Never requested.
    pub(crate) fn never() -> Stop {
        Stop(None)
    }

    /// Requested when `sender` sends (not when it is dropped without sending).
    pub(crate) fn on(receiver: tokio::sync::oneshot::Receiver<()>) -> Stop {
        Stop(Some(receiver))
    }

    async fn requested(&mut self) {
        match self.0.as_mut() {
            Some(receiver) => {
                if receiver.await.is_err() {
                    self.0 = None;
                    std::future::pending::<()>().await;
                }
            }
            None => std::future::pending::<()>().await,
        }
    }
}

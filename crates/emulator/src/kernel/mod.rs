//! A session's Python kernel: one long-lived sandboxed process speaking newline-delimited JSON.
//!
//! The kernel's own source is `kernel/kernel.py` (embedded in the binary). Every line it writes is treated
//! as untrusted: lines are capped, unparseable lines or EOF mean the kernel is gone.

use std::collections::VecDeque;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use futures_util::StreamExt;
use serde::Deserialize;
use serde_json::{Value, json};
use tokio::io::{AsyncBufReadExt, AsyncWriteExt, BufReader};
use tokio::net::unix::pipe;
use tokio_util::codec::{FramedRead, LinesCodec};

use crate::sandbox::{Cgroup, KernelProcess, Sandbox, SandboxError, Workspace};

/// The kernel source, written to `<data>/kernel/kernel.py` at start.
pub(crate) const KERNEL_SOURCE: &str = include_str!("../../kernel/kernel.py");
/// The namespace tier's session template, written to `<data>/kernel/template.py` at start.
pub(crate) const TEMPLATE_SOURCE: &str = include_str!("../../kernel/template.py");

/// The longest protocol line accepted from a kernel (images are base64 inside result lines).
const MAX_LINE: usize = 64 << 20;

/// What the kernel reports when it is ready.
#[derive(Debug, Clone, Deserialize)]
#[allow(dead_code)]
pub(crate) struct Ready {
    pub(crate) python: String,
    #[serde(default)]
    pub(crate) preimport_ms: f64,
    #[serde(default)]
    pub(crate) preimport_errors: Vec<String>,
}

/// One execution's result as the kernel reports it.
#[derive(Debug, Clone, Deserialize)]
pub(crate) struct KernelResult {
    #[serde(default)]
    pub(crate) id: Option<String>,
    pub(crate) status: String,
    #[serde(default)]
    pub(crate) stdout: String,
    #[serde(default)]
    pub(crate) stderr: String,
    /// The last expression's value as JSON (see `result_kind`).
    #[serde(default)]
    pub(crate) result: Value,
    /// `none`, `json` (a JSON scalar), `nonfinite` (NaN or an infinity, as its repr) or `repr` (any other
    /// value, as its text).
    #[serde(default)]
    pub(crate) result_kind: String,
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

/// Which kernel of a session runs the code.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub(crate) enum Flavor {
    /// The default kernel, with the runtime's preloaded modules.
    Preloaded,
    /// `useEmptyKernel`: a kernel without preloaded modules, with its own state.
    Empty,
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

/// Kernel start-up failures.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum KernelError {
    /// The sandbox could not start it.
    #[error(transparent)]
    Sandbox(#[from] SandboxError),
    /// It started but never reported ready.
    #[error("the Python kernel did not start: {0}")]
    Startup(String),
}

/// A running kernel.
#[derive(Debug)]
pub(crate) struct Kernel {
    process: Option<KernelProcess>,
    stdin: pipe::Sender,
    stdout: FramedRead<pipe::Receiver, LinesCodec>,
    cgroup: Option<Cgroup>,
    stderr_tail: Arc<Mutex<VecDeque<String>>>,
    #[allow(dead_code)]
    pub(crate) ready: Ready,
}

impl Kernel {
    /// Starts a kernel for `workspace` and waits until it reports ready.
    pub(crate) async fn start(
        sandbox: &Sandbox,
        workspace: &Workspace,
        flavor: Flavor,
        timeout: Duration,
    ) -> Result<Kernel, KernelError> {
        let cgroup = sandbox.create_cgroup(workspace, flavor)?;
        let spawned = match sandbox.spawn_kernel(workspace, cgroup.as_ref(), flavor).await {
            Ok(spawned) => spawned,
            Err(e) => {
                if let Some(cg) = cgroup {
                    let _ = tokio::task::spawn_blocking(move || cg.destroy(Duration::from_secs(1))).await;
                }
                return Err(e.into());
            }
        };
        let pipes = |fd| pipe::Receiver::from_owned_fd(fd).map_err(|e| KernelError::Startup(e.to_string()));
        let stderr = pipes(spawned.stderr)?;
        let stdout = pipes(spawned.stdout)?;
        let stdin = pipe::Sender::from_owned_fd(spawned.stdin).map_err(|e| KernelError::Startup(e.to_string()))?;
        let stderr_tail = Arc::new(Mutex::new(VecDeque::new()));
        let tail = stderr_tail.clone();
        let name = workspace.name();
        tokio::spawn(async move {
            let mut lines = BufReader::new(stderr).lines();
            while let Ok(Some(line)) = lines.next_line().await {
                tracing::debug!(workspace = %name, "kernel stderr: {line}");
                if let Ok(mut t) = tail.lock() {
                    if t.len() >= 20 {
                        t.pop_front();
                    }
                    t.push_back(line);
                }
            }
        });
        let stdout = FramedRead::new(stdout, LinesCodec::new_with_max_length(MAX_LINE));
        let mut kernel = Kernel {
            process: spawned.process,
            stdin,
            stdout,
            cgroup,
            stderr_tail,
            ready: Ready { python: String::new(), preimport_ms: 0.0, preimport_errors: Vec::new() },
        };
        let ready = tokio::time::timeout(timeout, kernel.wait_ready()).await.ok().flatten();
        match ready {
            Some(ready) => {
                for error in &ready.preimport_errors {
                    tracing::warn!(%error, "a pre-import failed");
                }
                kernel.ready = ready;
                Ok(kernel)
            }
            None => {
                // Give the stderr reader a moment to collect bwrap's or Python's complaint.
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
        let value: Value = serde_json::from_str(&line).ok()?;
        match value.get("op").and_then(Value::as_str) {
            Some("ready") => serde_json::from_value(value).ok(),
            _ => None,
        }
    }

    fn stderr_text(&self) -> String {
        self.stderr_tail.lock().map(|t| t.iter().cloned().collect::<Vec<_>>().join("\n")).unwrap_or_default()
    }

    async fn send(&mut self, message: &Value) -> std::io::Result<()> {
        let mut line = message.to_string();
        line.push('\n');
        self.stdin.write_all(line.as_bytes()).await?;
        self.stdin.flush().await
    }

    /// Reads lines until the result for `id`.
    async fn result_for(&mut self, id: &str) -> Result<KernelResult, String> {
        loop {
            match self.stdout.next().await {
                Some(Ok(line)) => {
                    let Ok(value) = serde_json::from_str::<Value>(&line) else {
                        return Err("the kernel wrote an unreadable line".into());
                    };
                    if value.get("op").and_then(Value::as_str) != Some("result") {
                        continue;
                    }
                    let result: KernelResult =
                        serde_json::from_value(value).map_err(|e| format!("malformed kernel result: {e}"))?;
                    if result.id.as_deref() == Some(id) {
                        return Ok(result);
                    }
                }
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

    /// Runs one request (`{"op": "exec", "code"}` or `{"op": "shell", ...}`) with a time limit. At the limit
    /// the kernel is interrupted; if it has not stopped after `grace`, it is killed (the caller then starts a
    /// new one).
    pub(crate) async fn execute(
        &mut self,
        mut request: serde_json::Map<String, Value>,
        limit: Duration,
        grace: Duration,
        stop: &mut Stop,
    ) -> Outcome {
        let id = uuid::Uuid::new_v4().to_string();
        request.insert("id".into(), Value::String(id.clone()));
        if let Err(e) = self.send(&Value::Object(request)).await {
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
        if self.send(&json!({"op": "interrupt", "id": id})).await.is_err() {
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

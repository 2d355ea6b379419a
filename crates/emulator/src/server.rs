//! Running the emulator in the background of another program (tests, the chat app).

use std::net::SocketAddr;

use tokio::sync::oneshot;
use tokio::task::JoinHandle;

use crate::config::EmulatorConfig;
use crate::{Emulator, Footprint, Runtime, SandboxInfo, StartError, router};

/// An emulator serving in a background task. Call [`RunningEmulator::shutdown`] to stop it and remove every
/// session; dropping it also starts the shutdown, but nothing waits for it to finish.
#[derive(Debug)]
pub struct RunningEmulator {
    addr: SocketAddr,
    sandbox: SandboxInfo,
    runtime: Runtime,
    footprint: Footprint,
    stop: Option<oneshot::Sender<()>>,
    task: Option<JoinHandle<std::io::Result<()>>>,
}

impl RunningEmulator {
    /// Starts an emulator listening on `config.bind` (port 0 picks a free port).
    ///
    /// # Errors
    /// [`StartError`] when the address cannot be bound or the emulator cannot start.
    pub async fn start(config: EmulatorConfig) -> Result<RunningEmulator, StartError> {
        let listener = tokio::net::TcpListener::bind(config.bind)
            .await
            .map_err(|source| StartError::Io { context: format!("cannot listen on {}", config.bind), source })?;
        let addr = listener
            .local_addr()
            .map_err(|source| StartError::Io { context: "cannot read the listening address".into(), source })?;
        let emulator = Emulator::start(config).await?;
        let sandbox = emulator.sandbox().clone();
        let runtime = emulator.runtime().clone();
        let footprint = emulator.footprint();
        let (stop, stopped) = oneshot::channel::<()>();
        let task = tokio::spawn(async move {
            let served = axum::serve(listener, router(emulator.state()))
                .with_graceful_shutdown(async move {
                    let _ = stopped.await;
                })
                .await;
            emulator.shutdown().await;
            served
        });
        Ok(RunningEmulator { addr, sandbox, runtime, footprint, stop: Some(stop), task: Some(task) })
    }

    /// The base URL, e.g. `http://127.0.0.1:40123`: the pool management endpoint for clients.
    pub fn url(&self) -> String {
        format!("http://{}", self.addr)
    }

    /// The listening address.
    pub fn addr(&self) -> SocketAddr {
        self.addr
    }

    /// The sandbox in force.
    pub fn sandbox(&self) -> &SandboxInfo {
        &self.sandbox
    }

    /// The Python runtime sessions get.
    pub fn runtime(&self) -> &Runtime {
        &self.runtime
    }

    /// Where the emulator leaves traces on the host (session uids, cgroups).
    pub fn footprint(&self) -> &Footprint {
        &self.footprint
    }

    /// Stops serving and destroys every session: no kernel, cgroup or session directory is left.
    pub async fn shutdown(mut self) {
        if let Some(stop) = self.stop.take() {
            let _ = stop.send(());
        }
        if let Some(task) = self.task.take()
            && let Ok(Err(e)) = task.await
        {
            tracing::warn!(error = %e, "the emulator's server ended with an error");
        }
    }
}

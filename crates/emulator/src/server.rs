//! Running the emulator in the background of another program (tests, the chat app).

use std::net::SocketAddr;

use tokio::sync::oneshot;
use tokio::task::JoinHandle;

use crate::config::EmulatorConfig;
use crate::{Emulator, Footprint, Runtime, SandboxInfo, StartError, TlsFiles};

/// An emulator serving in a background task. Call [`RunningEmulator::shutdown`] to stop it and remove every
/// session; dropping it also starts the shutdown, but nothing waits for it to finish.
///
/// It always requires a bearer token: the configured one, or a random one made up at start
/// ([`RunningEmulator::token`]), so that no other local program or web page can use it.
pub struct RunningEmulator {
    addr: SocketAddr,
    token: String,
    sandbox: SandboxInfo,
    runtime: Runtime,
    footprint: Footprint,
    tls: Option<TlsFiles>,
    state: crate::AppState,
    stop: Option<oneshot::Sender<()>>,
    task: Option<JoinHandle<Result<(), StartError>>>,
}

impl std::fmt::Debug for RunningEmulator {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("RunningEmulator")
            .field("addr", &self.addr)
            .field("token", &"<redacted>")
            .field("sandbox", &self.sandbox)
            .finish_non_exhaustive()
    }
}

impl RunningEmulator {
    /// Starts an emulator listening on `config.bind` (port 0 picks a free port), requiring `config.token` or,
    /// without one, a random token.
    ///
    /// # Errors
    /// [`StartError`] when the address cannot be bound or the emulator cannot start.
    pub async fn start(mut config: EmulatorConfig) -> Result<RunningEmulator, StartError> {
        let listener = tokio::net::TcpListener::bind(config.bind)
            .await
            .map_err(|source| StartError::Io { context: format!("cannot listen on {}", config.bind), source })?;
        let addr = listener
            .local_addr()
            .map_err(|source| StartError::Io { context: "cannot read the listening address".into(), source })?;
        config.bind = addr;
        let token = match config.token.clone().filter(|t| !t.is_empty()) {
            Some(token) => token,
            None => format!("dse-{}{}", uuid::Uuid::new_v4().simple(), uuid::Uuid::new_v4().simple()),
        };
        config.token = Some(token.clone());
        let emulator = Emulator::start(config).await?;
        let sandbox = emulator.sandbox().clone();
        let runtime = emulator.runtime().clone();
        let footprint = emulator.footprint();
        let tls = emulator.tls().cloned();
        let state = emulator.state();
        let (stop, stopped) = oneshot::channel::<()>();
        let task = tokio::spawn(async move {
            let served = emulator
                .serve(listener, async move {
                    let _ = stopped.await;
                })
                .await;
            emulator.shutdown().await;
            served
        });
        Ok(RunningEmulator { addr, token, sandbox, runtime, footprint, tls, state, stop: Some(stop), task: Some(task) })
    }

    /// The base URL, e.g. `http://127.0.0.1:40123` (`https://` with TLS): the pool management endpoint for
    /// clients.
    pub fn url(&self) -> String {
        let scheme = if self.tls.is_some() { "https" } else { "http" };
        format!("{scheme}://{}", self.addr)
    }

    /// The CA certificate clients trust, when serving https.
    pub fn ca_certificate(&self) -> Option<&std::path::Path> {
        self.tls.as_ref().map(|t| t.ca.as_path())
    }

    /// The bearer token every request needs (`Authorization: Bearer <token>`).
    pub fn token(&self) -> &str {
        &self.token
    }

    /// The API key of the pools' MCP endpoints (the `x-ms-apikey` header), when they are on
    /// ([`EmulatorConfig::mcp`]); the current one, after a rotation too.
    pub fn mcp_api_key(&self) -> Option<String> {
        self.state.inner.mcp.as_ref().map(crate::mcp::McpServer::key)
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

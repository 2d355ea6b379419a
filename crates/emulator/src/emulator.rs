//! The emulator as a whole: start it (runtime, sandbox, pool), serve it, shut it down.

use std::future::Future;
use std::sync::Arc;

use crate::api::{self, AppState, router};
use crate::config::{ContainerType, EmulatorConfig};
use crate::mcp::McpServer;
use crate::pool::{PoolKind, Pools, SessionPool};
use crate::runtime::{self, NodeRuntime, Runtime, RuntimeError};
use crate::sandbox::{self, Sandbox, SandboxError, SandboxInfo};
use crate::tls::{self, TlsFiles};

/// Why the emulator could not start.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum StartError {
    /// The configuration is inconsistent.
    #[error("invalid configuration: {0}")]
    Config(String),
    /// No usable Python.
    #[error(transparent)]
    Runtime(#[from] RuntimeError),
    /// No usable sandbox.
    #[error(transparent)]
    Sandbox(#[from] SandboxError),
    /// A file or socket operation failed.
    #[error("{context}: {source}")]
    Io {
        /// What was being done.
        context: String,
        /// The error.
        #[source]
        source: std::io::Error,
    },
}

fn io(context: impl Into<String>) -> impl FnOnce(std::io::Error) -> StartError {
    let context = context.into();
    move |source| StartError::Io { context, source }
}

/// Where one emulator instance leaves traces on the host (beyond its data directory).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Footprint {
    /// The host uids its sessions run as, when each session has its own (as root). No other emulator on the
    /// host uses them.
    pub session_uids: Option<std::ops::Range<u32>>,
    /// Its cgroup directories (empty without cgroups).
    pub cgroup_dirs: Vec<std::path::PathBuf>,
    /// The process id of the namespace tier's session template, whose mount namespace holds the sessions'
    /// `/mnt/data` mounts (see `/proc/<pid>/mounts`).
    pub template_pid: Option<u32>,
}

/// A started emulator: the Python runtime is prepared, the sandbox chosen, the pool running.
#[derive(Debug)]
pub struct Emulator {
    state: AppState,
    sandbox: Arc<Sandbox>,
    tls: Option<TlsFiles>,
}

impl Emulator {
    /// Prepares the runtime (creating the package environment on first start unless disabled), picks the
    /// sandbox tier, and starts the session pool.
    ///
    /// # Errors
    /// [`StartError`] when the configuration is invalid, no Python is usable, or no sandbox is available and
    /// [`crate::config::SandboxMode::InsecureNoSandbox`] was not chosen.
    pub async fn start(config: EmulatorConfig) -> Result<Emulator, StartError> {
        config.validate().map_err(StartError::Config)?;
        sandbox::refuse_limited_root(config.sandbox)?;
        sandbox::raise_open_file_limit(config.sandbox_slots());
        std::fs::create_dir_all(&config.data_dir)
            .map_err(io(format!("cannot create {}", config.data_dir.display())))?;
        let kernel_dir = config.data_dir.join("kernel");
        sandbox::install_kernel_files(&kernel_dir).map_err(io(format!("cannot write {}", kernel_dir.display())))?;
        let runtime = Arc::new(
            runtime::python::prepare(
                config.python.as_deref(),
                &config.runtime_dir(),
                config.setup_runtime,
                &config.packages,
            )
            .await?,
        );
        let pools = config.all_pools();
        let wants_node = pools.iter().any(|p| p.container_type == ContainerType::NodeLts);
        let node = if wants_node { Some(prepare_node(&config, config.setup_runtime).await) } else { None };
        let instance = sandbox::instance::new_name();
        let node_runtime = node.as_ref().and_then(|n| n.as_ref().ok()).cloned();
        let sandbox =
            Arc::new(Sandbox::start(&config, runtime.clone(), node_runtime.clone(), &instance, kernel_dir).await?);
        sandbox.info.log();
        tracing::info!(python = %runtime.version, venv = runtime.venv.is_some(), packages = runtime.packages.len(), "python runtime");
        let node_missing = match &node {
            Some(Ok(node)) => {
                tracing::info!(node = %node.version, packages = node.packages.len(), "node runtime");
                None
            }
            Some(Err(e)) => {
                tracing::warn!("{e}: the NodeLTS pools refuse executions; the other pools work");
                Some(e.to_string())
            }
            None => None,
        };
        let token = config.token.as_deref().map(api::TokenCheck::new);
        let guard = dynamic_sessions_http_guard::BrowserGuard::new(config.bind, &config.allowed_hosts);
        let tls = if config.tls {
            let files = tls::certificates(&config.data_dir.join("tls"), config.bind, &config.allowed_hosts)?;
            tracing::info!(ca = %files.ca.display(), "serving https: clients trust this CA certificate");
            Some(files)
        } else {
            None
        };
        let started: Vec<SessionPool> = pools
            .into_iter()
            .map(|spec| {
                let unavailable =
                    (spec.container_type == ContainerType::NodeLts).then(|| node_missing.clone()).flatten();
                SessionPool::start(config.clone(), PoolKind { spec, unavailable }, sandbox.clone())
            })
            .collect();
        let mut started = started.into_iter();
        let Some(default) = started.next() else {
            return Err(StartError::Config("no pool is configured".into()));
        };
        let pools = Pools::new(default, started.collect(), sandbox.clone());
        let bash_version = bash_version().await;
        let mcp = if config.mcp {
            let server = McpServer::start(&config.data_dir, config.mcp_api_key.as_deref())
                .map_err(io(format!("cannot write the MCP API key into {}", config.data_dir.display())))?;
            tracing::info!(key = %crate::mcp::redacted(&server.key()), file = %server.key_file().display(), "the pools' MCP endpoints are on (x-ms-apikey)");
            Some(server)
        } else {
            None
        };
        let state = AppState {
            inner: Arc::new(api::StateInner {
                pools,
                runtime,
                node: node_runtime,
                bash_version,
                mcp,
                token,
                guard,
                tls: tls.is_some(),
                started: time::OffsetDateTime::now_utc(),
            }),
        };
        Ok(Emulator { state, sandbox, tls })
    }

    /// The state to build a [`router`] from.
    pub fn state(&self) -> AppState {
        self.state.clone()
    }

    /// The sandbox in force.
    pub fn sandbox(&self) -> &SandboxInfo {
        &self.sandbox.info
    }

    /// The Python runtime sessions get.
    pub fn runtime(&self) -> &Runtime {
        &self.state.inner.runtime
    }

    /// The Node.js runtime of the `NodeLTS` pools, when one is configured and Node.js was found.
    pub fn node(&self) -> Option<&NodeRuntime> {
        self.state.inner.node.as_deref()
    }

    /// The API key of the pools' MCP endpoints, when they are on ([`EmulatorConfig::mcp`]).
    pub fn mcp_api_key(&self) -> Option<String> {
        self.state.inner.mcp.as_ref().map(McpServer::key)
    }

    /// The certificate files, when serving https.
    pub fn tls(&self) -> Option<&TlsFiles> {
        self.tls.as_ref()
    }

    /// Serves the API on `listener` (http, or https with `--tls`) until `shutdown` completes. The emulator
    /// keeps running; call [`Emulator::shutdown`] afterwards.
    ///
    /// # Errors
    /// [`StartError`] when the certificates cannot be read or the listener fails.
    pub async fn serve(
        &self,
        listener: tokio::net::TcpListener,
        shutdown: impl Future<Output = ()> + Send + 'static,
    ) -> Result<(), StartError> {
        let app = router(self.state());
        match &self.tls {
            Some(files) => tls::serve(listener, app, tls::server_config(files)?, shutdown).await,
            None => axum::serve(listener, app).with_graceful_shutdown(shutdown).await,
        }
        .map_err(io("the HTTP server failed"))
    }

    /// Where this instance leaves traces on the host, for checking that a shutdown removed them all.
    pub fn footprint(&self) -> Footprint {
        Footprint {
            session_uids: self.sandbox.session_uids(),
            cgroup_dirs: self.sandbox.cgroup_dirs(),
            template_pid: self.sandbox.template_pid(),
        }
    }

    /// Destroys every session (kernels, cgroups, directories) and the instance's directories.
    pub async fn shutdown(self) {
        self.state.inner.pools.shutdown().await;
    }
}

/// Serves the emulator on `listener` until `shutdown` completes, then cleans up every session. With the pools'
/// MCP endpoints on, their API key is printed once on stdout.
///
/// # Errors
/// [`StartError`] when the emulator cannot start or the listener fails.
pub async fn run(
    listener: tokio::net::TcpListener,
    mut config: EmulatorConfig,
    shutdown: impl Future<Output = ()> + Send + 'static,
) -> Result<(), StartError> {
    let address = listener.local_addr().map_err(io("cannot read the listening address"))?;
    // The browser guard accepts the address really listened on.
    config.bind = address;
    let emulator = Emulator::start(config).await?;
    let scheme = if emulator.tls.is_some() { "https" } else { "http" };
    tracing::info!(url = %format!("{scheme}://{address}"), "dynamic-sessions emulator listening");
    if let Some(mcp) = &emulator.state.inner.mcp {
        // Once, on stdout (the log shows only its first characters): what an MCP client needs.
        println!("MCP API key (x-ms-apikey): {} (also in {})", mcp.key(), mcp.key_file().display());
        for pool in emulator.state.inner.pools.iter() {
            let name = &pool.kind().spec.name;
            let base = if name == crate::config::DEFAULT_POOL {
                String::new()
            } else {
                format!("/subscriptions/local/resourceGroups/local/sessionPools/{name}")
            };
            tracing::info!(pool = %name, endpoint = %format!("{scheme}://{address}{base}{}", crate::mcp::ENDPOINT_PATH), "MCP endpoint");
        }
    }
    let served = emulator.serve(listener, shutdown).await;
    emulator.shutdown().await;
    served
}

/// Prepares (or verifies) the Python runtime of `config`, and Node.js's packages when a `NodeLTS` pool is
/// configured, without starting a pool: the `setup` command.
///
/// # Errors
/// [`StartError::Runtime`] when no usable Python is found, or no usable Node.js for a `NodeLTS` pool.
pub async fn prepare_runtime(config: &EmulatorConfig) -> Result<Runtimes, StartError> {
    let python =
        runtime::python::prepare(config.python.as_deref(), &config.runtime_dir(), true, &config.packages).await?;
    let node = if config.all_pools().iter().any(|p| p.container_type == ContainerType::NodeLts) {
        let node = prepare_node(config, true).await?;
        Some(Arc::unwrap_or_clone(node))
    } else {
        None
    };
    Ok(Runtimes { python, node })
}

/// The runtimes [`prepare_runtime`] made ready.
#[derive(Debug, Clone)]
pub struct Runtimes {
    /// The Python runtime.
    pub python: Runtime,
    /// Node.js, when a `NodeLTS` pool is configured.
    pub node: Option<NodeRuntime>,
}

/// Finds Node.js and (with `setup`) its packages.
async fn prepare_node(config: &EmulatorConfig, setup: bool) -> Result<Arc<NodeRuntime>, RuntimeError> {
    let runtime_dir = config.runtime_dir();
    let node = runtime::node::prepare(config.node.as_deref(), &runtime_dir, setup, &config.node_packages).await?;
    Ok(Arc::new(node))
}

/// The version of `/bin/bash`, which shell commands run in (empty when it cannot be read).
async fn bash_version() -> String {
    let output = tokio::process::Command::new("/bin/bash")
        .args(["-c", "echo ${BASH_VERSINFO[0]}.${BASH_VERSINFO[1]}.${BASH_VERSINFO[2]}"])
        .env_clear()
        .output()
        .await;
    output.map(|o| String::from_utf8_lossy(&o.stdout).trim().to_owned()).unwrap_or_default()
}

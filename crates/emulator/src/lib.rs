//! A local emulator of Azure Container Apps dynamic sessions.
//!
//! It serves the session-pool REST API of both families (`2024-02-02-preview` and `2024-10-02-preview` and
//! later) on one machine. Each session is a stateful Python kernel in its own sandbox: with bubblewrap, its
//! own namespaces (no network, read-only root, the session directory at `/mnt/data`, private `/tmp`), its own
//! unprivileged host uid, an empty environment, cgroup limits, rlimits and a seccomp denylist. Any client that
//! works against a real pool works against it by changing the endpoint URL.
//!
//! ```no_run
//! use dynamic_sessions_emulator::config::EmulatorConfig;
//!
//! # async fn run() -> Result<(), Box<dyn std::error::Error>> {
//! let listener = tokio::net::TcpListener::bind("127.0.0.1:8484").await?;
//! let shutdown = async { let _ = tokio::signal::ctrl_c().await; };
//! dynamic_sessions_emulator::run(listener, EmulatorConfig::default(), shutdown).await?;
//! # Ok(()) }
//! ```
//!
//! The namespace sandbox shares the host kernel: it is meant for local development, tests and CI, not for
//! hostile multi-tenant production, where Azure's Hyper-V-isolated session pools are the place to go.

#![warn(missing_docs)]

mod api;
pub mod config;
mod error;
mod kernel;
mod pool;
mod runtime;
mod safefs;
mod sandbox;
mod server;
#[cfg(feature = "testing")]
pub mod testing;
mod tls;

use std::fs;
use std::future::Future;
use std::os::unix::fs::PermissionsExt;
use std::path::Path;
use std::sync::Arc;

pub use api::{AppState, router};
pub use error::ApiError;
pub use kernel::KernelError;
pub use runtime::{Package, Runtime, RuntimeError};
pub use sandbox::{LimitInForce, SandboxError, SandboxInfo, Tier};
pub use server::RunningEmulator;
pub use tls::TlsFiles;

use config::EmulatorConfig;
use pool::SessionPool;
use sandbox::Sandbox;

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
    /// [`config::SandboxMode::InsecureNoSandbox`] was not chosen.
    pub async fn start(config: EmulatorConfig) -> Result<Emulator, StartError> {
        if config.max_sessions == 0 {
            return Err(StartError::Config("max_sessions must be at least 1".into()));
        }
        if config.max_sessions + config.ready_sessions > sandbox::uids::BLOCK as usize - 8 {
            return Err(StartError::Config(format!(
                "max_sessions + ready_sessions must be below {}",
                sandbox::uids::BLOCK - 8
            )));
        }
        if config.cooldown.is_zero() {
            return Err(StartError::Config("the cooldown must be at least 1 second".into()));
        }
        sandbox::refuse_limited_root(config.sandbox)?;
        raise_open_file_limit(config.max_sessions + config.ready_sessions);
        fs::create_dir_all(&config.data_dir).map_err(io(format!("cannot create {}", config.data_dir.display())))?;
        let kernel_dir = config.data_dir.join("kernel");
        write_kernel_files(&kernel_dir)?;
        let runtime = Arc::new(
            runtime::prepare(config.python.as_deref(), &config.runtime_dir(), config.setup_runtime, &config.packages)
                .await?,
        );
        let instance = sandbox::instance::new_name();
        let sandbox = Arc::new(Sandbox::start(&config, runtime.clone(), &instance, kernel_dir).await?);
        let info = &sandbox.info;
        match info.tier {
            Tier::None => tracing::warn!(
                "SANDBOX DISABLED (--insecure-no-sandbox): session code runs as a plain process with this user's rights"
            ),
            tier => {
                tracing::info!(
                    ?tier,
                    cgroups = info.cgroups,
                    seccomp = info.seccomp,
                    uid_per_session = info.uid_per_session,
                    disk_quota = info.disk_quota,
                    landlock_abi = info.landlock_abi,
                    preloaded = %info.preloaded.join(","),
                    "sandbox tier in force"
                );
                for limit in &info.limits {
                    tracing::info!(resource = limit.resource, value = ?limit.value, by = %limit.enforced_by, "session limit");
                }
            }
        }
        for warning in &info.warnings {
            tracing::warn!("{warning}");
        }
        tracing::info!(python = %runtime.version, venv = runtime.venv.is_some(), packages = runtime.packages.len(), "python runtime");
        let token = config.token.as_deref().map(api::TokenCheck::new);
        let guard = dynamic_sessions_http_guard::BrowserGuard::new(config.bind, &config.allowed_hosts);
        let tls = if config.tls {
            let files = tls::certificates(&config.data_dir.join("tls"), config.bind, &config.allowed_hosts)?;
            tracing::info!(ca = %files.ca.display(), "serving https: clients trust this CA certificate");
            Some(files)
        } else {
            None
        };
        let pool = SessionPool::start(config, sandbox.clone());
        let state = AppState {
            inner: Arc::new(api::StateInner {
                pool,
                runtime,
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
        self.state.pool().shutdown().await;
    }
}

/// Serves the emulator on `listener` until `shutdown` completes, then cleans up every session.
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
    let served = emulator.serve(listener, shutdown).await;
    emulator.shutdown().await;
    served
}

/// Descriptors the emulator holds per session (its kernels' pipes and process handles, a connection).
const DESCRIPTORS_PER_SESSION: u64 = 12;

/// Raises the soft limit on open files to the hard one, as servers do (the soft limit is often 1,024, too
/// few for a thousand sessions), and warns when even the hard limit is too low for `sessions`.
fn raise_open_file_limit(sessions: usize) {
    use rustix::process::{Resource, getrlimit, setrlimit};
    let limit = getrlimit(Resource::Nofile);
    let raised = rustix::process::Rlimit { current: limit.maximum, maximum: limit.maximum };
    if limit.current != limit.maximum && setrlimit(Resource::Nofile, raised).is_err() {
        tracing::warn!("could not raise the limit on open files");
    }
    let available = getrlimit(Resource::Nofile).current.unwrap_or(u64::MAX);
    let needed = sessions as u64 * DESCRIPTORS_PER_SESSION + 256;
    if available < needed {
        tracing::warn!(
            available,
            needed,
            "the limit on open files is too low for this many sessions: raise it (ulimit -n, LimitNOFILE=) or lower --max-sessions"
        );
    }
}

/// Writes the kernel and the sandbox's passwd/group files (atomically: a starting sandbox may be reading them).
fn write_kernel_files(dir: &Path) -> Result<(), StartError> {
    fs::create_dir_all(dir).map_err(io(format!("cannot create {}", dir.display())))?;
    fs::set_permissions(dir, fs::Permissions::from_mode(0o755))
        .map_err(io(format!("cannot chmod {}", dir.display())))?;
    let files: [(&str, &str); 4] = [
        ("kernel.py", kernel::KERNEL_SOURCE),
        ("template.py", kernel::TEMPLATE_SOURCE),
        (
            "passwd",
            "root:x:0:0:root:/root:/usr/sbin/nologin\nuser:x:65534:65534:session user:/home/user:/usr/sbin/nologin\n",
        ),
        ("group", "root:x:0:\nuser:x:65534:\n"),
    ];
    for (name, content) in files {
        let target = dir.join(name);
        if fs::read_to_string(&target).is_ok_and(|c| c == content) {
            continue;
        }
        let temp = dir.join(format!(".{name}.{}", uuid::Uuid::new_v4().simple()));
        fs::write(&temp, content).map_err(io(format!("cannot write {}", temp.display())))?;
        fs::set_permissions(&temp, fs::Permissions::from_mode(0o644)).map_err(io("cannot chmod the kernel files"))?;
        fs::rename(&temp, &target).map_err(io(format!("cannot write {}", target.display())))?;
    }
    Ok(())
}

/// Prepares (or verifies) the Python runtime of `config` without starting a pool: the `setup` command.
///
/// # Errors
/// [`StartError::Runtime`] when no usable Python is found.
pub async fn prepare_runtime(config: &EmulatorConfig) -> Result<Runtime, StartError> {
    Ok(runtime::prepare(config.python.as_deref(), &config.runtime_dir(), true, &config.packages).await?)
}

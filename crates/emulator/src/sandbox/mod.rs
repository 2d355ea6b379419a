//! Isolation of sessions: which tier this host allows, each session's workspace, and its sandboxed kernel.
//!
//! The tiers, strongest first ([`Tier`]; each is a module of [`tiers`]):
//!
//! * **namespaces** (default where the kernel allows unprivileged user namespaces): the emulator makes the
//!   namespaces itself; every session is forked from a template that has the data stack imported: its own
//!   user, mount, pid, network, IPC, UTS and cgroup namespaces; a read-only root; its own sized tmpfs at
//!   `/mnt/data`, `/tmp`, `/home/user`, `/dev/shm`; no capabilities; seccomp; limits; an empty environment;
//!   as root, its own host uid and cgroups.
//! * **bubblewrap** (where only bubblewrap may make namespaces, e.g. Ubuntu with AppArmor's restriction):
//!   the same isolation, a bubblewrap process per kernel. As root `/mnt/data` is a tmpfs mounted on the
//!   host; as an ordinary user it is a tmpfs in namespaces a short-lived holder made for it.
//! * **landlock** (no namespaces at all): Landlock filesystem/network/signal rules, seccomp (no sockets, no
//!   SysV IPC), rlimits, cgroups and a per-session uid where possible. `auto` picks it for root only: as an
//!   ordinary user it cannot hold `/mnt/data` to a total size, so there it runs only when asked for by name.
//! * **none**: only with the explicit `--insecure-no-sandbox`.
//!
//! What the tiers share lives in [`host`]: cgroups, the seccomp filter, session uids, `/proc`, privileges,
//! the spawner thread, and the steps a child takes between fork and exec.
//!
//! [`Sandbox::start`] reads as the choice is made: probe what the host offers, choose the tier, build its
//! backend and the host facilities, and describe the result ([`SandboxInfo`]).

mod host;
mod kernel_env;
mod limits;
mod process;
mod rlimits;
mod tier;
mod tiers;
mod workspace;

#[cfg(feature = "testing")]
pub(crate) use host::cgroup::SELF_LEAF as CGROUP_SELF_LEAF;
#[cfg(any(test, feature = "testing"))]
pub(crate) use host::procfs;
pub(crate) use host::{instance, raise_open_file_limit, which};

use std::ops::Range;
use std::path::PathBuf;
use std::sync::Arc;

use serde::Serialize;

pub(crate) use host::cgroup::Cgroup;
use host::cgroup::CgroupManager;
use host::uids::UidPool;
pub use limits::LimitInForce;
pub(crate) use process::{KernelProcess, Spawned};
use tier::Probe;
pub use tier::Tier;
use tiers::Backend;
pub(crate) use workspace::{Place, Workspace};

use crate::config::{DEFAULT_PRELOAD, EmulatorConfig, Limits, SandboxMode};
use crate::kernel::Flavor;
use crate::kernel::protocol::Language;
use crate::runtime::{NodeRuntime, Runtime};

/// What the sandbox does on this host, as `/health` and the start-up log report it.
#[derive(Debug, Clone, Serialize)]
pub struct SandboxInfo {
    /// The tier.
    pub tier: Tier,
    /// `v1`, `v2`, or `none` (then only rlimits and namespaces bound resources).
    pub cgroups: &'static str,
    /// Why cgroups are not used, when they are not.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub cgroups_unavailable: Option<String>,
    /// Whether the cgroups are in a subtree delegated to this unprivileged user (a systemd user scope with
    /// `Delegate=yes`, or a cgroup root gave the user) rather than at the top of the host's hierarchy.
    pub cgroups_delegated: bool,
    /// Whether the seccomp filter is applied.
    pub seccomp: bool,
    /// The Landlock ABI applied (landlock tier), 0 otherwise.
    pub landlock_abi: i64,
    /// Whether each session runs as its own unprivileged host uid.
    pub uid_per_session: bool,
    /// Whether each session's `/mnt/data` is a size-limited tmpfs.
    pub disk_quota: bool,
    /// Whether sessions start from a template with the data stack already imported.
    pub preloaded: Vec<String>,
    /// Every limit of a session and what enforces it.
    pub limits: Vec<LimitInForce>,
    /// What the operator should know (missing limits, a memory budget the host cannot meet).
    pub warnings: Vec<String>,
}

/// Errors choosing or using the sandbox.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum SandboxError {
    /// No isolation is possible on this host and none was waived.
    #[error(
        "no sandbox is available on this host ({0}); install bubblewrap (apt-get install bubblewrap) or run on a \
         kernel with Landlock, or pass --insecure-no-sandbox to run code without isolation (trusted code only)"
    )]
    Unavailable(String),
    /// As an ordinary user, the only tier here is Landlock, which cannot bound a session's disk, and it was
    /// not asked for by name.
    #[error(
        "as an ordinary user, no sandbox that holds a session to the limits root gets is available here \
         ({why}); let this user make namespaces (install bubblewrap with apt-get install bubblewrap, and where \
         it is installed but fails, allow unprivileged user namespaces), or choose the Landlock tier by name \
         (--sandbox landlock, {env}=landlock, or SandboxMode::Landlock), which bounds each file a session \
         writes but not their total size (see SECURITY.md)",
        why = .0,
        env = crate::config::SandboxMode::ENV
    )]
    OnlyLandlockAsUser(String),
    /// Uid 0 here is not root in full (a container without root's privileges, or uid 0 of a user
    /// namespace), which the sandbox's root path needs: why, and what to do.
    #[error("the emulator runs as uid 0 but not as root in full, which its sandbox needs: {0}")]
    LimitedRoot(String),
    /// A file or process operation failed.
    #[error("{context}: {source}")]
    Io {
        /// What was being done.
        context: String,
        /// The error.
        #[source]
        source: std::io::Error,
    },
}

/// The most sandboxes (sessions and ready ones) one emulator may have: a block of session uids, less a margin.
pub(crate) const MAX_SANDBOXES: usize = host::uids::BLOCK as usize - 8;

/// The sandbox's `/etc/passwd` and `/etc/group`: root, and the session user everything runs as.
const ETC_FILES: [(&str, &str); 2] = [
    (
        "passwd",
        "root:x:0:0:root:/root:/usr/sbin/nologin\nuser:x:65534:65534:session user:/home/user:/usr/sbin/nologin\n",
    ),
    ("group", "root:x:0:\nuser:x:65534:\n"),
];

/// Writes what every tier mounts at the kernel's place: the kernels' sources, the namespace tier's `ds-init`,
/// and the sandbox's `/etc/passwd` and `/etc/group` (atomically: a starting sandbox may be reading them).
pub(crate) fn install_kernel_files(dir: &std::path::Path) -> std::io::Result<()> {
    use std::os::unix::fs::PermissionsExt;
    std::fs::create_dir_all(dir)?;
    std::fs::set_permissions(dir, std::fs::Permissions::from_mode(0o755))?;
    for (name, content) in crate::kernel::SOURCES.iter().chain(&ETC_FILES) {
        let target = dir.join(name);
        if std::fs::read_to_string(&target).is_ok_and(|c| c == *content) {
            continue;
        }
        let temp = dir.join(format!(".{name}.{}", uuid::Uuid::new_v4().simple()));
        std::fs::write(&temp, content)?;
        std::fs::set_permissions(&temp, std::fs::Permissions::from_mode(0o644))?;
        std::fs::rename(&temp, &target)?;
    }
    let init = crate::kernel::INIT;
    let target = dir.join(crate::kernel::INIT_NAME);
    if !init.is_empty() && !std::fs::read(&target).is_ok_and(|c| c == init) {
        let temp = dir.join(format!(".{}.{}", crate::kernel::INIT_NAME, uuid::Uuid::new_v4().simple()));
        std::fs::write(&temp, init)?;
        std::fs::set_permissions(&temp, std::fs::Permissions::from_mode(0o755))?;
        std::fs::rename(&temp, &target)?;
    }
    Ok(())
}

pub(crate) fn io_err(context: impl Into<String>) -> impl FnOnce(std::io::Error) -> SandboxError {
    let context = context.into();
    move |source| SandboxError::Io { context, source }
}

/// What every tier's kernels are made from: the runtime, the kernel files, the limits, the preloaded modules.
#[derive(Debug)]
pub(crate) struct KernelFiles {
    pub(crate) runtime: Arc<Runtime>,
    /// `<data>/kernel`: the kernel's sources and the sandbox's `/etc/passwd` and `/etc/group`.
    pub(crate) dir: PathBuf,
    pub(crate) limits: Limits,
    /// Modules each kernel of the bubblewrap and Landlock tiers imports before it is ready (the namespaces
    /// tier's template imports them once).
    pub(crate) preimport: String,
    /// matplotlib's prebuilt font cache files (in the runtime's `mpl/`), provided to each writable config dir.
    pub(crate) mpl_cache: Vec<PathBuf>,
    /// Node.js for JavaScript kernels, when a `NodeLTS` pool has one.
    pub(crate) node: Option<Arc<NodeRuntime>>,
    /// What each new Python kernel runs before it is ready ([`crate::config::WarmUp`] names, comma-separated).
    pub(crate) warm_up: String,
}

impl SandboxInfo {
    /// Says in the log what the sandbox is, what enforces each limit, and what the operator should know.
    pub(crate) fn log(&self) {
        match self.tier {
            Tier::None => tracing::warn!(
                "SANDBOX DISABLED (--insecure-no-sandbox): session code runs as a plain process with this user's rights"
            ),
            tier => {
                tracing::info!(
                    ?tier,
                    cgroups = self.cgroups,
                    seccomp = self.seccomp,
                    uid_per_session = self.uid_per_session,
                    disk_quota = self.disk_quota,
                    landlock_abi = self.landlock_abi,
                    preloaded = %self.preloaded.join(","),
                    "sandbox tier in force"
                );
                for limit in &self.limits {
                    tracing::info!(resource = limit.resource, value = ?limit.value, by = %limit.enforced_by, "session limit");
                }
            }
        }
        for warning in &self.warnings {
            tracing::warn!("{warning}");
        }
    }
}

/// Creates workspaces and starts sandboxed kernels. Shared by the whole emulator.
#[derive(Debug)]
pub(crate) struct Sandbox {
    pub(crate) info: SandboxInfo,
    backend: Backend,
    host: host::Host,
    files: KernelFiles,
}

/// Refuses a uid 0 that is not root in full, unless no sandbox is wanted: every tier's root path needs root's
/// powers (even the Landlock tier mounts each session's tmpfs), and each session would fail with a bare
/// `EPERM`. Called first thing, before the runtime is set up.
pub(crate) fn refuse_limited_root(mode: SandboxMode) -> Result<(), SandboxError> {
    match host::privilege::limited_root() {
        Some(why) if mode != SandboxMode::InsecureNoSandbox => Err(SandboxError::LimitedRoot(why)),
        _ => Ok(()),
    }
}

impl Sandbox {
    /// Chooses the strongest tier the host and `config` allow, and starts it: probe, choose, build, describe.
    pub(crate) async fn start(
        config: &EmulatorConfig,
        runtime: Arc<Runtime>,
        node: Option<Arc<NodeRuntime>>,
        instance: &str,
        kernel_dir: PathBuf,
    ) -> Result<Sandbox, SandboxError> {
        let root = rustix::process::geteuid().is_root();
        if root {
            host::stale::reap(&config.data_dir);
        }
        let probes = Probes::run(config.sandbox, root);
        let tier = tier::choose(config.sandbox, &probes.native, &probes.bwrap, probes.landlock_abi, root)?;
        if let Probe::Unavailable(why) = &probes.native
            && tier != Tier::None
        {
            tracing::warn!(%why, ?tier, "the emulator cannot make namespaces itself");
        }
        let host = host::Host::prepare(config, tier, root, instance)?;
        let preloaded = match (&config.preimport, tier) {
            (Some(modules), _) => modules.clone(),
            (None, Tier::Namespaces) => default_preload(&runtime),
            (None, _) => Vec::new(),
        };
        let files = KernelFiles {
            mpl_cache: runtime.mpl_cache_files(),
            runtime,
            node,
            dir: kernel_dir,
            limits: config.limits.clone(),
            preimport: if tier == Tier::Namespaces { String::new() } else { preloaded.join(",") },
            warm_up: config.warm_up.iter().map(ToString::to_string).collect::<Vec<_>>().join(","),
        };
        let backend = Backend::build(tier, probes.bwrap_path, &host, &files, &preloaded, root).await?;
        let info = describe(config, tier, &host, probes.landlock_abi, root, preloaded);
        Ok(Sandbox { info, backend, host, files })
    }

    /// A fresh, empty `/mnt/data`: with its own uid (as root), and a disk quota where the tier has one.
    /// Blocking: call it on a blocking thread.
    pub(crate) fn create_workspace(&self) -> Result<Workspace, SandboxError> {
        self.backend.create_workspace(&self.host, &self.files.limits, self.info.disk_quota)
    }

    /// Removes a workspace: unmounts, deletes its files, frees its uid. Blocking.
    pub(crate) fn destroy_workspace(&self, workspace: &Workspace) {
        workspace.destroy(self.host.uids.as_ref(), self.backend.template());
    }

    /// Starts a `language` kernel of `flavor` for `workspace` in the sandbox, in a cgroup of its own where
    /// cgroups are in use.
    pub(crate) async fn spawn_kernel(
        &self,
        workspace: &Workspace,
        language: Language,
        flavor: Flavor,
    ) -> Result<Spawned, SandboxError> {
        let cgroup = self.host.create_cgroup(workspace, flavor, &self.files.limits)?;
        let kernel = tiers::KernelSpec { language, flavor, cgroup: cgroup.as_ref() };
        match self.backend.spawn(&self.host, &self.files, workspace, kernel).await {
            Ok(spawned) => Ok(Spawned { cgroup, ..spawned }),
            Err(e) => {
                if let Some(cgroup) = cgroup {
                    let _ =
                        tokio::task::spawn_blocking(move || cgroup.destroy(std::time::Duration::from_secs(1))).await;
                }
                Err(e)
            }
        }
    }

    /// The host uids this instance gives sessions, when each session has its own.
    pub(crate) fn session_uids(&self) -> Option<Range<u32>> {
        self.host.uids.as_ref().map(UidPool::range)
    }

    /// The instance's cgroup directories (none without cgroups).
    pub(crate) fn cgroup_dirs(&self) -> Vec<PathBuf> {
        self.host.cgroups.as_ref().map(CgroupManager::bases).unwrap_or_default()
    }

    /// The namespaces tier's template process id.
    pub(crate) fn template_pid(&self) -> Option<u32> {
        self.backend.template().and_then(tiers::namespaces::Template::pid)
    }

    /// Stops the tier's long-lived processes (after every session is gone).
    pub(crate) async fn stop(&self) {
        self.backend.stop().await;
    }

    /// Removes the instance's session directory, filter and cgroup bases (at shutdown). Blocking.
    pub(crate) fn cleanup(&self) {
        self.host.cleanup(&self.files.dir);
    }
}

/// What probing the host found, for the modes that may use it (each probe starts a process).
struct Probes {
    native: Probe,
    bwrap: Probe,
    bwrap_path: Option<PathBuf>,
    landlock_abi: i64,
}

impl Probes {
    fn run(mode: SandboxMode, root: bool) -> Probes {
        let native = match mode {
            SandboxMode::Auto | SandboxMode::Namespaces => match tiers::namespaces::probe(root) {
                Ok(()) => Probe::Works,
                Err(why) => Probe::Unavailable(why),
            },
            _ => Probe::Unused,
        };
        let bwrap_path = which("bwrap");
        let wants_bwrap = mode == SandboxMode::Bubblewrap || (mode == SandboxMode::Auto && native != Probe::Works);
        let bwrap = match (&bwrap_path, wants_bwrap) {
            (_, false) => Probe::Unused,
            (None, true) => Probe::Unavailable("bwrap is not on PATH (apt-get install bubblewrap)".into()),
            (Some(b), true) if tiers::bubblewrap::probe(b, root) => Probe::Works,
            (Some(_), true) => Probe::Unavailable("bubblewrap cannot create namespaces here".into()),
        };
        Probes { native, bwrap, bwrap_path, landlock_abi: tiers::landlock::abi_version() }
    }
}

/// The sandbox in words: the tier, what enforces each limit, and what the operator should know.
fn describe(
    config: &EmulatorConfig,
    tier: Tier,
    host: &host::Host,
    landlock_abi: i64,
    root: bool,
    preloaded: Vec<String>,
) -> SandboxInfo {
    let cgroups = host.cgroups.as_ref();
    let facts = limits::Facts { tier, root, cgroups: cgroups.is_some(), cpu_cgroup: cgroups.is_some_and(|c| c.cpu) };
    let mut warnings = Vec::new();
    warnings.extend(limits::budget_warning(config, tier, cgroups.is_some()));
    warnings.extend(limits::disk_warning(tier, root));
    SandboxInfo {
        tier,
        cgroups: cgroups.map(|c| c.version.name()).unwrap_or("none"),
        cgroups_unavailable: host.cgroups_unavailable.clone(),
        cgroups_delegated: cgroups.is_some_and(|c| c.delegated),
        seccomp: tier != Tier::None,
        landlock_abi: if tier == Tier::Landlock { landlock_abi } else { 0 },
        uid_per_session: host.uids.is_some(),
        disk_quota: matches!(tier, Tier::Namespaces | Tier::Bubblewrap) || (root && tier != Tier::None),
        preloaded: if tier == Tier::Namespaces { preloaded } else { Vec::new() },
        limits: limits::report(config, &facts),
        warnings,
    }
}

/// The default preloaded set: those of [`DEFAULT_PRELOAD`] whose distribution the runtime has.
fn default_preload(runtime: &Runtime) -> Vec<String> {
    let has = |name: &str| runtime.packages.iter().any(|p| p.name.eq_ignore_ascii_case(name));
    DEFAULT_PRELOAD.iter().filter(|m| has(m.split('.').next().unwrap_or(m))).map(|m| (*m).to_owned()).collect()
}

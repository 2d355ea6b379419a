//! Isolation of sessions: tier detection, per-session workspaces and the sandboxed kernel command.
//!
//! * **bubblewrap** (default): own user, mount, pid, network, IPC and UTS namespaces; read-only root; the
//!   session directory at `/mnt/data`; private `/tmp`; an unprivileged host uid per session; an empty
//!   environment; cgroup limits; rlimits; a seccomp denylist.
//! * **landlock** (no namespaces available): Landlock filesystem/network/signal rules, seccomp (also denying
//!   IPv4/IPv6 sockets), rlimits, cgroups and a per-session uid where possible.
//! * **none**: only with the explicit `--insecure-no-sandbox`.

mod cgroup;
mod command;
pub(crate) mod instance;
mod landlock_rules;
mod seccomp;
mod spawner;
mod stale;
pub(crate) mod uids;
mod workspace;

use std::ops::Range;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use serde::Serialize;

pub(crate) use cgroup::Cgroup;
pub(crate) use workspace::Workspace;

use crate::config::{EmulatorConfig, Limits, SandboxMode};
use crate::runtime::Runtime;
use cgroup::CgroupManager;
use spawner::Spawner;
use uids::UidPool;

/// The isolation tier in force.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Tier {
    /// bubblewrap namespaces + cgroups + rlimits + seccomp.
    Bubblewrap,
    /// Landlock + seccomp + rlimits (no namespaces).
    Landlock,
    /// No sandbox (explicitly requested).
    None,
}

/// What the sandbox does on this host, as `/health` reports it.
#[derive(Debug, Clone, Serialize)]
pub struct SandboxInfo {
    /// The tier.
    pub tier: Tier,
    /// `v1`, `v2`, or `none` (then only rlimits bound resources).
    pub cgroups: &'static str,
    /// Why cgroups are not used, when they are not.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub cgroups_unavailable: Option<String>,
    /// Whether the seccomp denylist is applied.
    pub seccomp: bool,
    /// The Landlock ABI applied (landlock tier), 0 otherwise.
    pub landlock_abi: i64,
    /// Whether each session runs as its own unprivileged host uid.
    pub uid_per_session: bool,
    /// Whether each session's `/mnt/data` is a size-limited tmpfs.
    pub disk_quota: bool,
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

pub(crate) fn io_err(context: impl Into<String>) -> impl FnOnce(std::io::Error) -> SandboxError {
    let context = context.into();
    move |source| SandboxError::Io { context, source }
}

/// Creates workspaces and starts sandboxed kernels. Shared by the whole emulator.
#[derive(Debug)]
pub(crate) struct Sandbox {
    pub(crate) info: SandboxInfo,
    pub(crate) limits: Limits,
    cgroups: Option<CgroupManager>,
    seccomp: Arc<Vec<u8>>,
    seccomp_program: Arc<seccompiler::BpfProgram>,
    spawner: Spawner,
    /// Session uids, when each session gets its own (running as root).
    uids: Option<UidPool>,
    bwrap: Option<PathBuf>,
    /// `<data>/sessions/<instance>`.
    sessions_dir: PathBuf,
    /// `<data>/kernel`.
    kernel_dir: PathBuf,
    runtime: Arc<Runtime>,
    output_cap: u64,
    preimport: String,
    /// matplotlib's prebuilt font cache files (in the runtime's `mpl/`), provided to each writable config dir.
    mpl_cache: Vec<PathBuf>,
}

impl Sandbox {
    /// Chooses the strongest tier the host and `config` allow.
    pub(crate) fn detect(
        config: &EmulatorConfig,
        runtime: Arc<Runtime>,
        instance: &str,
        kernel_dir: PathBuf,
    ) -> Result<Sandbox, SandboxError> {
        let root = rustix::process::geteuid().is_root();
        if root {
            stale::reap(&config.data_dir);
        }
        let bwrap = which("bwrap");
        let landlock_abi = landlock_rules::abi_version();
        // Probe bubblewrap only when the mode may use it (the probe starts a process).
        let bwrap_state = match (&bwrap, config.sandbox) {
            (_, SandboxMode::InsecureNoSandbox | SandboxMode::Landlock) => BwrapState::Unused,
            (None, _) => BwrapState::Missing,
            (Some(b), _) if command::probe_bwrap(b, root) => BwrapState::Works,
            (Some(_), _) => BwrapState::NoNamespaces,
        };
        let tier = choose_tier(config.sandbox, bwrap_state, landlock_abi)?;
        let (cgroups, cgroups_unavailable) = if tier == Tier::None {
            (None, Some("no sandbox".to_owned()))
        } else if !root {
            (None, Some("not running as root".to_owned()))
        } else {
            match CgroupManager::detect(instance) {
                Ok(m) => (Some(m), None),
                Err(reason) => (None, Some(reason)),
            }
        };
        if let Some(reason) = &cgroups_unavailable
            && tier != Tier::None
        {
            tracing::warn!(%reason, "cgroups unavailable: sessions are bounded by rlimits only");
        }
        let program = seccomp::program(tier == Tier::Landlock)
            .map_err(|e| SandboxError::Unavailable(format!("cannot build the seccomp filter: {e}")))?;
        let uid_per_session = root && tier != Tier::None;
        let uids = if uid_per_session {
            Some(UidPool::claim(config.max_sessions + config.ready_sessions + 8).map_err(SandboxError::Unavailable)?)
        } else {
            None
        };
        let sessions_dir = config.data_dir.join("sessions").join(instance);
        workspace::prepare_dir(&sessions_dir, root)?;
        let spawner =
            Spawner::start(tokio::runtime::Handle::current()).map_err(io_err("cannot start the spawner thread"))?;
        let info = SandboxInfo {
            tier,
            cgroups: cgroups.as_ref().map(|c| c.version.name()).unwrap_or("none"),
            cgroups_unavailable,
            seccomp: tier != Tier::None,
            landlock_abi: if tier == Tier::Landlock { landlock_abi } else { 0 },
            uid_per_session,
            disk_quota: root && tier != Tier::None,
        };
        let mpl_cache = runtime
            .venv
            .as_ref()
            .and_then(|v| std::fs::read_dir(v.join("mpl")).ok())
            .map(|entries| entries.flatten().map(|e| e.path()).filter(|p| p.is_file()).collect())
            .unwrap_or_default();
        Ok(Sandbox {
            mpl_cache,
            info,
            limits: config.limits.clone(),
            cgroups,
            seccomp: Arc::new(seccomp::to_bytes(&program)),
            seccomp_program: Arc::new(program),
            spawner,
            uids,
            bwrap,
            sessions_dir,
            kernel_dir,
            runtime,
            output_cap: config.limits.output_bytes,
            preimport: config.preimport.join(","),
        })
    }

    /// The tier in force.
    pub(crate) fn tier(&self) -> Tier {
        self.info.tier
    }

    /// A fresh, empty session directory with its own uid (and disk quota, as root).
    pub(crate) fn create_workspace(&self) -> Result<Workspace, SandboxError> {
        Workspace::create(&self.sessions_dir, self.uids.as_ref(), self.info.disk_quota, &self.limits)
    }

    /// Removes a workspace: unmounts, deletes its files, frees its uid.
    pub(crate) fn destroy_workspace(&self, workspace: &Workspace) {
        workspace.destroy(self.uids.as_ref());
    }

    /// Creates the cgroup of one of a session's kernels, when cgroups are in use.
    pub(crate) fn create_cgroup(
        &self,
        workspace: &Workspace,
        flavor: crate::kernel::Flavor,
    ) -> Result<Option<Cgroup>, SandboxError> {
        let name = match flavor {
            crate::kernel::Flavor::Preloaded => workspace.name(),
            crate::kernel::Flavor::Empty => format!("{}-empty", workspace.name()),
        };
        match &self.cgroups {
            Some(manager) => manager
                .create(&name, &self.limits)
                .map(Some)
                .map_err(io_err(format!("cannot create the cgroup {name}"))),
            None => Ok(None),
        }
    }

    /// Starts the kernel process of a workspace in the sandbox.
    pub(crate) async fn spawn_kernel(
        &self,
        workspace: &Workspace,
        cgroup: Option<&Cgroup>,
        flavor: crate::kernel::Flavor,
    ) -> Result<tokio::process::Child, SandboxError> {
        let command = command::build(self, workspace, cgroup, flavor)?;
        self.spawner.spawn(command).await.map_err(io_err("cannot start the sandboxed kernel"))
    }

    /// The host uids this instance gives sessions, when each session has its own.
    pub(crate) fn session_uids(&self) -> Option<Range<u32>> {
        self.uids.as_ref().map(UidPool::range)
    }

    /// The instance's cgroup directories (none without cgroups).
    pub(crate) fn cgroup_dirs(&self) -> Vec<PathBuf> {
        self.cgroups.as_ref().map(|c| c.bases().to_vec()).unwrap_or_default()
    }

    /// Removes the instance's session directory and cgroup bases (at shutdown).
    pub(crate) fn cleanup(&self) {
        let _ = std::fs::remove_dir_all(&self.sessions_dir);
        if let Some(cgroups) = &self.cgroups {
            cgroups.remove();
        }
    }
}

/// What probing bubblewrap found.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum BwrapState {
    /// Not probed: the mode does not use it.
    Unused,
    /// Not on `PATH`.
    Missing,
    /// Installed, but cannot create namespaces here.
    NoNamespaces,
    /// Installed and working.
    Works,
}

/// The tier for `mode` on a host with this bubblewrap and Landlock ABI; refuses when no isolation is possible
/// and none was explicitly waived.
fn choose_tier(mode: SandboxMode, bwrap: BwrapState, landlock_abi: i64) -> Result<Tier, SandboxError> {
    let unavailable = |why: &str| Err(SandboxError::Unavailable(why.to_owned()));
    match (mode, bwrap) {
        (SandboxMode::InsecureNoSandbox, _) => Ok(Tier::None),
        (SandboxMode::Landlock, _) if landlock_abi > 0 => Ok(Tier::Landlock),
        (SandboxMode::Landlock, _) => unavailable("the kernel has no Landlock"),
        (_, BwrapState::Works) => Ok(Tier::Bubblewrap),
        (SandboxMode::Bubblewrap, BwrapState::Missing) => unavailable("bwrap is not on PATH"),
        (SandboxMode::Bubblewrap, _) => unavailable("bubblewrap cannot create namespaces here"),
        (_, _) if landlock_abi > 0 => Ok(Tier::Landlock),
        (_, BwrapState::NoNamespaces) => {
            unavailable("bubblewrap cannot create namespaces and the kernel has no Landlock")
        }
        (_, _) => unavailable("no bwrap on PATH and no Landlock"),
    }
}

/// Finds an executable on `PATH`.
pub(crate) fn which(name: &str) -> Option<PathBuf> {
    let path = std::env::var_os("PATH").unwrap_or_else(|| "/usr/local/bin:/usr/bin:/bin".into());
    std::env::split_paths(&path).map(|dir| dir.join(name)).find(|p| is_executable(p))
}

fn is_executable(path: &Path) -> bool {
    use std::os::unix::fs::PermissionsExt;
    path.metadata().map(|m| m.is_file() && m.permissions().mode() & 0o111 != 0).unwrap_or(false)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn tier(mode: SandboxMode, bwrap: BwrapState, landlock: i64) -> Option<Tier> {
        choose_tier(mode, bwrap, landlock).ok()
    }

    #[test]
    fn auto_prefers_bubblewrap_then_landlock() {
        assert_eq!(tier(SandboxMode::Auto, BwrapState::Works, 7), Some(Tier::Bubblewrap));
        assert_eq!(tier(SandboxMode::Auto, BwrapState::NoNamespaces, 7), Some(Tier::Landlock));
        assert_eq!(tier(SandboxMode::Auto, BwrapState::Missing, 3), Some(Tier::Landlock));
    }

    #[test]
    fn refuses_to_run_code_without_isolation_unless_waived() {
        for bwrap in [BwrapState::Missing, BwrapState::NoNamespaces] {
            let err = choose_tier(SandboxMode::Auto, bwrap, 0).err().map(|e| e.to_string()).unwrap_or_default();
            assert!(err.contains("no sandbox is available") && err.contains("--insecure-no-sandbox"), "{err}");
        }
        assert_eq!(tier(SandboxMode::InsecureNoSandbox, BwrapState::Unused, 0), Some(Tier::None));
    }

    #[test]
    fn explicit_modes_do_not_fall_back() {
        assert_eq!(tier(SandboxMode::Bubblewrap, BwrapState::Missing, 7), None);
        assert_eq!(tier(SandboxMode::Bubblewrap, BwrapState::NoNamespaces, 7), None);
        assert_eq!(tier(SandboxMode::Bubblewrap, BwrapState::Works, 0), Some(Tier::Bubblewrap));
        assert_eq!(tier(SandboxMode::Landlock, BwrapState::Unused, 0), None);
        assert_eq!(tier(SandboxMode::Landlock, BwrapState::Unused, 1), Some(Tier::Landlock));
    }
}

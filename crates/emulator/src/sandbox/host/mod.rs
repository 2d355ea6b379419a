//! What every tier uses of the host: cgroups, the seccomp filter, session uids, `/proc`, the privileges the
//! emulator runs with, the spawner thread, stale traces of earlier runs, and the steps a child takes between
//! fork and exec.

pub(crate) mod cgroup;
pub(crate) mod child;
pub(crate) mod instance;
pub(crate) mod privilege;
pub(crate) mod procfs;
pub(crate) mod seccomp;
pub(crate) mod spawner;
pub(crate) mod stale;
pub(crate) mod uids;

use std::path::{Path, PathBuf};
use std::sync::Arc;

use super::workspace::{self, Workspace};
use super::{SandboxError, Tier, io_err};
use crate::config::{EmulatorConfig, Limits};
use crate::kernel::Flavor;
use cgroup::{Cgroup, CgroupManager};
use spawner::Spawner;
use uids::UidPool;

/// The host facilities one emulator instance holds.
#[derive(Debug)]
pub(crate) struct Host {
    pub(crate) cgroups: Option<CgroupManager>,
    /// Why cgroups are not used, when they are not.
    pub(crate) cgroups_unavailable: Option<String>,
    /// The seccomp filter, as bubblewrap and the namespaces tier's template read it.
    pub(crate) seccomp: Arc<Vec<u8>>,
    /// The seccomp filter, for the Landlock tier's children.
    pub(crate) seccomp_program: Arc<seccompiler::BpfProgram>,
    pub(crate) spawner: Spawner,
    /// Session uids, when each session gets its own (running as root).
    pub(crate) uids: Option<UidPool>,
    /// `<data>/sessions/<instance>`.
    pub(crate) sessions_dir: PathBuf,
    /// This instance's name (its pid and a random part).
    pub(crate) instance: String,
}

impl Host {
    /// Claims what `tier` needs of the host: cgroups (when they can be had), the seccomp filter, a block of
    /// session uids (as root), the instance's session directory and the spawner thread.
    pub(crate) fn prepare(
        config: &EmulatorConfig,
        tier: Tier,
        root: bool,
        instance: &str,
    ) -> Result<Host, SandboxError> {
        let (cgroups, cgroups_unavailable) = if tier == Tier::None {
            (None, Some("no sandbox".to_owned()))
        } else {
            if !root {
                // As root this ran with the rest of `stale::reap`; a user may own a delegated subtree.
                stale::remove_stale_cgroups();
            }
            match CgroupManager::detect(instance) {
                Ok(m) => (Some(m), None),
                Err(reason) => (None, Some(reason)),
            }
        };
        let profile = if tier == Tier::Landlock { seccomp::Profile::Landlock } else { seccomp::Profile::Namespaced };
        let program = seccomp::program(profile)
            .map_err(|e| SandboxError::Unavailable(format!("cannot build the seccomp filter: {e}")))?;
        let uids = if root && tier != Tier::None {
            Some(UidPool::claim(config.sandbox_slots() + 8).map_err(SandboxError::Unavailable)?)
        } else {
            None
        };
        let sessions_dir = config.data_dir.join("sessions").join(instance);
        workspace::prepare_dir(&sessions_dir, root)?;
        let spawner =
            Spawner::start(tokio::runtime::Handle::current()).map_err(io_err("cannot start the spawner thread"))?;
        Ok(Host {
            cgroups,
            cgroups_unavailable,
            seccomp: Arc::new(seccomp::to_bytes(&program)),
            seccomp_program: Arc::new(program),
            spawner,
            uids,
            sessions_dir,
            instance: instance.to_owned(),
        })
    }

    /// The cgroup of one of a session's kernels, when cgroups are in use.
    pub(crate) fn create_cgroup(
        &self,
        workspace: &Workspace,
        flavor: Flavor,
        limits: &Limits,
    ) -> Result<Option<Cgroup>, SandboxError> {
        let name = match flavor {
            Flavor::Preloaded => workspace.name(),
            Flavor::Empty => format!("{}-empty", workspace.name()),
        };
        match &self.cgroups {
            Some(manager) => {
                manager.create(&name, limits).map(Some).map_err(io_err(format!("cannot create the cgroup {name}")))
            }
            None => Ok(None),
        }
    }

    /// Where the namespaces tier's template reads the seccomp filter: `<kernel dir>/seccomp-<instance>.bpf`.
    pub(crate) fn seccomp_file(&self, kernel_dir: &Path) -> PathBuf {
        kernel_dir.join(format!("seccomp-{}.bpf", self.instance))
    }

    /// Removes the instance's session directory, seccomp file and cgroup bases. Blocking.
    pub(crate) fn cleanup(&self, kernel_dir: &Path) {
        let _ = std::fs::remove_dir_all(&self.sessions_dir);
        let _ = std::fs::remove_file(self.seccomp_file(kernel_dir));
        if let Some(cgroups) = &self.cgroups {
            cgroups.remove();
        }
    }
}

/// Descriptors the emulator holds per session (its kernels' pipes and process handles, a connection).
const DESCRIPTORS_PER_SESSION: u64 = 12;

/// Raises the soft limit on open files to the hard one, as servers do (the soft limit is often 1,024, too
/// few for a thousand sessions), and warns when even the hard limit is too low for `sessions`.
pub(crate) fn raise_open_file_limit(sessions: usize) {
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

/// Finds an executable on `PATH`.
pub(crate) fn which(name: &str) -> Option<PathBuf> {
    let path = std::env::var_os("PATH").unwrap_or_else(|| "/usr/local/bin:/usr/bin:/bin".into());
    std::env::split_paths(&path).map(|dir| dir.join(name)).find(|p| is_executable(p))
}

fn is_executable(path: &Path) -> bool {
    use std::os::unix::fs::PermissionsExt;
    path.metadata().map(|m| m.is_file() && m.permissions().mode() & 0o111 != 0).unwrap_or(false)
}

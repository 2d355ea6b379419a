//! Per-session cgroups (v1 and v2): process, memory and CPU limits, and a reliable kill.

use std::fs;
use std::io::{self, Write};
use std::os::fd::OwnedFd;
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use crate::config::Limits;

const ROOT: &str = "/sys/fs/cgroup";
const V1_CONTROLLERS: [&str; 3] = ["pids", "memory", "cpu"];
/// The directory every emulator's cgroups live in, under each v1 controller or the v2 root.
const EMULATOR_DIR: &str = "dynamic-sessions-emulator";

/// Where emulator instances' cgroups can be: one directory per v1 controller, and the v2 one.
pub(crate) fn emulator_dirs() -> Vec<PathBuf> {
    let root = Path::new(ROOT);
    let mut dirs: Vec<PathBuf> = V1_CONTROLLERS.iter().map(|c| root.join(c).join(EMULATOR_DIR)).collect();
    dirs.push(root.join(EMULATOR_DIR));
    dirs
}

/// Which cgroup hierarchy this host offers.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Version {
    V1,
    V2,
}

impl Version {
    pub(crate) fn name(self) -> &'static str {
        match self {
            Version::V1 => "v1",
            Version::V2 => "v2",
        }
    }
}

/// Creates the cgroups of one emulator instance, under `<controller>/dynamic-sessions-emulator/<instance>`.
#[derive(Debug)]
pub(crate) struct CgroupManager {
    pub(crate) version: Version,
    /// The instance's base directories (one per v1 controller, or one on v2).
    bases: Vec<PathBuf>,
}

impl CgroupManager {
    /// Probes the host and creates the instance's base directories; `None` when cgroups cannot be used
    /// (not root, no controllers, read-only), with the reason.
    pub(crate) fn detect(instance: &str) -> Result<CgroupManager, String> {
        let root = Path::new(ROOT);
        let v2_controllers = fs::read_to_string(root.join("cgroup.controllers")).ok();
        if let Some(controllers) = v2_controllers {
            let has = |c: &str| controllers.split_whitespace().any(|x| x == c);
            if !(has("pids") && has("memory") && has("cpu")) {
                return Err(format!("cgroup v2 lacks pids/memory/cpu controllers (has: {})", controllers.trim()));
            }
            let top = root.join(EMULATOR_DIR);
            let base = top.join(instance);
            let setup = || -> io::Result<()> {
                fs::create_dir_all(&base)?;
                for dir in [root, top.as_path(), base.as_path()] {
                    write(&dir.join("cgroup.subtree_control"), "+pids +memory +cpu")?;
                }
                Ok(())
            };
            setup().map_err(|e| format!("cannot set up cgroup v2 under {}: {e}", top.display()))?;
            return Ok(CgroupManager { version: Version::V2, bases: vec![base] });
        }
        let mut bases = Vec::new();
        for controller in V1_CONTROLLERS {
            let base = root.join(controller).join(EMULATOR_DIR).join(instance);
            fs::create_dir_all(&base).map_err(|e| format!("cannot create {}: {e}", base.display()))?;
            bases.push(base);
        }
        Ok(CgroupManager { version: Version::V1, bases })
    }

    /// Creates a session's cgroup with its limits and opens its `cgroup.procs` files for the child to join.
    pub(crate) fn create(&self, name: &str, limits: &Limits) -> io::Result<Cgroup> {
        let memcg = limits.memory_bytes + limits.memory_bytes / 4;
        let quota = ((limits.cpus.max(0.01)) * 100_000.0) as u64;
        let mut dirs = Vec::new();
        let mut procs = Vec::new();
        for base in &self.bases {
            let dir = base.join(name);
            fs::create_dir(&dir)?;
            dirs.push(dir.clone());
            match (
                self.version,
                base.parent().and_then(Path::parent).and_then(Path::file_name).and_then(|n| n.to_str()),
            ) {
                (Version::V2, _) => {
                    write(&dir.join("pids.max"), &limits.max_processes.to_string())?;
                    write(&dir.join("memory.max"), &memcg.to_string())?;
                    let _ = write(&dir.join("memory.swap.max"), "0");
                    write(&dir.join("cpu.max"), &format!("{quota} 100000"))?;
                }
                (Version::V1, Some("pids")) => write(&dir.join("pids.max"), &limits.max_processes.to_string())?,
                (Version::V1, Some("memory")) => {
                    write(&dir.join("memory.limit_in_bytes"), &memcg.to_string())?;
                    let _ = write(&dir.join("memory.memsw.limit_in_bytes"), &memcg.to_string());
                }
                (Version::V1, Some("cpu")) => {
                    write(&dir.join("cpu.cfs_period_us"), "100000")?;
                    write(&dir.join("cpu.cfs_quota_us"), &quota.to_string())?;
                }
                _ => {}
            }
            let file = fs::OpenOptions::new().write(true).open(dir.join("cgroup.procs"))?;
            procs.push(OwnedFd::from(file));
        }
        Ok(Cgroup { version: self.version, dirs, procs })
    }

    /// The instance's base directories.
    pub(crate) fn bases(&self) -> &[PathBuf] {
        &self.bases
    }

    /// Removes the instance's base directories (after every session's cgroup is gone).
    pub(crate) fn remove(&self) {
        for base in &self.bases {
            let _ = fs::remove_dir(base);
        }
    }
}

/// One session's cgroup.
#[derive(Debug)]
pub(crate) struct Cgroup {
    version: Version,
    dirs: Vec<PathBuf>,
    procs: Vec<OwnedFd>,
}

impl Cgroup {
    /// Copies of the open `cgroup.procs` files, for a child to join (it writes "0" to each before it execs).
    pub(crate) fn procs_files(&self) -> io::Result<Vec<OwnedFd>> {
        self.procs.iter().map(OwnedFd::try_clone).collect()
    }

    fn pids(&self) -> Vec<i32> {
        self.dirs
            .first()
            .and_then(|d| fs::read_to_string(d.join("cgroup.procs")).ok())
            .map(|s| s.lines().filter_map(|l| l.trim().parse().ok()).collect())
            .unwrap_or_default()
    }

    /// Kills every process in the cgroup and removes it, waiting up to `patience` for a fork bomb to drain.
    pub(crate) fn destroy(self, patience: Duration) {
        let started = Instant::now();
        loop {
            if self.version == Version::V2
                && let Some(dir) = self.dirs.first()
            {
                let _ = write(&dir.join("cgroup.kill"), "1");
            }
            let pids = self.pids();
            for pid in &pids {
                // SAFETY: kill(2) has no memory-safety preconditions.
                unsafe { libc::kill(*pid, libc::SIGKILL) };
            }
            if pids.is_empty() || started.elapsed() > patience {
                break;
            }
            std::thread::sleep(Duration::from_millis(20));
        }
        drop(self.procs);
        for dir in &self.dirs {
            for _ in 0..50 {
                match fs::remove_dir(dir) {
                    Ok(()) => break,
                    Err(e) if e.kind() == io::ErrorKind::NotFound => break,
                    Err(_) => std::thread::sleep(Duration::from_millis(20)),
                }
            }
        }
    }
}

/// Kills the processes of a cgroup directory (v1 or v2) and removes it: for cgroups of dead instances.
pub(crate) fn kill_and_remove(dir: &Path, patience: Duration) {
    let started = Instant::now();
    loop {
        let _ = write(&dir.join("cgroup.kill"), "1");
        let pids: Vec<i32> = fs::read_to_string(dir.join("cgroup.procs"))
            .map(|s| s.lines().filter_map(|l| l.trim().parse().ok()).collect())
            .unwrap_or_default();
        for pid in &pids {
            // SAFETY: kill(2) has no memory-safety preconditions.
            unsafe { libc::kill(*pid, libc::SIGKILL) };
        }
        if pids.is_empty() || started.elapsed() > patience {
            break;
        }
        std::thread::sleep(Duration::from_millis(20));
    }
    let _ = fs::remove_dir(dir);
}

fn write(path: &Path, value: &str) -> io::Result<()> {
    let mut file = fs::OpenOptions::new().write(true).open(path)?;
    file.write_all(value.as_bytes())
}

//! Per-session cgroups (v1 and v2): process, memory and CPU limits, and a reliable kill.
//!
//! As root the emulator's cgroups live at the top of each hierarchy. As an ordinary user they live in the
//! subtree delegated to the user, when there is one: the emulator's own cgroup, if its user may write it
//! (a systemd user scope with `Delegate=yes`, or a directory an administrator `chown`ed to the user). On v2
//! a cgroup that holds processes cannot hand controllers to its children, so there the emulator first
//! moves its own process into a leaf (`SELF_LEAF`) of that cgroup, as systemd asks of delegated services.

use std::fs;
use std::io::{self, Write};
use std::os::fd::OwnedFd;
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use rustix::fs::{Access, access};

use crate::config::Limits;
use delegation::enable_controllers;
use placement::placement;

mod delegation;
mod placement;

const ROOT: &str = "/sys/fs/cgroup";
/// The v1 controllers the emulator uses; the first two are required, `cpu` only where it can be had.
const V1_CONTROLLERS: [&str; 3] = ["pids", "memory", "cpu"];
/// The directory every emulator's cgroups live in, under each v1 controller or the v2 root (or, as a user,
/// under the delegated cgroup).
const EMULATOR_DIR: &str = "dynamic-sessions-emulator";
/// The leaf of a delegated v2 cgroup the emulator moves its own process into (see the module doc).
pub(crate) const SELF_LEAF: &str = "dynamic-sessions-emulator.self";
/// What to tell a user whose cgroup is not delegated to them.
const DELEGATE_HINT: &str = "start the emulator in a cgroup delegated to your user, e.g. `systemd-run --user \
     --scope -p Delegate=yes -- <command>` on a systemd host, or have root create a cgroup, chown it to you and \
     move your shell into it";

/// Where emulator instances' cgroups can be, for this process: one directory per v1 controller, and the
/// v2 one (as root); the delegated ones (as a user).
pub(crate) fn emulator_dirs() -> Vec<PathBuf> {
    let privileged = rustix::process::geteuid().is_root();
    let (_, parents) = placement(privileged);
    let mut dirs: Vec<PathBuf> = parents.into_iter().map(|(_, p)| p.join(EMULATOR_DIR)).collect();
    if privileged {
        dirs.push(Path::new(ROOT).join(EMULATOR_DIR));
    }
    dirs
}

/// A controller a base directory belongs to.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Controller {
    Pids,
    Memory,
    Cpu,
    /// The v2 hierarchy (every controller in one directory).
    Unified,
}

impl Controller {
    fn v1(name: &str) -> Option<Controller> {
        match name {
            "pids" => Some(Controller::Pids),
            "memory" => Some(Controller::Memory),
            "cpu" => Some(Controller::Cpu),
            _ => None,
        }
    }
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

fn writable(dir: &Path) -> bool {
    access(dir, Access::WRITE_OK).is_ok() && access(dir.join("cgroup.procs"), Access::WRITE_OK).is_ok()
}

/// Creates the cgroups of one emulator instance, under `<parent>/dynamic-sessions-emulator/<instance>`.
#[derive(Debug)]
pub(crate) struct CgroupManager {
    pub(crate) version: Version,
    /// The instance's base directories (one per v1 hierarchy, or one on v2), with their controllers (v1
    /// hierarchies may mount several together, such as `memory,pids`).
    bases: Vec<(Vec<Controller>, PathBuf)>,
    /// Whether a cpu controller is among them (as a user it may not be delegated).
    pub(crate) cpu: bool,
    /// Whether they are in a subtree delegated to this (unprivileged) user.
    pub(crate) delegated: bool,
}

impl CgroupManager {
    /// Probes the host and creates the instance's base directories: at the top of each hierarchy as root,
    /// in the cgroup delegated to this user otherwise. The error says why cgroups cannot be used.
    pub(crate) fn detect(instance: &str) -> Result<CgroupManager, String> {
        let privileged = rustix::process::geteuid().is_root();
        match placement(privileged) {
            (Version::V2, parents) => Self::detect_v2(instance, privileged, parents),
            (Version::V1, parents) => Self::detect_v1(instance, privileged, parents),
        }
    }

    fn detect_v2(
        instance: &str,
        privileged: bool,
        parents: Vec<(Controller, PathBuf)>,
    ) -> Result<CgroupManager, String> {
        let Some((_, parent)) = parents.into_iter().next() else {
            return Err("this process has no cgroup v2 path in /proc/self/cgroup".to_owned());
        };
        let delegated = writable(&parent) && access(parent.join("cgroup.subtree_control"), Access::WRITE_OK).is_ok();
        if !privileged && !delegated {
            return Err(format!(
                "not root, and this process's cgroup {} is not delegated to its user: {DELEGATE_HINT}",
                parent.display()
            ));
        }
        let controllers = fs::read_to_string(parent.join("cgroup.controllers")).unwrap_or_default();
        let has = |c: &str| controllers.split_whitespace().any(|x| x == c);
        let cpu = has("cpu");
        if !(has("pids") && has("memory") && (cpu || !privileged)) {
            return Err(format!(
                "the cgroup {} lacks the pids and memory controllers (has: {}){}",
                parent.display(),
                controllers.trim(),
                if privileged { "" } else { "; delegate them to your user" }
            ));
        }
        let enable = if cpu { "+pids +memory +cpu" } else { "+pids +memory" };
        enable_controllers(&parent, enable)?;
        let top = parent.join(EMULATOR_DIR);
        let base = top.join(instance);
        let setup = || -> io::Result<()> {
            fs::create_dir_all(&base)?;
            for dir in [top.as_path(), base.as_path()] {
                write(&dir.join("cgroup.subtree_control"), enable)?;
            }
            Ok(())
        };
        setup().map_err(|e| format!("cannot set up cgroup v2 under {}: {e}", top.display()))?;
        Ok(CgroupManager {
            version: Version::V2,
            bases: vec![(vec![Controller::Unified], base)],
            cpu,
            delegated: !privileged,
        })
    }

    fn detect_v1(
        instance: &str,
        privileged: bool,
        parents: Vec<(Controller, PathBuf)>,
    ) -> Result<CgroupManager, String> {
        let mut bases: Vec<(Vec<Controller>, PathBuf)> = Vec::new();
        let mut problem = None;
        for (controller, parent) in parents {
            if !privileged && !writable(&parent) {
                if controller == Controller::Cpu {
                    continue; // optional for a user: sessions then share the user's CPU
                }
                problem = Some(format!(
                    "not root, and this process's cgroup {} is not delegated to its user: {DELEGATE_HINT}",
                    parent.display()
                ));
                break;
            }
            let base = parent.join(EMULATOR_DIR).join(instance);
            if let Some((controllers, _)) = bases.iter_mut().find(|(_, b)| *b == base) {
                controllers.push(controller); // mounted together with an earlier one
                continue;
            }
            if let Err(e) = fs::create_dir_all(&base) {
                problem = Some(format!("cannot create {}: {e}", base.display()));
                break;
            }
            bases.push((vec![controller], base));
        }
        let has = |c: Controller| bases.iter().any(|(cs, _)| cs.contains(&c));
        if problem.is_none() && !(has(Controller::Pids) && has(Controller::Memory)) {
            let found: Vec<String> = bases.iter().map(|(_, b)| b.display().to_string()).collect();
            problem =
                Some(format!("the pids and memory cgroup v1 controllers are not both mounted (found: {found:?})"));
        }
        if let Some(problem) = problem {
            for (_, base) in &bases {
                let _ = fs::remove_dir(base);
            }
            return Err(problem);
        }
        let cpu = has(Controller::Cpu);
        Ok(CgroupManager { version: Version::V1, bases, cpu, delegated: !privileged })
    }

    /// Creates a session's cgroup with its limits and opens its `cgroup.procs` files for the child to join.
    pub(crate) fn create(&self, name: &str, limits: &Limits) -> io::Result<Cgroup> {
        let memcg = limits.memory_bytes + limits.memory_bytes / 4;
        let quota = ((limits.cpus.max(0.01)) * 100_000.0) as u64;
        let mut dirs = Vec::new();
        let mut procs = Vec::new();
        for (controllers, base) in &self.bases {
            let dir = base.join(name);
            fs::create_dir(&dir)?;
            dirs.push(dir.clone());
            for controller in controllers {
                match controller {
                    Controller::Unified => {
                        write(&dir.join("pids.max"), &limits.max_processes.to_string())?;
                        write(&dir.join("memory.max"), &memcg.to_string())?;
                        let _ = write(&dir.join("memory.swap.max"), "0");
                        if self.cpu {
                            write(&dir.join("cpu.max"), &format!("{quota} 100000"))?;
                        }
                    }
                    Controller::Pids => write(&dir.join("pids.max"), &limits.max_processes.to_string())?,
                    Controller::Memory => {
                        write(&dir.join("memory.limit_in_bytes"), &memcg.to_string())?;
                        let _ = write(&dir.join("memory.memsw.limit_in_bytes"), &memcg.to_string());
                    }
                    Controller::Cpu => {
                        write(&dir.join("cpu.cfs_period_us"), "100000")?;
                        write(&dir.join("cpu.cfs_quota_us"), &quota.to_string())?;
                    }
                }
            }
            let file = fs::OpenOptions::new().write(true).open(dir.join("cgroup.procs"))?;
            procs.push(OwnedFd::from(file));
        }
        Ok(Cgroup { version: self.version, dirs, procs })
    }

    /// The instance's base directories.
    pub(crate) fn bases(&self) -> Vec<PathBuf> {
        self.bases.iter().map(|(_, b)| b.clone()).collect()
    }

    /// Removes the instance's base directories (after every session's cgroup is gone).
    pub(crate) fn remove(&self) {
        for (_, base) in &self.bases {
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

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

/// One hierarchy this process belongs to, from `/proc/self/cgroup`: `<id>:<controllers>:<path>`.
#[derive(Debug, Clone, PartialEq, Eq)]
struct Membership {
    /// The v1 controllers (`cpu,cpuacct`), or empty for the v2 hierarchy.
    controllers: String,
    /// The cgroup's path from the hierarchy's root.
    path: String,
}

/// Parses `/proc/self/cgroup` (named hierarchies such as `name=systemd` are skipped).
fn memberships(text: &str) -> Vec<Membership> {
    text.lines()
        .filter_map(|line| {
            let mut fields = line.splitn(3, ':');
            let (_, controllers, path) = (fields.next()?, fields.next()?, fields.next()?);
            (!controllers.starts_with("name="))
                .then(|| Membership { controllers: controllers.to_owned(), path: path.to_owned() })
        })
        .collect()
}

/// A directory under `root` for a cgroup path; a delegated v2 cgroup's `SELF_LEAF` stands for its parent.
fn under(root: &Path, path: &str) -> PathBuf {
    let path = path.trim_matches('/');
    let path = match path.rsplit_once('/') {
        Some((parent, SELF_LEAF)) => parent,
        None if path == SELF_LEAF => "",
        _ => path,
    };
    if path.is_empty() { root.to_path_buf() } else { root.join(path) }
}

/// Where one controller's (or v2's) emulator cgroups go: `(controller, parent of EMULATOR_DIR)`.
/// `privileged`: the top of each hierarchy; otherwise this process's own cgroups (delegated, or not usable).
fn parents(root: &Path, version: Version, privileged: bool, own: &[Membership]) -> Vec<(Controller, PathBuf)> {
    match version {
        Version::V2 => {
            let path = own.iter().find(|m| m.controllers.is_empty()).map(|m| m.path.as_str());
            match (privileged, path) {
                (true, _) => vec![(Controller::Unified, root.to_path_buf())],
                (false, Some(path)) => vec![(Controller::Unified, under(root, path))],
                (false, None) => Vec::new(),
            }
        }
        Version::V1 => V1_CONTROLLERS
            .iter()
            .filter_map(|&name| {
                let controller = Controller::v1(name)?;
                if privileged {
                    return Some((controller, root.join(name)));
                }
                let member = own.iter().find(|m| m.controllers.split(',').any(|c| c == name))?;
                Some((controller, under(&root.join(&member.controllers), &member.path)))
            })
            .collect(),
    }
}

/// This host's cgroup version, and where this process's emulator cgroups go.
fn placement(privileged: bool) -> (Version, Vec<(Controller, PathBuf)>) {
    let root = Path::new(ROOT);
    let version = if root.join("cgroup.controllers").exists() { Version::V2 } else { Version::V1 };
    let own = fs::read_to_string("/proc/self/cgroup").map(|t| memberships(&t)).unwrap_or_default();
    (version, parents(root, version, privileged, &own))
}

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

/// Serialises the enabling of controllers (and the move into `SELF_LEAF`) among the emulators of one process.
static ENABLING: std::sync::Mutex<()> = std::sync::Mutex::new(());
/// How long the processes this one started may keep the delegated cgroup busy after they were moved: one that
/// is exiting is skipped by a move and stays listed until the kernel has released its namespaces.
const SETTLE_PATIENCE: Duration = Duration::from_secs(3);
/// How far up its parents a process is followed when deciding whether it descends from this one.
const ANCESTRY_DEPTH: usize = 64;

/// Lets `parent`'s children have the `enable` controllers. A v2 cgroup that holds processes cannot (the
/// root cgroup excepted), so this process moves into the leaf `SELF_LEAF` first, as systemd asks of
/// delegated services, and takes along its descendants (another thread's probe, a helper of the host
/// application, forked before the move): in the leaf they are where they would be had they started after
/// it. If anyone else shares the cgroup (the shell of a terminal's scope, an orphan left to init), nothing is
/// moved and the error names them. A move that does not help is undone.
fn enable_controllers(parent: &Path, enable: &str) -> Result<(), String> {
    let _one_at_a_time = ENABLING.lock().map_err(|_| "the cgroup lock is poisoned".to_owned())?;
    let subtree = parent.join("cgroup.subtree_control");
    let first = match write(&subtree, enable) {
        Ok(()) => return Ok(()),
        Err(e) if e.raw_os_error() == Some(libc::EBUSY) => e,
        Err(e) => return Err(format!("cannot enable controllers in {}: {e}", parent.display())),
    };
    let me = std::process::id();
    let strangers = sort(&members(parent), |pid| kind(pid, me)).strangers;
    if !strangers.is_empty() {
        return Err(shared(parent, &first, &strangers));
    }
    let leaf = parent.join(SELF_LEAF);
    let outcome = fs::create_dir_all(&leaf)
        .and_then(|()| write(&leaf.join("cgroup.procs"), "0"))
        .map_err(|e| format!("cannot move into {}: {e}", leaf.display()))
        .and_then(|()| settle(parent, &leaf, enable, me, &first));
    if outcome.is_err() {
        // Back where they were: a leaf that did not help must not keep this process or its descendants (only
        // those: one that moved itself elsewhere since, or a reused pid, is not ours to move).
        for pid in members(&leaf) {
            if kind(pid, me) == Kind::Ours {
                let _ = write(&parent.join("cgroup.procs"), &pid.to_string());
            }
        }
        let _ = fs::remove_dir(&leaf);
    }
    outcome
}

/// Moves this process's descendants still in `parent` into `leaf` until `parent` can hand down the `enable`
/// controllers, for up to `SETTLE_PATIENCE`; fails at once on a process that is not ours.
fn settle(parent: &Path, leaf: &Path, enable: &str, me: u32, first: &io::Error) -> Result<(), String> {
    let started = Instant::now();
    loop {
        let sorted = sort(&members(parent), |pid| kind(pid, me));
        if !sorted.strangers.is_empty() {
            return Err(shared(parent, first, &sorted.strangers));
        }
        for pid in &sorted.ours {
            // One that exited since the listing needs no move; one that failed to move is seen next round.
            let _ = write(&leaf.join("cgroup.procs"), &pid.to_string());
        }
        let error = match write(&parent.join("cgroup.subtree_control"), enable) {
            Ok(()) => return Ok(()),
            Err(e) => e,
        };
        if error.raw_os_error() != Some(libc::EBUSY) || started.elapsed() > SETTLE_PATIENCE {
            let left = members(parent);
            return Err(format!(
                "cannot enable controllers in {} after moving into {}: {error}{}",
                parent.display(),
                leaf.display(),
                if left.is_empty() { String::new() } else { format!("; still in it: {}", describe(&left)) }
            ));
        }
        std::thread::sleep(Duration::from_millis(20));
    }
}

/// The refusal when processes that are not this one's share its delegated cgroup.
fn shared(parent: &Path, first: &io::Error, strangers: &[u32]) -> String {
    format!(
        "cannot enable controllers in {} ({first}): processes that this one did not start share it ({}), so \
         start the emulator in a cgroup of its own ({DELEGATE_HINT})",
        parent.display(),
        describe(strangers)
    )
}

/// Whose a process listed in the delegated cgroup is.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Kind {
    /// This process or one of its descendants: moved along into the leaf.
    Ours,
    /// Someone else's: the emulator will not take the cgroup from it.
    Stranger,
    /// Not known yet: it has no `/proc` entry (it exited since the listing, and will leave the list, or
    /// `hidepid` hides it, and it will stay and be named once the patience is spent).
    Unknown,
}

/// `listed` sorted by `kind`.
#[derive(Debug, Default, PartialEq, Eq)]
struct Sorted {
    ours: Vec<u32>,
    strangers: Vec<u32>,
}

fn sort(listed: &[u32], kind: impl Fn(u32) -> Kind) -> Sorted {
    let mut sorted = Sorted::default();
    for &pid in listed {
        match kind(pid) {
            Kind::Ours => sorted.ours.push(pid),
            Kind::Stranger => sorted.strangers.push(pid),
            Kind::Unknown => {}
        }
    }
    sorted
}

/// Whose `pid` is, from `/proc` (see [`Kind`]). A pid of 0 is a process outside this pid namespace.
fn kind(pid: u32, me: u32) -> Kind {
    if pid == me || descends_from(pid, me) {
        Kind::Ours
    } else if pid == 0 || Path::new(&format!("/proc/{pid}")).exists() {
        Kind::Stranger
    } else {
        Kind::Unknown
    }
}

/// The processes in a cgroup (`cgroup.procs`).
fn members(dir: &Path) -> Vec<u32> {
    let listed = fs::read_to_string(dir.join("cgroup.procs")).unwrap_or_default();
    listed.lines().filter_map(|l| l.trim().parse().ok()).collect()
}

/// Whether `ancestor` is among `pid`'s parents (read from `/proc`, up to `ANCESTRY_DEPTH` of them). A process
/// that has exited, or whose parent exited and left it to init or a subreaper, is not.
fn descends_from(pid: u32, ancestor: u32) -> bool {
    let mut current = pid;
    for _ in 0..ANCESTRY_DEPTH {
        match parent_pid(current) {
            Some(parent) if parent == ancestor => return true,
            Some(parent) if parent > 1 => current = parent,
            _ => return false,
        }
    }
    false
}

/// `pid (command)` for each process, for an error message (the command is the process's own choice, so it is
/// escaped).
fn describe(pids: &[u32]) -> String {
    let named: Vec<String> = pids
        .iter()
        .map(|pid| match fs::read_to_string(format!("/proc/{pid}/comm")) {
            Ok(comm) => format!("{pid} ({})", comm.trim_end_matches('\n').escape_debug()),
            Err(_) if *pid == 0 => "a process outside this pid namespace".to_owned(),
            Err(_) => pid.to_string(),
        })
        .collect();
    named.join(", ")
}

/// A process's parent, from `/proc/<pid>/stat` (its fourth field, after the parenthesised command name).
fn parent_pid(pid: u32) -> Option<u32> {
    let stat = fs::read_to_string(format!("/proc/{pid}/stat")).ok()?;
    stat.rsplit_once(')')?.1.split_whitespace().nth(1)?.parse().ok()
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

#[cfg(test)]
mod tests {
    use super::*;

    /// `/proc/self/cgroup` of a process in a hybrid systemd host's user session.
    const HYBRID: &str = "12:pids:/user.slice/user-1000.slice/session-2.scope\n\
        4:memory:/user.slice/user-1000.slice/session-2.scope\n\
        3:cpu,cpuacct:/user.slice\n\
        1:name=systemd:/user.slice/user-1000.slice/session-2.scope\n\
        0::/user.slice/user-1000.slice/session-2.scope\n";

    #[test]
    fn memberships_skip_named_hierarchies_and_keep_colons_in_paths() {
        let own = memberships(HYBRID);
        assert_eq!(own.len(), 4, "{own:?}");
        assert!(own.iter().all(|m| !m.controllers.starts_with("name=")));
        let odd = memberships("0::/a:b\n");
        assert_eq!(odd, vec![Membership { controllers: String::new(), path: "/a:b".into() }]);
        assert!(memberships("garbage\n\n").is_empty());
    }

    #[test]
    fn a_user_gets_its_own_cgroups_and_root_the_top_of_each_hierarchy() {
        let root = Path::new("/sys/fs/cgroup");
        let own = memberships(HYBRID);
        let user = parents(root, Version::V1, false, &own);
        assert_eq!(
            user,
            vec![
                (Controller::Pids, root.join("pids/user.slice/user-1000.slice/session-2.scope")),
                (Controller::Memory, root.join("memory/user.slice/user-1000.slice/session-2.scope")),
                (Controller::Cpu, root.join("cpu,cpuacct/user.slice")),
            ]
        );
        let privileged = parents(root, Version::V1, true, &own);
        assert_eq!(privileged[1], (Controller::Memory, root.join("memory")));
        let v2 = parents(root, Version::V2, false, &own);
        assert_eq!(v2, vec![(Controller::Unified, root.join("user.slice/user-1000.slice/session-2.scope"))]);
        assert_eq!(parents(root, Version::V2, true, &own), vec![(Controller::Unified, root.to_path_buf())]);
    }

    #[test]
    fn a_parent_is_read_from_proc() {
        assert_eq!(parent_pid(std::process::id()), Some(std::os::unix::process::parent_id()));
        assert_eq!(parent_pid(u32::MAX), None);
    }

    #[test]
    fn a_grandchild_is_ours_and_the_parent_a_stranger() -> Result<(), Box<dyn std::error::Error>> {
        let me = std::process::id();
        // A shell whose own child is a sleep: the sleep is this process's grandchild.
        let mut shell = std::process::Command::new("/bin/sh")
            .args(["-c", "sleep 30 & echo $!; wait"])
            .stdout(std::process::Stdio::piped())
            .spawn()?;
        let stdout = shell.stdout.take().ok_or("no stdout")?;
        let mut line = String::new();
        std::io::BufRead::read_line(&mut std::io::BufReader::new(stdout), &mut line)?;
        let grandchild: u32 = line.trim().parse()?;
        // `$!` is known once forked, before the fork execs sleep.
        let started = Instant::now();
        while fs::read_to_string(format!("/proc/{grandchild}/comm"))?.trim() != "sleep" {
            if started.elapsed() > Duration::from_secs(30) {
                return Err("the shell's child did not exec sleep".into());
            }
            std::thread::sleep(Duration::from_millis(5));
        }
        // 0 when the parent is outside this pid namespace: a stranger either way.
        let parent = std::os::unix::process::parent_id();
        let found = (
            [shell.id(), grandchild, me, parent, 0, u32::MAX].map(|pid| kind(pid, me)),
            descends_from(me, me),
            describe(&[grandchild]),
        );
        // SAFETY: kill(2) has no memory-safety preconditions.
        unsafe { libc::kill(grandchild as i32, libc::SIGKILL) };
        shell.wait()?;
        let expected = [Kind::Ours, Kind::Ours, Kind::Ours, Kind::Stranger, Kind::Stranger, Kind::Unknown];
        assert_eq!(found, (expected, false, format!("{grandchild} (sleep)")));
        Ok(())
    }

    #[test]
    fn sorting_moves_ours_names_strangers_and_waits_on_the_unknown() {
        let kind = |pid: u32| match pid {
            1..=9 => Kind::Ours,
            10..=19 => Kind::Stranger,
            _ => Kind::Unknown,
        };
        assert_eq!(sort(&[3, 12, 40, 4, 0], kind), Sorted { ours: vec![3, 4], strangers: vec![12] });
        assert_eq!(sort(&[40, 41], kind), Sorted::default(), "the unknown are neither moved nor named yet");
        assert_eq!(sort(&[], kind), Sorted::default());
    }

    #[test]
    fn a_command_name_cannot_break_the_message() -> Result<(), Box<dyn std::error::Error>> {
        // A process names itself: this shell picks a name with a line break, then waits on its stdin.
        let mut shell = std::process::Command::new("/bin/sh")
            .args(["-c", "printf 'ev\\nil' > /proc/$$/comm; echo ready; read line"])
            .stdin(std::process::Stdio::piped())
            .stdout(std::process::Stdio::piped())
            .spawn()?;
        let stdout = shell.stdout.take().ok_or("no stdout")?;
        let mut line = String::new();
        std::io::BufRead::read_line(&mut std::io::BufReader::new(stdout), &mut line)?;
        let described = describe(&[shell.id()]);
        drop(shell.stdin.take());
        shell.wait()?;
        assert_eq!(described, format!("{} (ev\\nil)", shell.id()));
        assert_eq!(describe(&[u32::MAX, 0]), format!("{}, a process outside this pid namespace", u32::MAX));
        Ok(())
    }

    #[test]
    fn the_leaf_the_emulator_moved_into_stands_for_the_delegated_cgroup() {
        let root = Path::new("/sys/fs/cgroup");
        let own = memberships(&format!("0::/user.slice/app.scope/{SELF_LEAF}\n"));
        assert_eq!(
            parents(root, Version::V2, false, &own),
            vec![(Controller::Unified, root.join("user.slice/app.scope"))]
        );
        assert_eq!(under(root, "/"), root.to_path_buf());
        assert_eq!(under(root, &format!("/{SELF_LEAF}")), root.to_path_buf());
        assert_eq!(under(root, "/a/x-dynamic-sessions-emulator.self"), root.join("a/x-dynamic-sessions-emulator.self"));
    }
}

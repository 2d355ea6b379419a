//! A delegated cgroup v2 hands controllers to its children only once no process is in it: the emulator moves
//! itself (and the processes it started) into a leaf, and names anyone else who is there.

use std::fs;
use std::io;
use std::path::Path;
use std::time::{Duration, Instant};

use super::{DELEGATE_HINT, SELF_LEAF, write};

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
pub(super) fn enable_controllers(parent: &Path, enable: &str) -> Result<(), String> {
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

#[cfg(test)]
mod tests {
    use super::*;

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
}

//! A running kernel's process, whichever way it was started: a child of the emulator (bubblewrap), a child
//! that leads a process group its session's processes cannot leave (Landlock), or a session forked by the
//! template (the namespace tier), reached through a pidfd.

use std::os::fd::OwnedFd;
use std::sync::Arc;
use std::time::Duration;

use rustix::event::{PollFd, PollFlags, Timespec, poll};
use rustix::process::{Pid, Signal, kill_process_group, pidfd_send_signal};

/// A kernel's process (for a forked session: its first process, whose death ends the session).
#[derive(Debug)]
pub(crate) enum KernelProcess {
    /// bubblewrap: its pid namespace ends with it.
    Child(tokio::process::Child),
    /// A kernel that leads its own session and process group, which in the Landlock tier its processes cannot
    /// leave (`setsid` and `setpgid` are refused): killing the group ends every process of the session. (The
    /// no-sandbox mode leads a group too, which trusted code could leave.)
    Leader(tokio::process::Child),
    Forked(Arc<OwnedFd>),
}

/// What starting a kernel hands back: its process and the emulator's ends of its pipes.
#[derive(Debug)]
pub(crate) struct Spawned {
    pub(crate) process: Option<KernelProcess>,
    /// The kernel's cgroup, when cgroups are in use.
    pub(crate) cgroup: Option<super::Cgroup>,
    pub(crate) stdin: OwnedFd,
    pub(crate) stdout: OwnedFd,
    pub(crate) stderr: OwnedFd,
}

/// Kills a leader's whole process group. `id()` is `None` once the leader has been waited for: then its
/// group id may be someone else's, and nothing is sent.
fn kill_group(leader: &tokio::process::Child) {
    if let Some(group) = leader.id().and_then(|id| i32::try_from(id).ok()).and_then(Pid::from_raw) {
        let _ = kill_process_group(group, Signal::KILL);
    }
}

/// A leader dropped without [`KernelProcess::kill`] (a kernel that never reached its shutdown) still takes its
/// group with it: tokio's kill-on-drop alone would end the leader only.
impl Drop for KernelProcess {
    fn drop(&mut self) {
        if let KernelProcess::Leader(child) = self {
            kill_group(child);
        }
    }
}

impl KernelProcess {
    /// A forked session's first process, by the pidfd the template took of it.
    pub(crate) fn forked(pidfd: OwnedFd) -> KernelProcess {
        KernelProcess::Forked(Arc::new(pidfd))
    }

    /// Whether the process must be killed rather than left to exit: a group leader's group is killed by its
    /// id, which is only safe before the leader has been waited for (until then no one else can have it).
    pub(crate) fn kill_first(&self) -> bool {
        matches!(self, KernelProcess::Leader(_))
    }

    /// Sends SIGKILL (a forked session's pid-1 process takes its whole pid namespace with it; a group
    /// leader's whole process group is killed at once).
    pub(crate) fn kill(&mut self) {
        match self {
            KernelProcess::Child(child) => {
                let _ = child.start_kill();
            }
            KernelProcess::Leader(child) => {
                kill_group(child);
                let _ = child.start_kill();
            }
            KernelProcess::Forked(pidfd) => {
                let _ = pidfd_send_signal(pidfd.as_ref(), Signal::KILL);
            }
        }
    }

    /// Waits up to `limit` for the process to exit; whether it did.
    pub(crate) async fn wait(&mut self, limit: Duration) -> bool {
        match self {
            KernelProcess::Child(child) | KernelProcess::Leader(child) => {
                tokio::time::timeout(limit, child.wait()).await.is_ok()
            }
            KernelProcess::Forked(pidfd) => {
                // A pidfd becomes readable when its process exits.
                let pidfd = pidfd.clone();
                let waited = tokio::task::spawn_blocking(move || {
                    let mut fds = [PollFd::new(pidfd.as_ref(), PollFlags::IN)];
                    let timeout = Timespec::try_from(limit).ok();
                    poll(&mut fds, timeout.as_ref()).map(|ready| ready > 0)
                });
                matches!(waited.await, Ok(Ok(true)))
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use std::os::unix::process::CommandExt;

    use super::*;

    /// The live (not zombie) processes of process group `group`.
    fn live_members(group: u32) -> Vec<u32> {
        super::super::procfs::pids()
            .filter_map(|pid| {
                let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).ok()?;
                // `pid (name) state ppid pgrp ...`, read after the name.
                let mut fields = stat.rsplit_once(')')?.1.split_ascii_whitespace();
                let state = fields.next()?;
                let pgrp: u32 = fields.nth(1)?.parse().ok()?;
                (pgrp == group && state != "Z").then_some(pid)
            })
            .collect()
    }

    /// A leader whose group has a background process besides itself.
    fn leader_with_a_background_process() -> std::io::Result<(KernelProcess, u32)> {
        let mut command = std::process::Command::new("/bin/sh");
        command.args(["-c", "sleep 1000 & exec sleep 1000"]);
        // Nothing of the test's own: a survivor must not keep the harness's output open.
        command
            .stdin(std::process::Stdio::null())
            .stdout(std::process::Stdio::null())
            .stderr(std::process::Stdio::null());
        // SAFETY: setsid(2) only, between fork and exec.
        unsafe {
            command.pre_exec(|| {
                rustix::process::setsid()?;
                Ok(())
            });
        }
        let child = tokio::process::Command::from(command).kill_on_drop(true).spawn()?;
        let group = child.id().ok_or_else(|| std::io::Error::other("no pid"))?;
        // Until the background `sleep` has started, the group has one member.
        let deadline = std::time::Instant::now() + Duration::from_secs(5);
        while live_members(group).len() < 2 && std::time::Instant::now() < deadline {
            std::thread::sleep(Duration::from_millis(10));
        }
        assert_eq!(live_members(group).len(), 2, "the leader and its background process run");
        Ok((KernelProcess::Leader(child), group))
    }

    /// Whether the group empties within 5 s; survivors are killed one by one either way.
    async fn gone(group: u32) -> bool {
        let deadline = std::time::Instant::now() + Duration::from_secs(5);
        while !live_members(group).is_empty() && std::time::Instant::now() < deadline {
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
        let survivors = live_members(group);
        for pid in &survivors {
            if let Some(pid) = i32::try_from(*pid).ok().and_then(Pid::from_raw) {
                let _ = rustix::process::kill_process(pid, Signal::KILL);
            }
        }
        survivors.is_empty()
    }

    #[tokio::test]
    async fn killing_a_leader_kills_its_whole_group() -> std::io::Result<()> {
        let (mut leader, group) = leader_with_a_background_process()?;
        assert!(leader.kill_first());
        leader.kill();
        assert!(leader.wait(Duration::from_secs(5)).await, "the leader exits");
        assert!(gone(group).await, "something was left in the group");
        Ok(())
    }

    #[tokio::test]
    async fn dropping_a_leader_without_its_shutdown_still_kills_its_whole_group() -> std::io::Result<()> {
        let (leader, group) = leader_with_a_background_process()?;
        drop(leader);
        assert!(gone(group).await, "something was left in the group");
        Ok(())
    }
}

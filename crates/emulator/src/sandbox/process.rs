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

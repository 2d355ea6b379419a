//! A running kernel's process, whichever way it was started: a child of the emulator (bubblewrap), a child
//! that leads its own session (Landlock), or a session forked by the template (the namespace tier), reached
//! through a pidfd.

use std::os::fd::OwnedFd;
use std::sync::Arc;
use std::time::Duration;

use rustix::event::{PollFd, PollFlags, Timespec, poll};
use rustix::process::{Signal, pidfd_send_signal};

use super::procfs;

/// A kernel's process (for a forked session: its first process, whose death ends the session).
#[derive(Debug)]
pub(crate) enum KernelProcess {
    /// bubblewrap: its pid namespace ends with it.
    Child(tokio::process::Child),
    /// A kernel that leads its own session, which its processes cannot leave (the Landlock tier refuses
    /// `setsid`): ending it ends every process of that session.
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

impl KernelProcess {
    /// A forked session's first process, by the pidfd the template took of it.
    pub(crate) fn forked(pidfd: OwnedFd) -> KernelProcess {
        KernelProcess::Forked(Arc::new(pidfd))
    }

    /// Whether the process must be killed rather than left to exit: a session leader's processes are found
    /// by its session id, which is only safe to use before the leader has been waited for.
    pub(crate) fn kill_first(&self) -> bool {
        matches!(self, KernelProcess::Leader(_))
    }

    /// Sends SIGKILL (a forked session's pid-1 process takes its whole pid namespace with it; a session
    /// leader's processes are killed one by one).
    pub(crate) async fn kill(&mut self) {
        match self {
            KernelProcess::Child(child) => {
                let _ = child.start_kill();
            }
            KernelProcess::Leader(child) => {
                // `id()` is `None` once the leader has been waited for: its pid may then name someone else.
                if let Some(sid) = child.id() {
                    let killed = tokio::task::spawn_blocking(move || procfs::kill_session(sid, Duration::from_secs(5)));
                    let _ = killed.await;
                }
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

//! A running kernel's process, whichever way it was started: a child of the emulator (bubblewrap, Landlock),
//! or a session forked by the template (the namespace tier), reached through a pidfd.

use std::os::fd::OwnedFd;
use std::sync::Arc;
use std::time::Duration;

use rustix::event::{PollFd, PollFlags, Timespec, poll};
use rustix::process::{Signal, pidfd_send_signal};

/// A kernel's process (for a forked session: its first process, whose death ends the session).
#[derive(Debug)]
pub(crate) enum KernelProcess {
    Child(tokio::process::Child),
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

    /// Sends SIGKILL (a forked session's pid-1 process takes its whole pid namespace with it).
    pub(crate) fn kill(&mut self) {
        match self {
            KernelProcess::Child(child) => {
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
            KernelProcess::Child(child) => tokio::time::timeout(limit, child.wait()).await.is_ok(),
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

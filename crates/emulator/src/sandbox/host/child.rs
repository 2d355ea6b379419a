//! What the child does between fork and exec, on data prepared before the fork.
//!
//! The emulator is multi-threaded, so the child may only make raw system calls: no allocation, no locks.
//! Everything here goes through rustix's, landlock's and seccompiler's safe wrappers of single system calls.

use std::io;
use std::os::fd::{AsFd, OwnedFd};
use std::sync::Arc;

use rustix::io::{FdFlags, fcntl_setfd};
use rustix::process::{Gid, Uid};
use rustix::process::{Resource, Rlimit, Signal, set_parent_process_death_signal, setrlimit};
use rustix::thread::{set_thread_groups, set_thread_res_gid, set_thread_res_uid};

/// The steps of one child.
pub(crate) struct ChildPlan {
    /// Lead a session of its own (Landlock and no-sandbox tiers): its processes are that session's.
    pub(crate) new_session: bool,
    /// The user and mount namespaces of the session's `/mnt/data` tmpfs, entered first (bubblewrap tier as
    /// an ordinary user).
    pub(crate) enter: Option<[OwnedFd; 2]>,
    /// `cgroup.procs` of each controller; the child writes "0" to each to join before it execs.
    pub(crate) cgroup_procs: Option<Vec<OwnedFd>>,
    pub(crate) rlimits: Vec<(Resource, u64)>,
    /// A descriptor the exec'd program reads (bubblewrap's seccomp filter): kept open across exec.
    pub(crate) inherit: Option<OwnedFd>,
    /// The unprivileged host uid to become (running as root).
    pub(crate) uid: Option<u32>,
    /// The Landlock tier's ruleset.
    pub(crate) landlock: Option<::landlock::RulesetCreated>,
    /// The Landlock tier's seccomp filter (bubblewrap installs its own from `inherit`).
    pub(crate) seccomp: Option<Arc<seccompiler::BpfProgram>>,
}

impl ChildPlan {
    pub(crate) fn run(&mut self) -> io::Result<()> {
        no_inherited_descriptors();
        if self.new_session {
            rustix::process::setsid()?;
        }
        if let Some(namespaces) = &self.enter {
            crate::sandbox::tiers::bubblewrap::holder::enter(namespaces)?;
        }
        for fd in self.cgroup_procs.iter().flatten() {
            if rustix::io::write(fd, b"0")? != 1 {
                return Err(io::Error::other("short write to cgroup.procs"));
            }
        }
        for (resource, value) in &self.rlimits {
            setrlimit(*resource, Rlimit { current: Some(*value), maximum: Some(*value) })?;
        }
        set_parent_process_death_signal(Some(Signal::KILL))?;
        if let Some(fd) = &self.inherit {
            fcntl_setfd(fd.as_fd(), FdFlags::empty())?;
        }
        if let Some(uid) = self.uid {
            drop_privileges(uid)?;
        }
        if let Some(ruleset) = self.landlock.take() {
            ruleset.restrict_self().map_err(io::Error::other)?;
        }
        if let Some(program) = &self.seccomp {
            seccompiler::apply_filter(program).map_err(io::Error::other)?;
        }
        Ok(())
    }
}

/// Marks every descriptor from 3 up close-on-exec, so that nothing the emulator itself inherited (from a
/// shell, a service manager or a test harness) reaches a sandbox; descriptors meant for the child are made
/// inheritable again afterwards.
pub(crate) fn no_inherited_descriptors() {
    // SAFETY: close_range(2) with the CLOEXEC flag only changes descriptor flags; no memory is passed.
    let rc = unsafe { libc::syscall(libc::SYS_close_range, 3u32, u32::MAX, libc::CLOSE_RANGE_CLOEXEC) };
    if rc != 0 {
        // Kernels before 5.11: one descriptor at a time (EBADF for the unused ones is expected).
        for raw in 3..4096 {
            // SAFETY: fcntl(F_SETFD) on a number that may not be open only sets a flag or fails with EBADF.
            unsafe { libc::fcntl(raw, libc::F_SETFD, libc::FD_CLOEXEC) };
        }
    }
}

/// Drops every group and switches real, effective and saved ids to `uid`: bubblewrap then runs
/// unprivileged, and the payload is that host uid, never root. (The child has a single thread, so the
/// per-thread system calls change the whole process.)
pub(crate) fn drop_privileges(uid: u32) -> io::Result<()> {
    set_thread_groups(&[])?;
    let (u, g) = (Uid::from_raw(uid), Gid::from_raw(uid));
    set_thread_res_gid(g, g, g)?;
    set_thread_res_uid(u, u, u)?;
    Ok(())
}

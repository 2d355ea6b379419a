//! The command that starts a sandboxed kernel, for each tier, and what the child does between fork and exec.
//!
//! * [`env`]: the kernel's environment (the same facts for every tier);
//! * [`bwrap`]: the bubblewrap command line;
//! * [`plain`]: a plain child process for the Landlock tier (and the explicit no-sandbox mode);
//! * [`child`]: the steps the child takes between fork and exec (cgroups, rlimits, uid, Landlock, seccomp).

mod bwrap;
mod child;
mod env;
mod plain;

use std::os::fd::OwnedFd;
use std::os::unix::process::CommandExt;
use std::path::Path;
use std::process::{Command, Stdio};

pub(crate) use bwrap::{HOST_FILES, probe as probe_bwrap};
use child::ChildPlan;
pub(crate) use child::{drop_privileges, no_inherited_descriptors};
pub(crate) use env::kernel_env;

use super::{Cgroup, Sandbox, SandboxError, Tier, Workspace, io_err};
use crate::kernel::Flavor;

/// A tier's command, before the child's steps are attached.
struct Prepared {
    command: Command,
    /// The seccomp filter bubblewrap reads (`--seccomp FD`).
    seccomp_fd: Option<OwnedFd>,
    /// The Landlock ruleset the child restricts itself with (Landlock tier).
    landlock: Option<::landlock::RulesetCreated>,
}

/// Builds the kernel command for the sandbox's tier.
pub(crate) fn build(
    sandbox: &Sandbox,
    ws: &Workspace,
    cgroup: Option<&Cgroup>,
    flavor: Flavor,
    shared_ceiling: Option<u64>,
) -> Result<Command, SandboxError> {
    let tier = sandbox.tier();
    let env = env::Environment::new(sandbox, flavor);
    let dirs = ws.host()?;
    let Prepared { mut command, seccomp_fd, landlock } = match tier {
        Tier::Bubblewrap => bwrap::command(sandbox, dirs, env)?,
        Tier::Landlock | Tier::None => plain::command(sandbox, dirs, ws.uid, env, tier == Tier::Landlock)?,
        Tier::Namespaces => return Err(SandboxError::Unavailable("forked sessions have no command".into())),
    };
    command.stdin(Stdio::piped()).stdout(Stdio::piped()).stderr(Stdio::piped());
    let enter = match &ws.place {
        super::Place::Held(_, held) => {
            Some(held.namespaces().map_err(io_err("cannot share the namespaces of the session's /mnt/data"))?)
        }
        _ => None,
    };
    let mut plan = ChildPlan {
        new_session: matches!(tier, Tier::Landlock | Tier::None),
        enter,
        cgroup_procs: cgroup.map(Cgroup::procs_files).transpose().map_err(io_err("cannot share the cgroup"))?,
        rlimits: rlimits(sandbox, tier, shared_ceiling),
        inherit: seccomp_fd,
        uid: ws.uid,
        landlock,
        seccomp: (tier == Tier::Landlock).then(|| sandbox.seccomp_program.clone()),
    };
    // SAFETY: `ChildPlan::run` makes only raw system calls (through rustix, landlock and seccompiler) on data
    // built before the fork: no allocation, no locks, as required between fork and exec in a threaded process.
    unsafe {
        command.pre_exec(move || plan.run());
    }
    Ok(command)
}

/// The limits every tier's child sets on itself before exec; `shared_ceiling` is the Landlock tier's
/// `RLIMIT_NPROC` for an ordinary user without cgroups ([`super::Sandbox::shared_process_ceiling`]).
fn rlimits(sandbox: &Sandbox, tier: Tier, shared_ceiling: Option<u64>) -> Vec<(rustix::process::Resource, u64)> {
    use rustix::process::Resource;
    let limits = &sandbox.limits;
    let mut out = vec![
        (Resource::Core, 0),
        (Resource::Nofile, 1024),
        (Resource::Fsize, limits.disk_bytes),
        (Resource::Cpu, 4 * 3600),
    ];
    if tier != Tier::None {
        out.push((Resource::As, limits.memory_bytes));
        if sandbox.info.uid_per_session && tier == Tier::Landlock {
            // Per host uid: with one uid per session this bounds each session's processes. (In bubblewrap's
            // user namespace the kernel sets it itself, counted in that namespace: `DS_NPROC`.)
            out.push((Resource::Nproc, u64::from(limits.max_processes) + 16));
        } else if let Some(ceiling) = shared_ceiling {
            // An ordinary user without cgroups (Landlock): the uid is shared with the emulator and every other
            // process of the user, so the limit is a ceiling over what the user runs now.
            out.push((Resource::Nproc, ceiling));
        }
    }
    out
}

/// A memfd holding the seccomp filter, for bubblewrap's `--seccomp FD`.
fn seccomp_memfd(bytes: &[u8]) -> Result<OwnedFd, SandboxError> {
    use rustix::fs::{MemfdFlags, SeekFrom, memfd_create, seek};
    let fd = memfd_create("seccomp", MemfdFlags::CLOEXEC).map_err(|e| io_err("memfd_create")(e.into()))?;
    let mut written = 0;
    while written < bytes.len() {
        written +=
            rustix::io::write(&fd, &bytes[written..]).map_err(|e| io_err("writing the seccomp filter")(e.into()))?;
    }
    seek(&fd, SeekFrom::Start(0)).map_err(|e| io_err("seeking the seccomp filter")(e.into()))?;
    Ok(fd)
}

/// Where the Python interpreter is, inside or outside the sandbox.
fn python(sandbox: &Sandbox, venv_mount: Option<&Path>) -> std::path::PathBuf {
    match (&sandbox.runtime.venv, venv_mount) {
        (Some(_), Some(mount)) => mount.join("bin/python"),
        (Some(venv), None) => venv.join("bin/python"),
        (None, _) => sandbox.runtime.python.clone(),
    }
}

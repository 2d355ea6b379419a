//! The Landlock tier: for hosts without namespaces, the kernel (a plain child process, see `plain`) is
//! confined by filesystem, network and signal rules and a seccomp filter instead; its processes cannot leave
//! its process group, whose death ends them all.

use std::path::Path;

use crate::config::Limits;
use crate::sandbox::host::{Host, procfs};
use crate::sandbox::workspace::HostDirs;
use crate::sandbox::{KernelFiles, SandboxError};
use ::landlock::{
    ABI, Access, AccessFs, AccessNet, CompatLevel, Compatible, Ruleset, RulesetAttr, RulesetCreated,
    RulesetCreatedAttr, Scope, path_beneath_rules,
};

/// The newest Landlock ABI this emulator asks for; older kernels get what they support (best effort).
const ABI_WANTED: ABI = ABI::V6;

/// The Landlock ABI of the running kernel (0 when unsupported).
pub(crate) fn abi_version() -> i64 {
    // SAFETY: landlock_create_ruleset(NULL, 0, LANDLOCK_CREATE_RULESET_VERSION) only returns a number.
    let v = unsafe { libc::syscall(libc::SYS_landlock_create_ruleset, std::ptr::null::<u8>(), 0usize, 1u32) };
    v.max(0)
}

/// A ruleset: read-only runtime paths, read-write session directories, no TCP, no signals or abstract
/// sockets outside the sandbox.
pub(crate) fn ruleset(read_only: &[&Path], read_write: &[&Path]) -> Result<RulesetCreated, ::landlock::RulesetError> {
    let abi = ABI_WANTED;
    Ruleset::default()
        .set_compatibility(CompatLevel::BestEffort)
        .handle_access(AccessFs::from_all(abi))?
        .handle_access(AccessNet::from_all(abi))?
        .scope(Scope::from_all(abi))?
        .create()?
        .add_rules(path_beneath_rules(read_only, AccessFs::from_read(abi)))?
        .add_rules(path_beneath_rules(read_write, AccessFs::from_all(abi)))
}

/// Paths a Landlock-confined kernel may read (besides the runtime and the kernel itself). Not `/proc`: with no
/// pid namespace it would show every host process's command line (a `--token` among them).
const READ_ONLY: [&str; 10] =
    ["/usr", "/etc", "/lib", "/lib64", "/bin", "/sbin", "/dev/urandom", "/dev/null", "/dev/zero", "/dev/random"];

/// The ruleset of one session's kernel: the system, the runtime and the kernel read-only; its own data and
/// temporary directories read-write.
pub(super) fn session_ruleset(files: &KernelFiles, ws: &HostDirs) -> Result<RulesetCreated, SandboxError> {
    let runtime = &files.runtime;
    let mut read_only: Vec<&Path> = READ_ONLY.iter().map(Path::new).filter(|p| p.exists()).collect();
    read_only.push(&files.dir);
    if let Some(venv) = &runtime.venv {
        read_only.push(venv);
    }
    if let Some(prefix) = runtime.prefix_outside_usr() {
        read_only.push(prefix);
    }
    if let Some(node) = &files.node {
        read_only.extend(node.prefix_outside_usr());
        read_only.extend(node.modules.as_deref());
    }
    let read_write: Vec<&Path> = vec![&ws.data, &ws.tmp, Path::new("/dev/null")];
    ruleset(&read_only, &read_write)
        .map_err(|e| SandboxError::Unavailable(format!("cannot build the Landlock ruleset: {e}")))
}

/// The Landlock tier's `RLIMIT_NPROC` for an ordinary user without cgroups, where nothing counts one
/// session's processes: the tasks the user runs now (the emulator's threads among them) plus twice the
/// session's limit. A fork bomb stops there instead of at the user's own limit. `None` elsewhere.
pub(super) async fn shared_process_ceiling(host: &Host, limits: &Limits) -> Result<Option<u64>, SandboxError> {
    if host.uids.is_some() || host.cgroups.is_some() {
        return Ok(None);
    }
    let uid = rustix::process::getuid().as_raw();
    // Reading every process's status is blocking work.
    let counted = tokio::task::spawn_blocking(move || procfs::tasks_of(uid)).await.ok().flatten();
    let now = counted.ok_or_else(|| {
        SandboxError::Unavailable(
            "cannot count this user's processes in /proc, so the Landlock tier cannot bound a session's \
             processes; mount /proc, or start the emulator in a delegated cgroup (see SECURITY.md)"
                .into(),
        )
    })?;
    let ceiling = now + 2 * u64::from(limits.max_processes);
    // Never above the user's own hard limit, which a child cannot raise (setting it would fail).
    let hard = rustix::process::getrlimit(rustix::process::Resource::Nproc).maximum;
    Ok(Some(hard.map_or(ceiling, |hard| ceiling.min(hard))))
}

//! The bubblewrap tier: whether bubblewrap can make namespaces here, and the command line of a session's
//! kernel: own user, mount, pid, network, IPC and UTS namespaces; a read-only root; the session directory at
//! `/mnt/data`; private `/tmp` and `$HOME`. As an ordinary user, each session's `/mnt/data` is a tmpfs a
//! short-lived bubblewrap makes and holds ([`holder`]).

pub(crate) mod holder;

use std::os::fd::AsRawFd;
use std::os::unix::process::CommandExt;
use std::path::Path;
use std::process::{Command, Stdio};

use super::{Prepared, kernel_program, seccomp_memfd};
use crate::config::{HOME_BYTES, SHM_BYTES};
use crate::kernel::protocol::Language;
use crate::sandbox::host::Host;
use crate::sandbox::kernel_env::{
    Environment, HOST_FILES, KERNEL_MOUNT, MPL_CONFIG, NODE_MODULES_MOUNT, RUNTIME_MOUNT,
};
use crate::sandbox::workspace::HostDirs;
use crate::sandbox::{KernelFiles, SandboxError};

/// Runs `bwrap ... true` as an unprivileged uid to see whether namespaces work here.
pub(crate) fn probe(bwrap: &Path, root: bool) -> bool {
    let mut command = Command::new(bwrap);
    command
        .args(["--unshare-all", "--die-with-parent", "--new-session", "--ro-bind", "/usr", "/usr"])
        .args(["--symlink", "usr/lib", "/lib", "--symlink", "usr/lib64", "/lib64", "--symlink", "usr/bin", "/bin"])
        .args(["--proc", "/proc", "--dev", "/dev", "--", "/bin/true"])
        .env_clear()
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::null());
    if root {
        let probe_uid = 999_999u32;
        // SAFETY: only raw system calls between fork and exec.
        unsafe {
            command.pre_exec(move || crate::sandbox::host::child::drop_privileges(probe_uid));
        }
    }
    command.status().map(|s| s.success()).unwrap_or(false)
}

/// The bubblewrap command line of a session's kernel.
pub(super) fn command(
    bwrap: &Path,
    host: &Host,
    files: &KernelFiles,
    ws: &HostDirs,
    language: Language,
    mut env: Environment,
) -> Result<Prepared, SandboxError> {
    let runtime = &files.runtime;
    env.inside_namespaces(files);
    // Counted in the sandbox's user namespace: the kernel sets it on itself before anything runs.
    env.set("DS_NPROC", files.limits.max_processes.to_string());
    let seccomp = seccomp_memfd(&host.seccomp)?;
    let mut c = Command::new(bwrap);
    c.env_clear();
    // `--disable-userns` (which needs an explicit `--unshare-user`): no user namespace inside the sandbox (the
    // seccomp filter refuses them too).
    c.args(["--unshare-all", "--unshare-user", "--disable-userns", "--die-with-parent", "--new-session"]);
    c.arg("--seccomp").arg(seccomp.as_raw_fd().to_string());
    c.args(["--ro-bind", "/usr", "/usr"]);
    for (link, target) in [("/lib", "usr/lib"), ("/lib64", "usr/lib64"), ("/bin", "usr/bin"), ("/sbin", "usr/sbin")] {
        c.args(["--symlink", target, link]);
    }
    for file in HOST_FILES {
        c.args(["--ro-bind-try", file, file]);
    }
    if let Some(prefix) = runtime.prefix_outside_usr() {
        c.arg("--ro-bind").arg(prefix).arg(prefix);
    }
    if let Some(venv) = &runtime.venv {
        c.arg("--ro-bind").arg(venv).arg(RUNTIME_MOUNT);
    }
    if let Some(node) = &files.node {
        if let Some(prefix) = node.prefix_outside_usr() {
            c.arg("--ro-bind").arg(prefix).arg(prefix);
        }
        if let Some(modules) = &node.modules {
            c.arg("--ro-bind").arg(modules).arg(NODE_MODULES_MOUNT);
        }
    }
    c.arg("--ro-bind").arg(&files.dir).arg(KERNEL_MOUNT);
    c.arg("--ro-bind").arg(files.dir.join("passwd")).arg("/etc/passwd");
    c.arg("--ro-bind").arg(files.dir.join("group")).arg("/etc/group");
    c.arg("--bind").arg(&ws.data).arg("/mnt/data");
    // Every writable tmpfs is sized (unsized, each could take half the host's memory).
    c.args(["--proc", "/proc", "--dev", "/dev"]);
    c.arg("--size").arg(files.limits.tmp_bytes.to_string()).args(["--tmpfs", "/tmp"]);
    c.arg("--size").arg(HOME_BYTES.to_string()).args(["--tmpfs", "/home/user"]);
    c.arg("--size").arg(SHM_BYTES.to_string()).args(["--tmpfs", "/dev/shm"]);
    c.args(["--dir", MPL_CONFIG]);
    for file in &files.mpl_cache {
        if let Some(name) = file.file_name() {
            c.arg("--ro-bind").arg(file).arg(Path::new(MPL_CONFIG).join(name));
        }
    }
    c.args(["--chdir", "/mnt/data", "--hostname", "session", "--uid", "65534", "--gid", "65534"]);
    c.arg("--clearenv");
    for (k, v) in env.vars() {
        c.arg("--setenv").arg(k).arg(v);
    }
    c.args(["--remount-ro", "/", "--"]);
    let (program, args) = kernel_program(
        files,
        language,
        runtime.venv.as_ref().map(|_| Path::new(RUNTIME_MOUNT)),
        Path::new(KERNEL_MOUNT),
    );
    c.arg(program).args(args);
    Ok(Prepared { command: c, seccomp_fd: Some(seccomp), landlock: None, new_session: false, confined: false })
}

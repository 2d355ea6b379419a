//! The bubblewrap tier's command line: own user, mount, pid, network, IPC and UTS namespaces; a read-only
//! root; the session directory at `/mnt/data`; private `/tmp` and `$HOME`.

use std::os::unix::process::CommandExt;
use std::path::Path;
use std::process::{Command, Stdio};

use super::env::Environment;
use super::{Prepared, python, seccomp_memfd};
use crate::config::{HOME_BYTES, SHM_BYTES};
use crate::sandbox::workspace::HostDirs;
use crate::sandbox::{Sandbox, SandboxError};

/// Where things appear inside a bubblewrap sandbox.
const RUNTIME_MOUNT: &str = "/opt/runtime";
const KERNEL_MOUNT: &str = "/opt/kernel";
/// matplotlib's writable config directory; the runtime's prebuilt font cache is mounted into it read-only.
const MPL_CONFIG: &str = "/tmp/mpl";
/// Host files sessions may read, when they exist.
pub(crate) const HOST_FILES: [&str; 5] =
    ["/etc/fonts", "/etc/localtime", "/etc/ld.so.cache", "/etc/mime.types", "/etc/ssl/certs"];

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
            command.pre_exec(move || super::child::drop_privileges(probe_uid));
        }
    }
    command.status().map(|s| s.success()).unwrap_or(false)
}

pub(super) fn command(sandbox: &Sandbox, ws: &HostDirs, mut env: Environment) -> Result<Prepared, SandboxError> {
    let bwrap = sandbox.bwrap.as_deref().ok_or_else(|| SandboxError::Unavailable("bwrap vanished".into()))?;
    let runtime = &sandbox.runtime;
    env.path(runtime.venv.as_ref().map(|_| Path::new(RUNTIME_MOUNT).join("bin")).as_deref());
    env.set("HOME", "/home/user");
    env.set("TMPDIR", "/tmp");
    env.set("MPLCONFIGDIR", MPL_CONFIG);
    // Counted in the sandbox's user namespace: the kernel sets it on itself before anything runs.
    env.set("DS_NPROC", sandbox.limits.max_processes.to_string());
    let seccomp = seccomp_memfd(&sandbox.seccomp)?;
    let mut c = Command::new(bwrap);
    c.env_clear();
    // `--disable-userns` (which needs an explicit `--unshare-user`): no user namespace inside the sandbox (the
    // seccomp filter refuses them too).
    c.args(["--unshare-all", "--unshare-user", "--disable-userns", "--die-with-parent", "--new-session"]);
    c.arg("--seccomp").arg(super::child::raw_fd(&seccomp).to_string());
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
    c.arg("--ro-bind").arg(&sandbox.kernel_dir).arg(KERNEL_MOUNT);
    c.arg("--ro-bind").arg(sandbox.kernel_dir.join("passwd")).arg("/etc/passwd");
    c.arg("--ro-bind").arg(sandbox.kernel_dir.join("group")).arg("/etc/group");
    c.arg("--bind").arg(&ws.data).arg("/mnt/data");
    // Every writable tmpfs is sized (unsized, each could take half the host's memory).
    c.args(["--proc", "/proc", "--dev", "/dev"]);
    c.arg("--size").arg(sandbox.limits.tmp_bytes.to_string()).args(["--tmpfs", "/tmp"]);
    c.arg("--size").arg(HOME_BYTES.to_string()).args(["--tmpfs", "/home/user"]);
    c.arg("--size").arg(SHM_BYTES.to_string()).args(["--tmpfs", "/dev/shm"]);
    c.args(["--dir", MPL_CONFIG]);
    for file in &sandbox.mpl_cache {
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
    c.arg(python(sandbox, runtime.venv.as_ref().map(|_| Path::new(RUNTIME_MOUNT))));
    c.args(["-I", "-X", "frozen_modules=on"]).arg(Path::new(KERNEL_MOUNT).join("kernel.py"));
    Ok(Prepared { command: c, seccomp_fd: Some(seccomp), landlock: None })
}

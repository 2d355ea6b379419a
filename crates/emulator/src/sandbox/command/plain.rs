//! A plain child process, for the Landlock tier (Landlock rules and a seccomp filter instead of namespaces)
//! and for the explicit no-sandbox mode.

use std::path::Path;
use std::process::Command;

use super::env::Environment;
use super::{Prepared, python};
use crate::sandbox::workspace::HostDirs;
use crate::sandbox::{Sandbox, SandboxError, landlock_rules};

/// Paths a Landlock-confined kernel may read (besides the runtime and the kernel itself). Not `/proc`: with no
/// pid namespace it would show every host process's command line (a `--token` among them).
const READ_ONLY: [&str; 10] =
    ["/usr", "/etc", "/lib", "/lib64", "/bin", "/sbin", "/dev/urandom", "/dev/null", "/dev/zero", "/dev/random"];

pub(super) fn command(
    sandbox: &Sandbox,
    ws: &HostDirs,
    uid: Option<u32>,
    mut env: Environment,
    confine: bool,
) -> Result<Prepared, SandboxError> {
    let runtime = &sandbox.runtime;
    env.path(runtime.venv.as_ref().map(|v| v.join("bin")).as_deref());
    env.set("HOME", ws.tmp.display().to_string());
    env.set("TMPDIR", ws.tmp.display().to_string());
    // There is no mount namespace: the kernel maps /mnt/data paths onto the session directory.
    env.set("DS_DATA_DIR", ws.data.display().to_string());
    if confine {
        // The seccomp filter keeps every process in the kernel's process group: shell commands share it.
        env.set("DS_NO_PROCESS_GROUPS", "1");
    }
    env.set("MPLCONFIGDIR", matplotlib_dir(sandbox, ws, uid).display().to_string());
    let mut c = Command::new(python(sandbox, None));
    c.args(["-I", "-X", "frozen_modules=on"]).arg(sandbox.kernel_dir.join("kernel.py"));
    c.current_dir(&ws.data);
    c.env_clear();
    for (k, v) in env.vars() {
        c.env(k, v);
    }
    let landlock = if confine { Some(ruleset(sandbox, ws)?) } else { None };
    Ok(Prepared { command: c, seccomp_fd: None, landlock })
}

/// A writable matplotlib config dir in the session's temporary directory, with a copy of the prebuilt font
/// cache.
fn matplotlib_dir(sandbox: &Sandbox, ws: &HostDirs, uid: Option<u32>) -> std::path::PathBuf {
    let mpl = ws.tmp.join("mpl");
    if std::fs::create_dir_all(&mpl).is_ok() {
        for file in &sandbox.mpl_cache {
            if let Some(name) = file.file_name() {
                let _ = std::fs::copy(file, mpl.join(name));
            }
        }
        if let Some(uid) = uid {
            let _ = std::os::unix::fs::chown(&mpl, Some(uid), Some(uid));
        }
    }
    mpl
}

fn ruleset(sandbox: &Sandbox, ws: &HostDirs) -> Result<::landlock::RulesetCreated, SandboxError> {
    let runtime = &sandbox.runtime;
    let mut read_only: Vec<&Path> = READ_ONLY.iter().map(Path::new).filter(|p| p.exists()).collect();
    read_only.push(&sandbox.kernel_dir);
    if let Some(venv) = &runtime.venv {
        read_only.push(venv);
    }
    if let Some(prefix) = runtime.prefix_outside_usr() {
        read_only.push(prefix);
    }
    let read_write: Vec<&Path> = vec![&ws.data, &ws.tmp, Path::new("/dev/null")];
    landlock_rules::ruleset(&read_only, &read_write)
        .map_err(|e| SandboxError::Unavailable(format!("cannot build the Landlock ruleset: {e}")))
}

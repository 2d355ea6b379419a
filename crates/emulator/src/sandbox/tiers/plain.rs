//! A plain child process, for the Landlock tier (Landlock rules and a seccomp filter instead of namespaces)
//! and for the explicit no-sandbox mode.

use std::path::PathBuf;
use std::process::Command;

use super::{Prepared, kernel_program, landlock};
use crate::kernel::protocol::Language;
use crate::sandbox::kernel_env::Environment;
use crate::sandbox::workspace::HostDirs;
use crate::sandbox::{KernelFiles, SandboxError};

/// A kernel as a plain child of the emulator, in `ws`; with `confine`, restricted by Landlock (the Landlock
/// tier), else not at all (the no-sandbox mode).
pub(super) fn command(
    files: &KernelFiles,
    ws: &HostDirs,
    uid: Option<u32>,
    language: Language,
    mut env: Environment,
    confine: bool,
) -> Result<Prepared, SandboxError> {
    env.set("HOME", ws.tmp.display().to_string());
    env.set("TMPDIR", ws.tmp.display().to_string());
    // There is no mount namespace: the kernel maps /mnt/data paths onto the session directory.
    env.set("DS_DATA_DIR", ws.data.display().to_string());
    if confine {
        // The seccomp filter keeps every process in the kernel's process group: shell commands share it.
        env.set("DS_NO_PROCESS_GROUPS", "1");
    }
    env.set("MPLCONFIGDIR", matplotlib_dir(files, ws, uid).display().to_string());
    let (program, args) = kernel_program(files, language, None, &files.dir);
    let mut c = Command::new(program);
    c.args(args);
    c.current_dir(&ws.data);
    c.env_clear();
    for (k, v) in env.vars() {
        c.env(k, v);
    }
    let landlock = if confine { Some(landlock::session_ruleset(files, ws)?) } else { None };
    Ok(Prepared { command: c, seccomp_fd: None, landlock, new_session: true, confined: confine })
}

/// A writable matplotlib config dir in the session's temporary directory, with a copy of the prebuilt font
/// cache.
fn matplotlib_dir(files: &KernelFiles, ws: &HostDirs, uid: Option<u32>) -> PathBuf {
    let mpl = ws.tmp.join("mpl");
    if std::fs::create_dir_all(&mpl).is_ok() {
        for file in &files.mpl_cache {
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

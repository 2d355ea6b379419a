//! Cleans up after emulator instances that died without shutting down (killed, crashed): their session
//! tmpfs mounts, session directories and cgroups. Instances are named `<pid>-<8 hex>`; an instance whose
//! pid is gone is stale.

use std::fs;
use std::path::{Path, PathBuf};
use std::time::Duration;

/// The pid of an instance directory name like `12345-0a1b2c3d`.
fn instance_pid(name: &str) -> Option<u32> {
    let (pid, suffix) = name.split_once('-')?;
    (suffix.len() == 8 && suffix.bytes().all(|b| b.is_ascii_hexdigit())).then_some(())?;
    pid.parse().ok()
}

fn alive(pid: u32) -> bool {
    Path::new("/proc").join(pid.to_string()).exists()
}

fn stale(name: &str) -> bool {
    instance_pid(name).is_some_and(|pid| !alive(pid))
}

/// `/proc/self/mounts` escapes spaces and other bytes as `\ooo`.
fn unescape(field: &str) -> String {
    let bytes = field.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        if bytes[i] == b'\\'
            && i + 3 < bytes.len()
            && let Ok(v) = u8::from_str_radix(&field[i + 1..i + 4], 8)
        {
            out.push(v);
            i += 4;
            continue;
        }
        out.push(bytes[i]);
        i += 1;
    }
    String::from_utf8_lossy(&out).into_owned()
}

/// Unmounts session tmpfs mounts of dead instances, anywhere on the host.
fn unmount_stale() {
    let Ok(mounts) = fs::read_to_string("/proc/self/mounts") else { return };
    for line in mounts.lines() {
        let mut fields = line.split_whitespace();
        let (Some(_), Some(target)) = (fields.next(), fields.next()) else { continue };
        let target = unescape(target);
        let path = Path::new(&target);
        // <anything>/sessions/<instance>/<workspace>/data
        let parts: Vec<&str> = path.iter().filter_map(|c| c.to_str()).collect();
        let n = parts.len();
        if n >= 4
            && parts[n - 1] == "data"
            && parts[n - 4] == "sessions"
            && stale(parts[n - 3])
            && let Ok(c) = std::ffi::CString::new(target.as_bytes())
        {
            // SAFETY: umount2 with a valid NUL-terminated path.
            unsafe { libc::umount2(c.as_ptr(), libc::MNT_DETACH) };
            tracing::info!(mount = %target, "removed a stale session mount");
        }
    }
}

fn remove_stale_dirs(sessions: &Path) {
    let Ok(entries) = fs::read_dir(sessions) else { return };
    for entry in entries.flatten() {
        if entry.file_name().to_str().is_some_and(stale) {
            let _ = fs::remove_dir_all(entry.path());
            tracing::info!(dir = %entry.path().display(), "removed stale session directories");
        }
    }
}

fn remove_stale_cgroups() {
    let mut bases: Vec<PathBuf> = ["pids", "memory", "cpu"]
        .iter()
        .map(|c| Path::new("/sys/fs/cgroup").join(c).join("dynamic-sessions-emulator"))
        .collect();
    bases.push(PathBuf::from("/sys/fs/cgroup/dynamic-sessions-emulator"));
    for base in bases {
        let Ok(instances) = fs::read_dir(&base) else { continue };
        for instance in instances.flatten() {
            if !instance.path().is_dir() || !instance.file_name().to_str().is_some_and(stale) {
                continue;
            }
            if let Ok(children) = fs::read_dir(instance.path()) {
                for child in children.flatten().filter(|c| c.path().is_dir()) {
                    super::cgroup::kill_and_remove(&child.path(), Duration::from_secs(2));
                }
            }
            let _ = fs::remove_dir(instance.path());
        }
    }
}

/// Removes what dead instances left: mounts anywhere, directories under `data_dir/sessions`, cgroups.
pub(crate) fn reap(data_dir: &Path) {
    unmount_stale();
    remove_stale_dirs(&data_dir.join("sessions"));
    remove_stale_cgroups();
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn instance_names() {
        assert_eq!(instance_pid("123-0a1b2c3d"), Some(123));
        assert_eq!(instance_pid("123-0a1b2c3"), None);
        assert_eq!(instance_pid("x-0a1b2c3d"), None);
        assert_eq!(unescape("/tmp/a\\040b"), "/tmp/a b");
        assert!(!stale(&format!("{}-0a1b2c3d", std::process::id())), "this process is alive");
    }
}

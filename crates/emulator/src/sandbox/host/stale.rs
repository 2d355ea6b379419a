//! Cleans up after emulator instances that died without shutting down (killed, crashed): their session
//! tmpfs mounts, session directories and cgroups (see [`super::instance`] for how a dead instance is told).

use std::fs;
use std::path::Path;
use std::time::Duration;

fn stale(name: &str) -> bool {
    super::instance::is_stale(name)
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

/// Kills and removes the cgroups of dead instances (those this process can see: see `cgroup::emulator_dirs`).
pub(crate) fn remove_stale_cgroups() {
    for base in super::cgroup::emulator_dirs() {
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
    fn mount_fields_are_unescaped() {
        assert_eq!(unescape("/tmp/a\\040b"), "/tmp/a b");
        assert_eq!(unescape("/tmp/\\04"), "/tmp/\\04");
    }
}

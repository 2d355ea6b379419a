//! An emulator instance's name, `<pid>-<8 hex>`: it names the instance's session directory and cgroups, and
//! lets a later emulator tell whether the instance that made them is still alive.

use std::path::Path;

/// A fresh name for this process's instance.
pub(crate) fn new_name() -> String {
    let suffix = uuid::Uuid::new_v4().simple().to_string();
    format!("{}-{}", std::process::id(), &suffix[..8])
}

/// The pid of an instance name like `12345-0a1b2c3d`, or `None` when it is not one.
fn pid_of(name: &str) -> Option<u32> {
    let (pid, suffix) = name.split_once('-')?;
    (suffix.len() == 8 && suffix.bytes().all(|b| b.is_ascii_hexdigit())).then_some(())?;
    pid.parse().ok()
}

/// Whether `name` is an instance name whose process is gone.
pub(crate) fn is_stale(name: &str) -> bool {
    pid_of(name).is_some_and(|pid| !Path::new("/proc").join(pid.to_string()).exists())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_round_trip() {
        let name = new_name();
        assert_eq!(pid_of(&name), Some(std::process::id()));
        assert!(!is_stale(&name), "this process is alive");
        assert_eq!(pid_of("123-0a1b2c3d"), Some(123));
        assert_eq!(pid_of("123-0a1b2c3"), None);
        assert_eq!(pid_of("x-0a1b2c3d"), None);
        assert_eq!(pid_of("123-0a1b2c3é"), None);
    }
}

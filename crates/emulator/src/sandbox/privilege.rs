//! Whether uid 0 here is root in full. The sandbox's root path mounts in namespaces without a user namespace
//! of their own, gives each session a uid of its own, `chown`s its files to it and kills its processes: root
//! in a container that was not given `CAP_SYS_ADMIN`, or uid 0 of a user namespace (`unshare -r`), has the
//! name without those powers, and its sessions would fail one by one with bare `EPERM`s. The emulator
//! refuses such a start instead and says what to do.

use std::fs;

/// The capabilities the root path uses: `(bit, name)` (see capabilities(7)).
const NEEDED: [(u32, &str); 5] =
    [(0, "CAP_CHOWN"), (5, "CAP_KILL"), (6, "CAP_SETGID"), (7, "CAP_SETUID"), (21, "CAP_SYS_ADMIN")];
/// The uid map of the initial user namespace: every uid is itself.
const WHOLE_MAP: [u64; 3] = [0, 0, 4_294_967_295];

/// What stands between uid 0 here and root in full, if anything (always `None` for an ordinary user).
pub(crate) fn limited_root() -> Option<String> {
    if !rustix::process::geteuid().is_root() {
        return None;
    }
    let uid_map = fs::read_to_string("/proc/self/uid_map").unwrap_or_default();
    let status = fs::read_to_string("/proc/self/status").unwrap_or_default();
    shortfall(&uid_map, &status)
}

/// For uid 0 with this `/proc/self/uid_map` and `/proc/self/status`: why it is not root in full, or `None`.
fn shortfall(uid_map: &str, status: &str) -> Option<String> {
    let map: Vec<Vec<u64>> = uid_map
        .lines()
        .map(|line| line.split_whitespace().map(|n| n.parse().unwrap_or(u64::MAX)).collect())
        .filter(|fields: &Vec<u64>| !fields.is_empty())
        .collect();
    if map != [WHOLE_MAP.to_vec()] {
        let shown = uid_map.split_whitespace().collect::<Vec<_>>().join(" ");
        return Some(format!("uid 0 of a user namespace (uid_map: {shown})"));
    }
    let effective = status
        .lines()
        .find_map(|line| line.strip_prefix("CapEff:"))
        .and_then(|hex| u64::from_str_radix(hex.trim(), 16).ok());
    let Some(effective) = effective else {
        return Some("its capabilities cannot be read from /proc/self/status".to_owned());
    };
    let missing: Vec<&str> =
        NEEDED.iter().filter(|(bit, _)| effective & (1u64 << bit) == 0).map(|(_, name)| *name).collect();
    (!missing.is_empty()).then(|| format!("without {}", missing.join(", ")))
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    const ROOT_MAP: &str = "         0          0 4294967295\n";
    /// `CapEff` of root on a host, and in Docker's default set (no `CAP_SYS_ADMIN`).
    const FULL: &str = "Name:\tx\nCapEff:\t000001ffffffffff\n";
    const DOCKER: &str = "CapEff:\t00000000a80425fb\n";

    #[test]
    fn root_in_full_has_the_whole_uid_map_and_the_capabilities() {
        assert_eq!(shortfall(ROOT_MAP, FULL), None);
    }

    #[test]
    fn root_in_a_default_container_lacks_cap_sys_admin() {
        assert_eq!(shortfall(ROOT_MAP, DOCKER).as_deref(), Some("without CAP_SYS_ADMIN"));
        let nothing = shortfall(ROOT_MAP, "CapEff:\t0000000000000000\n");
        assert_eq!(nothing.map(|why| why.matches("CAP_").count()), Some(5));
    }

    #[test]
    fn uid_0_of_a_user_namespace_is_not_root() {
        let why = shortfall("         0       1000          1\n", FULL);
        assert_eq!(why.as_deref(), Some("uid 0 of a user namespace (uid_map: 0 1000 1)"));
        assert!(shortfall("0 0 4294967295\n1 1 1\n", FULL).is_some(), "more than one line");
        assert!(shortfall("", FULL).is_some(), "an unreadable map");
    }

    #[test]
    fn unreadable_capabilities_are_a_shortfall() {
        assert!(shortfall(ROOT_MAP, "Name:\tx\n").is_some());
        assert!(shortfall(ROOT_MAP, "CapEff:\tzz\n").is_some());
    }

    proptest! {
        #[test]
        fn any_proc_text_gives_an_answer(map in "\\PC{0,80}", status in "\\PC{0,200}") {
            let _ = shortfall(&map, &status);
        }
    }
}

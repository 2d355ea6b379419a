//! Whether uid 0 here is root in full. The sandbox's root path mounts in namespaces without a user namespace
//! of their own, gives each session a uid of its own, `chown`s its files to it and kills its processes: root
//! in a container that was not given `CAP_SYS_ADMIN`, or uid 0 of a user namespace (`unshare -r`), has the
//! name without those powers, and its sessions would fail one by one with bare `EPERM`s. The emulator
//! refuses such a start instead and says what to do.

use std::fs;

/// The capabilities the root path uses: `(bit, name)` (see capabilities(7)). `CAP_DAC_OVERRIDE` and
/// `CAP_FOWNER`: the emulator's file API and its clean-up work in each session's own 0700 directories.
const NEEDED: [(u32, &str); 7] = [
    (0, "CAP_CHOWN"),
    (1, "CAP_DAC_OVERRIDE"),
    (3, "CAP_FOWNER"),
    (5, "CAP_KILL"),
    (6, "CAP_SETGID"),
    (7, "CAP_SETUID"),
    (21, "CAP_SYS_ADMIN"),
];
/// The uid map of the initial user namespace: every uid is itself.
const WHOLE_MAP: [u64; 3] = [0, 0, 4_294_967_295];
/// What a root that lacks capabilities can do (Docker's defaults also forbid mounts, through AppArmor).
const GRANT_HINT: &str = "give it root's privileges (docker run --privileged), run it as an ordinary user that may \
     make user namespaces (docker run --user 1000 --security-opt seccomp=unconfined --security-opt \
     apparmor=unconfined)";
/// What uid 0 of a user namespace can do: no capability granted there reaches the host's mounts and uids.
const USERNS_HINT: &str = "run it as an ordinary user that may make user namespaces (in the container, or on the \
     host)";
/// The way out for either, where the container itself is the boundary.
const NO_SANDBOX_HINT: &str = "or, where the container itself is the boundary, pass --insecure-no-sandbox to run code without the \
     emulator's sandbox";

/// Why uid 0 here is not root in full, and what to do, if it is not (always `None` for an ordinary user).
pub(crate) fn limited_root() -> Option<String> {
    if !rustix::process::geteuid().is_root() {
        return None;
    }
    let read = |path: &str| fs::read_to_string(path).map_err(|e| format!("{path} is unreadable ({e})"));
    shortfall(read("/proc/self/uid_map"), read("/proc/self/status"))
}

/// For uid 0 with this `/proc/self/uid_map` and `/proc/self/status` (or why each could not be read): why it is
/// not root in full and what to do, or `None`.
fn shortfall(uid_map: Result<String, String>, status: Result<String, String>) -> Option<String> {
    let uid_map = match uid_map {
        Ok(map) => map,
        Err(why) => return Some(format!("{why}; {GRANT_HINT}, {NO_SANDBOX_HINT}")),
    };
    let map: Vec<Vec<u64>> = uid_map
        .lines()
        .map(|line| line.split_whitespace().map(|n| n.parse().unwrap_or(u64::MAX)).collect())
        .filter(|fields: &Vec<u64>| !fields.is_empty())
        .collect();
    if map != [WHOLE_MAP.to_vec()] {
        let shown = uid_map.split_whitespace().collect::<Vec<_>>().join(" ");
        return Some(format!(
            "uid 0 of a user namespace (uid_map: {shown}), as in rootless Docker or Podman, or under unshare -r; \
             {USERNS_HINT}, {NO_SANDBOX_HINT}"
        ));
    }
    let effective = status.and_then(|status| {
        status
            .lines()
            .find_map(|line| line.strip_prefix("CapEff:"))
            .and_then(|hex| u64::from_str_radix(hex.trim(), 16).ok())
            .ok_or_else(|| "/proc/self/status names no capabilities".to_owned())
    });
    let effective = match effective {
        Ok(effective) => effective,
        Err(why) => return Some(format!("{why}; {GRANT_HINT}, {NO_SANDBOX_HINT}")),
    };
    let missing: Vec<&str> =
        NEEDED.iter().filter(|(bit, _)| effective & (1u64 << bit) == 0).map(|(_, name)| *name).collect();
    (!missing.is_empty()).then(|| {
        format!(
            "root without {}, as in a container that was not given root's privileges; {GRANT_HINT}, \
             {NO_SANDBOX_HINT}",
            missing.join(", ")
        )
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    const ROOT_MAP: &str = "         0          0 4294967295\n";
    /// `CapEff` of root on a host, and in Docker's default set (no `CAP_SYS_ADMIN`).
    const FULL: &str = "Name:\tx\nCapEff:\t000001ffffffffff\n";
    const DOCKER: &str = "CapEff:\t00000000a80425fb\n";

    fn of(uid_map: &str, status: &str) -> Option<String> {
        shortfall(Ok(uid_map.to_owned()), Ok(status.to_owned()))
    }

    #[test]
    fn root_in_full_has_the_whole_uid_map_and_the_capabilities() {
        assert_eq!(of(ROOT_MAP, FULL), None);
    }

    #[test]
    fn root_in_a_default_container_lacks_cap_sys_admin_and_is_told_what_to_do() {
        let why = of(ROOT_MAP, DOCKER).unwrap_or_default();
        assert!(why.starts_with("root without CAP_SYS_ADMIN, as in a container"), "{why}");
        assert!(why.contains("--privileged") && why.contains("--user 1000"), "{why}");
        assert!(why.contains("--insecure-no-sandbox"), "{why}");
        let nothing = of(ROOT_MAP, "CapEff:\t0000000000000000\n").unwrap_or_default();
        assert_eq!(nothing.matches("CAP_").count(), NEEDED.len(), "{nothing}");
    }

    #[test]
    fn uid_0_of_a_user_namespace_is_not_root_and_no_capability_helps() {
        let why = of("         0       1000          1\n", FULL).unwrap_or_default();
        assert!(why.starts_with("uid 0 of a user namespace (uid_map: 0 1000 1)"), "{why}");
        assert!(!why.contains("--privileged"), "privileges granted there do not help: {why}");
        assert!(of("0 0 4294967295\n1 1 1\n", FULL).is_some(), "more than one line");
        assert!(of("", FULL).is_some(), "an empty map");
    }

    #[test]
    fn what_cannot_be_read_is_said_as_such() {
        let unreadable = shortfall(Err("/proc/self/uid_map is unreadable (gone)".into()), Ok(FULL.into()));
        assert!(unreadable.is_some_and(|why| why.starts_with("/proc/self/uid_map is unreadable")));
        assert!(of(ROOT_MAP, "Name:\tx\n").is_some_and(|why| why.starts_with("/proc/self/status names no")));
        assert!(of(ROOT_MAP, "CapEff:\tzz\n").is_some());
        assert!(shortfall(Ok(ROOT_MAP.into()), Err("status is unreadable".into())).is_some());
    }

    proptest! {
        #[test]
        fn any_proc_text_gives_an_answer(map in "\\PC{0,80}", status in "\\PC{0,200}") {
            let _ = of(&map, &status);
        }
    }
}

//! Which isolation tier to use, from what the host offers and what the operator asked for.

use serde::Serialize;

use super::SandboxError;
use crate::config::SandboxMode;

/// The isolation tier in force.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Tier {
    /// Namespaces the emulator makes itself (user, mount, pid, network, IPC, UTS, cgroup), sessions forked
    /// from a preloaded template, seccomp, limits.
    Namespaces,
    /// bubblewrap's namespaces, a kernel process per session, seccomp, limits.
    Bubblewrap,
    /// Landlock + seccomp + rlimits (no namespaces).
    Landlock,
    /// No sandbox (explicitly requested).
    None,
}

/// What probing a namespace-making tier found.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum Probe {
    /// Not probed: the mode does not use it.
    Unused,
    /// Not possible here, and why.
    Unavailable(String),
    /// Works.
    Works,
}

/// The tier for `mode` on a host where making namespaces natively and with bubblewrap probed as given, with
/// this Landlock ABI, for root or an ordinary user; refuses when no isolation is possible and none was
/// explicitly waived.
///
/// `Auto` picks the Landlock tier for root only: as an ordinary user that tier has no mount namespace, so it
/// cannot hold a session's files to a total size, and `Auto` promises the limits root gets. An ordinary user
/// who accepts that asks for `Landlock` by name.
pub(crate) fn choose(
    mode: SandboxMode,
    native: &Probe,
    bwrap: &Probe,
    landlock_abi: i64,
    root: bool,
) -> Result<Tier, SandboxError> {
    let reason = |probe: &Probe, what: &str| match probe {
        Probe::Unavailable(why) => format!("{what}: {why}"),
        _ => format!("{what}: not tried"),
    };
    let refuse = |why: String| Err(SandboxError::Unavailable(why));
    match mode {
        SandboxMode::InsecureNoSandbox => Ok(Tier::None),
        SandboxMode::Namespaces if *native == Probe::Works => Ok(Tier::Namespaces),
        SandboxMode::Namespaces => refuse(reason(native, "namespaces")),
        SandboxMode::Bubblewrap if *bwrap == Probe::Works => Ok(Tier::Bubblewrap),
        SandboxMode::Bubblewrap => refuse(reason(bwrap, "bubblewrap")),
        SandboxMode::Landlock if landlock_abi > 0 => Ok(Tier::Landlock),
        SandboxMode::Landlock => refuse("the kernel has no Landlock".into()),
        SandboxMode::Auto if *native == Probe::Works => Ok(Tier::Namespaces),
        SandboxMode::Auto if *bwrap == Probe::Works => Ok(Tier::Bubblewrap),
        SandboxMode::Auto if landlock_abi > 0 && root => Ok(Tier::Landlock),
        SandboxMode::Auto if landlock_abi > 0 => Err(SandboxError::OnlyLandlockAsUser(format!(
            "{}; {}",
            reason(native, "namespaces"),
            reason(bwrap, "bubblewrap")
        ))),
        SandboxMode::Auto => refuse(format!(
            "{}; {}; and the kernel has no Landlock",
            reason(native, "namespaces"),
            reason(bwrap, "bubblewrap")
        )),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn tier(mode: SandboxMode, native: Probe, bwrap: Probe, landlock: i64) -> Option<Tier> {
        choose(mode, &native, &bwrap, landlock, true).ok()
    }

    fn tier_as_user(mode: SandboxMode, native: Probe, bwrap: Probe, landlock: i64) -> Option<Tier> {
        choose(mode, &native, &bwrap, landlock, false).ok()
    }

    fn no(why: &str) -> Probe {
        Probe::Unavailable(why.into())
    }

    #[test]
    fn auto_prefers_native_namespaces_then_bubblewrap_then_landlock() {
        assert_eq!(tier(SandboxMode::Auto, Probe::Works, Probe::Works, 7), Some(Tier::Namespaces));
        assert_eq!(tier(SandboxMode::Auto, no("apparmor"), Probe::Works, 7), Some(Tier::Bubblewrap));
        assert_eq!(tier(SandboxMode::Auto, no("apparmor"), no("missing"), 3), Some(Tier::Landlock));
    }

    #[test]
    fn refuses_to_run_code_without_isolation_unless_waived() {
        let err = choose(SandboxMode::Auto, &no("apparmor restricts"), &no("bwrap is not on PATH"), 0, true)
            .err()
            .map(|e| e.to_string())
            .unwrap_or_default();
        assert!(err.contains("no sandbox is available") && err.contains("--insecure-no-sandbox"), "{err}");
        assert!(err.contains("apparmor restricts") && err.contains("bwrap is not on PATH"), "says why: {err}");
        assert_eq!(tier(SandboxMode::InsecureNoSandbox, Probe::Unused, Probe::Unused, 0), Some(Tier::None));
    }

    #[test]
    fn explicit_modes_do_not_fall_back() {
        assert_eq!(tier(SandboxMode::Namespaces, no("x"), Probe::Works, 7), None);
        assert_eq!(tier(SandboxMode::Bubblewrap, Probe::Works, no("missing"), 7), None);
        assert_eq!(tier(SandboxMode::Bubblewrap, Probe::Unused, Probe::Works, 0), Some(Tier::Bubblewrap));
        assert_eq!(tier(SandboxMode::Landlock, Probe::Works, Probe::Works, 0), None);
        assert_eq!(tier(SandboxMode::Landlock, Probe::Unused, Probe::Unused, 1), Some(Tier::Landlock));
    }

    #[test]
    fn auto_as_an_ordinary_user_never_settles_for_the_landlock_tier() {
        assert_eq!(tier_as_user(SandboxMode::Auto, Probe::Works, Probe::Works, 7), Some(Tier::Namespaces));
        assert_eq!(tier_as_user(SandboxMode::Auto, no("apparmor"), Probe::Works, 7), Some(Tier::Bubblewrap));
        let err = choose(SandboxMode::Auto, &no("apparmor restricts"), &no("bwrap is not on PATH"), 7, false)
            .err()
            .map(|e| e.to_string())
            .unwrap_or_default();
        assert!(err.contains("apparmor restricts") && err.contains("bwrap is not on PATH"), "says why: {err}");
        assert!(err.contains("apt-get install bubblewrap"), "says how to get the limits: {err}");
        assert!(err.contains("--sandbox landlock") && err.contains("total size"), "says what opting in costs: {err}");
        // Asked for by name, the tier is the user's choice (its warning says what it lacks).
        assert_eq!(tier_as_user(SandboxMode::Landlock, Probe::Unused, Probe::Unused, 7), Some(Tier::Landlock));
        assert_eq!(tier_as_user(SandboxMode::InsecureNoSandbox, Probe::Unused, Probe::Unused, 0), Some(Tier::None));
    }
}

//! Which limits are really in force for a session, in words, for `/health` and the start-up log; and the
//! start-up check of the memory every session could take when nothing else bounds it.

use serde::Serialize;

use super::Tier;
use crate::config::{EmulatorConfig, HOME_BYTES, SHM_BYTES};

/// One limit and what enforces it.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct LimitInForce {
    /// `memory`, `processes`, `disk`, `tmp`, `cpu`.
    pub resource: &'static str,
    /// The limit (bytes, processes, cores), or `None` when nothing bounds it.
    pub value: Option<f64>,
    /// What enforces it, in words.
    pub enforced_by: String,
}

/// The facts the report is built from.
pub(crate) struct Facts {
    pub(crate) tier: Tier,
    pub(crate) root: bool,
    pub(crate) cgroups: bool,
    /// Whether a cpu cgroup is among them (a user's delegated subtree may lack one).
    pub(crate) cpu_cgroup: bool,
}

/// The limits of one session.
pub(crate) fn report(config: &EmulatorConfig, facts: &Facts) -> Vec<LimitInForce> {
    let limits = &config.limits;
    let limit = |resource, value: Option<f64>, enforced_by: &str| LimitInForce {
        resource,
        value,
        enforced_by: enforced_by.to_owned(),
    };
    let namespaced = matches!(facts.tier, Tier::Namespaces | Tier::Bubblewrap);
    let memory = if facts.cgroups {
        "a memory cgroup (a quarter above the limit) and RLIMIT_AS, so a MemoryError comes first"
    } else {
        "RLIMIT_AS (address space) only: no memory cgroup here, so tmpfs pages are not counted"
    };
    let processes = match (facts.tier, facts.cgroups, facts.root) {
        (Tier::None, _, _) => None,
        (_, true, _) if namespaced => Some("a pids cgroup and RLIMIT_NPROC in the session's own user namespace"),
        (_, false, _) if namespaced => Some("RLIMIT_NPROC in the session's own user namespace"),
        (_, true, true) => Some("a pids cgroup and RLIMIT_NPROC of the session's own host uid"),
        (_, true, false) => Some("a pids cgroup"),
        (_, false, true) => Some("RLIMIT_NPROC of the session's own host uid"),
        (Tier::Landlock, false, false) => Some(
            "a ceiling, not a count of the session: RLIMIT_NPROC of the emulator's user, set at each kernel's \
             start to the tasks the user runs then plus twice this limit (every process of the user counts); the \
             session's processes cannot leave its kernel's process group, so they all end with it",
        ),
        (_, false, false) => None,
    };
    let disk = match (facts.tier, facts.root) {
        (Tier::Namespaces, _) => Some("a tmpfs of its own"),
        (Tier::Bubblewrap | Tier::Landlock, true) => Some("a tmpfs of its own"),
        (Tier::Bubblewrap, false) => Some("a tmpfs of its own, in a mount namespace a bubblewrap holder made for it"),
        _ => None,
    };
    let cores = facts.cpu_cgroup.then_some(limits.cpus);
    let mut out = vec![limit("memory", Some(limits.memory_bytes as f64), memory)];
    out.push(match processes {
        Some(how) => limit("processes", Some(f64::from(limits.max_processes)), how),
        None => limit("processes", None, "nothing: no cgroup and no user namespace to count in"),
    });
    out.push(match disk {
        Some(how) => limit("disk", Some(limits.disk_bytes as f64), how),
        None => limit("disk", None, "nothing but RLIMIT_FSIZE per file: /mnt/data is a directory of the host"),
    });
    out.push(match (namespaced, facts.tier, facts.root) {
        (true, _, _) => {
            limit("tmp", Some(limits.tmp_bytes as f64), "a tmpfs of its own (/tmp; /home/user and /dev/shm too)")
        }
        (false, Tier::Landlock, true) => {
            limit("tmp", Some(limits.tmp_bytes as f64), "a tmpfs of its own (its temporary and home directory)")
        }
        _ => limit("tmp", None, "nothing: the session's temporary directory is a directory of the host"),
    });
    out.push(match cores {
        Some(c) => limit("cpu", Some(c), "a cpu cgroup"),
        None => limit("cpu", None, "nothing: no cpu cgroup here"),
    });
    out
}

/// What every session could take at once when no memory cgroup holds it: memory, and the tmpfs of its files,
/// `/tmp`, `/home/user` and `/dev/shm` (tmpfs pages are memory).
pub(crate) fn worst_case_bytes(config: &EmulatorConfig, tier: Tier) -> u64 {
    let limits = &config.limits;
    let tmpfs = match tier {
        Tier::Namespaces | Tier::Bubblewrap => limits.disk_bytes + limits.tmp_bytes + HOME_BYTES + SHM_BYTES,
        _ => 0,
    };
    config.sandbox_slots() as u64 * (limits.memory_bytes + tmpfs)
}

/// The host's memory (`MemTotal`), in bytes.
pub(crate) fn host_memory() -> Option<u64> {
    let meminfo = std::fs::read_to_string("/proc/meminfo").ok()?;
    let kb: u64 = meminfo.lines().find_map(|l| l.strip_prefix("MemTotal:"))?.split_whitespace().next()?.parse().ok()?;
    Some(kb * 1024)
}

/// A warning when, without memory cgroups, every session at its limits would take more than the host has.
pub(crate) fn budget_warning(config: &EmulatorConfig, tier: Tier, cgroups: bool) -> Option<String> {
    if cgroups || tier == Tier::None {
        return None;
    }
    let needed = worst_case_bytes(config, tier);
    let host = host_memory()?;
    (needed > host).then(|| {
        format!(
            "no memory cgroup bounds the sessions, and {} sessions at their limits could take {:.1} GiB while the \
             host has {:.1} GiB: lower --max-sessions, --memory-mb or --disk-mb, or give the emulator cgroups (run it as root, or in a cgroup delegated to your user: see SECURITY.md)",
            config.sandbox_slots(),
            needed as f64 / f64::from(1u32 << 30),
            host as f64 / f64::from(1u32 << 30)
        )
    })
}

/// A warning when the tier cannot hold a session's files to a total size: the Landlock tier as an ordinary
/// user has no mount namespace, so no tmpfs of its own (the per-file limit still holds).
pub(crate) fn disk_warning(tier: Tier, root: bool) -> Option<String> {
    (tier == Tier::Landlock && !root).then(|| {
        "the Landlock tier as an ordinary user cannot hold a session's /mnt/data and temporary directory to a \
         total size (no mount namespace here, so no tmpfs of their own; --disk-mb bounds each file only): a \
         session can fill the disk holding --data-dir; install bubblewrap or allow unprivileged user namespaces \
         (see SECURITY.md)"
            .to_owned()
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reports_say_what_enforces_each_limit() {
        let config = EmulatorConfig::default();
        let user = report(&config, &Facts { tier: Tier::Namespaces, root: false, cgroups: false, cpu_cgroup: false });
        let by = |r: &[LimitInForce], name: &str| r.iter().find(|l| l.resource == name).map(|l| l.enforced_by.clone());
        assert!(by(&user, "processes").is_some_and(|b| b.contains("user namespace")));
        assert!(by(&user, "disk").is_some_and(|b| b.contains("tmpfs")));
        assert!(by(&user, "memory").is_some_and(|b| b.contains("RLIMIT_AS")));
        let landlock = report(&config, &Facts { tier: Tier::Landlock, root: false, cgroups: false, cpu_cgroup: false });
        assert_eq!(landlock.iter().find(|l| l.resource == "disk").and_then(|l| l.value), None);
        assert!(by(&landlock, "processes").is_some_and(|b| b.contains("ceiling")));
        let bwrap = report(&config, &Facts { tier: Tier::Bubblewrap, root: false, cgroups: false, cpu_cgroup: false });
        assert_eq!(
            bwrap.iter().find(|l| l.resource == "disk").and_then(|l| l.value),
            Some(config.limits.disk_bytes as f64)
        );
        assert!(by(&bwrap, "disk").is_some_and(|b| b.contains("holder")));
        let big = EmulatorConfig { max_sessions: 100_000, ..EmulatorConfig::default() };
        assert!(budget_warning(&big, Tier::Namespaces, false).is_some_and(|w| w.contains("--max-sessions")));
        assert!(budget_warning(&big, Tier::Namespaces, true).is_none(), "cgroups hold each session");
        assert!(disk_warning(Tier::Landlock, false).is_some_and(|w| w.contains("total size")));
        for (tier, root) in [(Tier::Landlock, true), (Tier::Bubblewrap, false), (Tier::Namespaces, false)] {
            assert_eq!(disk_warning(tier, root), None, "{tier:?} root={root}");
        }
        // A user's delegated cgroup: a pids cgroup counts the processes (the uid is shared, so no
        // RLIMIT_NPROC of a uid is claimed), and the CPU is only bounded when a cpu controller was delegated.
        let delegated = report(&config, &Facts { tier: Tier::Landlock, root: false, cgroups: true, cpu_cgroup: false });
        assert_eq!(by(&delegated, "processes").as_deref(), Some("a pids cgroup"));
        assert!(by(&delegated, "memory").is_some_and(|b| b.contains("memory cgroup")));
        assert_eq!(delegated.iter().find(|l| l.resource == "cpu").and_then(|l| l.value), None);
    }
}

//! The resource limits every session's kernel starts with, in one table: the namespaces tier's template sets
//! them by name in each forked session, the other tiers' children set them between fork and exec.

use rustix::process::Resource;

use crate::config::Limits;
use crate::kernel::protocol::Language;

/// Open files per process in a session.
const OPEN_FILES: u64 = 1024;
/// A backstop on CPU time over a kernel's whole life (executions are bounded by their own time limits).
const CPU_SECONDS: u64 = 4 * 3600;

/// One limit: its `RLIMIT_` name (as Python's `resource` module spells it), the resource and the value.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct Rlimit {
    pub(crate) name: &'static str,
    pub(crate) resource: Resource,
    pub(crate) value: u64,
}

/// The address space V8 reserves beyond what a JavaScript kernel uses (its code range and cages): a
/// JavaScript kernel's `RLIMIT_AS` is the session's memory plus this; its heap is bounded by
/// `--max-old-space-size` instead (and its memory by the memory cgroup where there is one).
pub(crate) const V8_RESERVATIONS: u64 = 1 << 30;

/// The address space limit of a `language` kernel in a session of `limits`.
pub(crate) fn address_space(limits: &Limits, language: Language) -> u64 {
    match language {
        Language::Python => limits.memory_bytes,
        Language::JavaScript => limits.memory_bytes + V8_RESERVATIONS,
    }
}

/// The limits of every sandboxed kernel: no core dumps, open files, the largest file (`/mnt/data`'s size)
/// and CPU time; with `memory`, the address space too (every tier but the no-sandbox mode), of a `language`
/// kernel.
pub(crate) fn kernel(limits: &Limits, memory: bool, language: Language) -> Vec<Rlimit> {
    let mut out = vec![
        Rlimit { name: "RLIMIT_CORE", resource: Resource::Core, value: 0 },
        Rlimit { name: "RLIMIT_NOFILE", resource: Resource::Nofile, value: OPEN_FILES },
        Rlimit { name: "RLIMIT_FSIZE", resource: Resource::Fsize, value: limits.disk_bytes },
        Rlimit { name: "RLIMIT_CPU", resource: Resource::Cpu, value: CPU_SECONDS },
    ];
    if memory {
        out.push(Rlimit { name: "RLIMIT_AS", resource: Resource::As, value: address_space(limits, language) });
    }
    out
}

/// `RLIMIT_NPROC` where it counts one session alone: in a user namespace of its own, or for a host uid of
/// its own (with a margin for the sandbox's own processes there).
pub(crate) fn processes(limits: &Limits, own_uid: bool) -> Rlimit {
    let margin = if own_uid { 16 } else { 0 };
    Rlimit { name: "RLIMIT_NPROC", resource: Resource::Nproc, value: u64::from(limits.max_processes) + margin }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_tier_sets_the_same_limits_and_memory_only_in_a_sandbox() {
        let limits = Limits::default();
        let sandboxed = kernel(&limits, true, Language::Python);
        let names: Vec<&str> = sandboxed.iter().map(|r| r.name).collect();
        assert_eq!(names, ["RLIMIT_CORE", "RLIMIT_NOFILE", "RLIMIT_FSIZE", "RLIMIT_CPU", "RLIMIT_AS"]);
        assert!(sandboxed.contains(&Rlimit { name: "RLIMIT_AS", resource: Resource::As, value: limits.memory_bytes }));
        assert!(sandboxed.contains(&Rlimit {
            name: "RLIMIT_FSIZE",
            resource: Resource::Fsize,
            value: limits.disk_bytes
        }));
        assert!(kernel(&limits, false, Language::Python).iter().all(|r| r.resource != Resource::As));
        let javascript = kernel(&limits, true, Language::JavaScript);
        assert!(
            javascript.iter().any(|r| r.resource == Resource::As && r.value == limits.memory_bytes + V8_RESERVATIONS)
        );
        assert_eq!(processes(&limits, false).value, u64::from(limits.max_processes));
        assert_eq!(processes(&limits, true).value, u64::from(limits.max_processes) + 16);
    }
}

//! The seccomp filter every sandboxed kernel runs under: a Docker-default-like denylist answering with an
//! errno (so Python raises an exception instead of dying), plus the kernel surface no session needs.
//!
//! * No new namespaces: `unshare`/`setns` are refused, and so is `clone` with any namespace flag; `clone3`,
//!   whose flags sit in memory a filter cannot read, answers `ENOSYS` (the C library then falls back to
//!   `clone`, which the filter can check). A nested user namespace would hand the code a full capability
//!   set, and with it raw sockets and netfilter.
//! * Only the native ABI: on x86-64, system-call numbers with the x32 bit set are refused before any rule is
//!   looked at (otherwise every rule could be bypassed on a kernel with x32 support).
//! * Only the socket families a session needs: `AF_UNIX`, `AF_INET`, `AF_INET6` (no netlink, packet or
//!   vsock sockets). The Landlock tier, which has no network namespace, refuses `socket()` altogether and
//!   SysV IPC (its objects would outlive the session, visible to the next one).

use std::collections::BTreeMap;

use seccompiler::{
    BpfProgram, SeccompAction, SeccompCmpArgLen, SeccompCmpOp, SeccompCondition, SeccompFilter, SeccompRule,
    TargetArch, sock_filter,
};

/// Syscalls no session needs: mounting, namespaces, tracing, kernel modules and keys, BPF, io_uring, ...
const DENIED: &[libc::c_long] = &[
    libc::SYS_ptrace,
    libc::SYS_mount,
    libc::SYS_umount2,
    libc::SYS_unshare,
    libc::SYS_setns,
    libc::SYS_pivot_root,
    libc::SYS_chroot,
    libc::SYS_bpf,
    libc::SYS_perf_event_open,
    libc::SYS_userfaultfd,
    libc::SYS_keyctl,
    libc::SYS_add_key,
    libc::SYS_request_key,
    libc::SYS_kexec_load,
    libc::SYS_kexec_file_load,
    libc::SYS_init_module,
    libc::SYS_finit_module,
    libc::SYS_delete_module,
    libc::SYS_reboot,
    libc::SYS_swapon,
    libc::SYS_swapoff,
    libc::SYS_open_by_handle_at,
    libc::SYS_name_to_handle_at,
    libc::SYS_io_uring_setup,
    libc::SYS_io_uring_enter,
    libc::SYS_io_uring_register,
    libc::SYS_acct,
    libc::SYS_quotactl,
    libc::SYS_syslog,
    libc::SYS_process_vm_readv,
    libc::SYS_process_vm_writev,
    libc::SYS_fsopen,
    libc::SYS_fsmount,
    libc::SYS_move_mount,
    libc::SYS_open_tree,
    libc::SYS_fspick,
    libc::SYS_mount_setattr,
    libc::SYS_personality,
];

/// SysV IPC, refused where no IPC namespace keeps it to the session (the Landlock tier).
const SYSV_IPC: &[libc::c_long] = &[
    libc::SYS_shmget,
    libc::SYS_shmat,
    libc::SYS_shmctl,
    libc::SYS_shmdt,
    libc::SYS_msgget,
    libc::SYS_msgsnd,
    libc::SYS_msgrcv,
    libc::SYS_msgctl,
    libc::SYS_semget,
    libc::SYS_semop,
    libc::SYS_semtimedop,
    libc::SYS_semctl,
];

/// Every `clone` flag that makes a namespace. (`CLONE_NEWTIME` is not among them: in `clone`'s first
/// argument its bit belongs to the exit signal; it can only be asked through `clone3` or `unshare`, both refused.)
const NAMESPACE_FLAGS: [u64; 7] = [
    libc::CLONE_NEWNS as u64,
    libc::CLONE_NEWCGROUP as u64,
    libc::CLONE_NEWUTS as u64,
    libc::CLONE_NEWIPC as u64,
    libc::CLONE_NEWUSER as u64,
    libc::CLONE_NEWPID as u64,
    libc::CLONE_NEWNET as u64,
];

/// The socket families a session may open where it has a network namespace of its own.
const SOCKET_FAMILIES: [i32; 3] = [libc::AF_UNIX, libc::AF_INET, libc::AF_INET6];

/// Which sandbox the filter is for.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Profile {
    /// The session has its own namespaces (native or bubblewrap).
    Namespaced,
    /// The Landlock tier: no namespaces; no sockets, no SysV IPC.
    Landlock,
}

#[cfg(target_arch = "x86_64")]
const ARCH: TargetArch = TargetArch::x86_64;
#[cfg(target_arch = "aarch64")]
const ARCH: TargetArch = TargetArch::aarch64;
#[cfg(target_arch = "x86_64")]
const AUDIT_ARCH: u32 = 0xC000_003E;
#[cfg(target_arch = "aarch64")]
const AUDIT_ARCH: u32 = 0xC000_00B7;
/// x32 system calls on x86-64 carry this bit.
const X32_SYSCALL_BIT: u32 = 0x4000_0000;

const SECCOMP_RET_ERRNO: u32 = 0x0005_0000;
const BPF_LD_W_ABS: u16 = 0x20;
const BPF_JEQ_K: u16 = 0x15;
const BPF_JGE_K: u16 = 0x35;
const BPF_RET_K: u16 = 0x06;

fn insn(code: u16, jt: u8, jf: u8, k: u32) -> sock_filter {
    sock_filter { code, jt, jf, k }
}

fn condition(
    arg: u8,
    len: SeccompCmpArgLen,
    op: SeccompCmpOp,
    value: u64,
) -> Result<SeccompCondition, seccompiler::BackendError> {
    SeccompCondition::new(arg, len, op, value)
}

/// Builds the filter for `profile`.
pub(crate) fn program(profile: Profile) -> Result<BpfProgram, seccompiler::BackendError> {
    let mut rules: BTreeMap<i64, Vec<SeccompRule>> = DENIED.iter().map(|nr| (*nr, Vec::new())).collect();
    // clone with any namespace flag (on x86-64 and aarch64 the flags are the first argument).
    let clone_rules = NAMESPACE_FLAGS
        .iter()
        .map(|flag| {
            condition(0, SeccompCmpArgLen::Qword, SeccompCmpOp::MaskedEq(*flag), *flag)
                .and_then(|c| SeccompRule::new(vec![c]))
        })
        .collect::<Result<Vec<_>, _>>()?;
    rules.insert(libc::SYS_clone, clone_rules);
    match profile {
        Profile::Namespaced => {
            // Any family but the allowed ones: all three "not equal" conditions hold.
            let others = SOCKET_FAMILIES
                .iter()
                .map(|family| condition(0, SeccompCmpArgLen::Dword, SeccompCmpOp::Ne, *family as u64))
                .collect::<Result<Vec<_>, _>>()?;
            rules.insert(libc::SYS_socket, vec![SeccompRule::new(others)?]);
        }
        Profile::Landlock => {
            rules.insert(libc::SYS_socket, Vec::new());
            for nr in SYSV_IPC {
                rules.insert(*nr, Vec::new());
            }
        }
    }
    let filter = SeccompFilter::new(rules, SeccompAction::Allow, SeccompAction::Errno(libc::EPERM as u32), ARCH)?;
    let rest = BpfProgram::try_from(filter)?;
    Ok(with_prefix(rest))
}

/// The checks that go before the rules: the architecture, x32 numbers, and `clone3`.
fn with_prefix(rest: BpfProgram) -> BpfProgram {
    let enosys = SECCOMP_RET_ERRNO | libc::ENOSYS as u32;
    let clone3 = libc::SYS_clone3 as u32;
    let mut out = vec![
        // A foreign architecture: let the rules' own architecture check answer it.
        insn(BPF_LD_W_ABS, 0, 0, 4),
        insn(BPF_JEQ_K, 0, 4, AUDIT_ARCH),
        insn(BPF_LD_W_ABS, 0, 0, 0),
        // x32 numbers (x86-64 only; elsewhere the bit is beyond every number and the test never matches).
        insn(BPF_JGE_K, 1, 0, X32_SYSCALL_BIT),
        insn(BPF_JEQ_K, 0, 1, clone3),
        insn(BPF_RET_K, 0, 0, enosys),
    ];
    out.extend(rest);
    out
}

/// The program as bubblewrap's `--seccomp FD` and the template read it: the raw `struct sock_filter` array.
pub(crate) fn to_bytes(program: &BpfProgram) -> Vec<u8> {
    let mut out = Vec::with_capacity(program.len() * 8);
    for insn in program {
        out.extend_from_slice(&insn.code.to_ne_bytes());
        out.push(insn.jt);
        out.push(insn.jf);
        out.extend_from_slice(&insn.k.to_ne_bytes());
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn builds_both_profiles_with_the_prefix_first() -> Result<(), seccompiler::BackendError> {
        let strict = program(Profile::Landlock)?;
        let loose = program(Profile::Namespaced)?;
        assert_ne!(strict.len(), loose.len());
        assert_eq!(to_bytes(&loose).len(), loose.len() * 8);
        assert_eq!((loose[1].code, loose[1].k), (BPF_JEQ_K, AUDIT_ARCH));
        assert_eq!(loose[3].k, X32_SYSCALL_BIT);
        assert_eq!(loose[5].k, SECCOMP_RET_ERRNO | libc::ENOSYS as u32);
        Ok(())
    }
}

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
//! * The Landlock tier, which has no pid namespace either, refuses `setsid` and `setpgid`: every process of a
//!   session stays in the process group its kernel leads, so one `kill(-group, SIGKILL)` ends all of them at
//!   once (the kernel delivers a group signal to a child forked at that moment too).

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

/// Leaving the kernel's process group, refused where no pid namespace holds the session (the Landlock tier).
const LEAVE_GROUP: &[libc::c_long] = &[libc::SYS_setsid, libc::SYS_setpgid];

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
    /// The Landlock tier: no namespaces; no sockets, no SysV IPC, no leaving the kernel's process group.
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
            for nr in SYSV_IPC.iter().chain(LEAVE_GROUP) {
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

    const ALLOW: u32 = 0x7fff_0000;
    const EPERM: u32 = SECCOMP_RET_ERRNO | libc::EPERM as u32;
    const ENOSYS: u32 = SECCOMP_RET_ERRNO | libc::ENOSYS as u32;
    const UNKNOWN: u32 = 0xdead_0000;

    /// Runs `program` on one system call the way the kernel does (classic BPF over `struct seccomp_data`:
    /// nr, arch, instruction pointer, six arguments) and returns the action.
    fn run(program: &[sock_filter], arch: u32, nr: u32, args: [u64; 6]) -> u32 {
        let mut data = Vec::with_capacity(64);
        data.extend_from_slice(&nr.to_ne_bytes());
        data.extend_from_slice(&arch.to_ne_bytes());
        data.extend_from_slice(&0u64.to_ne_bytes());
        for arg in args {
            data.extend_from_slice(&arg.to_ne_bytes());
        }
        let word = |at: u32| {
            let at = at as usize;
            u32::from_ne_bytes([data[at], data[at + 1], data[at + 2], data[at + 3]])
        };
        let (mut a, mut x, mut mem, mut pc) = (0u32, 0u32, [0u32; 16], 0usize);
        loop {
            let insn = &program[pc];
            pc += 1;
            let jump = |taken: bool| if taken { usize::from(insn.jt) } else { usize::from(insn.jf) };
            match insn.code {
                0x20 => a = word(insn.k),            // ld [k]
                0x00 => a = insn.k,                  // ld #k
                0x01 => x = insn.k,                  // ldx #k
                0x60 => a = mem[insn.k as usize],    // ld M[k]
                0x61 => x = mem[insn.k as usize],    // ldx M[k]
                0x02 => mem[insn.k as usize] = a,    // st M[k]
                0x03 => mem[insn.k as usize] = x,    // stx M[k]
                0x54 => a &= insn.k,                 // and #k
                0x07 => x = a,                       // tax
                0x87 => a = x,                       // txa
                0x05 => pc += insn.k as usize,       // ja
                0x15 => pc += jump(a == insn.k),     // jeq #k
                0x25 => pc += jump(a > insn.k),      // jgt #k
                0x35 => pc += jump(a >= insn.k),     // jge #k
                0x45 => pc += jump(a & insn.k != 0), // jset #k
                0x1d => pc += jump(a == x),          // jeq x
                0x2d => pc += jump(a > x),           // jgt x
                0x3d => pc += jump(a >= x),          // jge x
                0x06 => return insn.k,               // ret #k
                0x16 => return a,                    // ret a
                // An instruction this interpreter does not know: an action no assertion expects.
                other => return UNKNOWN | u32::from(other),
            }
        }
    }

    fn call(program: &[sock_filter], nr: libc::c_long, args: [u64; 6]) -> u32 {
        run(program, AUDIT_ARCH, nr as u32, args)
    }

    #[test]
    fn builds_both_profiles_with_the_prefix_first() -> Result<(), seccompiler::BackendError> {
        let strict = program(Profile::Landlock)?;
        let loose = program(Profile::Namespaced)?;
        assert_ne!(strict.len(), loose.len());
        assert_eq!(to_bytes(&loose).len(), loose.len() * 8);
        assert_eq!((loose[1].code, loose[1].k), (BPF_JEQ_K, AUDIT_ARCH));
        Ok(())
    }

    #[test]
    fn ordinary_calls_pass_and_threads_and_forks_are_allowed() -> Result<(), seccompiler::BackendError> {
        for profile in [Profile::Namespaced, Profile::Landlock] {
            let p = program(profile)?;
            assert_eq!(call(&p, libc::SYS_getpid, [0; 6]), ALLOW);
            assert_eq!(call(&p, libc::SYS_read, [0, 0, 4096, 0, 0, 0]), ALLOW);
            let fork = libc::SIGCHLD as u64;
            assert_eq!(call(&p, libc::SYS_clone, [fork, 0, 0, 0, 0, 0]), ALLOW, "fork");
            let thread = (libc::CLONE_VM
                | libc::CLONE_FS
                | libc::CLONE_FILES
                | libc::CLONE_SIGHAND
                | libc::CLONE_THREAD
                | libc::CLONE_SYSVSEM
                | libc::CLONE_SETTLS
                | libc::CLONE_PARENT_SETTID
                | libc::CLONE_CHILD_CLEARTID) as u64;
            assert_eq!(call(&p, libc::SYS_clone, [thread, 0, 0, 0, 0, 0]), ALLOW, "pthread_create");
            // An exit signal with the high bit (0x80, CLONE_NEWTIME's bit elsewhere) is still a plain clone.
            assert_eq!(call(&p, libc::SYS_clone, [0x80 | fork, 0, 0, 0, 0, 0]), ALLOW);
        }
        Ok(())
    }

    #[test]
    fn no_namespace_can_be_made_by_any_call() -> Result<(), seccompiler::BackendError> {
        for profile in [Profile::Namespaced, Profile::Landlock] {
            let p = program(profile)?;
            for flag in NAMESPACE_FLAGS {
                assert_eq!(call(&p, libc::SYS_clone, [flag | libc::SIGCHLD as u64, 0, 0, 0, 0, 0]), EPERM, "{flag:#x}");
                assert_eq!(call(&p, libc::SYS_unshare, [flag, 0, 0, 0, 0, 0]), EPERM);
            }
            // clone3's flags are in memory the filter cannot read: the C library falls back to clone.
            assert_eq!(call(&p, libc::SYS_clone3, [0; 6]), ENOSYS);
            for nr in [libc::SYS_setns, libc::SYS_mount, libc::SYS_ptrace, libc::SYS_bpf, libc::SYS_io_uring_setup] {
                assert_eq!(call(&p, nr, [0; 6]), EPERM, "{nr}");
            }
        }
        Ok(())
    }

    #[test]
    fn x32_numbers_and_foreign_architectures_never_pass() -> Result<(), seccompiler::BackendError> {
        let p = program(Profile::Namespaced)?;
        for nr in [libc::SYS_getpid, libc::SYS_unshare, libc::SYS_clone, libc::SYS_socket] {
            assert_eq!(call(&p, nr | libc::c_long::from(X32_SYSCALL_BIT as i32), [0; 6]), ENOSYS, "x32 {nr}");
        }
        const AUDIT_ARCH_I386: u32 = 0x4000_0003;
        assert_ne!(run(&p, AUDIT_ARCH_I386, 20, [0; 6]), ALLOW, "an i386 getpid");
        Ok(())
    }

    #[test]
    fn only_unix_and_inet_sockets_where_namespaced_and_none_under_landlock() -> Result<(), seccompiler::BackendError> {
        let namespaced = program(Profile::Namespaced)?;
        let landlock = program(Profile::Landlock)?;
        let socket = |p: &[sock_filter], family: i32| call(p, libc::SYS_socket, [family as u64, 1, 0, 0, 0, 0]);
        for family in [libc::AF_UNIX, libc::AF_INET, libc::AF_INET6] {
            assert_eq!(socket(&namespaced, family), ALLOW, "{family}");
            assert_eq!(socket(&landlock, family), EPERM, "{family}");
        }
        for family in [libc::AF_NETLINK, libc::AF_PACKET, libc::AF_VSOCK, libc::AF_BLUETOOTH, libc::AF_ALG, 0xffff] {
            assert_eq!(socket(&namespaced, family), EPERM, "{family}");
        }
        // The kernel reads the family as an int: junk in the upper half does not turn a refused family into
        // an allowed one, nor the reverse.
        assert_eq!(call(&namespaced, libc::SYS_socket, [(1 << 32) | libc::AF_INET as u64, 1, 0, 0, 0, 0]), ALLOW);
        assert_eq!(call(&namespaced, libc::SYS_socket, [(1 << 32) | libc::AF_VSOCK as u64, 1, 0, 0, 0, 0]), EPERM);
        Ok(())
    }

    #[test]
    fn sysv_ipc_only_where_an_ipc_namespace_contains_it() -> Result<(), seccompiler::BackendError> {
        let namespaced = program(Profile::Namespaced)?;
        let landlock = program(Profile::Landlock)?;
        for nr in SYSV_IPC {
            assert_eq!(call(&namespaced, *nr, [0; 6]), ALLOW, "{nr}");
            assert_eq!(call(&landlock, *nr, [0; 6]), EPERM, "{nr}");
        }
        Ok(())
    }

    #[test]
    fn the_process_group_can_only_be_left_where_a_pid_namespace_holds_the_session()
    -> Result<(), seccompiler::BackendError> {
        let namespaced = program(Profile::Namespaced)?;
        let landlock = program(Profile::Landlock)?;
        for nr in LEAVE_GROUP {
            assert_eq!(call(&namespaced, *nr, [0; 6]), ALLOW, "{nr}");
            assert_eq!(call(&landlock, *nr, [0; 6]), EPERM, "{nr}");
        }
        // Reading the ids stays allowed.
        for nr in [libc::SYS_getpgid, libc::SYS_getsid] {
            assert_eq!(call(&landlock, nr, [0; 6]), ALLOW, "{nr}");
        }
        Ok(())
    }
}

//! The command that starts a sandboxed kernel, for each tier, and the async-signal-safe steps the child
//! takes between fork and exec.

use std::io;
use std::os::fd::{AsRawFd, OwnedFd, RawFd};
use std::os::unix::process::CommandExt;
use std::path::Path;
use std::process::{Command, Stdio};

use super::{Cgroup, Sandbox, SandboxError, Tier, Workspace, io_err};

/// Where things appear inside a bubblewrap sandbox.
const RUNTIME_MOUNT: &str = "/opt/runtime";
const KERNEL_MOUNT: &str = "/opt/kernel";

/// Runs `bwrap ... true` as an unprivileged uid to see whether namespaces work here.
pub(crate) fn probe_bwrap(bwrap: &Path, root: bool) -> bool {
    let mut command = Command::new(bwrap);
    command
        .args(["--unshare-all", "--die-with-parent", "--new-session", "--ro-bind", "/usr", "/usr"])
        .args(["--symlink", "usr/lib", "/lib", "--symlink", "usr/lib64", "/lib64", "--symlink", "usr/bin", "/bin"])
        .args(["--proc", "/proc", "--dev", "/dev", "--", "/bin/true"])
        .env_clear()
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::null());
    if root {
        let probe_uid = 999_999u32;
        // SAFETY: only async-signal-safe syscalls between fork and exec.
        unsafe {
            command.pre_exec(move || drop_privileges(probe_uid));
        }
    }
    command.status().map(|s| s.success()).unwrap_or(false)
}

/// Builds the kernel command for the sandbox's tier.
pub(crate) fn build(sandbox: &Sandbox, ws: &Workspace, cgroup: Option<&Cgroup>) -> Result<Command, SandboxError> {
    let runtime = &sandbox.runtime;
    let mut env: Vec<(&str, String)> = vec![
        ("PATH", "/usr/local/bin:/usr/bin:/bin".to_owned()),
        ("LANG", "C.UTF-8".to_owned()),
        ("PYTHONUNBUFFERED", "1".to_owned()),
        ("MPLBACKEND", "Agg".to_owned()),
        ("OPENBLAS_NUM_THREADS", "1".to_owned()),
        ("OMP_NUM_THREADS", "1".to_owned()),
        ("MKL_NUM_THREADS", "1".to_owned()),
        ("MALLOC_ARENA_MAX", "2".to_owned()),
        ("DS_OUTPUT_CAP", sandbox.output_cap.to_string()),
        ("DS_PREIMPORT", sandbox.preimport.clone()),
        ("USER", "user".to_owned()),
    ];
    let tier = sandbox.tier();
    let (mut command, seccomp_fd, landlock) = match tier {
        Tier::Bubblewrap => {
            let bwrap = sandbox.bwrap.as_deref().ok_or_else(|| SandboxError::Unavailable("bwrap vanished".into()))?;
            let python = match &runtime.venv {
                Some(_) => format!("{RUNTIME_MOUNT}/bin/python"),
                None => runtime.python.display().to_string(),
            };
            env.push(("HOME", "/home/user".to_owned()));
            env.push(("TMPDIR", "/tmp".to_owned()));
            if runtime.venv.is_some() {
                env[0].1 = format!("{RUNTIME_MOUNT}/bin:/usr/local/bin:/usr/bin:/bin");
            }
            // matplotlib wants a writable config dir; its prebuilt font cache is mounted into it read-only.
            env.push(("MPLCONFIGDIR", "/tmp/mpl".to_owned()));
            let mut c = Command::new(bwrap);
            c.env_clear();
            c.args(["--unshare-all", "--die-with-parent", "--new-session", "--seccomp", "3"]);
            c.args(["--ro-bind", "/usr", "/usr"]);
            for (link, target) in
                [("/lib", "usr/lib"), ("/lib64", "usr/lib64"), ("/bin", "usr/bin"), ("/sbin", "usr/sbin")]
            {
                c.args(["--symlink", target, link]);
            }
            for etc in ["/etc/fonts", "/etc/localtime", "/etc/ld.so.cache", "/etc/mime.types", "/etc/ssl/certs"] {
                c.args(["--ro-bind-try", etc, etc]);
            }
            if let Some(prefix) = runtime.prefix_outside_usr() {
                c.arg("--ro-bind").arg(prefix).arg(prefix);
            }
            if let Some(venv) = &runtime.venv {
                c.arg("--ro-bind").arg(venv).arg(RUNTIME_MOUNT);
            }
            c.arg("--ro-bind").arg(&sandbox.kernel_dir).arg(KERNEL_MOUNT);
            c.arg("--ro-bind").arg(sandbox.kernel_dir.join("passwd")).arg("/etc/passwd");
            c.arg("--ro-bind").arg(sandbox.kernel_dir.join("group")).arg("/etc/group");
            c.arg("--bind").arg(&ws.data).arg("/mnt/data");
            c.args([
                "--proc",
                "/proc",
                "--dev",
                "/dev",
                "--tmpfs",
                "/tmp",
                "--tmpfs",
                "/home/user",
                "--dir",
                "/tmp/mpl",
            ]);
            for file in &sandbox.mpl_cache {
                if let Some(name) = file.file_name() {
                    c.arg("--ro-bind").arg(file).arg(Path::new("/tmp/mpl").join(name));
                }
            }
            c.args(["--chdir", "/mnt/data", "--hostname", "session", "--uid", "65534", "--gid", "65534"]);
            c.arg("--clearenv");
            for (k, v) in &env {
                c.arg("--setenv").arg(k).arg(v);
            }
            c.args(["--remount-ro", "/", "--"]);
            c.arg(python).args(["-I", "-X", "frozen_modules=on"]).arg(format!("{KERNEL_MOUNT}/kernel.py"));
            (c, Some(seccomp_memfd(&sandbox.seccomp)?), None)
        }
        Tier::Landlock | Tier::None => {
            env.push(("HOME", ws.tmp.display().to_string()));
            env.push(("TMPDIR", ws.tmp.display().to_string()));
            env.push(("DS_DATA_DIR", ws.data.display().to_string()));
            let python = runtime.venv.as_ref().map(|v| v.join("bin/python")).unwrap_or_else(|| runtime.python.clone());
            if let Some(venv) = &runtime.venv {
                env[0].1 = format!("{}:/usr/local/bin:/usr/bin:/bin", venv.join("bin").display());
            }
            // A writable matplotlib config dir with a copy of the prebuilt font cache.
            let mpl = ws.tmp.join("mpl");
            if std::fs::create_dir_all(&mpl).is_ok() {
                for file in &sandbox.mpl_cache {
                    if let Some(name) = file.file_name() {
                        let _ = std::fs::copy(file, mpl.join(name));
                    }
                }
                if let Some(uid) = ws.uid {
                    let _ = std::os::unix::fs::chown(&mpl, Some(uid), Some(uid));
                }
            }
            env.push(("MPLCONFIGDIR", mpl.display().to_string()));
            let mut c = Command::new(python);
            c.args(["-I", "-X", "frozen_modules=on"]).arg(sandbox.kernel_dir.join("kernel.py"));
            c.current_dir(&ws.data);
            c.env_clear();
            for (k, v) in &env {
                c.env(k, v);
            }
            let landlock = if tier == Tier::Landlock {
                let mut read_only: Vec<&Path> = vec![Path::new("/usr"), Path::new("/etc"), &sandbox.kernel_dir];
                for p in ["/lib", "/lib64", "/bin", "/sbin", "/dev/urandom", "/dev/null", "/proc"] {
                    read_only.push(Path::new(p));
                }
                if let Some(venv) = &runtime.venv {
                    read_only.push(venv);
                }
                if let Some(prefix) = runtime.prefix_outside_usr() {
                    read_only.push(prefix);
                }
                let read_write: Vec<&Path> = vec![&ws.data, &ws.tmp, Path::new("/dev/null")];
                let rules = super::landlock_rules::ruleset(&read_only, &read_write)
                    .map_err(|e| SandboxError::Unavailable(format!("cannot build the Landlock ruleset: {e}")))?;
                Some(rules)
            } else {
                None
            };
            (c, None, landlock)
        }
    };
    command.stdin(Stdio::piped()).stdout(Stdio::piped()).stderr(Stdio::piped());

    let plan = ChildPlan {
        cgroup_fds: cgroup.map(Cgroup::procs_fds).unwrap_or_default(),
        rlimits: rlimits(sandbox, tier),
        seccomp_fd: seccomp_fd.as_ref().map(AsRawFd::as_raw_fd),
        uid: ws.uid,
        landlock,
        seccomp_in_child: (tier == Tier::Landlock).then(|| sandbox.seccomp_program.clone()),
    };
    // The memfd must stay open until the child has exec'd: it moves into the closure, which the Command keeps.
    let keep_open = seccomp_fd;
    let mut plan = plan;
    // SAFETY: the closure only makes raw, async-signal-safe syscalls on pre-built data (no allocation, no
    // locks) on its success path.
    unsafe {
        command.pre_exec(move || {
            let _ = &keep_open;
            plan.run()
        });
    }
    Ok(command)
}

fn rlimits(sandbox: &Sandbox, tier: Tier) -> Vec<(libc::__rlimit_resource_t, u64)> {
    let limits = &sandbox.limits;
    let mut out = vec![
        (libc::RLIMIT_CORE, 0),
        (libc::RLIMIT_NOFILE, 1024),
        (libc::RLIMIT_FSIZE, limits.disk_bytes),
        (libc::RLIMIT_CPU, 4 * 3600),
    ];
    if tier != Tier::None {
        out.push((libc::RLIMIT_AS, limits.memory_bytes));
        if sandbox.info.uid_per_session {
            // Per host uid: with one uid per session this bounds each session's processes.
            out.push((libc::RLIMIT_NPROC, u64::from(limits.max_processes) + 16));
        }
    }
    out
}

fn seccomp_memfd(bytes: &[u8]) -> Result<OwnedFd, SandboxError> {
    use rustix::fs::{MemfdFlags, SeekFrom, memfd_create, seek};
    let fd = memfd_create("seccomp", MemfdFlags::CLOEXEC).map_err(|e| io_err("memfd_create")(e.into()))?;
    let mut written = 0;
    while written < bytes.len() {
        written +=
            rustix::io::write(&fd, &bytes[written..]).map_err(|e| io_err("writing the seccomp filter")(e.into()))?;
    }
    seek(&fd, SeekFrom::Start(0)).map_err(|e| io_err("seeking the seccomp filter")(e.into()))?;
    Ok(fd)
}

/// What the child does between fork and exec. Everything here is a raw syscall on pre-built data.
struct ChildPlan {
    cgroup_fds: Vec<RawFd>,
    rlimits: Vec<(libc::__rlimit_resource_t, u64)>,
    seccomp_fd: Option<RawFd>,
    uid: Option<u32>,
    landlock: Option<::landlock::RulesetCreated>,
    seccomp_in_child: Option<std::sync::Arc<seccompiler::BpfProgram>>,
}

fn check(rc: libc::c_int) -> io::Result<()> {
    if rc < 0 { Err(io::Error::last_os_error()) } else { Ok(()) }
}

impl ChildPlan {
    fn run(&mut self) -> io::Result<()> {
        // SAFETY (whole block): raw syscalls on valid fds and stack values.
        unsafe {
            for fd in &self.cgroup_fds {
                if libc::write(*fd, b"0".as_ptr().cast(), 1) != 1 {
                    return Err(io::Error::last_os_error());
                }
            }
            for (resource, value) in &self.rlimits {
                let limit = libc::rlimit { rlim_cur: *value, rlim_max: *value };
                check(libc::setrlimit(*resource, &limit))?;
            }
            check(libc::prctl(libc::PR_SET_PDEATHSIG, libc::SIGKILL, 0, 0, 0))?;
            if let Some(fd) = self.seccomp_fd {
                if fd == 3 {
                    check(libc::fcntl(3, libc::F_SETFD, 0))?;
                } else {
                    check(libc::dup2(fd, 3))?;
                }
            }
        }
        if let Some(uid) = self.uid {
            drop_privileges(uid)?;
        }
        if let Some(ruleset) = self.landlock.take() {
            ruleset.restrict_self().map_err(io::Error::other)?;
        }
        if let Some(program) = &self.seccomp_in_child {
            let prog = libc::sock_fprog {
                len: program.len() as u16,
                filter: program.as_ptr().cast::<libc::sock_filter>().cast_mut(),
            };
            // SAFETY: `prog` points at a live filter array.
            unsafe {
                check(libc::prctl(libc::PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0))?;
                if libc::syscall(libc::SYS_seccomp, 1 /* SECCOMP_SET_MODE_FILTER */, 0, &prog as *const _) != 0 {
                    return Err(io::Error::last_os_error());
                }
            }
        }
        Ok(())
    }
}

/// Drops every group and switches real, effective and saved ids to `uid`: bubblewrap then runs
/// unprivileged, and the payload is that host uid, never root.
fn drop_privileges(uid: u32) -> io::Result<()> {
    // SAFETY: raw syscalls with scalar arguments.
    unsafe {
        check(libc::setgroups(0, std::ptr::null()))?;
        check(libc::setresgid(uid, uid, uid))?;
        check(libc::setresuid(uid, uid, uid))?;
    }
    Ok(())
}

//! A session's `/mnt/data` for the bubblewrap tier when the emulator is not root: a sized tmpfs that outlives
//! each of the session's kernels.
//!
//! An ordinary user cannot mount a tmpfs on the host, and a tmpfs that bubblewrap mounts for one kernel
//! (`--tmpfs`) would vanish with that kernel, taking the session's files with it on a restart. So each
//! session's tmpfs is made once by a short-lived *holder*: a bubblewrap process of its own (the one program
//! the host may allow to make namespaces, e.g. Ubuntu's AppArmor profile) that makes a user and a mount
//! namespace, sees the host's tree there (`--dev-bind / /`), mounts a tmpfs of the session's disk size over
//! the session's data directory and runs `cat` (which echoes a byte once all that is done). The emulator then
//! opens descriptors of the two namespaces and of the tmpfs, and ends the holder: the descriptors keep the
//! namespaces, and with them the tmpfs, alive without any process.
//!
//! Each kernel's bubblewrap is started inside those namespaces (`setns` between fork and exec), so its
//! `--bind <data> /mnt/data` binds the tmpfs; the emulator reads and writes the files through the tmpfs's
//! descriptor. The tmpfs goes once the session is deleted (the descriptors are released) and the last
//! kernel and file access of the session are gone, or when the emulator exits, however it exits.

use std::io;
use std::os::fd::{AsFd, AsRawFd, OwnedFd};
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::sync::Mutex;
use std::time::Duration;

use rustix::event::{PollFd, PollFlags, Timespec, poll};
use rustix::fs::{Mode, OFlags, fstat, fstatfs, open, openat, stat};
use rustix::io::{FdFlags, fcntl_dupfd_cloexec, fcntl_setfd};
use rustix::pipe::{PipeFlags, pipe_with};

use crate::sandbox::host::spawner::Spawner;
use crate::sandbox::host::which;
use crate::sandbox::{SandboxError, io_err};

/// How long a holder may take to mount its tmpfs and run `cat` (bubblewrap takes milliseconds).
const HOLDER_STARTUP: Duration = Duration::from_secs(10);

/// The programs a holder needs.
#[derive(Debug, Clone)]
pub(crate) struct HolderTools {
    pub(crate) bwrap: PathBuf,
    /// `cat`: the holder's program, which echoes a byte to say the tmpfs is there.
    pub(crate) cat: PathBuf,
}

impl HolderTools {
    /// The tools with this `bwrap`, and `cat` from `PATH`.
    pub(crate) fn find(bwrap: &Path) -> Result<HolderTools, SandboxError> {
        let cat = which("cat").ok_or_else(|| {
            SandboxError::Unavailable(
                "cat is not on PATH (the bubblewrap tier needs it to hold each session's /mnt/data)".into(),
            )
        })?;
        Ok(HolderTools { bwrap: bwrap.to_path_buf(), cat })
    }
}

/// Descriptors of one session's `/mnt/data` tmpfs and of the namespaces it is mounted in.
#[derive(Debug)]
pub(crate) struct HeldData {
    /// `None` once released.
    fds: Mutex<Option<Opened>>,
}

impl HeldData {
    /// Runs a holder that mounts a tmpfs of `size` bytes over `data` (an empty directory of the host), takes
    /// descriptors of it and of its namespaces, and ends the holder. Blocking: call it on a blocking thread.
    pub(crate) fn make(
        spawner: &Spawner,
        tools: &HolderTools,
        data: &Path,
        size: u64,
    ) -> Result<HeldData, SandboxError> {
        let pipe = || pipe_with(PipeFlags::CLOEXEC).map_err(|e| io_err("pipe")(e.into()));
        let (info, info_write) = pipe()?;
        let info_raw = info_write.as_raw_fd();
        let mut command = Command::new(&tools.bwrap);
        command
            .env_clear()
            .args(["--unshare-user", "--unshare-pid", "--die-with-parent", "--new-session"])
            .arg("--info-fd")
            .arg(info_raw.to_string())
            .args(["--dev-bind", "/", "/"])
            .arg("--size")
            .arg(size.to_string())
            .args(["--perms", "0700", "--tmpfs"])
            .arg(data)
            .arg("--")
            .arg(&tools.cat)
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped());
        // SAFETY: only raw system calls between fork and exec (close-on-exec flags).
        unsafe {
            std::os::unix::process::CommandExt::pre_exec(&mut command, move || {
                crate::sandbox::host::child::no_inherited_descriptors();
                fcntl_setfd(info_write.as_fd(), FdFlags::empty())?;
                Ok(())
            });
        }
        // The command (and with it the write end of the info pipe) is dropped on the spawner thread.
        let mut child = spawner.spawn_blocking(command).map_err(io_err("cannot start the /mnt/data holder"))?;
        let stdin = child.stdin.take().map(|s| s.into_owned_fd());
        let stdout = child.stdout.take().map(|s| s.into_owned_fd());
        let stderr = child.stderr.take().map(|s| s.into_owned_fd());
        let opened = match (stdin, stdout) {
            // `cat` echoes a byte once bubblewrap has mounted everything and run it; until its stdin closes
            // (below) it runs, so its process id names it.
            (Some(Ok(stdin)), Some(Ok(stdout))) => {
                echo(&stdin, &stdout).and_then(|()| read_info(&info)).and_then(|pid| Opened::of(pid, data))
            }
            _ => Err(io::Error::other("its pipes are missing")),
        };
        // The descriptors keep the namespaces; the holder's processes are no longer needed.
        let _ = child.start_kill();
        match opened {
            Ok(fds) => Ok(HeldData { fds: Mutex::new(Some(fds)) }),
            Err(e) => {
                let said = stderr.and_then(Result::ok).map(|fd| read_available(&fd)).unwrap_or_default();
                Err(SandboxError::Unavailable(format!(
                    "the holder of a session's /mnt/data did not start ({e}){}",
                    if said.is_empty() { String::new() } else { format!(": bwrap said {:?}", said.trim()) }
                )))
            }
        }
    }

    fn with<T>(&self, f: impl FnOnce(&Opened) -> io::Result<T>) -> io::Result<T> {
        let fds = self.fds.lock().unwrap_or_else(std::sync::PoisonError::into_inner);
        match fds.as_ref() {
            Some(opened) => f(opened),
            None => Err(io::Error::other("the session's /mnt/data is gone (the session was deleted)")),
        }
    }

    /// A descriptor of the tmpfs (the session's `/mnt/data`), for the emulator's file access.
    pub(crate) fn data(&self) -> io::Result<OwnedFd> {
        self.with(|o| Ok(fcntl_dupfd_cloexec(&o.data, 3)?))
    }

    /// The user and mount namespaces, for a kernel's child to enter before it execs bubblewrap.
    pub(crate) fn namespaces(&self) -> io::Result<[OwnedFd; 2]> {
        self.with(|o| Ok([fcntl_dupfd_cloexec(&o.user_ns, 3)?, fcntl_dupfd_cloexec(&o.mount_ns, 3)?]))
    }

    /// Lets go of the tmpfs: once no kernel and no file access holds a descriptor of it, it is gone.
    pub(crate) fn release(&self) {
        let mut fds = self.fds.lock().unwrap_or_else(std::sync::PoisonError::into_inner);
        fds.take();
    }
}

/// Enters the namespaces of a session's `/mnt/data`: user first (which grants the rights to enter its mount
/// namespace), then mount. Runs in a kernel's child between fork and exec (single-threaded, raw system calls only).
pub(crate) fn enter(namespaces: &[OwnedFd; 2]) -> io::Result<()> {
    use rustix::thread::{LinkNameSpaceType, move_into_link_name_space};
    move_into_link_name_space(namespaces[0].as_fd(), Some(LinkNameSpaceType::User))?;
    move_into_link_name_space(namespaces[1].as_fd(), Some(LinkNameSpaceType::Mount))?;
    Ok(())
}

#[derive(Debug)]
struct Opened {
    user_ns: OwnedFd,
    mount_ns: OwnedFd,
    data: OwnedFd,
}

impl Opened {
    /// Opens the namespaces and the tmpfs of the holder's process `pid` (through one descriptor of its
    /// `/proc` directory, so every name is that process's), and checks that the directory really is a tmpfs
    /// of its own, not the host directory it covers.
    fn of(pid: u32, data: &Path) -> io::Result<Opened> {
        let flags = OFlags::RDONLY | OFlags::CLOEXEC;
        let proc = open(format!("/proc/{pid}"), flags | OFlags::DIRECTORY, Mode::empty())?;
        let user_ns = openat(&proc, "ns/user", flags, Mode::empty())?;
        let mount_ns = openat(&proc, "ns/mnt", flags, Mode::empty())?;
        let inside = Path::new("root").join(data.strip_prefix("/").unwrap_or(data));
        let dir = openat(&proc, inside, flags | OFlags::DIRECTORY | OFlags::NOFOLLOW, Mode::empty())?;
        let host_dev = stat(data)?.st_dev;
        let is_tmpfs = fstatfs(&dir)?.f_type == libc::TMPFS_MAGIC;
        if !is_tmpfs || fstat(&dir)?.st_dev == host_dev {
            return Err(io::Error::other("the holder's /mnt/data is not a tmpfs of its own"));
        }
        Ok(Opened { user_ns, mount_ns, data: dir })
    }
}

/// Waits until `fd` is readable, up to what is left of `deadline`.
fn wait_readable(fd: &OwnedFd, deadline: std::time::Instant) -> io::Result<()> {
    loop {
        let left = deadline.saturating_duration_since(std::time::Instant::now());
        if left.is_zero() {
            return Err(io::Error::new(io::ErrorKind::TimedOut, "timed out"));
        }
        let timeout = Timespec::try_from(left).map_err(io::Error::other)?;
        let mut fds = [PollFd::new(fd, PollFlags::IN)];
        match poll(&mut fds, Some(&timeout)) {
            Ok(0) => continue,
            Ok(_) => return Ok(()),
            Err(rustix::io::Errno::INTR) => continue,
            Err(e) => return Err(e.into()),
        }
    }
}

/// Writes a byte to the holder's `cat` and waits for it to come back.
fn echo(stdin: &OwnedFd, stdout: &OwnedFd) -> io::Result<()> {
    if rustix::io::write(stdin, b".")? != 1 {
        return Err(io::Error::other("short write"));
    }
    wait_readable(stdout, std::time::Instant::now() + HOLDER_STARTUP)?;
    let mut byte = [0u8; 1];
    match rustix::io::read(stdout, &mut byte)? {
        1 if byte == *b"." => Ok(()),
        _ => Err(io::Error::other("it ended before it was ready")),
    }
}

/// The holder's process id, from bubblewrap's `--info-fd` (a JSON object with `child-pid`). The object is
/// parsed as soon as it is whole: the write end may stay open in the holder.
fn read_info(info: &OwnedFd) -> io::Result<u32> {
    let deadline = std::time::Instant::now() + HOLDER_STARTUP;
    let mut text = Vec::new();
    let mut buf = [0u8; 512];
    loop {
        if let Ok(value) = serde_json::from_slice::<serde_json::Value>(&text) {
            return value
                .get("child-pid")
                .and_then(serde_json::Value::as_u64)
                .and_then(|pid| u32::try_from(pid).ok())
                .ok_or_else(|| io::Error::other("bubblewrap did not say its child's process id"));
        }
        if text.len() > 64 * 1024 {
            return Err(io::Error::other("bubblewrap's information is too long"));
        }
        wait_readable(info, deadline)?;
        match rustix::io::read(info, &mut buf) {
            Ok(0) => return Err(io::Error::other("bubblewrap did not say its child's process id")),
            Ok(n) => text.extend_from_slice(&buf[..n]),
            Err(rustix::io::Errno::INTR | rustix::io::Errno::AGAIN) => {}
            Err(e) => return Err(e.into()),
        }
    }
}

/// What a pipe holds now (at most 4 KiB), waiting briefly for it.
fn read_available(fd: &OwnedFd) -> String {
    let mut buf = [0u8; 4096];
    let mut out = Vec::new();
    let deadline = std::time::Instant::now() + Duration::from_millis(500);
    while out.len() < buf.len() && wait_readable(fd, deadline).is_ok() {
        match rustix::io::read(fd, &mut buf[..4096 - out.len()]) {
            Ok(0) | Err(_) => break,
            Ok(n) => out.extend_from_slice(&buf[..n]),
        }
    }
    String::from_utf8_lossy(&out).into_owned()
}

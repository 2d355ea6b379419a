//! A session's `/mnt/data` for the bubblewrap tier when the emulator is not root: a sized tmpfs that outlives
//! each of the session's kernels.
//!
//! An ordinary user cannot mount a tmpfs on the host, and a tmpfs that bubblewrap mounts for one kernel
//! (`--tmpfs`) would vanish with that kernel, taking the session's files with it on a restart. So each
//! session gets a *holder*: a bubblewrap process of its own (the one program the host may allow to make
//! namespaces, e.g. Ubuntu's AppArmor profile) that makes a user and a mount namespace, sees the host's tree
//! there (`--dev-bind / /`), mounts a tmpfs of the session's disk size over the session's data directory, and
//! then waits (`cat` on a pipe only the emulator holds). Each kernel's bubblewrap is started inside the
//! holder's namespaces (`setns` between fork and exec), so its `--bind <data> /mnt/data` binds that tmpfs;
//! the emulator reads and writes the files through a descriptor of it (`/proc/<holder>/root/<data>`).
//!
//! The holder runs no session code, and the tmpfs lives exactly as long as the holder: it ends when the
//! session is deleted, when the emulator exits (its stdin closes) or dies (bubblewrap's death signal).

use std::io;
use std::os::fd::{AsFd, AsRawFd, OwnedFd};
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::sync::Mutex;
use std::time::Duration;

use rustix::event::{PollFd, PollFlags, Timespec, poll};
use rustix::fs::{Mode, OFlags, fstat, fstatfs, open, stat};
use rustix::io::{FdFlags, fcntl_dupfd_cloexec, fcntl_setfd};
use rustix::pipe::{PipeFlags, pipe_with};

use super::spawner::Spawner;
use super::{SandboxError, io_err};

/// How long a holder may take to mount its tmpfs and start waiting (bubblewrap takes milliseconds).
const HOLDER_STARTUP: Duration = Duration::from_secs(10);

/// The programs a holder needs.
#[derive(Debug, Clone)]
pub(crate) struct HolderTools {
    pub(crate) bwrap: PathBuf,
    /// `cat`: the holder's program, which waits for the end of its stdin.
    pub(crate) cat: PathBuf,
}

/// A running holder of one session's `/mnt/data` tmpfs.
#[derive(Debug)]
pub(crate) struct DataHolder {
    /// bubblewrap's outer process; killing it ends the holder (its death signal reaches the rest).
    monitor: Mutex<tokio::process::Child>,
    /// The write end of `cat`'s stdin: while it is open, the holder waits.
    _stdin: OwnedFd,
    user_ns: OwnedFd,
    mount_ns: OwnedFd,
    /// The tmpfs, as a directory descriptor in the holder's mount namespace.
    data: OwnedFd,
}

impl DataHolder {
    /// Starts a holder that mounts a tmpfs of `size` bytes over `data` (an empty directory of the host) and
    /// waits until the tmpfs is there. Blocking: call it on a blocking thread.
    pub(crate) fn start(
        spawner: &Spawner,
        tools: &HolderTools,
        data: &Path,
        size: u64,
    ) -> Result<DataHolder, SandboxError> {
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
                super::command::no_inherited_descriptors();
                fcntl_setfd(info_write.as_fd(), FdFlags::empty())?;
                Ok(())
            });
        }
        // The command (and with it the write end of the info pipe) is dropped on the spawner thread.
        let mut child = spawner.spawn_blocking(command).map_err(io_err("cannot start the /mnt/data holder"))?;
        let stdin = child.stdin.take().map(|s| s.into_owned_fd());
        let stdout = child.stdout.take().map(|s| s.into_owned_fd());
        let stderr = child.stderr.take().map(|s| s.into_owned_fd());
        let fail = |child: &mut tokio::process::Child, why: String, stderr: Option<io::Result<OwnedFd>>| {
            let _ = child.start_kill();
            let said = stderr.and_then(Result::ok).map(|fd| read_available(&fd)).unwrap_or_default();
            SandboxError::Unavailable(format!(
                "the holder of a session's /mnt/data did not start ({why}){}",
                if said.is_empty() { String::new() } else { format!(": bwrap said {:?}", said.trim()) }
            ))
        };
        let (Some(Ok(stdin)), Some(Ok(stdout))) = (stdin, stdout) else {
            return Err(fail(&mut child, "its pipes are missing".into(), stderr));
        };
        // `cat` echoes a byte once bubblewrap has mounted everything and run it.
        if let Err(e) = echo(&stdin, &stdout) {
            return Err(fail(&mut child, e.to_string(), stderr));
        }
        let opened = read_info(&info).and_then(|pid| Opened::of(pid, data));
        match opened {
            Ok(Opened { user_ns, mount_ns, data }) => {
                Ok(DataHolder { monitor: Mutex::new(child), _stdin: stdin, user_ns, mount_ns, data })
            }
            Err(e) => Err(fail(&mut child, e.to_string(), stderr)),
        }
    }

    /// A descriptor of the tmpfs (the session's `/mnt/data`), for the emulator's file access.
    pub(crate) fn data(&self) -> io::Result<OwnedFd> {
        Ok(fcntl_dupfd_cloexec(&self.data, 3)?)
    }

    /// The holder's user and mount namespaces, for a kernel's child to enter before it execs bubblewrap.
    pub(crate) fn namespaces(&self) -> io::Result<[OwnedFd; 2]> {
        Ok([fcntl_dupfd_cloexec(&self.user_ns, 3)?, fcntl_dupfd_cloexec(&self.mount_ns, 3)?])
    }

    /// Ends the holder, and with it the tmpfs and every file in it.
    pub(crate) fn stop(&self) {
        let mut monitor = self.monitor.lock().unwrap_or_else(std::sync::PoisonError::into_inner);
        let _ = monitor.start_kill();
    }
}

/// Enters the holder's namespaces: user first (which grants the rights to enter its mount namespace), then
/// mount. Runs in a kernel's child between fork and exec (single-threaded, raw system calls only).
pub(crate) fn enter(namespaces: &[OwnedFd; 2]) -> io::Result<()> {
    use rustix::thread::{LinkNameSpaceType, move_into_link_name_space};
    move_into_link_name_space(namespaces[0].as_fd(), Some(LinkNameSpaceType::User))?;
    move_into_link_name_space(namespaces[1].as_fd(), Some(LinkNameSpaceType::Mount))?;
    Ok(())
}

struct Opened {
    user_ns: OwnedFd,
    mount_ns: OwnedFd,
    data: OwnedFd,
}

impl Opened {
    /// Opens the namespaces and the tmpfs of the holder's process `pid`, and checks that the directory really
    /// is a tmpfs of its own (not the host directory it covers).
    fn of(pid: u32, data: &Path) -> io::Result<Opened> {
        let proc = PathBuf::from(format!("/proc/{pid}"));
        let flags = OFlags::RDONLY | OFlags::CLOEXEC;
        let user_ns = open(proc.join("ns/user"), flags, Mode::empty())?;
        let mount_ns = open(proc.join("ns/mnt"), flags, Mode::empty())?;
        let inside = proc.join("root").join(data.strip_prefix("/").unwrap_or(data));
        let dir = open(inside, flags | OFlags::DIRECTORY | OFlags::NOFOLLOW, Mode::empty())?;
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

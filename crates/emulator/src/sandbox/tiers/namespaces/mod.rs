//! The namespace tier: the emulator makes the namespaces itself (no bubblewrap needed), and every session is
//! forked from a template that has already imported the data stack (see `kernel/template.py`).
//!
//! The template runs in a user and mount namespace of its own (as root: a mount namespace; sessions then run
//! as their own host uids), on a read-only root it builds once. The emulator asks it, over a control socket,
//! to make a session's `/mnt/data` (a sized tmpfs; the answer carries a descriptor of it, which is how the
//! emulator reads and writes the session's files) and to fork a session's kernel (the request carries the
//! kernel's pipes, and the session's cgroup files as root).

mod control;
mod plan;

use std::io;
use std::os::fd::{AsFd, BorrowedFd, OwnedFd};
use std::process::{Command, Stdio};
use std::sync::Arc;
use std::time::Duration;

use rustix::io::{FdFlags, fcntl_setfd};
use rustix::net::{AddressFamily, SocketFlags, SocketType, socketpair};
use serde_json::json;
use tokio::io::{AsyncBufReadExt, BufReader};

use control::Control;
use plan::TemplatePlan;

use super::KernelSpec;
use crate::kernel::Flavor;
use crate::kernel::protocol::Language;
use crate::sandbox::host::Host;
use crate::sandbox::host::spawner::Spawner;
use crate::sandbox::{Cgroup, KernelFiles, KernelProcess, SandboxError, Spawned, Workspace, io_err};

/// Starts the template of this emulator instance: it builds the sandbox's root, imports `preloaded` and
/// warms up, then waits for requests.
pub(crate) async fn start(
    host: &Host,
    files: &KernelFiles,
    preloaded: &[String],
    root: bool,
) -> Result<Template, SandboxError> {
    let filter = host.seccomp_file(&files.dir);
    std::fs::write(&filter, host.seccomp.as_slice()).map_err(io_err(format!("cannot write {}", filter.display())))?;
    let root_dir = host.sessions_dir.join("root");
    std::fs::create_dir_all(&root_dir).map_err(io_err(format!("cannot create {}", root_dir.display())))?;
    let plan = plan::of(files, &root_dir, &filter, preloaded, root);
    Template::start(&host.spawner, &plan).await
}

/// Forks a session's kernel from `template`, with fresh pipes and, as root, its cgroup and uid.
pub(crate) fn fork(
    template: &Template,
    workspace: &Workspace,
    kernel: KernelSpec<'_>,
) -> Result<Spawned, SandboxError> {
    let pipe = || rustix::pipe::pipe_with(rustix::pipe::PipeFlags::CLOEXEC).map_err(|e| io_err("pipe")(e.into()));
    let (stdin_read, stdin) = pipe()?;
    let (stdout, stdout_write) = pipe()?;
    let (stderr, stderr_write) = pipe()?;
    let cgroup_files = kernel.cgroup.map(Cgroup::procs_files).transpose().map_err(io_err("cannot share the cgroup"))?;
    let mut fds = vec![stdin_read.as_fd(), stdout_write.as_fd(), stderr_write.as_fd()];
    fds.extend(cgroup_files.iter().flatten().map(AsFd::as_fd));
    // A JavaScript kernel replaces the forked process at once: the bare template, smaller, forks it faster.
    let flavor = if kernel.language == Language::JavaScript { Flavor::Empty } else { kernel.flavor };
    let pidfd = template
        .fork(&workspace.name(), kernel.language, flavor, workspace.uid, &fds)
        .map_err(io_err("the session template could not fork a kernel"))?;
    Ok(Spawned { process: Some(KernelProcess::forked(pidfd)), stdin, stdout, stderr, cgroup: None })
}

/// How long the template may take to build its root and import the preloaded modules.
const TEMPLATE_STARTUP: Duration = Duration::from_secs(180);
/// How long the ready template may take to answer a request (a mount or a fork takes milliseconds).
const TEMPLATE_ANSWER: Duration = Duration::from_secs(30);

/// The running template.
#[derive(Debug)]
pub(crate) struct Template {
    control: Arc<Control>,
    child: tokio::sync::Mutex<tokio::process::Child>,
    pid: Option<u32>,
}

impl Template {
    /// Starts the template and waits until it has built its root and imported its modules.
    pub(crate) async fn start(spawner: &Spawner, plan: &TemplatePlan<'_>) -> Result<Template, SandboxError> {
        let (ours, theirs) = socketpair(AddressFamily::UNIX, SocketType::SEQPACKET, SocketFlags::CLOEXEC, None)
            .map_err(|e| io_err("cannot make the template's control socket")(e.into()))?;
        let mut command = Command::new(plan.python);
        command
            .args(["-I", "-X", "frozen_modules=on"])
            .arg(plan.kernel_dir.join("template.py"))
            .arg(std::os::fd::AsRawFd::as_raw_fd(&theirs).to_string())
            .env_clear()
            .envs(plan.env.iter().map(|(k, v)| (*k, v.as_str())))
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::piped());
        // Its own process group: a Ctrl-C in the emulator's terminal must not kill it before the sessions it
        // serves are torn down (the emulator stops it last; if the emulator dies, the death signal does).
        std::os::unix::process::CommandExt::process_group(&mut command, 0);
        let mut child_plan = TemplateChild::new(theirs, plan.as_root)?;
        // SAFETY: `TemplateChild::run` makes only raw system calls on data prepared before the fork.
        unsafe {
            std::os::unix::process::CommandExt::pre_exec(&mut command, move || child_plan.run());
        }
        let mut child = spawner.spawn(command).await.map_err(io_err("cannot start the session template"))?;
        if let Some(stderr) = child.stderr.take() {
            tokio::spawn(async move {
                let mut lines = BufReader::new(stderr).lines();
                while let Ok(Some(line)) = lines.next_line().await {
                    tracing::warn!(target: "dynamic_sessions_emulator::template", "{line}");
                }
            });
        }
        let control = Arc::new(Control::new(ours));
        control.send(&plan.message(), &[]).map_err(io_err("cannot configure the session template"))?;
        let waiting = control.clone();
        let ready =
            tokio::time::timeout(TEMPLATE_STARTUP, tokio::task::spawn_blocking(move || waiting.receive())).await;
        match ready {
            Ok(Ok(Ok((message, _)))) if message["op"] == "ready" => {
                tracing::info!(
                    preimport_ms = message["preimport_ms"].as_f64().unwrap_or(0.0),
                    errors = %message["errors"],
                    "session template ready"
                );
                if message["stray_descriptors"].as_object().is_some_and(|m| !m.is_empty()) {
                    // A preloaded module keeps a file open; sessions close it, so that module may misbehave.
                    tracing::warn!(descriptors = %message["stray_descriptors"], "the session template holds files open after preloading");
                }
                control.answer_within(TEMPLATE_ANSWER).map_err(io_err("cannot set the template's answer time"))?;
                let pid = child.id();
                Ok(Template { control, child: tokio::sync::Mutex::new(child), pid })
            }
            other => {
                let _ = child.start_kill();
                let why = match other {
                    Err(_) => "it did not get ready in time".to_owned(),
                    Ok(Ok(Err(e))) => e.to_string(),
                    _ => "it answered something unexpected".to_owned(),
                };
                Err(SandboxError::Unavailable(format!("the session template did not start ({why}); see the log")))
            }
        }
    }

    /// Makes a session's `/mnt/data`: a tmpfs of `size` bytes owned by `uid` (in the template's namespace);
    /// returns a directory descriptor of it.
    pub(crate) fn mount(&self, id: &str, size: u64, uid: u32) -> io::Result<OwnedFd> {
        let (_, mut fds) = self.control.request(&json!({"op": "mount", "id": id, "size": size, "uid": uid}))?;
        fds.pop().ok_or_else(|| io::Error::other("the template sent no directory"))
    }

    /// Removes a session's `/mnt/data`.
    pub(crate) fn umount(&self, id: &str) -> io::Result<()> {
        self.control.request(&json!({"op": "umount", "id": id})).map(|_| ())
    }

    /// Forks a session's kernel with its pipes (stdin's read end, stdout's and stderr's write ends) and, as
    /// root, its cgroup files and host uid. Returns a pidfd of the session's first process: killing it ends
    /// the session, and it becomes readable when the session has ended.
    pub(crate) fn fork(
        &self,
        id: &str,
        language: Language,
        flavor: Flavor,
        uid: Option<u32>,
        fds: &[BorrowedFd<'_>],
    ) -> io::Result<OwnedFd> {
        let flavor = match flavor {
            Flavor::Preloaded => "preloaded",
            Flavor::Empty => "empty",
        };
        let request = json!({"op": "fork", "id": id, "language": language, "flavor": flavor, "uid": uid});
        let (_, mut reply) = self.control.request_with(&request, fds)?;
        reply.pop().ok_or_else(|| io::Error::other("the template sent no process descriptor"))
    }

    /// The template's process id (until it is stopped).
    pub(crate) fn pid(&self) -> Option<u32> {
        self.pid
    }

    /// Stops the template (sessions are stopped separately).
    pub(crate) async fn stop(&self) {
        let mut child = self.child.lock().await;
        let _ = child.start_kill();
        let _ = tokio::time::timeout(Duration::from_secs(2), child.wait()).await;
    }
}

/// What the template's process does between fork and exec: its own mount namespace (and, unless the
/// emulator is root, its own user namespace with the emulator's user as root), and the control socket kept
/// open across exec.
struct TemplateChild {
    socket: OwnedFd,
    as_root: bool,
    uid_map: Vec<u8>,
    gid_map: Vec<u8>,
}

impl TemplateChild {
    fn new(socket: OwnedFd, as_root: bool) -> Result<TemplateChild, SandboxError> {
        let (uid, gid) = (rustix::process::getuid().as_raw(), rustix::process::getgid().as_raw());
        Ok(TemplateChild {
            socket,
            as_root,
            uid_map: format!("0 {uid} 1").into_bytes(),
            gid_map: format!("0 {gid} 1").into_bytes(),
        })
    }

    fn run(&mut self) -> io::Result<()> {
        use rustix::thread::{UnshareFlags, unshare_unsafe};
        let flags = if self.as_root { UnshareFlags::NEWNS } else { UnshareFlags::NEWUSER | UnshareFlags::NEWNS };
        // SAFETY: no `FILES` flag, so no file descriptor table is split between threads.
        unsafe { unshare_unsafe(flags)? };
        if !self.as_root {
            write_proc("/proc/self/setgroups", b"deny")?;
            write_proc("/proc/self/uid_map", &self.uid_map)?;
            write_proc("/proc/self/gid_map", &self.gid_map)?;
        }
        rustix::process::set_parent_process_death_signal(Some(rustix::process::Signal::KILL))?;
        crate::sandbox::host::child::no_inherited_descriptors();
        fcntl_setfd(self.socket.as_fd(), FdFlags::empty())?;
        Ok(())
    }
}

fn write_proc(path: &str, data: &[u8]) -> io::Result<()> {
    use rustix::fs::{Mode, OFlags, open};
    let fd = open(path, OFlags::WRONLY | OFlags::CLOEXEC, Mode::empty())?;
    if rustix::io::write(&fd, data)? != data.len() {
        return Err(io::Error::other("short write"));
    }
    Ok(())
}

/// Whether this host lets the emulator make the namespaces itself: a process (as an unprivileged uid, when
/// the emulator is root) makes a user and a mount namespace and changes a mount in it. `Err` says why not,
/// and what to change.
pub(crate) fn probe(as_root: bool) -> Result<(), String> {
    let mut command = Command::new("/bin/true");
    command.env_clear().stdin(Stdio::null()).stdout(Stdio::null()).stderr(Stdio::null());
    // SAFETY: only raw system calls between fork and exec; `unshare` without `FILES` splits no descriptor table.
    unsafe {
        std::os::unix::process::CommandExt::pre_exec(&mut command, move || {
            use rustix::thread::{UnshareFlags, unshare_unsafe};
            if as_root {
                crate::sandbox::host::child::drop_privileges(999_999)?;
            }
            unshare_unsafe(UnshareFlags::NEWUSER | UnshareFlags::NEWNS)?;
            rustix::mount::mount_change(
                "/",
                rustix::mount::MountPropagationFlags::PRIVATE | rustix::mount::MountPropagationFlags::REC,
            )?;
            Ok(())
        });
    }
    match command.status() {
        Ok(status) if status.success() => Ok(()),
        _ => {
            let restricted = std::fs::read_to_string("/proc/sys/kernel/apparmor_restrict_unprivileged_userns")
                .is_ok_and(|v| v.trim() == "1");
            Err(if restricted {
                "this system restricts unprivileged user namespaces (AppArmor, kernel.apparmor_restrict_unprivileged_userns=1): \
                 install bubblewrap (apt-get install bubblewrap; its AppArmor profile allows them) or run \
                 sysctl kernel.apparmor_restrict_unprivileged_userns=0"
                    .to_owned()
            } else {
                "unprivileged user namespaces are not available here (sysctl user.max_user_namespaces or \
                 kernel.unprivileged_userns_clone, or a container without them)"
                    .to_owned()
            })
        }
    }
}

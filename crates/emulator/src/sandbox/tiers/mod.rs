//! The tiers, one module each, and the one type that holds the tier in force ([`Backend`]): what only that
//! tier needs lives in its variant, so no combination of parts that cannot go together can be written.
//!
//! The namespaces tier forks sessions from its template; the others start each kernel as a child process:
//! bubblewrap's command line, or a plain child confined by Landlock (or, without a sandbox, not at all). The
//! child's steps between fork and exec are the same for all of them (`host::child`).

pub(crate) mod bubblewrap;
pub(crate) mod landlock;
pub(crate) mod namespaces;
mod plain;

use std::os::fd::{AsFd, OwnedFd};
use std::os::unix::process::CommandExt;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};

use super::host::Host;
use super::host::child::ChildPlan;
use super::kernel_env::Environment;
use super::kernel_env::node_args;
use super::workspace::{Quotas, Workspace};
use super::{Cgroup, KernelFiles, KernelProcess, SandboxError, Spawned, Tier, io_err, rlimits};
use crate::config::Limits;
use crate::kernel::protocol::Language;
use crate::kernel::{Flavor, JAVASCRIPT_KERNEL, JAVASCRIPT_LAUNCHER};
use bubblewrap::holder::HolderTools;
use namespaces::Template;

/// The tier in force, with what only it needs.
#[derive(Debug)]
pub(crate) enum Backend {
    /// Sessions are forked from this template, in namespaces it makes.
    Namespaces(Template),
    /// A bubblewrap process per kernel; as an ordinary user, each session's `/mnt/data` is held by a
    /// short-lived bubblewrap of its own (`holder`).
    Bubblewrap { bwrap: PathBuf, holder: Option<HolderTools> },
    /// A plain child per kernel, confined by Landlock and seccomp.
    Landlock,
    /// A plain child per kernel, not confined at all (`--insecure-no-sandbox`).
    None,
}

impl Backend {
    /// Builds the backend of `tier`: the namespaces tier's template is started (it imports `preloaded`).
    pub(crate) async fn build(
        tier: Tier,
        bwrap: Option<PathBuf>,
        host: &Host,
        files: &KernelFiles,
        preloaded: &[String],
        root: bool,
    ) -> Result<Backend, SandboxError> {
        match tier {
            Tier::Namespaces => Ok(Backend::Namespaces(namespaces::start(host, files, preloaded, root).await?)),
            Tier::Bubblewrap => {
                let bwrap = bwrap.ok_or_else(|| SandboxError::Unavailable("bwrap vanished".into()))?;
                let holder = if root { None } else { Some(HolderTools::find(&bwrap)?) };
                Ok(Backend::Bubblewrap { bwrap, holder })
            }
            Tier::Landlock => Ok(Backend::Landlock),
            Tier::None => Ok(Backend::None),
        }
    }

    /// The namespaces tier's template.
    pub(crate) fn template(&self) -> Option<&Template> {
        match self {
            Backend::Namespaces(template) => Some(template),
            _ => None,
        }
    }

    /// A fresh workspace for a session. Blocking.
    pub(crate) fn create_workspace(
        &self,
        host: &Host,
        limits: &Limits,
        disk_quota: bool,
    ) -> Result<Workspace, SandboxError> {
        match self {
            Backend::Namespaces(template) => Workspace::in_template(template, host.uids.as_ref(), limits),
            Backend::Bubblewrap { holder: Some(tools), .. } => {
                Workspace::create_held(&host.sessions_dir, &host.spawner, tools, limits)
            }
            Backend::Bubblewrap { holder: None, .. } | Backend::Landlock | Backend::None => {
                // Bubblewrap gives /tmp a tmpfs inside the sandbox; the Landlock tier uses this directory.
                let quotas = Quotas { data: disk_quota, tmp: disk_quota && matches!(self, Backend::Landlock) };
                Workspace::create(&host.sessions_dir, host.uids.as_ref(), quotas, limits)
            }
        }
    }

    /// Starts the kernel `kernel` describes for `workspace`.
    pub(crate) async fn spawn(
        &self,
        host: &Host,
        files: &KernelFiles,
        workspace: &Workspace,
        kernel: KernelSpec<'_>,
    ) -> Result<Spawned, SandboxError> {
        let env = Environment::new(files, kernel.flavor);
        let command = match self {
            Backend::Namespaces(template) => return namespaces::fork(template, workspace, kernel),
            Backend::Bubblewrap { bwrap, .. } => {
                let prepared = bubblewrap::command(bwrap, host, files, workspace.host()?, kernel.language, env)?;
                child_command(prepared, host, files, workspace, kernel, None)?
            }
            Backend::Landlock | Backend::None => {
                let confine = matches!(self, Backend::Landlock);
                let dirs = workspace.host()?;
                let prepared = plain::command(files, dirs, workspace.uid, kernel.language, env, confine)?;
                let ceiling = if confine { landlock::shared_process_ceiling(host, &files.limits).await? } else { None };
                child_command(prepared, host, files, workspace, kernel, ceiling)?
            }
        };
        let context = if workspace.is_held() {
            "cannot start the sandboxed kernel in the namespaces holding its /mnt/data"
        } else {
            "cannot start the sandboxed kernel"
        };
        let mut child = host.spawner.spawn(command).await.map_err(io_err(context))?;
        let take = |fd: Option<std::io::Result<OwnedFd>>| {
            fd.ok_or_else(|| SandboxError::Unavailable("the kernel's pipes are missing".into()))?
                .map_err(io_err("the kernel's pipes"))
        };
        let stdin = take(child.stdin.take().map(|s| s.into_owned_fd()))?;
        let stdout = take(child.stdout.take().map(|s| s.into_owned_fd()))?;
        let stderr = take(child.stderr.take().map(|s| s.into_owned_fd()))?;
        // bubblewrap's pid namespace holds a session; without one, the kernel leads a process group its
        // processes cannot leave.
        let process = match self {
            Backend::Bubblewrap { .. } => KernelProcess::Child(child),
            _ => KernelProcess::Leader(child),
        };
        Ok(Spawned { process: Some(process), stdin, stdout, stderr, cgroup: None })
    }

    /// Stops the tier's long-lived processes (the namespaces tier's template).
    pub(crate) async fn stop(&self) {
        if let Backend::Namespaces(template) = self {
            template.stop().await;
        }
    }
}

/// Which kernel to start, and the cgroup it joins.
#[derive(Debug, Clone, Copy)]
pub(crate) struct KernelSpec<'a> {
    pub(crate) language: Language,
    pub(crate) flavor: Flavor,
    pub(crate) cgroup: Option<&'a Cgroup>,
}

/// A child-process tier's command, before the child's steps are attached.
pub(crate) struct Prepared {
    command: Command,
    /// The seccomp filter bubblewrap reads (`--seccomp FD`).
    seccomp_fd: Option<OwnedFd>,
    /// The Landlock ruleset the child restricts itself with (Landlock tier).
    landlock: Option<::landlock::RulesetCreated>,
    /// Whether the child leads a session of its own (no pid namespace holds its processes).
    new_session: bool,
    /// Whether it is confined by Landlock and seccomp (the Landlock tier).
    confined: bool,
}

/// `prepared` with its pipes and the steps its child takes between fork and exec: join the cgroup, set the
/// limits, become the session's uid (as root), restrict itself. `shared_ceiling` is the Landlock tier's
/// `RLIMIT_NPROC` for an ordinary user without cgroups.
fn child_command(
    prepared: Prepared,
    host: &Host,
    files: &KernelFiles,
    workspace: &Workspace,
    kernel: KernelSpec<'_>,
    shared_ceiling: Option<u64>,
) -> Result<Command, SandboxError> {
    let Prepared { mut command, seccomp_fd, landlock, new_session, confined } = prepared;
    command.stdin(Stdio::piped()).stdout(Stdio::piped()).stderr(Stdio::piped());
    let mut limits = rlimits::kernel(&files.limits, confined || seccomp_fd.is_some(), kernel.language);
    if confined && host.uids.is_some() {
        // Per host uid: with one uid per session this bounds each session's processes. (In bubblewrap's user
        // namespace the kernel sets it itself, counted in that namespace: `DS_NPROC`.)
        limits.push(rlimits::processes(&files.limits, true));
    } else if let Some(ceiling) = shared_ceiling {
        // An ordinary user without cgroups (Landlock): the uid is shared with the emulator and every other
        // process of the user, so the limit is a ceiling over what the user runs now.
        limits.push(rlimits::Rlimit { value: ceiling, ..rlimits::processes(&files.limits, false) });
    }
    let mut plan = ChildPlan {
        new_session,
        enter: workspace.held_namespaces()?,
        cgroup_procs: kernel.cgroup.map(Cgroup::procs_files).transpose().map_err(io_err("cannot share the cgroup"))?,
        rlimits: limits.iter().map(|r| (r.resource, r.value)).collect(),
        inherit: seccomp_fd,
        uid: workspace.uid,
        landlock,
        seccomp: confined.then(|| host.seccomp_program.clone()),
    };
    // SAFETY: `ChildPlan::run` makes only raw system calls (through rustix, landlock and seccompiler) on data
    // built before the fork: no allocation, no locks, as required between fork and exec in a threaded process.
    unsafe {
        command.pre_exec(move || plan.run());
    }
    Ok(command)
}

/// A memfd holding the seccomp filter, for bubblewrap's `--seccomp FD`.
fn seccomp_memfd(bytes: &[u8]) -> Result<OwnedFd, SandboxError> {
    use rustix::fs::{MemfdFlags, SeekFrom, memfd_create, seek};
    let fd = memfd_create("seccomp", MemfdFlags::CLOEXEC).map_err(|e| io_err("memfd_create")(e.into()))?;
    let mut written = 0;
    while written < bytes.len() {
        written += rustix::io::write(fd.as_fd(), &bytes[written..])
            .map_err(|e| io_err("writing the seccomp filter")(e.into()))?;
    }
    seek(&fd, SeekFrom::Start(0)).map_err(|e| io_err("seeking the seccomp filter")(e.into()))?;
    Ok(fd)
}

/// The program and arguments of a `language` kernel: inside a namespaced sandbox (where the runtime is at
/// `venv_mount` and the kernel's files at `kernel_dir`), or outside one.
fn kernel_program(
    files: &KernelFiles,
    language: Language,
    venv_mount: Option<&Path>,
    kernel_dir: &Path,
) -> (PathBuf, Vec<std::ffi::OsString>) {
    use std::ffi::OsString;
    match language {
        Language::Python => {
            let python = match (&files.runtime.venv, venv_mount) {
                (Some(_), Some(mount)) => mount.join("bin/python"),
                (Some(venv), None) => venv.join("bin/python"),
                (None, _) => files.runtime.python.clone(),
            };
            let args = ["-I", "-X", "frozen_modules=on"].map(OsString::from);
            (python, args.into_iter().chain([kernel_dir.join("kernel.py").into_os_string()]).collect())
        }
        Language::JavaScript => {
            // The launcher (the system Python) sets up the kernel's descriptors, then becomes Node.js.
            let node = files.node.as_ref().map(|n| n.node.clone()).unwrap_or_default();
            let mut args: Vec<OsString> = vec!["-I".into(), kernel_dir.join(JAVASCRIPT_LAUNCHER).into(), node.into()];
            args.push(kernel_dir.join(JAVASCRIPT_KERNEL).into());
            args.extend(node_args(&files.limits).into_iter().map(OsString::from));
            (files.runtime.python.clone(), args)
        }
    }
}

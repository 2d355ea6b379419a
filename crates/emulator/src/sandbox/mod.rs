//! Isolation of sessions: tier detection, per-session workspaces and the sandboxed kernel.
//!
//! * **namespaces** (default where the kernel allows unprivileged user namespaces): the emulator makes the
//!   namespaces itself; every session is forked from a template that has the data stack imported (see
//!   [`native`]): its own user, mount, pid, network, IPC, UTS and cgroup namespaces; a read-only root; its
//!   own sized tmpfs at `/mnt/data`, `/tmp`, `/home/user`, `/dev/shm`; no capabilities; seccomp; limits; an
//!   empty environment; as root, its own host uid and cgroups.
//! * **bubblewrap** (where only bubblewrap may make namespaces, e.g. Ubuntu with AppArmor's restriction):
//!   the same isolation, a bubblewrap process per kernel. As root `/mnt/data` is a tmpfs mounted on the
//!   host; as an ordinary user it is a tmpfs in namespaces a short-lived holder made for it (see [`holder`]).
//! * **landlock** (no namespaces at all): Landlock filesystem/network/signal rules, seccomp (no sockets, no
//!   SysV IPC), rlimits, cgroups and a per-session uid where possible. `auto` picks it for root only: as an
//!   ordinary user it cannot hold `/mnt/data` to a total size, so there it runs only when asked for by name.
//! * **none**: only with the explicit `--insecure-no-sandbox`.

mod cgroup;
mod command;
mod holder;
pub(crate) mod instance;
mod landlock_rules;
mod limits;
mod native;
mod privilege;
mod process;
pub(crate) mod procfs;
mod seccomp;
mod spawner;
mod stale;
mod tier;
pub(crate) mod uids;
mod workspace;

#[cfg(feature = "testing")]
pub(crate) use cgroup::SELF_LEAF as CGROUP_SELF_LEAF;

use std::ops::Range;
use std::os::fd::AsFd;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use serde::Serialize;

pub(crate) use cgroup::Cgroup;
pub use limits::LimitInForce;
pub(crate) use process::{KernelProcess, Spawned};
pub use tier::Tier;
pub(crate) use workspace::{Place, Workspace};

use crate::config::{DEFAULT_PRELOAD, EmulatorConfig, HOME_BYTES, Limits, SHM_BYTES, SandboxMode};
use crate::kernel::Flavor;
use crate::runtime::Runtime;
use cgroup::CgroupManager;
use holder::HolderTools;
use native::{Template, TemplatePlan};
use spawner::Spawner;
use tier::Probe;
use uids::UidPool;

/// What the sandbox does on this host, as `/health` and the start-up log report it.
#[derive(Debug, Clone, Serialize)]
pub struct SandboxInfo {
    /// The tier.
    pub tier: Tier,
    /// `v1`, `v2`, or `none` (then only rlimits and namespaces bound resources).
    pub cgroups: &'static str,
    /// Why cgroups are not used, when they are not.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub cgroups_unavailable: Option<String>,
    /// Whether the cgroups are in a subtree delegated to this unprivileged user (a systemd user scope with
    /// `Delegate=yes`, or a cgroup root gave the user) rather than at the top of the host's hierarchy.
    pub cgroups_delegated: bool,
    /// Whether the seccomp filter is applied.
    pub seccomp: bool,
    /// The Landlock ABI applied (landlock tier), 0 otherwise.
    pub landlock_abi: i64,
    /// Whether each session runs as its own unprivileged host uid.
    pub uid_per_session: bool,
    /// Whether each session's `/mnt/data` is a size-limited tmpfs.
    pub disk_quota: bool,
    /// Whether sessions start from a template with the data stack already imported.
    pub preloaded: Vec<String>,
    /// Every limit of a session and what enforces it.
    pub limits: Vec<LimitInForce>,
    /// What the operator should know (missing limits, a memory budget the host cannot meet).
    pub warnings: Vec<String>,
}

/// Errors choosing or using the sandbox.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum SandboxError {
    /// No isolation is possible on this host and none was waived.
    #[error(
        "no sandbox is available on this host ({0}); install bubblewrap (apt-get install bubblewrap) or run on a \
         kernel with Landlock, or pass --insecure-no-sandbox to run code without isolation (trusted code only)"
    )]
    Unavailable(String),
    /// As an ordinary user, the only tier here is Landlock, which cannot bound a session's disk, and it was
    /// not asked for by name.
    #[error(
        "as an ordinary user, no sandbox that holds a session to the limits root gets is available here \
         ({why}); let this user make namespaces (install bubblewrap with apt-get install bubblewrap, and where \
         it is installed but fails, allow unprivileged user namespaces), or choose the Landlock tier by name \
         (--sandbox landlock, {env}=landlock, or SandboxMode::Landlock), which bounds each file a session \
         writes but not their total size (see SECURITY.md)",
        why = .0,
        env = crate::config::SandboxMode::ENV
    )]
    OnlyLandlockAsUser(String),
    /// Uid 0 here is not root in full (a container without root's privileges, or uid 0 of a user
    /// namespace), which the sandbox's root path needs: why, and what to do.
    #[error("the emulator runs as uid 0 but not as root in full, which its sandbox needs: {0}")]
    LimitedRoot(String),
    /// A file or process operation failed.
    #[error("{context}: {source}")]
    Io {
        /// What was being done.
        context: String,
        /// The error.
        #[source]
        source: std::io::Error,
    },
}

pub(crate) fn io_err(context: impl Into<String>) -> impl FnOnce(std::io::Error) -> SandboxError {
    let context = context.into();
    move |source| SandboxError::Io { context, source }
}

/// Creates workspaces and starts sandboxed kernels. Shared by the whole emulator.
#[derive(Debug)]
pub(crate) struct Sandbox {
    pub(crate) info: SandboxInfo,
    pub(crate) limits: Limits,
    cgroups: Option<CgroupManager>,
    /// The seccomp filter, as bubblewrap reads it.
    seccomp: Arc<Vec<u8>>,
    /// The seccomp filter, for the Landlock tier's children.
    seccomp_program: Arc<seccompiler::BpfProgram>,
    spawner: Spawner,
    /// Session uids, when each session gets its own (running as root).
    uids: Option<UidPool>,
    bwrap: Option<PathBuf>,
    /// The bubblewrap tier as an ordinary user: each session's `/mnt/data` is made by a holder (see [`holder`]).
    holder: Option<HolderTools>,
    /// The namespace tier's template.
    template: Option<Template>,
    /// `<data>/sessions/<instance>`.
    sessions_dir: PathBuf,
    /// `<data>/kernel`.
    kernel_dir: PathBuf,
    runtime: Arc<Runtime>,
    output_cap: u64,
    /// Modules each kernel of the bubblewrap and Landlock tiers imports before it is ready.
    preimport: String,
    /// matplotlib's prebuilt font cache files (in the runtime's `mpl/`), provided to each writable config dir.
    mpl_cache: Vec<PathBuf>,
}

/// Refuses a uid 0 that is not root in full, unless no sandbox is wanted: every tier's root path needs root's
/// powers (even the Landlock tier mounts each session's tmpfs), and each session would fail with a bare
/// `EPERM`. Called first thing, before the runtime is set up.
pub(crate) fn refuse_limited_root(mode: SandboxMode) -> Result<(), SandboxError> {
    match privilege::limited_root() {
        Some(why) if mode != SandboxMode::InsecureNoSandbox => Err(SandboxError::LimitedRoot(why)),
        _ => Ok(()),
    }
}

impl Sandbox {
    /// Chooses the strongest tier the host and `config` allow, and starts it (the namespace tier's template).
    pub(crate) async fn start(
        config: &EmulatorConfig,
        runtime: Arc<Runtime>,
        instance: &str,
        kernel_dir: PathBuf,
    ) -> Result<Sandbox, SandboxError> {
        let root = rustix::process::geteuid().is_root();
        if root {
            stale::reap(&config.data_dir);
        }
        let bwrap = which("bwrap");
        let landlock_abi = landlock_rules::abi_version();
        // Probe only what the mode may use (each probe starts a process).
        let native = match config.sandbox {
            SandboxMode::Auto | SandboxMode::Namespaces => match native::probe(root) {
                Ok(()) => Probe::Works,
                Err(why) => Probe::Unavailable(why),
            },
            _ => Probe::Unused,
        };
        let wants_bwrap = matches!(config.sandbox, SandboxMode::Bubblewrap)
            || (config.sandbox == SandboxMode::Auto && native != Probe::Works);
        let bwrap_state = match (&bwrap, wants_bwrap) {
            (_, false) => Probe::Unused,
            (None, true) => Probe::Unavailable("bwrap is not on PATH (apt-get install bubblewrap)".into()),
            (Some(b), true) if command::probe_bwrap(b, root) => Probe::Works,
            (Some(_), true) => Probe::Unavailable("bubblewrap cannot create namespaces here".into()),
        };
        let tier = tier::choose(config.sandbox, &native, &bwrap_state, landlock_abi, root)?;
        if let Probe::Unavailable(why) = &native
            && tier != Tier::None
        {
            tracing::warn!(%why, ?tier, "the emulator cannot make namespaces itself");
        }
        let (cgroups, cgroups_unavailable) = if tier == Tier::None {
            (None, Some("no sandbox".to_owned()))
        } else {
            if !root {
                // As root this ran with the rest of `stale::reap`; a user may own a delegated subtree.
                stale::remove_stale_cgroups();
            }
            match CgroupManager::detect(instance) {
                Ok(m) => (Some(m), None),
                Err(reason) => (None, Some(reason)),
            }
        };
        let profile = if tier == Tier::Landlock { seccomp::Profile::Landlock } else { seccomp::Profile::Namespaced };
        let program = seccomp::program(profile)
            .map_err(|e| SandboxError::Unavailable(format!("cannot build the seccomp filter: {e}")))?;
        let uid_per_session = root && tier != Tier::None;
        let uids = if uid_per_session {
            Some(UidPool::claim(config.max_sessions + config.ready_sessions + 8).map_err(SandboxError::Unavailable)?)
        } else {
            None
        };
        let sessions_dir = config.data_dir.join("sessions").join(instance);
        workspace::prepare_dir(&sessions_dir, root)?;
        let spawner =
            Spawner::start(tokio::runtime::Handle::current()).map_err(io_err("cannot start the spawner thread"))?;
        let mpl_cache: Vec<PathBuf> = runtime
            .venv
            .as_ref()
            .and_then(|v| std::fs::read_dir(v.join("mpl")).ok())
            .map(|entries| entries.flatten().map(|e| e.path()).filter(|p| p.is_file()).collect())
            .unwrap_or_default();
        let seccomp = seccomp::to_bytes(&program);
        let preloaded = match (&config.preimport, tier) {
            (Some(modules), _) => modules.clone(),
            (None, Tier::Namespaces) => default_preload(&runtime),
            (None, _) => Vec::new(),
        };
        let template = if tier == Tier::Namespaces {
            let filter = kernel_dir.join(format!("seccomp-{instance}.bpf"));
            std::fs::write(&filter, &seccomp).map_err(io_err(format!("cannot write {}", filter.display())))?;
            let root_dir = sessions_dir.join("root");
            std::fs::create_dir_all(&root_dir).map_err(io_err(format!("cannot create {}", root_dir.display())))?;
            let plan = template_plan(
                config,
                &runtime,
                &kernel_dir,
                &root_dir,
                &filter,
                &preloaded,
                !mpl_cache.is_empty(),
                root,
            );
            Some(Template::start(&spawner, &plan).await?)
        } else {
            None
        };
        let holder = match (&bwrap, tier, root) {
            (Some(bwrap), Tier::Bubblewrap, false) => Some(HolderTools {
                bwrap: bwrap.clone(),
                cat: which("cat").ok_or_else(|| {
                    SandboxError::Unavailable(
                        "cat is not on PATH (the bubblewrap tier needs it to hold each session's /mnt/data)".into(),
                    )
                })?,
            }),
            _ => None,
        };
        let facts = limits::Facts {
            tier,
            root,
            cgroups: cgroups.is_some(),
            cpu_cgroup: cgroups.as_ref().is_some_and(|c| c.cpu),
        };
        let mut warnings = Vec::new();
        if let Some(warning) = limits::budget_warning(config, tier, cgroups.is_some()) {
            warnings.push(warning);
        }
        warnings.extend(limits::disk_warning(tier, root));
        let info = SandboxInfo {
            tier,
            cgroups: cgroups.as_ref().map(|c| c.version.name()).unwrap_or("none"),
            cgroups_unavailable,
            cgroups_delegated: cgroups.as_ref().is_some_and(|c| c.delegated),
            seccomp: tier != Tier::None,
            landlock_abi: if tier == Tier::Landlock { landlock_abi } else { 0 },
            uid_per_session,
            disk_quota: matches!(tier, Tier::Namespaces | Tier::Bubblewrap) || (root && tier != Tier::None),
            preloaded: if tier == Tier::Namespaces { preloaded.clone() } else { Vec::new() },
            limits: limits::report(config, &facts),
            warnings,
        };
        Ok(Sandbox {
            mpl_cache,
            info,
            limits: config.limits.clone(),
            cgroups,
            seccomp: Arc::new(seccomp),
            seccomp_program: Arc::new(program),
            spawner,
            uids,
            bwrap,
            holder,
            template,
            sessions_dir,
            kernel_dir,
            runtime,
            output_cap: config.limits.output_bytes,
            preimport: if tier == Tier::Namespaces { String::new() } else { preloaded.join(",") },
        })
    }

    /// The tier in force.
    pub(crate) fn tier(&self) -> Tier {
        self.info.tier
    }

    /// A fresh, empty `/mnt/data`: with its own uid (as root), and a disk quota (namespace tier, bubblewrap tier, or as root).
    /// Blocking: call it on a blocking thread.
    pub(crate) fn create_workspace(&self) -> Result<Workspace, SandboxError> {
        match (&self.template, &self.holder) {
            (Some(template), _) => Workspace::in_template(template, self.uids.as_ref(), &self.limits),
            (None, Some(tools)) => Workspace::create_held(&self.sessions_dir, &self.spawner, tools, &self.limits),
            (None, None) => {
                let quotas = workspace::Quotas {
                    data: self.info.disk_quota,
                    // Bubblewrap gives /tmp a tmpfs inside the sandbox; the Landlock tier uses this directory.
                    tmp: self.info.disk_quota && self.tier() == Tier::Landlock,
                };
                Workspace::create(&self.sessions_dir, self.uids.as_ref(), quotas, &self.limits)
            }
        }
    }

    /// Removes a workspace: unmounts, deletes its files, frees its uid. Blocking.
    pub(crate) fn destroy_workspace(&self, workspace: &Workspace) {
        workspace.destroy(self.uids.as_ref(), self.template.as_ref());
    }

    /// Creates the cgroup of one of a session's kernels, when cgroups are in use.
    pub(crate) fn create_cgroup(&self, workspace: &Workspace, flavor: Flavor) -> Result<Option<Cgroup>, SandboxError> {
        let name = match flavor {
            Flavor::Preloaded => workspace.name(),
            Flavor::Empty => format!("{}-empty", workspace.name()),
        };
        match &self.cgroups {
            Some(manager) => manager
                .create(&name, &self.limits)
                .map(Some)
                .map_err(io_err(format!("cannot create the cgroup {name}"))),
            None => Ok(None),
        }
    }

    /// Starts the kernel of a workspace in the sandbox.
    pub(crate) async fn spawn_kernel(
        &self,
        workspace: &Workspace,
        cgroup: Option<&Cgroup>,
        flavor: Flavor,
    ) -> Result<Spawned, SandboxError> {
        if let Some(template) = &self.template {
            let pipe =
                || rustix::pipe::pipe_with(rustix::pipe::PipeFlags::CLOEXEC).map_err(|e| io_err("pipe")(e.into()));
            let (stdin_read, stdin) = pipe()?;
            let (stdout, stdout_write) = pipe()?;
            let (stderr, stderr_write) = pipe()?;
            let cgroup_files =
                cgroup.map(Cgroup::procs_files).transpose().map_err(io_err("cannot share the cgroup"))?;
            let mut fds = vec![stdin_read.as_fd(), stdout_write.as_fd(), stderr_write.as_fd()];
            fds.extend(cgroup_files.iter().flatten().map(AsFd::as_fd));
            let pidfd = template
                .fork(&workspace.name(), flavor, workspace.uid, &fds)
                .map_err(io_err("the session template could not fork a kernel"))?;
            return Ok(Spawned { process: Some(KernelProcess::forked(pidfd)), stdin, stdout, stderr });
        }
        let ceiling = self.shared_process_ceiling().await?;
        let command = command::build(self, workspace, cgroup, flavor, ceiling)?;
        let context = match &workspace.place {
            Place::Held(..) => "cannot start the sandboxed kernel in the namespaces holding its /mnt/data",
            _ => "cannot start the sandboxed kernel",
        };
        let mut child = self.spawner.spawn(command).await.map_err(io_err(context))?;
        let take = |fd: Option<std::io::Result<std::os::fd::OwnedFd>>| {
            fd.ok_or_else(|| SandboxError::Unavailable("the kernel's pipes are missing".into()))?
                .map_err(io_err("the kernel's pipes"))
        };
        let stdin = take(child.stdin.take().map(|s| s.into_owned_fd()))?;
        let stdout = take(child.stdout.take().map(|s| s.into_owned_fd()))?;
        let stderr = take(child.stderr.take().map(|s| s.into_owned_fd()))?;
        // bubblewrap's pid namespace holds a session; without one, the kernel leads its own session.
        let process = match self.tier() {
            Tier::Bubblewrap => KernelProcess::Child(child),
            Tier::Landlock | Tier::None | Tier::Namespaces => KernelProcess::Leader(child),
        };
        Ok(Spawned { process: Some(process), stdin, stdout, stderr })
    }

    /// The Landlock tier's `RLIMIT_NPROC` for an ordinary user without cgroups, where nothing counts one
    /// session's processes: the tasks the user runs now (the emulator's threads among them) plus twice the
    /// session's limit. A fork bomb stops there instead of at the user's own limit. `None` elsewhere.
    async fn shared_process_ceiling(&self) -> Result<Option<u64>, SandboxError> {
        if self.tier() != Tier::Landlock || self.info.uid_per_session || self.cgroups.is_some() {
            return Ok(None);
        }
        let uid = rustix::process::getuid().as_raw();
        // Reading every process's status is blocking work.
        let counted = tokio::task::spawn_blocking(move || procfs::tasks_of(uid)).await.ok().flatten();
        let now = counted.ok_or_else(|| {
            SandboxError::Unavailable(
                "cannot count this user's processes in /proc, so the Landlock tier cannot bound a session's \
                 processes; mount /proc, or start the emulator in a delegated cgroup (see SECURITY.md)"
                    .into(),
            )
        })?;
        let ceiling = now + 2 * u64::from(self.limits.max_processes);
        // Never above the user's own hard limit, which a child cannot raise (setting it would fail).
        let hard = rustix::process::getrlimit(rustix::process::Resource::Nproc).maximum;
        Ok(Some(hard.map_or(ceiling, |hard| ceiling.min(hard))))
    }

    /// The host uids this instance gives sessions, when each session has its own.
    pub(crate) fn session_uids(&self) -> Option<Range<u32>> {
        self.uids.as_ref().map(UidPool::range)
    }

    /// The instance's cgroup directories (none without cgroups).
    pub(crate) fn cgroup_dirs(&self) -> Vec<PathBuf> {
        self.cgroups.as_ref().map(CgroupManager::bases).unwrap_or_default()
    }

    /// The template's process id (namespace tier).
    pub(crate) fn template_pid(&self) -> Option<u32> {
        self.template.as_ref().and_then(Template::pid)
    }

    /// Stops the template (after every session is gone).
    pub(crate) async fn stop_template(&self) {
        if let Some(template) = &self.template {
            template.stop().await;
        }
    }

    /// Removes the instance's session directory, filter and cgroup bases (at shutdown). Blocking.
    pub(crate) fn cleanup(&self) {
        let _ = std::fs::remove_dir_all(&self.sessions_dir);
        if self.template.is_some() {
            let _ =
                std::fs::remove_file(self.kernel_dir.join(format!(
                    "seccomp-{}.bpf",
                    self.sessions_dir.file_name().and_then(|n| n.to_str()).unwrap_or("")
                )));
        }
        if let Some(cgroups) = &self.cgroups {
            cgroups.remove();
        }
    }
}

/// The default preloaded set: those of [`DEFAULT_PRELOAD`] whose distribution the runtime has.
fn default_preload(runtime: &Runtime) -> Vec<String> {
    let has = |name: &str| runtime.packages.iter().any(|p| p.name.eq_ignore_ascii_case(name));
    DEFAULT_PRELOAD.iter().filter(|m| has(m.split('.').next().unwrap_or(m))).map(|m| (*m).to_owned()).collect()
}

/// What the namespace tier's template is told.
#[allow(clippy::too_many_arguments)]
fn template_plan<'a>(
    config: &EmulatorConfig,
    runtime: &'a Runtime,
    kernel_dir: &'a Path,
    root_dir: &'a Path,
    seccomp: &'a Path,
    preload: &[String],
    mpl_cache: bool,
    as_root: bool,
) -> TemplatePlan<'a> {
    let limits = &config.limits;
    let mut symlinks = Vec::new();
    let mut binds = vec![("/usr".to_owned(), "/usr".to_owned())];
    // Mirror the host's top-level links (merged /usr) or directories.
    for top in ["/bin", "/lib", "/lib64", "/sbin", "/lib32", "/libx32"] {
        match std::fs::read_link(top) {
            Ok(target) => symlinks.push((top.to_owned(), target.display().to_string())),
            Err(_) if Path::new(top).is_dir() => binds.push((top.to_owned(), top.to_owned())),
            Err(_) => {}
        }
    }
    for file in command::HOST_FILES {
        binds.push((file.to_owned(), file.to_owned()));
    }
    binds.push((kernel_dir.join("passwd").display().to_string(), "/etc/passwd".to_owned()));
    binds.push((kernel_dir.join("group").display().to_string(), "/etc/group".to_owned()));
    binds.push((kernel_dir.display().to_string(), "/opt/kernel".to_owned()));
    if let Some(venv) = &runtime.venv {
        binds.push((venv.display().to_string(), "/opt/runtime".to_owned()));
    }
    if let Some(prefix) = runtime.prefix_outside_usr() {
        binds.push((prefix.display().to_string(), prefix.display().to_string()));
    }
    let mut env = command::kernel_env(runtime.venv.is_some(), limits.output_bytes);
    env.push(("HOME", "/home/user".to_owned()));
    env.push(("TMPDIR", "/tmp".to_owned()));
    env.push(("MPLCONFIGDIR", "/tmp/mpl".to_owned()));
    TemplatePlan {
        python: &runtime.python,
        kernel_dir,
        root: root_dir,
        venv: runtime.venv.as_deref(),
        seccomp,
        symlinks,
        binds,
        tmp_bytes: limits.tmp_bytes,
        home_bytes: HOME_BYTES,
        shm_bytes: SHM_BYTES,
        preimport: preload.to_vec(),
        mpl_cache,
        rlimits: vec![
            ("RLIMIT_AS", limits.memory_bytes),
            ("RLIMIT_NOFILE", 1024),
            ("RLIMIT_FSIZE", limits.disk_bytes),
            ("RLIMIT_CORE", 0),
            ("RLIMIT_CPU", 4 * 3600),
        ],
        nproc: u64::from(limits.max_processes),
        env,
        as_root,
    }
}

/// Finds an executable on `PATH`.
pub(crate) fn which(name: &str) -> Option<PathBuf> {
    let path = std::env::var_os("PATH").unwrap_or_else(|| "/usr/local/bin:/usr/bin:/bin".into());
    std::env::split_paths(&path).map(|dir| dir.join(name)).find(|p| is_executable(p))
}

fn is_executable(path: &Path) -> bool {
    use std::os::unix::fs::PermissionsExt;
    path.metadata().map(|m| m.is_file() && m.permissions().mode() & 0o111 != 0).unwrap_or(false)
}

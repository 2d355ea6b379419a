//! What the template is told at start: the root it builds, what it binds into it, the sizes of a session's
//! tmpfs mounts, the modules it preloads, the limits and the environment every session gets.

use std::path::Path;

use serde_json::{Value, json};

use crate::config::{HOME_BYTES, SHM_BYTES};
use crate::kernel::protocol::Language;
use crate::kernel::{INIT, INIT_NAME, JAVASCRIPT_KERNEL, JAVASCRIPT_LAUNCHER};
use crate::sandbox::kernel_env::{self, KERNEL_MOUNT, NODE_MODULES_MOUNT, RUNTIME_MOUNT};
use crate::sandbox::{KernelFiles, rlimits};

/// Everything [`super::Template::start`] needs.
#[derive(Debug)]
pub(crate) struct TemplatePlan<'a> {
    pub(crate) python: &'a Path,
    pub(crate) kernel_dir: &'a Path,
    /// The host directory the template mounts its root on.
    pub(crate) root: &'a Path,
    pub(crate) venv: Option<&'a Path>,
    pub(crate) seccomp: &'a Path,
    pub(crate) symlinks: Vec<(String, String)>,
    /// (host path, path in the sandbox), bound read-only.
    pub(crate) binds: Vec<(String, String)>,
    pub(crate) tmp_bytes: u64,
    pub(crate) preimport: Vec<String>,
    pub(crate) mpl_cache: bool,
    pub(crate) rlimits: Vec<rlimits::Rlimit>,
    pub(crate) nproc: u64,
    pub(crate) env: Vec<(&'static str, String)>,
    /// The emulator runs as root: the template stays in the host's user namespace.
    pub(crate) as_root: bool,
    /// How JavaScript sessions start, when there is Node.js.
    pub(crate) node: Option<NodePlan>,
}

/// How the template starts a JavaScript session's kernel: its launcher execs Node.js with these options.
#[derive(Debug)]
pub(crate) struct NodePlan {
    pub(crate) node: String,
    pub(crate) args: Vec<String>,
    /// What a JavaScript kernel's `RLIMIT_AS` adds to the session's memory.
    pub(crate) address_space_extra: u64,
}

/// The plan for `files`, with the template's root at `root_dir` and its seccomp filter in `seccomp`.
pub(crate) fn of<'a>(
    files: &'a KernelFiles,
    root_dir: &'a Path,
    seccomp: &'a Path,
    preload: &[String],
    as_root: bool,
) -> TemplatePlan<'a> {
    let runtime = &files.runtime;
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
    for file in kernel_env::HOST_FILES {
        binds.push((file.to_owned(), file.to_owned()));
    }
    binds.push((files.dir.join("passwd").display().to_string(), "/etc/passwd".to_owned()));
    binds.push((files.dir.join("group").display().to_string(), "/etc/group".to_owned()));
    binds.push((files.dir.display().to_string(), KERNEL_MOUNT.to_owned()));
    if let Some(venv) = &runtime.venv {
        binds.push((venv.display().to_string(), RUNTIME_MOUNT.to_owned()));
    }
    if let Some(prefix) = runtime.prefix_outside_usr() {
        binds.push((prefix.display().to_string(), prefix.display().to_string()));
    }
    if let Some(node) = &files.node {
        if let Some(prefix) = node.prefix_outside_usr() {
            binds.push((prefix.display().to_string(), prefix.display().to_string()));
        }
        if let Some(modules) = &node.modules {
            binds.push((modules.display().to_string(), NODE_MODULES_MOUNT.to_owned()));
        }
    }
    TemplatePlan {
        python: &runtime.python,
        kernel_dir: &files.dir,
        root: root_dir,
        venv: runtime.venv.as_deref(),
        seccomp,
        symlinks,
        binds,
        tmp_bytes: files.limits.tmp_bytes,
        preimport: preload.to_vec(),
        mpl_cache: !files.mpl_cache.is_empty(),
        rlimits: rlimits::kernel(&files.limits, true, Language::Python),
        nproc: rlimits::processes(&files.limits, false).value,
        env: kernel_env::namespaced(files),
        node: files.node.as_ref().map(|node| NodePlan {
            node: node.node.display().to_string(),
            args: kernel_env::node_args(&files.limits),
            address_space_extra: rlimits::V8_RESERVATIONS,
        }),
        as_root,
    }
}

impl TemplatePlan<'_> {
    /// What the template needs to know, as its first control message.
    pub(crate) fn message(&self) -> Value {
        let rlimits: Vec<(&str, u64)> = self.rlimits.iter().map(|r| (r.name, r.value)).collect();
        json!({
            "root": self.root,
            "kernel_dir": KERNEL_MOUNT,
            "runtime": self.venv.map(|_| RUNTIME_MOUNT),
            "seccomp": self.seccomp,
            "sys_pivot_root": libc::SYS_pivot_root,
            "sys_mount_setattr": libc::SYS_mount_setattr,
            "symlinks": self.symlinks,
            "binds": self.binds,
            "devices": ["/dev/null", "/dev/zero", "/dev/full", "/dev/random", "/dev/urandom"],
            "sizes": {"tmp": self.tmp_bytes, "home": HOME_BYTES, "shm": SHM_BYTES},
            "preimport": self.preimport,
            "warm_up": !self.preimport.is_empty(),
            "mpl_cache": self.mpl_cache.then_some(format!("{RUNTIME_MOUNT}/mpl")),
            "rlimits": rlimits,
            "nproc": self.nproc,
            // What a session's two waiting processes become (when the build made it).
            "init": (!INIT.is_empty()).then(|| format!("{KERNEL_MOUNT}/{INIT_NAME}")),
            "env": self.env,
            "node": self.node.as_ref().map(|n| json!({
                "path": n.node,
                "args": n.args,
                "kernel": format!("{KERNEL_MOUNT}/{JAVASCRIPT_KERNEL}"),
                "launcher": format!("{KERNEL_MOUNT}/{JAVASCRIPT_LAUNCHER}"),
                "address_space_extra": n.address_space_extra,
            })),
        })
    }
}

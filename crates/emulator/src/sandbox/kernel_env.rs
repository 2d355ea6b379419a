//! A kernel's environment and where things are inside a sandbox: nothing from the emulator's own environment
//! (it may hold credentials), only these.

use std::path::Path;

use super::KernelFiles;
use crate::config::Limits;
use crate::kernel::Flavor;

/// Where the runtime (the virtual environment) is mounted inside a namespaced sandbox.
pub(crate) const RUNTIME_MOUNT: &str = "/opt/runtime";
/// Where the kernel's files are mounted inside a namespaced sandbox.
pub(crate) const KERNEL_MOUNT: &str = "/opt/kernel";
/// Where the npm packages of `NodeLTS` pools are mounted inside a namespaced sandbox.
pub(crate) const NODE_MODULES_MOUNT: &str = "/opt/node-runtime/node_modules";
/// matplotlib's writable config directory inside a namespaced sandbox (the runtime's prebuilt font cache is
/// provided there).
pub(crate) const MPL_CONFIG: &str = "/tmp/mpl";
/// The home directory inside a namespaced sandbox (a tmpfs of its own).
const HOME: &str = "/home/user";
/// Host files sessions may read, when they exist (`/etc/os-release` names the distribution, as in any
/// container: the shell tutorial's `cat /etc/os-release`).
pub(crate) const HOST_FILES: [&str; 6] =
    ["/etc/fonts", "/etc/localtime", "/etc/ld.so.cache", "/etc/mime.types", "/etc/ssl/certs", "/etc/os-release"];
const SYSTEM_PATH: &str = "/usr/local/bin:/usr/bin:/bin";

/// `PATH`, with the runtime's `bin` first when there is a virtual environment.
fn path(venv_bin: Option<&Path>) -> String {
    match venv_bin {
        Some(bin) => format!("{}:{SYSTEM_PATH}", bin.display()),
        None => SYSTEM_PATH.to_owned(),
    }
}

/// The variables every kernel of every tier starts with (the tiers add where home and temporary files are).
fn common(files: &KernelFiles) -> Vec<(&'static str, String)> {
    let output_cap = files.limits.output_bytes;
    vec![
        ("LANG", "C.UTF-8".to_owned()),
        ("PYTHONUNBUFFERED", "1".to_owned()),
        ("MPLBACKEND", "Agg".to_owned()),
        ("OPENBLAS_NUM_THREADS", "1".to_owned()),
        ("OMP_NUM_THREADS", "1".to_owned()),
        ("MKL_NUM_THREADS", "1".to_owned()),
        ("MALLOC_ARENA_MAX", "2".to_owned()),
        ("DS_OUTPUT_CAP", output_cap.to_string()),
        // The figures of one execution together: eight times the output cap (8 MiB by default).
        ("DS_IMAGE_CAP", output_cap.saturating_mul(8).to_string()),
        // What a new kernel runs before it says it is ready (`_warm_up` in kernel/python/kernel.py).
        ("DS_WARM_UP", files.warm_up.clone()),
        ("USER", "user".to_owned()),
    ]
}

/// The environment of a kernel in a namespaced sandbox (the namespaces and bubblewrap tiers): the runtime
/// at [`RUNTIME_MOUNT`], the npm packages (when `node_modules`) at [`NODE_MODULES_MOUNT`], home and temporary
/// files in the sandbox's own tmpfs mounts.
pub(crate) fn namespaced(files: &KernelFiles) -> Vec<(&'static str, String)> {
    let bin = Path::new(RUNTIME_MOUNT).join("bin");
    let mut vars = vec![("PATH", path(files.runtime.venv.is_some().then_some(bin.as_path())))];
    vars.extend(common(files));
    let node_modules = files.node.as_ref().is_some_and(|n| n.modules.is_some());
    vars.extend([("HOME", HOME.to_owned()), ("TMPDIR", "/tmp".to_owned()), ("MPLCONFIGDIR", MPL_CONFIG.to_owned())]);
    if node_modules {
        vars.push(("NODE_PATH", NODE_MODULES_MOUNT.to_owned()));
    }
    vars
}

/// The options of a JavaScript kernel's Node.js: Node's REPL rewrite of top-level `await` is one of its
/// internals; the heap is three quarters of the session's memory.
pub(crate) fn node_args(limits: &Limits) -> Vec<String> {
    vec!["--expose-internals".to_owned(), format!("--max-old-space-size={}", (limits.memory_bytes >> 20) * 3 / 4)]
}

/// The variables a kernel process of the bubblewrap, Landlock or no-sandbox tier starts with.
pub(crate) struct Environment {
    vars: Vec<(&'static str, String)>,
}

impl Environment {
    /// What every such kernel gets: the runtime on `PATH` where the host has it, the limits of its output,
    /// and the modules to import first (the preloaded kernel only).
    pub(crate) fn new(files: &KernelFiles, flavor: Flavor) -> Environment {
        let preimport = match flavor {
            Flavor::Preloaded => files.preimport.clone(),
            Flavor::Empty => String::new(),
        };
        let bin = files.runtime.venv.as_ref().map(|v| v.join("bin"));
        let mut vars = vec![("PATH", path(bin.as_deref()))];
        vars.extend(common(files));
        vars.push(("DS_PREIMPORT", preimport));
        if let Some(modules) = files.node.as_ref().and_then(|n| n.modules.as_ref()) {
            vars.push(("NODE_PATH", modules.display().to_string()));
        }
        Environment { vars }
    }

    /// The namespaced layout ([`namespaced`]): the runtime at [`RUNTIME_MOUNT`], the npm packages at
    /// [`NODE_MODULES_MOUNT`], home and temporary files in the sandbox's tmpfs mounts.
    pub(crate) fn inside_namespaces(&mut self, files: &KernelFiles) {
        for (name, value) in namespaced(files) {
            self.set(name, value);
        }
    }

    pub(crate) fn set(&mut self, name: &'static str, value: impl Into<String>) {
        self.vars.retain(|(n, _)| *n != name);
        self.vars.push((name, value.into()));
    }

    pub(crate) fn vars(&self) -> impl Iterator<Item = (&'static str, &str)> {
        self.vars.iter().map(|(k, v)| (*k, v.as_str()))
    }
}

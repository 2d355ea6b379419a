//! The kernel's environment: nothing from the emulator's own (it may hold credentials), only these.

use std::path::Path;

use crate::kernel::Flavor;
use crate::sandbox::Sandbox;

/// Where the runtime's executables are inside a namespace sandbox.
const RUNTIME_BIN: &str = "/opt/runtime/bin";
const SYSTEM_PATH: &str = "/usr/local/bin:/usr/bin:/bin";

/// The variables every kernel of every tier starts with (the tiers add `HOME`, `TMPDIR`, `MPLCONFIGDIR`).
pub(crate) fn kernel_env(venv: bool, output_cap: u64) -> Vec<(&'static str, String)> {
    vec![
        ("PATH", if venv { format!("{RUNTIME_BIN}:{SYSTEM_PATH}") } else { SYSTEM_PATH.to_owned() }),
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
        ("USER", "user".to_owned()),
    ]
}

/// The variables a kernel process of the bubblewrap or Landlock tier starts with.
pub(super) struct Environment {
    vars: Vec<(&'static str, String)>,
}

impl Environment {
    /// The variables every such tier sets.
    pub(super) fn new(sandbox: &Sandbox, flavor: Flavor) -> Environment {
        let preimport = match flavor {
            Flavor::Preloaded => sandbox.preimport.clone(),
            Flavor::Empty => String::new(),
        };
        let mut vars = kernel_env(sandbox.runtime.venv.is_some(), sandbox.output_cap);
        vars.push(("DS_PREIMPORT", preimport));
        Environment { vars }
    }

    /// `PATH`, with the runtime's `bin` first when there is a virtual environment.
    pub(super) fn path(&mut self, venv_bin: Option<&Path>) {
        let path = match venv_bin {
            Some(bin) => format!("{}:{SYSTEM_PATH}", bin.display()),
            None => SYSTEM_PATH.to_owned(),
        };
        self.set("PATH", path);
    }

    pub(super) fn set(&mut self, name: &'static str, value: impl Into<String>) {
        self.vars.retain(|(n, _)| *n != name);
        self.vars.push((name, value.into()));
    }

    pub(super) fn vars(&self) -> impl Iterator<Item = (&'static str, &str)> {
        self.vars.iter().map(|(k, v)| (*k, v.as_str()))
    }
}

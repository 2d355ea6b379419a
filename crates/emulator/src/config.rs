//! Emulator settings.

use std::net::SocketAddr;
use std::path::PathBuf;
use std::str::FromStr;
use std::time::Duration;

/// The packages a real Azure `PythonLTS` pool ships that code written for it uses most.
pub const DEFAULT_PACKAGES: &[&str] = &[
    "numpy",
    "pandas",
    "matplotlib",
    "scipy",
    "scikit-learn",
    "seaborn",
    "openpyxl",
    "pyarrow",
    "requests",
    "setuptools",
];

/// What every session of the namespace tier starts with already imported (those the runtime has): the
/// modules nearly every first cell imports. matplotlib is set to its Agg backend.
pub const DEFAULT_PRELOAD: &[&str] = &["numpy", "pandas", "matplotlib.pyplot"];

/// A session's `/home/user` (a tmpfs of its own).
pub const HOME_BYTES: u64 = 64 << 20;
/// A session's `/dev/shm` (a tmpfs of its own).
pub const SHM_BYTES: u64 = 64 << 20;

/// The service's upload limit, 128 MiB.
pub const MAX_UPLOAD_BYTES: u64 = 128 * 1024 * 1024;
/// The service's default `outputStreamsMaxLength` (2025-10-02-preview and later): characters of each stream.
pub const DEFAULT_OUTPUT_STREAMS_MAX_LENGTH: usize = 4096;

/// The service's execution ceiling, 220 s.
pub const MAX_EXECUTION_TIMEOUT: Duration = Duration::from_secs(220);

/// The npm packages a `NodeLTS` pool's sessions can `require` without installing anything: `axios` (the one the
/// service's own pool metadata lists) and the libraries JavaScript written for data work reaches for first:
/// `lodash` (collections), `papaparse` (CSV), `date-fns` (dates), `mathjs` (arithmetic, matrices, units) and
/// `simple-statistics` (descriptive statistics, regression). All are plain JavaScript, with no native code
/// to build and no network at run time.
pub const DEFAULT_NODE_PACKAGES: &[&str] = &["axios", "lodash", "papaparse", "date-fns", "mathjs", "simple-statistics"];

/// The name of the pool at the root path, and of any pool name no `--pool` names.
pub const DEFAULT_POOL: &str = "default";

/// What a pool's sessions run, as the service's `containerType` names it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum ContainerType {
    /// Python code (a notebook-style kernel) and shell commands.
    PythonLts,
    /// JavaScript code on Node.js (a notebook-style kernel) and shell commands.
    NodeLts,
    /// Shell commands only (`shellCommand`, `execCommandAndArgs`).
    Shell,
}

impl ContainerType {
    /// The names the service uses, in the order of the variants.
    pub const NAMES: [&'static str; 3] = ["PythonLTS", "NodeLTS", "Shell"];
    const ALL: [ContainerType; 3] = [ContainerType::PythonLts, ContainerType::NodeLts, ContainerType::Shell];
}

impl std::fmt::Display for ContainerType {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let name = ContainerType::ALL.iter().zip(ContainerType::NAMES).find_map(|(t, n)| (t == self).then_some(n));
        f.write_str(name.unwrap_or("PythonLTS"))
    }
}

/// A container type that is not one of [`ContainerType::NAMES`].
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("unknown container type `{0}`: use one of PythonLTS, NodeLTS, Shell")]
pub struct UnknownContainerType(pub String);

impl FromStr for ContainerType {
    type Err = UnknownContainerType;

    fn from_str(name: &str) -> Result<Self, Self::Err> {
        let wanted = name.trim();
        ContainerType::NAMES
            .iter()
            .zip(ContainerType::ALL)
            .find_map(|(known, t)| known.eq_ignore_ascii_case(wanted).then_some(t))
            .ok_or_else(|| UnknownContainerType(name.to_owned()))
    }
}

/// A pool of an emulator: its name (the `{pool}` of `.../sessionPools/{pool}`) and what its sessions run.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PoolSpec {
    /// The pool's name.
    pub name: String,
    /// What its sessions run.
    pub container_type: ContainerType,
}

/// A pool given as `NAME=TYPE` that does not parse.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error(
    "invalid pool `{given}`: write NAME=TYPE with a name of letters, digits, `-` and `_` and a type of PythonLTS, NodeLTS or Shell"
)]
pub struct InvalidPool {
    /// What was given.
    pub given: String,
}

impl FromStr for PoolSpec {
    type Err = InvalidPool;

    fn from_str(given: &str) -> Result<Self, Self::Err> {
        let invalid = || InvalidPool { given: given.to_owned() };
        let (name, kind) = given.split_once('=').ok_or_else(invalid)?;
        let name = name.trim();
        let valid = !name.is_empty()
            && name.len() <= 64
            && name.chars().all(|c| c.is_ascii_alphanumeric() || c == '-' || c == '_');
        if !valid {
            return Err(invalid());
        }
        Ok(PoolSpec { name: name.to_owned(), container_type: kind.parse().map_err(|_| invalid())? })
    }
}

/// What a new Python kernel runs once before it says it is ready, so that a session's first cell does not pay
/// for it. A forked kernel shares the template's memory until it writes to it: every page it first writes costs
/// a fault and a copy, and stays its own. Each warm-up makes a session's first such cell faster and every
/// session's own memory larger (measured in `docs/benchmarks.md`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum WarmUp {
    /// A trivial cell through the whole execution path (about 0.1 MB a session; halves the first `1+1`).
    Cell,
    /// A pandas `describe()` (about 5 MB a session; halves the first `describe()`).
    Describe,
    /// A matplotlib figure, drawn but not rendered to an image.
    Chart,
}

impl WarmUp {
    /// The names, in the order of the variants (the kernel knows them by these names).
    pub const NAMES: [&'static str; 3] = ["cell", "describe", "chart"];
    const ALL: [WarmUp; 3] = [WarmUp::Cell, WarmUp::Describe, WarmUp::Chart];
}

impl std::fmt::Display for WarmUp {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let name = WarmUp::ALL.iter().zip(WarmUp::NAMES).find_map(|(w, n)| (w == self).then_some(n));
        f.write_str(name.unwrap_or("cell"))
    }
}

/// A warm-up name that is not one of [`WarmUp::NAMES`].
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("unknown warm-up `{0}`: use cell, describe or chart")]
pub struct UnknownWarmUp(pub String);

impl FromStr for WarmUp {
    type Err = UnknownWarmUp;

    fn from_str(name: &str) -> Result<Self, Self::Err> {
        let wanted = name.trim();
        WarmUp::NAMES
            .iter()
            .zip(WarmUp::ALL)
            .find_map(|(known, w)| known.eq_ignore_ascii_case(wanted).then_some(w))
            .ok_or_else(|| UnknownWarmUp(name.to_owned()))
    }
}

/// How sessions are isolated.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub enum SandboxMode {
    /// The strongest tier this host supports: namespaces made by the emulator, else bubblewrap's, else (for
    /// root only) Landlock; refuse to run otherwise. As an ordinary user the Landlock tier cannot hold a
    /// session's files to a total size, so `Auto` refuses rather than pick it: ask for [`SandboxMode::Landlock`]
    /// by name to accept that.
    Auto,
    /// Require the namespace tier (the emulator makes the namespaces; sessions fork from a preloaded template).
    Namespaces,
    /// Require bubblewrap (namespaces + cgroups + rlimits + seccomp).
    Bubblewrap,
    /// Require the Landlock tier (no namespaces: Landlock + seccomp + rlimits).
    Landlock,
    /// No isolation at all: the code runs as a plain child process. Only for trusted code.
    InsecureNoSandbox,
}

impl SandboxMode {
    /// The environment variable that chooses the tier, for the emulator's command line and for programs that
    /// embed it (the chat app).
    pub const ENV: &'static str = "DS_EMULATOR_SANDBOX";

    /// The names `--sandbox` and [`SandboxMode::ENV`] take (no sandbox at all has its own flag,
    /// `--insecure-no-sandbox`, so that it is never chosen by a typo).
    pub const NAMES: [&'static str; 4] = ["auto", "namespaces", "bubblewrap", "landlock"];
    /// The modes [`SandboxMode::NAMES`] name, in the same order.
    const NAMED: [SandboxMode; 4] =
        [SandboxMode::Auto, SandboxMode::Namespaces, SandboxMode::Bubblewrap, SandboxMode::Landlock];
}

impl std::fmt::Display for SandboxMode {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let name =
            SandboxMode::NAMED.iter().zip(SandboxMode::NAMES).find_map(|(mode, name)| (mode == self).then_some(name));
        f.write_str(name.unwrap_or("insecure-no-sandbox"))
    }
}

/// A sandbox name that is not one of [`SandboxMode::NAMES`].
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("unknown sandbox `{name}`: use one of {names}", name = .0, names = SandboxMode::NAMES.join(", "))]
pub struct UnknownSandboxMode(pub String);

impl FromStr for SandboxMode {
    type Err = UnknownSandboxMode;

    fn from_str(name: &str) -> Result<Self, Self::Err> {
        let wanted = name.trim();
        SandboxMode::NAMES
            .iter()
            .zip(SandboxMode::NAMED)
            .find_map(|(known, mode)| known.eq_ignore_ascii_case(wanted).then_some(mode))
            .ok_or_else(|| UnknownSandboxMode(name.to_owned()))
    }
}

/// Resource limits of one session.
#[derive(Debug, Clone, PartialEq)]
pub struct Limits {
    /// Memory per session (address-space rlimit; the memory cgroup gets 25 % more so a `MemoryError` comes first).
    pub memory_bytes: u64,
    /// Processes and threads per session.
    pub max_processes: u32,
    /// CPU share per session, in cores (cgroup quota).
    pub cpus: f64,
    /// Disk per session: the size of its `/mnt/data` (a tmpfs of its own in the namespace tier, and as root),
    /// and the largest file.
    pub disk_bytes: u64,
    /// A session's `/tmp` (a tmpfs of its own in the namespace and bubblewrap tiers).
    pub tmp_bytes: u64,
    /// Captured stdout/stderr per stream and execution.
    pub output_bytes: u64,
}

impl Default for Limits {
    fn default() -> Self {
        Limits {
            memory_bytes: 1 << 30,
            max_processes: 128,
            cpus: 1.0,
            disk_bytes: 1 << 30,
            tmp_bytes: 256 << 20,
            output_bytes: 1 << 20,
        }
    }
}

/// Everything the emulator can be told.
#[derive(Debug, Clone)]
pub struct EmulatorConfig {
    /// Where the `dynamic-sessions-emulator` binary and [`crate::RunningEmulator::start`] listen (127.0.0.1:8484
    /// by default; port 0 picks a free port). [`crate::run`] takes a bound listener instead.
    pub bind: SocketAddr,
    /// Idle time after which a session and its files are destroyed (default 300 s).
    pub cooldown: Duration,
    /// Maximum concurrent sessions; new identifiers then get 404, as from the service.
    pub max_sessions: usize,
    /// Pre-started sandboxes kept ready for new identifiers.
    pub ready_sessions: usize,
    /// Require `Authorization: Bearer <token>` when set. [`crate::RunningEmulator`] makes up a random one
    /// when none is given.
    pub token: Option<String>,
    /// `Host` names to accept besides loopback names and the bind address (a name a proxy forwards), or `*`
    /// for any (behind a trusted reverse proxy). Requests a browser sends for another site are always refused.
    pub allowed_hosts: Vec<String>,
    /// Serve https with a certificate of the emulator's own local CA (kept in `<data_dir>/tls/`).
    pub tls: bool,
    /// Isolation tier.
    pub sandbox: SandboxMode,
    /// Resource limits per session.
    pub limits: Limits,
    /// Where sessions, the kernel and the Python runtime live.
    pub data_dir: PathBuf,
    /// Where the Python virtual environments are cached (default `<data_dir>/runtime`).
    pub runtime_dir: Option<PathBuf>,
    /// The Python interpreter sessions run (default: `/usr/bin/python3`, else `python3` on `PATH`).
    pub python: Option<PathBuf>,
    /// Create (or reuse) a virtual environment with `packages` on start.
    pub setup_runtime: bool,
    /// The packages of the runtime's virtual environment.
    pub packages: Vec<String>,
    /// Modules every session starts with imported. `None`: the namespace tier's template preloads
    /// [`DEFAULT_PRELOAD`] (at no cost per session); the other tiers import nothing (each kernel would pay for
    /// it).
    pub preimport: Option<Vec<String>>,
    /// How long an interrupted execution may take to stop before its kernel is killed and restarted.
    pub interrupt_grace: Duration,
    /// Pools besides the default one ([`DEFAULT_POOL`], `PythonLTS`, at the root path and under any pool name
    /// not listed here); naming `default` here changes its container type.
    pub pools: Vec<PoolSpec>,
    /// The Node.js interpreter of `NodeLTS` pools (default: `/usr/bin/node`, else `node` on `PATH`).
    pub node: Option<PathBuf>,
    /// The npm packages of the `NodeLTS` pools' runtime.
    pub node_packages: Vec<String>,
    /// What each new Python kernel runs before it is ready (default: a trivial cell).
    pub warm_up: Vec<WarmUp>,
    /// Serve each pool's own MCP endpoint (`<pool>/mcp`, as the service does for a pool whose
    /// `mcpServerSettings.isMCPServerEnabled` is true).
    pub mcp: bool,
    /// The MCP endpoints' API key (default: a new random one each start).
    pub mcp_api_key: Option<String>,
}

impl Default for EmulatorConfig {
    fn default() -> Self {
        EmulatorConfig {
            bind: SocketAddr::from(([127, 0, 0, 1], 8484)),
            cooldown: Duration::from_secs(300),
            max_sessions: 100,
            ready_sessions: 2,
            token: None,
            allowed_hosts: Vec::new(),
            tls: false,
            sandbox: SandboxMode::Auto,
            limits: Limits::default(),
            data_dir: default_data_dir(),
            runtime_dir: None,
            python: None,
            setup_runtime: true,
            packages: DEFAULT_PACKAGES.iter().map(|p| (*p).to_owned()).collect(),
            preimport: None,
            interrupt_grace: Duration::from_secs(3),
            pools: Vec::new(),
            node: None,
            node_packages: DEFAULT_NODE_PACKAGES.iter().map(|p| (*p).to_owned()).collect(),
            warm_up: vec![WarmUp::Cell],
            mcp: false,
            mcp_api_key: None,
        }
    }
}

impl EmulatorConfig {
    /// Checks that the settings fit together; says what is wrong.
    ///
    /// # Errors
    /// What to change.
    pub fn validate(&self) -> Result<(), String> {
        if self.max_sessions == 0 {
            return Err("max_sessions must be at least 1".into());
        }
        let pools = self.all_pools();
        if self.sandbox_slots() > crate::sandbox::MAX_SANDBOXES {
            return Err(format!(
                "(max_sessions + ready_sessions) × pools must be at most {}",
                crate::sandbox::MAX_SANDBOXES
            ));
        }
        for (i, pool) in pools.iter().enumerate() {
            if pools[..i].iter().any(|other| other.name.eq_ignore_ascii_case(&pool.name)) {
                return Err(format!("the pool `{}` is named twice", pool.name));
            }
        }
        if self.cooldown.is_zero() {
            return Err("the cooldown must be at least 1 second".into());
        }
        Ok(())
    }

    /// Every pool, the default one first: its name, and its container type (`PythonLTS` unless `pools` names
    /// `default`).
    pub fn all_pools(&self) -> Vec<PoolSpec> {
        let default = self.pools.iter().find(|p| p.name.eq_ignore_ascii_case(DEFAULT_POOL));
        let mut all = vec![PoolSpec {
            name: DEFAULT_POOL.to_owned(),
            container_type: default.map_or(ContainerType::PythonLts, |p| p.container_type),
        }];
        all.extend(self.pools.iter().filter(|p| !p.name.eq_ignore_ascii_case(DEFAULT_POOL)).cloned());
        all
    }

    /// How many sessions can exist at once across every pool: each pool's `max_sessions` in use plus its
    /// `ready_sessions` waiting.
    pub fn sandbox_slots(&self) -> usize {
        (self.max_sessions + self.ready_sessions) * self.all_pools().len()
    }

    /// The runtime cache directory in effect.
    pub fn runtime_dir(&self) -> PathBuf {
        self.runtime_dir.clone().unwrap_or_else(|| self.data_dir.join("runtime"))
    }
}

/// `/var/lib/dynamic-sessions-emulator` for root, else `$XDG_STATE_HOME` (or `~/.local/state`)`/dynamic-sessions-emulator`.
pub fn default_data_dir() -> PathBuf {
    if rustix::process::geteuid().is_root() {
        return PathBuf::from("/var/lib/dynamic-sessions-emulator");
    }
    let base = std::env::var_os("XDG_STATE_HOME")
        .map(PathBuf::from)
        .or_else(|| std::env::var_os("HOME").map(|h| PathBuf::from(h).join(".local/state")))
        .unwrap_or_else(std::env::temp_dir);
    base.join("dynamic-sessions-emulator")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_warm_up_is_one_the_kernel_knows() {
        let kernel = crate::kernel::KERNEL_SOURCE;
        let table = kernel.split("_WARM_UPS = {").nth(1).and_then(|t| t.split("\n}").next()).unwrap_or_default();
        for name in WarmUp::NAMES {
            assert!(table.contains(&format!("\"{name}\":")), "kernel.py has no warm-up {name}");
            assert_eq!(name.parse::<WarmUp>().map(|w| w.to_string()).as_deref(), Ok(name));
        }
        assert_eq!(table.matches("\":").count(), WarmUp::NAMES.len(), "kernel.py has warm-ups the host cannot ask for");
    }

    #[test]
    fn pools_parse_as_name_and_type_and_the_default_pool_comes_first() {
        assert_eq!("js=nodelts".parse(), Ok(PoolSpec { name: "js".into(), container_type: ContainerType::NodeLts }));
        assert_eq!("sh = Shell".parse::<PoolSpec>().map(|p| p.container_type), Ok(ContainerType::Shell));
        for bad in ["js", "=NodeLTS", "js=Ruby", "a b=Shell", "x/y=Shell"] {
            assert!(bad.parse::<PoolSpec>().is_err(), "{bad:?}");
        }
        for name in ContainerType::NAMES {
            assert_eq!(name.parse::<ContainerType>().map(|t| t.to_string()).as_deref(), Ok(name));
        }
        let config = EmulatorConfig {
            pools: vec![
                PoolSpec { name: "js".into(), container_type: ContainerType::NodeLts },
                PoolSpec { name: "DEFAULT".into(), container_type: ContainerType::Shell },
            ],
            ..EmulatorConfig::default()
        };
        let names: Vec<(String, ContainerType)> =
            config.all_pools().into_iter().map(|p| (p.name, p.container_type)).collect();
        assert_eq!(names, [("default".into(), ContainerType::Shell), ("js".into(), ContainerType::NodeLts)]);
        let twice = EmulatorConfig { pools: vec![config.pools[0].clone(), config.pools[0].clone()], ..config };
        assert!(twice.validate().is_err_and(|e| e.contains("named twice")));
    }

    #[test]
    fn every_sandbox_name_parses_to_its_mode_and_nothing_else_does() {
        let modes: Vec<SandboxMode> = SandboxMode::NAMES.iter().filter_map(|n| n.parse().ok()).collect();
        assert_eq!(modes, [SandboxMode::Auto, SandboxMode::Namespaces, SandboxMode::Bubblewrap, SandboxMode::Landlock]);
        assert_eq!(" Landlock ".parse(), Ok(SandboxMode::Landlock));
        for mode in modes {
            assert_eq!(mode.to_string().parse(), Ok(mode), "a name is what it parses from");
        }
        for bad in ["", "none", "insecure-no-sandbox", "landlocks"] {
            let err = bad.parse::<SandboxMode>().err().map(|e| e.to_string()).unwrap_or_default();
            assert!(err.contains("use one of auto, namespaces, bubblewrap, landlock"), "{bad:?}: {err}");
        }
    }
}

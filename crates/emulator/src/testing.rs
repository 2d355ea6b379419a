//! Helpers for tests that need a real emulator (this crate's, and crates that embed it).

use std::path::{Path, PathBuf};
use std::time::Duration;

use crate::RunningEmulator;
use crate::config::{EmulatorConfig, SandboxMode};

/// The leaf of a delegated cgroup v2 that an emulator moves its own process (and the processes it started
/// before) into, so that the cgroup can hand controllers to the sessions' cgroups (see SECURITY.md).
pub const DELEGATED_CGROUP_LEAF: &str = crate::sandbox::CGROUP_SELF_LEAF;

/// How [`TestEmulator::start`] words a sandbox tier this machine cannot provide.
const UNAVAILABLE: &str = "sandbox tier unavailable";

/// The Python session kernel's source (what every session runs), for measuring the kernel's own round trip
/// without the emulator around it.
pub const PYTHON_KERNEL_SOURCE: &str = crate::kernel::KERNEL_SOURCE;

/// Where tests cache the Python runtime, shared by every test run on the machine (override with
/// `DS_EMULATOR_TEST_RUNTIME_DIR`). It lives under the temporary directory so that the unprivileged session
/// uids can read it.
pub fn shared_runtime_dir() -> PathBuf {
    std::env::var_os("DS_EMULATOR_TEST_RUNTIME_DIR")
        .map(PathBuf::from)
        .unwrap_or_else(|| std::env::temp_dir().join("dynamic-sessions-emulator-test-runtime"))
}

/// A configuration for tests: port 0 on loopback, `data_dir` for sessions, the shared runtime with the
/// default packages, one ready sandbox, a five-minute cooldown.
pub fn config(data_dir: &Path) -> EmulatorConfig {
    EmulatorConfig {
        bind: ([127, 0, 0, 1], 0).into(),
        data_dir: data_dir.to_path_buf(),
        runtime_dir: Some(shared_runtime_dir()),
        ready_sessions: 1,
        max_sessions: 20,
        cooldown: Duration::from_secs(300),
        interrupt_grace: Duration::from_secs(2),
        ..EmulatorConfig::default()
    }
}

/// What a sandboxed emulator needs that this machine lacks (a system Python), if anything. Tests skip with
/// this message on a developer machine and fail with it when `CI=true`. Bubblewrap is not needed: the
/// emulator makes its namespaces itself where the kernel allows it (see [`TestEmulator::start_tier`] for the others).
pub fn missing_tools() -> Option<String> {
    (!Path::new("/usr/bin/python3").exists())
        .then(|| "a system Python at /usr/bin/python3 (apt-get install python3)".to_owned())
}

/// Whether tests run in CI, where a missing tool is a failure, never a skip.
pub fn in_ci() -> bool {
    std::env::var("CI").is_ok_and(|v| v == "true" || v == "1")
}

/// Live processes (not zombies) running as one of `uids` (an emulator's [`Footprint::session_uids`]), as
/// `(pid, uid)`: for checking that sessions are cleaned up, and for measuring their memory.
///
/// [`Footprint::session_uids`]: crate::Footprint::session_uids
pub fn session_processes(uids: std::ops::Range<u32>) -> Vec<(u32, u32)> {
    crate::sandbox::procfs::pids()
        .filter_map(|pid| {
            let status = std::fs::read_to_string(format!("/proc/{pid}/status")).ok()?;
            let uid: u32 =
                status.lines().find_map(|l| l.strip_prefix("Uid:"))?.split_whitespace().next()?.parse().ok()?;
            let dead =
                status.lines().any(|l| l.starts_with("State:") && (l.contains("(zombie)") || l.contains("(dead)")));
            (uids.contains(&uid) && !dead).then_some((pid, uid))
        })
        .collect()
}

/// A running emulator for a test, with the temporary directory holding its sessions.
#[derive(Debug)]
pub struct TestEmulator {
    /// The emulator.
    pub emulator: RunningEmulator,
    dir: tempfile::TempDir,
}

impl TestEmulator {
    /// Starts an emulator with [`config`], adjusted by `tweak`.
    ///
    /// Returns `Ok(None)` after printing a loud notice when a required tool is missing on a developer machine
    /// (or it offers an ordinary user only the Landlock tier, which the default `Auto` refuses), and `Err`
    /// when that happens under `CI=true` (a failure there, never a skip) or when the emulator cannot start.
    ///
    /// # Errors
    /// A description of what is missing or what failed.
    pub async fn start(tweak: impl FnOnce(&mut EmulatorConfig)) -> Result<Option<TestEmulator>, String> {
        if let Some(missing) = missing_tools() {
            if in_ci() {
                return Err(format!("CI=true but the emulator cannot run: missing {missing}"));
            }
            eprintln!("\n*** SKIPPING emulator test: missing {missing} ***\n");
            return Ok(None);
        }
        let dir = tempfile::tempdir().map_err(|e| format!("cannot create a temporary directory: {e}"))?;
        let mut config = config(dir.path());
        tweak(&mut config);
        let emulator = match RunningEmulator::start(config).await {
            Ok(emulator) => emulator,
            // A developer machine that offers an ordinary user only the Landlock tier, which `Auto` refuses.
            // Or one that runs the tests as a root that is not root in full (a container without privileges).
            Err(crate::StartError::Sandbox(
                e
                @ (crate::sandbox::SandboxError::OnlyLandlockAsUser(_) | crate::sandbox::SandboxError::LimitedRoot(_)),
            )) if !in_ci() => {
                eprintln!("\n*** SKIPPING emulator test: {e} ***\n");
                return Ok(None);
            }
            Err(crate::StartError::Sandbox(crate::sandbox::SandboxError::Unavailable(why))) => {
                return Err(format!("the emulator did not start: {UNAVAILABLE}: {why}"));
            }
            Err(e) => return Err(format!("the emulator did not start: {e}")),
        };
        Ok(Some(TestEmulator { emulator, dir }))
    }

    /// Starts an emulator that must use the sandbox tier `mode`, with [`config`] adjusted by `tweak`.
    ///
    /// Returns `Ok(None)` after a loud notice when this machine cannot provide that tier (bubblewrap missing,
    /// no user namespaces, no Landlock) on a developer machine; under `CI=true` that is an error.
    ///
    /// # Errors
    /// A description of what is missing or what failed.
    pub async fn start_tier(
        mode: SandboxMode,
        tweak: impl FnOnce(&mut EmulatorConfig),
    ) -> Result<Option<TestEmulator>, String> {
        let started = TestEmulator::start(|c| {
            c.sandbox = mode;
            tweak(c);
        })
        .await;
        match started {
            Err(e) if e.contains(UNAVAILABLE) && !in_ci() => {
                eprintln!("\n*** SKIPPING the {mode:?} tier on this machine: {e} ***\n");
                Ok(None)
            }
            other => other,
        }
    }

    /// The emulator's URL (the pool management endpoint).
    pub fn url(&self) -> String {
        self.emulator.url()
    }

    /// The bearer token requests need.
    pub fn token(&self) -> &str {
        self.emulator.token()
    }

    /// Where the emulator keeps its sessions.
    pub fn data_dir(&self) -> &Path {
        self.dir.path()
    }

    /// Shuts the emulator down and removes every session.
    pub async fn stop(self) {
        self.emulator.shutdown().await;
    }
}

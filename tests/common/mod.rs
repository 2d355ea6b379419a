//! Starts real emulators for the cross-crate tests.
#![allow(dead_code, clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use dynamic_sessions::{ApiVersion, Auth, RetryPolicy, SessionId, SessionPoolClient};
use dynamic_sessions_emulator::config::EmulatorConfig;
use dynamic_sessions_emulator::{RunningEmulator, testing};

/// A running emulator and the directory it keeps its sessions in.
pub struct Harness {
    pub emulator: RunningEmulator,
    _dir: tempfile::TempDir,
}

impl Harness {
    /// A client of the current family (`2025-10-02-preview`).
    pub fn client(&self) -> SessionPoolClient {
        self.client_for(ApiVersion::V2025_10_02_PREVIEW)
    }

    /// A client of the given api-version, without retries (tests want to see every answer).
    pub fn client_for(&self, version: &str) -> SessionPoolClient {
        SessionPoolClient::builder(self.emulator.url())
            .api_version(ApiVersion::new(version).unwrap())
            .auth(Auth::none())
            .retry_policy(RetryPolicy::none())
            .build()
            .unwrap()
    }

    /// Where this emulator keeps its sessions.
    pub fn data_dir(&self) -> &std::path::Path {
        self._dir.path()
    }

    pub async fn stop(self) {
        self.emulator.shutdown().await;
    }
}

/// Starts an emulator with the test configuration, adjusted by `tweak`. Returns `None` (after saying so
/// loudly) when bubblewrap or a system Python is missing on a developer machine; under `CI=true` that is a
/// failure instead.
pub async fn start(tweak: impl FnOnce(&mut EmulatorConfig)) -> Option<Harness> {
    if let Some(missing) = testing::missing_tools() {
        if testing::in_ci() {
            panic!("CI=true but the emulator tests cannot run: missing {missing}");
        }
        eprintln!("\n*** SKIPPING emulator test: missing {missing} ***\n");
        return None;
    }
    let dir = tempfile::tempdir().unwrap();
    let mut config = testing::config(dir.path());
    tweak(&mut config);
    let emulator = RunningEmulator::start(config).await.expect("emulator starts");
    Some(Harness { emulator, _dir: dir })
}

pub fn new_id() -> SessionId {
    SessionId::random()
}

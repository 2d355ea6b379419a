//! What the emulator's tests share: real emulators with clients for them (this module), and the emulator
//! binary run as a process ([`binary`]).
#![allow(dead_code, clippy::unwrap_used, clippy::expect_used, clippy::panic)]

pub mod binary;

use dynamic_sessions::{ApiVersion, Auth, RetryPolicy, SessionId, SessionPoolClient};
use dynamic_sessions_emulator::config::EmulatorConfig;
use dynamic_sessions_emulator::testing::TestEmulator;

/// A running emulator, with clients for it.
pub struct Harness {
    pub emulator: TestEmulator,
}

impl Harness {
    /// A client of the current family (`2025-10-02-preview`).
    pub fn client(&self) -> SessionPoolClient {
        self.client_for(ApiVersion::V2025_10_02_PREVIEW)
    }

    /// A client of the given api-version, without retries (tests want to see every answer).
    pub fn client_for(&self, version: &str) -> SessionPoolClient {
        self.endpoint_client(self.emulator.url(), version)
    }

    /// The management endpoint of the pool `name`, as Azure shapes it.
    pub fn pool_url(&self, name: &str) -> String {
        format!("{}/subscriptions/sub/resourceGroups/rg/sessionPools/{name}", self.emulator.url())
    }

    /// A client of the pool `name` at the given api-version.
    pub fn pool_client(&self, name: &str, version: &str) -> SessionPoolClient {
        self.endpoint_client(self.pool_url(name), version)
    }

    fn endpoint_client(&self, endpoint: String, version: &str) -> SessionPoolClient {
        let mut builder = SessionPoolClient::builder(endpoint)
            .api_version(ApiVersion::new(version).unwrap())
            .auth(Auth::bearer(self.emulator.token()))
            .retry_policy(RetryPolicy::none());
        if let Some(ca) = self.emulator.emulator.ca_certificate() {
            builder = builder.ca_certificate_pem(&std::fs::read(ca).unwrap()).unwrap();
        }
        builder.build().unwrap()
    }

    /// Where this emulator keeps its sessions.
    pub fn data_dir(&self) -> &std::path::Path {
        self.emulator.data_dir()
    }

    pub async fn stop(self) {
        self.emulator.stop().await;
    }
}

/// Starts an emulator with the test configuration, adjusted by `tweak`; `None` when the tools are missing
/// on a developer machine (said loudly), a failure under `CI=true`.
pub async fn start(tweak: impl FnOnce(&mut EmulatorConfig)) -> Option<Harness> {
    TestEmulator::start(tweak).await.unwrap_or_else(|e| panic!("{e}")).map(|emulator| Harness { emulator })
}

/// Starts an emulator that must use the sandbox tier `mode`; `None` (said loudly) when this machine cannot
/// provide it on a developer machine, a failure under `CI=true`.
pub async fn start_tier(
    mode: dynamic_sessions_emulator::config::SandboxMode,
    tweak: impl FnOnce(&mut EmulatorConfig),
) -> Option<Harness> {
    TestEmulator::start_tier(mode, tweak).await.unwrap_or_else(|e| panic!("{e}")).map(|emulator| Harness { emulator })
}

pub fn new_id() -> SessionId {
    SessionId::random()
}

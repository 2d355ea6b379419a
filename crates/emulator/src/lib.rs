//! A local emulator of Azure Container Apps dynamic sessions.
//!
//! It serves the session-pool REST API of both families (`2024-02-02-preview` and `2024-10-02-preview` and
//! later) on one machine. Each session is a stateful Python kernel in its own sandbox: with bubblewrap, its
//! own namespaces (no network, read-only root, the session directory at `/mnt/data`, private `/tmp`), its own
//! unprivileged host uid, an empty environment, cgroup limits, rlimits and a seccomp denylist. Any client that
//! works against a real pool works against it by changing the endpoint URL.
//!
//! ```no_run
//! use dynamic_sessions_emulator::config::EmulatorConfig;
//!
//! # async fn run() -> Result<(), Box<dyn std::error::Error>> {
//! let listener = tokio::net::TcpListener::bind("127.0.0.1:8484").await?;
//! let shutdown = async { let _ = tokio::signal::ctrl_c().await; };
//! dynamic_sessions_emulator::run(listener, EmulatorConfig::default(), shutdown).await?;
//! # Ok(()) }
//! ```
//!
//! The namespace sandbox shares the host kernel: it is meant for local development, tests and CI, not for
//! hostile multi-tenant production, where Azure's Hyper-V-isolated session pools are the place to go.

#![warn(missing_docs)]

mod api;
pub mod config;
mod emulator;
mod error;
mod kernel;
pub mod mcp;
mod pool;
mod runtime;
mod safefs;
mod sandbox;
mod server;
#[cfg(feature = "testing")]
pub mod testing;
mod tls;

pub use api::{AppState, router};
pub use emulator::{Emulator, Footprint, Runtimes, StartError, prepare_runtime, run};
pub use error::ApiError;
pub use kernel::KernelError;
pub use runtime::{NodeRuntime, Package, Runtime, RuntimeError};
pub use sandbox::{LimitInForce, SandboxError, SandboxInfo, Tier};
pub use server::RunningEmulator;
pub use tls::TlsFiles;

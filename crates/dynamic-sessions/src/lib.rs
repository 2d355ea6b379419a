//! A typed async client for the data plane of [Azure Container Apps dynamic sessions] (session pools):
//! run code in isolated, stateful sessions, manage their files, and manage the sessions themselves.
//!
//! It works the same against an Azure pool and against the project's local emulator.
//!
//! # Quickstart
//!
//! ```no_run
//! use dynamic_sessions::{Auth, SessionId, SessionPoolClient};
//!
//! # async fn run() -> Result<(), dynamic_sessions::Error> {
//! // The local emulator (no auth); for Azure use SessionPoolClient::from_env() or Auth::credential(..).
//! let client = SessionPoolClient::new("http://127.0.0.1:8484", Auth::none())?;
//! let session = client.session(SessionId::random());
//!
//! session.files().upload("numbers.csv", "n\n1\n2\n3\n").await?;
//! let run = session.execute("import pandas as pd\npd.read_csv('/mnt/data/numbers.csv').n.sum()").await?;
//! if run.is_success() {
//!     println!("sum = {:?}", run.result);
//! } else {
//!     eprintln!("Python raised:\n{}", run.stderr);
//! }
//! for file in session.files().list().await? {
//!     println!("{} ({:?} bytes)", file.path(), file.size);
//! }
//! let csv = session.files().download("numbers.csv").await?.bytes().await?;
//! assert_eq!(&csv[..], b"n\n1\n2\n3\n");
//! session.delete().await?;
//! # Ok(()) }
//! ```
//!
//! # What it does for you
//!
//! * **Both API families** behind one surface: the current family (`2025-10-02-preview`, the default; also
//!   `2024-10-02-preview`, `2025-02-02-preview`) and the legacy family (`2024-02-02-preview`) that most
//!   deployed pools and clients still use. Pick one with [`ClientBuilder::api_version`].
//! * **Auth**: any `azure_core` [`TokenCredential`](azure_core::credentials::TokenCredential), with a token
//!   cache that refreshes ahead of expiry and makes a single refresh when many requests race;
//!   [`credential_from_env`] picks managed identity, workload identity, a service principal or `az login`.
//!   Tokens never appear in `Debug` output, logs or errors.
//! * **Every pool type**: `PythonLTS` and `NodeLTS` pools run code with [`Session::execute`], `Shell` pools
//!   (and the others) shell commands with [`Session::shell`] and [`Session::exec`]; [`PoolMetadata::kind`]
//!   says which a pool is.
//! * **Honest results**: an exception is `Ok` with [`ExecutionStatus::Failed`] and the traceback or stack;
//!   results keep their JSON type; images come back as [`Image`]s.
//! * **Errors that say what to do**: [`Error`] distinguishes bad input (never sent), 401, 403 (with the role
//!   to assign), a full pool, 404, 413, 429 with `Retry-After`, service errors with their code and request id.
//! * **Safe retries**: idempotent calls retry 408/429/5xx and connection failures with capped, jittered
//!   backoff honouring `Retry-After`; code execution is repeated only when the request provably never
//!   reached the service.
//! * **Streaming files**: uploads from disk or any `AsyncRead` and downloads to disk or any `AsyncWrite`
//!   keep memory flat whatever the size; the 128 MiB upload limit is checked before sending.
//! * **Tracing**: a `dynamic_sessions.request` span per call with the operation, session id, status, attempt
//!   count and duration; never bodies or tokens.
//!
//! # Environment
//!
//! [`SessionPoolClient::from_env`] reads `POOL_MANAGEMENT_ENDPOINT`, `DYNAMIC_SESSIONS_API_VERSION`,
//! `DYNAMIC_SESSIONS_TOKEN` and the `AZURE_*` variables listed in [`mod@env`].
//!
//! [Azure Container Apps dynamic sessions]: https://learn.microsoft.com/azure/container-apps/sessions

#![warn(missing_docs)]

mod api_version;
pub mod auth;
mod builder;
mod client;
pub mod env;
mod error;
pub mod execution;
pub mod files;
mod management;
mod paging;
mod pool;
pub mod pool_mcp;
mod raw;
mod remote_path;
mod retry;
mod session;
mod session_id;
mod transport;
mod wire;

pub use api_version::{ApiFamily, ApiVersion};
pub use auth::{Auth, CredentialKind, SelectedCredential, credential_from_env};
pub use builder::{
    ClientBuilder, DEFAULT_CONNECT_TIMEOUT, DEFAULT_EXECUTION_GRACE, DEFAULT_EXECUTION_TIMEOUT, DEFAULT_IDLE_TIMEOUT,
    DEFAULT_REQUEST_TIMEOUT,
};
pub use client::SessionPoolClient;
pub use error::{Error, Result, ServiceError};
pub use execution::{
    DEFAULT_OUTPUT_STREAMS_MAX_LENGTH, ExecuteBuilder, Execution, ExecutionError, ExecutionStatus, Image, JupyterFlag,
    MAX_EXECUTION_TIMEOUT, MAX_SHELL_TIMEOUT, ShellBuilder, ShellExecution,
};
pub use files::{Download, FileKind, Files, ListFiles, MAX_UPLOAD_BYTES, RemoteFile};
pub use management::Management;
pub use pool::{NameVersion, PoolKind, PoolMetadata, SessionInfo};
pub use raw::RawRequest;
pub use remote_path::{IntoRemotePath, MOUNT_POINT, RemotePath};
pub use retry::RetryPolicy;
pub use session::Session;
pub use session_id::{MIN_DERIVE_SECRET_LEN, SessionId};

/// Re-exported so callers need not depend on `azure_core` directly for the credential trait and token types.
pub use azure_core;
/// Re-exported for [`RawRequest`] and [`ClientBuilder::http_client`].
pub use reqwest;

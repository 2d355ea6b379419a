//! [`SessionPoolClient`]: the entry point.

use std::fmt;
use std::sync::Arc;

use reqwest::Method;

use crate::api_version::ApiVersion;
use crate::auth::Auth;
use crate::builder::{self, ClientBuilder};
use crate::error::Error;
use crate::management::Management;
use crate::pool::{self, PoolMetadata, SessionInfo};
use crate::raw::RawRequest;
use crate::session::Session;
use crate::session_id::SessionId;
use crate::transport::Transport;

/// A client for one session pool's data plane.
///
/// Cheap to clone: clones share one connection pool and one token cache. Build it once and keep it (for
/// example in your web framework's state).
///
/// ```no_run
/// # async fn run() -> Result<(), dynamic_sessions::Error> {
/// use dynamic_sessions::{Auth, SessionId, SessionPoolClient};
///
/// let client = SessionPoolClient::new("http://127.0.0.1:8484", Auth::none())?;
/// let session = client.session(SessionId::random());
/// let run = session.execute("6 * 7").await?;
/// assert_eq!(run.result, Some(serde_json::json!(42)));
/// # Ok(()) }
/// ```
#[derive(Clone)]
pub struct SessionPoolClient {
    pub(crate) transport: Arc<Transport>,
}

impl SessionPoolClient {
    /// A client with default options.
    ///
    /// # Errors
    /// [`Error::Config`] when the endpoint is not a URL, or uses http for a host other than loopback.
    pub fn new(endpoint: impl Into<String>, auth: Auth) -> Result<Self, Error> {
        Self::builder(endpoint).auth(auth).build()
    }

    /// A builder for api-version, timeouts, user agent, retry policy and a custom `reqwest::Client`.
    pub fn builder(endpoint: impl Into<String>) -> ClientBuilder {
        ClientBuilder::new(endpoint)
    }

    /// A client configured from the environment:
    ///
    /// * `POOL_MANAGEMENT_ENDPOINT` (required): the pool's management endpoint, or an emulator URL;
    /// * `DYNAMIC_SESSIONS_API_VERSION` (optional): e.g. `2024-02-02-preview` for legacy pools;
    /// * `DYNAMIC_SESSIONS_TOKEN` (optional): a static bearer token (an emulator started with a token);
    /// * otherwise a loopback endpoint uses no auth, and any other endpoint the Entra ID credential chosen by
    ///   [`credential_from_env`](crate::credential_from_env) from the `AZURE_*` variables.
    ///
    /// # Errors
    /// [`Error::MissingEnv`] naming the missing variable, [`Error::Config`] for an invalid value.
    pub fn from_env() -> Result<Self, Error> {
        Self::builder_from_env()?.build()
    }

    /// Like [`SessionPoolClient::from_env`], but returns the builder so options can be added.
    ///
    /// # Errors
    /// As [`SessionPoolClient::from_env`].
    pub fn builder_from_env() -> Result<ClientBuilder, Error> {
        builder::from_env(&crate::env::lookup)
    }

    pub(crate) fn from_transport(transport: Transport) -> Self {
        SessionPoolClient { transport: Arc::new(transport) }
    }

    /// A handle on one session. Nothing is sent: the service creates the session on the first request.
    pub fn session(&self, id: SessionId) -> Session {
        Session::new(self.clone(), id)
    }

    /// The configured api-version.
    pub fn api_version(&self) -> &ApiVersion {
        &self.transport.api_version
    }

    /// The pool management endpoint.
    pub fn endpoint(&self) -> &url::Url {
        &self.transport.endpoint
    }

    /// All sessions currently allocated in the pool (`GET listSessions`, following `nextLink`).
    ///
    /// # Errors
    /// Service and transport errors; [`Error::Decode`] for an unreadable answer.
    pub async fn list_sessions(&self) -> Result<Vec<SessionInfo>, Error> {
        pool::list_sessions(&self.transport).await
    }

    /// The pool's runtime, kernel and preinstalled packages (`GET metadata`).
    ///
    /// # Errors
    /// Service and transport errors; [`Error::Decode`] for an unreadable answer.
    pub async fn metadata(&self) -> Result<PoolMetadata, Error> {
        pool::metadata(&self.transport).await
    }

    /// The `.management` calls: `stopSession`, and `getSession` / `listSessions` of custom-container pools.
    pub fn management(&self) -> Management {
        Management::new(self.clone())
    }

    /// An authenticated request to any path under the endpoint, for custom-container pools whose routes the
    /// client does not model. `api-version` is added unless [`RawRequest::without_api_version`] is called.
    pub fn request(&self, method: Method, path: &str) -> RawRequest {
        RawRequest::new(self.transport.clone(), method, path, None)
    }
}

impl fmt::Debug for SessionPoolClient {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("SessionPoolClient")
            .field("endpoint", &self.transport.endpoint.as_str())
            .field("api_version", &self.transport.api_version)
            .field("auth", &self.transport.auth)
            .finish_non_exhaustive()
    }
}

//! [`Session`]: a handle on one session identifier.

use reqwest::{Method, StatusCode};

use crate::client::SessionPoolClient;
use crate::error::Error;
use crate::execution::ExecuteBuilder;
use crate::files::Files;
use crate::pool::{self, SessionInfo};
use crate::raw::RawRequest;
use crate::session_id::SessionId;

/// One session of a pool, addressed by its identifier. Owns a client clone, so it can move into tasks.
#[derive(Debug, Clone)]
pub struct Session {
    pub(crate) client: SessionPoolClient,
    pub(crate) id: SessionId,
}

impl Session {
    pub(crate) fn new(client: SessionPoolClient, id: SessionId) -> Self {
        Session { client, id }
    }

    /// The session identifier.
    pub fn id(&self) -> &SessionId {
        &self.id
    }

    /// The client this session belongs to.
    pub fn client(&self) -> &SessionPoolClient {
        &self.client
    }

    /// Runs Python code. Await the builder directly, or set options first:
    ///
    /// ```no_run
    /// # async fn run(session: dynamic_sessions::Session) -> Result<(), dynamic_sessions::Error> {
    /// use std::time::Duration;
    /// let run = session.execute("import time; time.sleep(1); 'done'")
    ///     .timeout(Duration::from_secs(30))
    ///     .send()
    ///     .await?;
    /// if !run.is_success() {
    ///     eprintln!("Python failed:\n{}", run.stderr);
    /// }
    /// # Ok(()) }
    /// ```
    pub fn execute(&self, code: impl Into<String>) -> ExecuteBuilder {
        ExecuteBuilder::new(self.clone(), code.into())
    }

    /// The session's files in `/mnt/data`.
    pub fn files(&self) -> Files {
        Files::new(self.clone())
    }

    /// The session's creation, last access and expiry times (`GET session`, 2025-02-02-preview and later;
    /// legacy clients use `2025-10-02-preview` for this call).
    ///
    /// # Errors
    /// [`Error::NotFound`] when the service does not know the session; service and transport errors.
    pub async fn info(&self) -> Result<SessionInfo, Error> {
        pool::session_info(&self.client.transport, &self.id).await
    }

    /// Deletes the session and frees its slot in the pool (`DELETE session`). Deleting a session that is
    /// already gone succeeds.
    ///
    /// # Errors
    /// Service and transport errors other than 404.
    pub async fn delete(&self) -> Result<(), Error> {
        match pool::delete_session(&self.client.transport, &self.id).await {
            Err(e) if e.status() == Some(StatusCode::NOT_FOUND) => Ok(()),
            other => other,
        }
    }

    /// An authenticated request with this session's `identifier`, for custom-container pools.
    pub fn request(&self, method: Method, path: &str) -> RawRequest {
        RawRequest::new(self.client.transport.clone(), method, path, Some(self.id.clone()))
    }
}

//! [`Session`]: a handle on one session identifier.

use reqwest::Method;

use crate::api_version::ApiFamily;
use crate::client::SessionPoolClient;
use crate::error::Error;
use crate::execution::{ExecuteBuilder, Execution, ShellBuilder};
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

    /// Runs code in the pool's language: Python in a `PythonLTS` pool, JavaScript in a `NodeLTS` pool (see
    /// [`PoolMetadata::kind`](crate::PoolMetadata::kind); a `Shell` pool runs [`Session::shell`] commands
    /// only). Await the builder directly, or set options first:
    ///
    /// ```no_run
    /// # async fn run(session: dynamic_sessions::Session) -> Result<(), dynamic_sessions::Error> {
    /// use std::time::Duration;
    /// let run = session.execute("import time; time.sleep(1); 'done'")
    ///     .timeout(Duration::from_secs(30))
    ///     .send()
    ///     .await?;
    /// if !run.is_success() {
    ///     eprintln!("the code failed:\n{}", run.stderr);
    /// }
    /// # Ok(()) }
    /// ```
    pub fn execute(&self, code: impl Into<String>) -> ExecuteBuilder {
        ExecuteBuilder::new(self.clone(), code.into())
    }

    /// Runs a Bash command line in the session (`shellCommand`; Shell pools and the emulator). Set `stdin`,
    /// a timeout or the output limit on the returned builder, then await it.
    pub fn shell(&self, command: impl Into<String>) -> ShellBuilder {
        ShellBuilder::line(self.clone(), command.into())
    }

    /// Runs a program with arguments, without a shell (`execCommandAndArgs`, 2025-10-02-preview).
    pub fn exec<I, S>(&self, argv: I) -> ShellBuilder
    where
        I: IntoIterator<Item = S>,
        S: Into<String>,
    {
        ShellBuilder::exec(self.clone(), argv.into_iter().map(Into::into).collect())
    }

    /// The state of an execution of this session (`GET executions/{id}`, current family).
    ///
    /// # Errors
    /// [`Error::NotFound`] for an unknown id; [`Error::InvalidInput`] on a legacy api-version; service and
    /// transport errors.
    pub async fn execution(&self, execution_id: &str) -> Result<Execution, Error> {
        let t = &self.client.transport;
        if t.api_version.family() == ApiFamily::Legacy {
            return Err(Error::invalid(format!(
                "looking up an execution needs api-version {} or later; this client uses {}",
                crate::ApiVersion::V2024_10_02_PREVIEW,
                t.api_version
            )));
        }
        let answer = crate::execution::get_execution(t, self, execution_id).await?;
        let mut execution = crate::execution::checked(&answer)?;
        execution.id.get_or_insert_with(|| execution_id.to_owned());
        Ok(execution)
    }

    /// Stops the session (`POST .management/stopSession`) and frees its slot; a session that is already gone
    /// is not an error. Code-interpreter pools also take [`Session::delete`].
    ///
    /// # Errors
    /// Service and transport errors.
    pub async fn stop(&self) -> Result<(), Error> {
        self.client.management().stop_session(&self.id).await
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
    /// already gone (404, or the 400 `SessionWithIdentifierNotFound` an expired session can get) succeeds.
    ///
    /// # Errors
    /// Service and transport errors other than "not found".
    pub async fn delete(&self) -> Result<(), Error> {
        match pool::delete_session(&self.client.transport, &self.id).await {
            Err(Error::NotFound(_)) => Ok(()),
            other => other,
        }
    }

    /// An authenticated request with this session's `identifier`, for custom-container pools.
    pub fn request(&self, method: Method, path: &str) -> RawRequest {
        RawRequest::new(self.client.transport.clone(), method, path, Some(self.id.clone()))
    }
}

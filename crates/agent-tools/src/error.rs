//! Tool failures, worded for the model.

/// Why a tool call failed. `Display` is the text the model sees: it says what to do, and never contains
/// credentials.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum ToolError {
    /// The arguments were unusable; the model can fix them and call again.
    #[error("{0}")]
    InvalidArguments(String),
    /// The file or directory does not exist.
    #[error("{0}")]
    NotFound(String),
    /// The session service failed.
    #[error("the code-execution service failed: {message}")]
    Session {
        /// A model-safe description.
        message: String,
        /// The client error.
        #[source]
        source: Box<dynamic_sessions::Error>,
    },
}

impl ToolError {
    /// Whether calling again later may succeed (throttling, timeouts, a full pool, transient service errors).
    pub fn is_retryable(&self) -> bool {
        matches!(self, ToolError::Session { source, .. } if source.is_retryable())
    }
}

impl From<dynamic_sessions::Error> for ToolError {
    fn from(e: dynamic_sessions::Error) -> Self {
        use dynamic_sessions::Error as E;
        match e {
            E::InvalidInput { message } => ToolError::InvalidArguments(message),
            E::NotFound(ref s) => ToolError::NotFound(
                s.message.clone().unwrap_or_else(|| "the file or directory does not exist in /mnt/data".into()),
            ),
            other => {
                let message = match &other {
                    E::PoolFull(_) => {
                        "no session is available right now (the pool is full); try again shortly".to_owned()
                    }
                    E::Throttled { .. } => "the service is throttling requests; try again shortly".to_owned(),
                    E::Timeout { .. } => {
                        "the request timed out; the code may have run; check before re-running".to_owned()
                    }
                    E::Unauthorized(_) | E::Forbidden(_) | E::Credential { .. } => {
                        "the application is not authorised to use the session pool (an operator must fix this)"
                            .to_owned()
                    }
                    e => e.to_string(),
                };
                ToolError::Session { message, source: Box::new(other) }
            }
        }
    }
}

//! The app's error answers: JSON `{"error": "..."}` with a status, worded for the person using the page.

use axum::Json;
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use serde_json::json;

/// An error answer.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AppError {
    /// The status.
    pub status: StatusCode,
    /// What happened and what to do.
    pub message: String,
}

impl AppError {
    /// Any status.
    pub fn new(status: StatusCode, message: impl Into<String>) -> Self {
        AppError { status, message: message.into() }
    }
    /// 400.
    pub fn bad_request(message: impl Into<String>) -> Self {
        Self::new(StatusCode::BAD_REQUEST, message)
    }
    /// 401.
    pub fn unauthorized(message: impl Into<String>) -> Self {
        Self::new(StatusCode::UNAUTHORIZED, message)
    }
    /// 403.
    pub fn forbidden(message: impl Into<String>) -> Self {
        Self::new(StatusCode::FORBIDDEN, message)
    }
    /// From a session-pool error: the status it implies and a message without internals.
    pub fn session(error: dynamic_sessions::Error) -> Self {
        use dynamic_sessions::Error as E;
        let (status, message) = match &error {
            E::InvalidInput { message } => (StatusCode::BAD_REQUEST, message.clone()),
            E::NotFound(_) => (StatusCode::NOT_FOUND, "That file does not exist (any more).".to_owned()),
            E::PayloadTooLarge { message, .. } => (StatusCode::PAYLOAD_TOO_LARGE, message.clone()),
            E::PoolFull(_) | E::Throttled { .. } => {
                (StatusCode::SERVICE_UNAVAILABLE, "All sessions are busy right now; try again in a minute.".to_owned())
            }
            _ => {
                tracing::error!(error = %error, "session pool call failed");
                (StatusCode::BAD_GATEWAY, "The code-execution service failed; try again.".to_owned())
            }
        };
        Self::new(status, message)
    }
}

impl From<crate::store::StoreError> for AppError {
    /// Database trouble is the service's, not the person's: 503 while it cannot be reached, 500 otherwise.
    fn from(error: crate::store::StoreError) -> Self {
        use crate::store::StoreError as E;
        tracing::error!(error = %error, "conversation store");
        match error {
            E::NotReady(_) | E::Database(_) => Self::new(
                StatusCode::SERVICE_UNAVAILABLE,
                "Your conversations cannot be reached right now (the database does not answer). Nothing was lost; \
                 try again in a moment.",
            ),
            E::Config(_) | E::Corrupt(_) => {
                Self::new(StatusCode::INTERNAL_SERVER_ERROR, "The conversation store failed. The app's log says why.")
            }
        }
    }
}

impl IntoResponse for AppError {
    fn into_response(self) -> Response {
        (self.status, Json(json!({"error": self.message}))).into_response()
    }
}

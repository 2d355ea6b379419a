//! The crate's error type, organised by what the caller can do about a failure.

use std::fmt;
use std::time::Duration;

use reqwest::StatusCode;

/// How many bytes of an error response body are kept in [`ServiceError::raw_body`].
pub(crate) const RAW_BODY_LIMIT: usize = 4096;

/// A `Result` whose error is this crate's [`Error`].
pub type Result<T, E = Error> = std::result::Result<T, E>;

/// Everything that can go wrong when talking to a session pool.
///
/// Variants are grouped by what the caller can do: fix the input ([`Error::InvalidInput`], never sent),
/// fix the identity or its roles ([`Error::Unauthorized`], [`Error::Forbidden`], [`Error::Credential`]),
/// wait ([`Error::Throttled`], [`Error::PoolFull`]), or inspect a service answer ([`Error::Service`]).
/// [`Error::is_retryable`] says whether repeating the same call could succeed.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum Error {
    /// The input was rejected before anything was sent to the service.
    #[error("invalid input: {message}")]
    InvalidInput {
        /// What is wrong and how to fix it.
        message: String,
    },

    /// The client could not be configured (endpoint, environment, credential selection).
    #[error("configuration error: {message}")]
    Config {
        /// What is wrong and how to fix it.
        message: String,
    },

    /// A required environment variable is not set.
    #[error("environment variable {name} is not set: {hint}")]
    MissingEnv {
        /// The variable's name.
        name: &'static str,
        /// What the variable is for.
        hint: &'static str,
    },

    /// The credential could not produce an access token.
    #[error(
        "could not get an access token for scope {scope}: sign in (az login / azd auth login) or check the managed identity"
    )]
    Credential {
        /// The token scope that was requested.
        scope: String,
        /// The credential's error.
        #[source]
        source: azure_core::Error,
    },

    /// HTTP 401: the token was missing, expired or issued for another audience.
    #[error(
        "unauthorized (401): the token was rejected; check that it is issued for https://dynamicsessions.io{}",
        suffix(.0)
    )]
    Unauthorized(Box<ServiceError>),

    /// HTTP 403: the identity lacks the pool role.
    #[error(
        "forbidden (403): the caller needs the \"Azure ContainerApps Session Executor\" role on the session pool \
         (new role assignments take a few minutes to apply){}",
        suffix(.0)
    )]
    Forbidden(Box<ServiceError>),

    /// HTTP 404 for a request that would allocate a new session, saying that the pool is at its maximum number
    /// of sessions. (A plain 404 is [`Error::NotFound`]: most often a wrong endpoint or pool name.)
    #[error(
        "the session pool is full (404 on a new session identifier): wait for idle sessions to expire, delete unused sessions, or raise maxConcurrentSessions{}",
        suffix(.0)
    )]
    PoolFull(Box<ServiceError>),

    /// HTTP 404 (or an error code naming a missing resource): the file, execution or session does not exist,
    /// or the endpoint, pool name or api-version does not name anything the service knows.
    #[error(
        "not found ({}){}{}",
        .0.status.as_u16(),
        suffix(.0),
        if .0.code.is_none() && .0.message.is_none() { ": check the pool management endpoint and the api-version" } else { "" }
    )]
    NotFound(Box<ServiceError>),

    /// The payload is larger than the service accepts (checked before sending, or HTTP 413).
    #[error("payload too large: {message}")]
    PayloadTooLarge {
        /// Size and limit, in words.
        message: String,
        /// The service's answer, when the service rejected it (413).
        service: Option<Box<ServiceError>>,
    },

    /// HTTP 429: too many requests.
    #[error("throttled (429){}{}", retry_after_text(.retry_after), suffix(.error))]
    Throttled {
        /// How long the service asked to wait, from `Retry-After`.
        retry_after: Option<Duration>,
        /// The service's answer.
        error: Box<ServiceError>,
    },

    /// Any other non-success answer from the service.
    #[error("service error ({}){}", .0.status, suffix(.0))]
    Service(Box<ServiceError>),

    /// The call did not finish in time. `may_have_run` is true when the request reached the service,
    /// so an execution may have run (or still be running).
    #[error("{operation} timed out after {after:?}{}", if *.may_have_run { " (the request was sent; the code may have run)" } else { "" })]
    Timeout {
        /// The operation that timed out.
        operation: &'static str,
        /// The time limit that was exceeded.
        after: Duration,
        /// Whether the request may have reached the service.
        may_have_run: bool,
    },

    /// The connection failed. `sent` is false when the request provably never reached the service.
    #[error("transport error during {operation}{}", if *.sent { "" } else { " (the request was not sent)" })]
    Transport {
        /// The operation.
        operation: &'static str,
        /// Whether the request may have reached the service.
        sent: bool,
        /// The underlying HTTP error.
        #[source]
        source: reqwest::Error,
    },

    /// The service answered with a body this client could not understand.
    #[error("could not decode the {operation} response: {message}; body starts with: {body_snippet}")]
    Decode {
        /// The operation.
        operation: &'static str,
        /// What could not be decoded.
        message: String,
        /// The start of the body.
        body_snippet: String,
    },

    /// A local file could not be read or written.
    #[error("local I/O error on {path}")]
    Io {
        /// The local path (or a description of the stream).
        path: String,
        /// The I/O error.
        #[source]
        source: std::io::Error,
    },
}

fn suffix(e: &ServiceError) -> String {
    let mut out = String::new();
    if let Some(code) = &e.code {
        out.push_str(&format!(" [{code}]"));
    }
    if let Some(message) = &e.message {
        out.push_str(&format!(": {message}"));
    }
    if let Some(id) = &e.request_id {
        out.push_str(&format!(" (request id {id})"));
    }
    out
}

fn retry_after_text(d: &Option<Duration>) -> String {
    match d {
        Some(d) => format!(": retry after {}s", d.as_secs_f64()),
        None => String::new(),
    }
}

impl Error {
    /// The HTTP status of the service's answer, when there was one.
    pub fn status(&self) -> Option<StatusCode> {
        match self {
            Error::Transport { source, .. } => source.status(),
            other => other.service_error().map(|e| e.status),
        }
    }

    /// The service's answer, when the service answered with an error status.
    pub fn service_error(&self) -> Option<&ServiceError> {
        match self {
            Error::Unauthorized(e)
            | Error::Forbidden(e)
            | Error::PoolFull(e)
            | Error::NotFound(e)
            | Error::Service(e)
            | Error::Throttled { error: e, .. } => Some(e.as_ref()),
            Error::PayloadTooLarge { service, .. } => service.as_deref(),
            _ => None,
        }
    }

    /// Whether repeating the same *idempotent* call later could succeed: throttling, timeouts, connection
    /// failures, a full pool, and 408/500/502/503/504. Code execution is only safe to repeat when
    /// [`Error::was_sent`] is false.
    pub fn is_retryable(&self) -> bool {
        match self {
            Error::Throttled { .. } | Error::Timeout { .. } | Error::Transport { .. } | Error::PoolFull(_) => true,
            Error::Service(e) => is_retryable_status(e.status),
            _ => false,
        }
    }

    /// Whether the request may have reached the service. False for input errors, credential errors and
    /// connection failures before any byte was sent.
    pub fn was_sent(&self) -> bool {
        match self {
            Error::InvalidInput { .. }
            | Error::Config { .. }
            | Error::MissingEnv { .. }
            | Error::Credential { .. }
            | Error::Io { .. } => false,
            Error::PayloadTooLarge { service, .. } => service.is_some(),
            Error::Transport { sent, .. } => *sent,
            Error::Timeout { may_have_run, .. } => *may_have_run,
            _ => true,
        }
    }

    /// How long the service asked the caller to wait, from a `Retry-After` header.
    pub fn retry_after(&self) -> Option<Duration> {
        match self {
            Error::Throttled { retry_after, .. } => *retry_after,
            Error::Service(e) => e.retry_after,
            _ => None,
        }
    }

    pub(crate) fn invalid(message: impl Into<String>) -> Self {
        Error::InvalidInput { message: message.into() }
    }

    pub(crate) fn config(message: impl Into<String>) -> Self {
        Error::Config { message: message.into() }
    }
}

/// Statuses worth retrying for idempotent operations.
pub(crate) fn is_retryable_status(status: StatusCode) -> bool {
    matches!(status.as_u16(), 408 | 429 | 500 | 502 | 503 | 504)
}

/// A non-success answer from the service, as data.
#[derive(Clone, PartialEq, Eq)]
#[non_exhaustive]
pub struct ServiceError {
    /// The HTTP status.
    pub status: StatusCode,
    /// The `x-ms-error-code` header, or `error.code` from the body.
    pub code: Option<String>,
    /// `error.message` from the body (or a bare JSON string body).
    pub message: Option<String>,
    /// The request id (`x-ms-request-id`, `apim-request-id`, or the body's `traceId`), for support cases.
    pub request_id: Option<String>,
    /// `Retry-After`, when present.
    pub retry_after: Option<Duration>,
    /// The start of the raw body (at most 4 KiB), kept even when it is not JSON.
    pub raw_body: String,
}

impl ServiceError {
    /// Builds a service error from a status, headers and (a prefix of) the body.
    pub(crate) fn from_parts(status: StatusCode, headers: &reqwest::header::HeaderMap, body: &[u8]) -> Self {
        let header = |name: &str| {
            headers.get(name).and_then(|v| v.to_str().ok()).map(str::trim).filter(|v| !v.is_empty()).map(str::to_owned)
        };
        let parsed: Option<serde_json::Value> = serde_json::from_slice(body).ok();
        let error_obj = parsed.as_ref().and_then(|v| v.get("error"));
        let body_field = |field: &str| {
            error_obj
                .and_then(|e| e.get(field))
                .or_else(|| parsed.as_ref().and_then(|v| v.get(field)))
                .and_then(|v| v.as_str())
                .map(str::to_owned)
        };
        let message = body_field("message")
            .or_else(|| parsed.as_ref().and_then(|v| v.as_str()).map(str::to_owned))
            .or_else(|| body_field("Message"));
        let code = header("x-ms-error-code").or_else(|| body_field("code"));
        let request_id = header("x-ms-request-id")
            .or_else(|| header("apim-request-id"))
            .or_else(|| header("x-ms-client-request-id"))
            .or_else(|| body_field("traceId"));
        let retry_after = header("retry-after").as_deref().and_then(parse_retry_after);
        ServiceError { status, code, message, request_id, retry_after, raw_body: truncate_lossy(body, RAW_BODY_LIMIT) }
    }

    /// A synthesised 404, for lookups the client answers itself (legacy file metadata).
    pub(crate) fn not_found(code: &str, message: String) -> Self {
        ServiceError {
            status: StatusCode::NOT_FOUND,
            code: Some(code.to_owned()),
            message: Some(message),
            request_id: None,
            retry_after: None,
            raw_body: String::new(),
        }
    }
}

impl fmt::Debug for ServiceError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("ServiceError")
            .field("status", &self.status.as_u16())
            .field("code", &self.code)
            .field("message", &self.message)
            .field("request_id", &self.request_id)
            .field("retry_after", &self.retry_after)
            .field("raw_body", &self.raw_body)
            .finish()
    }
}

/// Parses `Retry-After`: delta-seconds (possibly fractional) or an HTTP date.
pub(crate) fn parse_retry_after(value: &str) -> Option<Duration> {
    let value = value.trim();
    if let Ok(secs) = value.parse::<u64>() {
        return Some(Duration::from_secs(secs));
    }
    if let Ok(secs) = value.parse::<f64>() {
        return Duration::try_from_secs_f64(secs).ok();
    }
    let date = time::OffsetDateTime::parse(value, &time::format_description::well_known::Rfc2822).ok()?;
    let delta = date - time::OffsetDateTime::now_utc();
    Some(Duration::try_from(delta).unwrap_or(Duration::ZERO))
}

/// Lossy UTF-8 of at most `limit` bytes, cut on a character boundary.
pub(crate) fn truncate_lossy(body: &[u8], limit: usize) -> String {
    let text = String::from_utf8_lossy(&body[..body.len().min(limit)]).into_owned();
    if body.len() > limit { format!("{text}…") } else { text }
}

#[cfg(test)]
mod tests {
    use super::*;
    use reqwest::header::{HeaderMap, HeaderValue};

    #[test]
    fn parses_azure_error_body_and_headers() {
        let mut headers = HeaderMap::new();
        headers.insert("x-ms-error-code", HeaderValue::from_static("SessionPropertiesMissing"));
        headers.insert("x-ms-request-id", HeaderValue::from_static("req-1"));
        let body = br#"{"error":{"code":"Other","message":"properties are missing","traceId":"t-1"}}"#;
        let e = ServiceError::from_parts(StatusCode::BAD_REQUEST, &headers, body);
        assert_eq!(e.code.as_deref(), Some("SessionPropertiesMissing"));
        assert_eq!(e.message.as_deref(), Some("properties are missing"));
        assert_eq!(e.request_id.as_deref(), Some("req-1"));
    }

    #[test]
    fn keeps_non_json_bodies_and_truncates() {
        let body = vec![b'x'; 10_000];
        let e = ServiceError::from_parts(StatusCode::BAD_GATEWAY, &HeaderMap::new(), &body);
        assert_eq!(e.status, StatusCode::BAD_GATEWAY);
        assert!(e.message.is_none());
        assert_eq!(e.raw_body.chars().count(), RAW_BODY_LIMIT + 1);
    }

    #[test]
    fn bare_json_string_body_is_the_message() {
        let e = ServiceError::from_parts(StatusCode::NOT_FOUND, &HeaderMap::new(), br#""No execution available""#);
        assert_eq!(e.message.as_deref(), Some("No execution available"));
    }

    #[test]
    fn retry_after_forms() {
        assert_eq!(parse_retry_after("7"), Some(Duration::from_secs(7)));
        assert_eq!(parse_retry_after("0.5"), Some(Duration::from_millis(500)));
        assert_eq!(parse_retry_after("Wed, 21 Oct 2015 07:28:00 GMT"), Some(Duration::ZERO));
        assert_eq!(parse_retry_after("soon"), None);
    }

    #[test]
    fn forbidden_message_names_the_role() {
        let e = Error::Forbidden(Box::new(ServiceError::from_parts(StatusCode::FORBIDDEN, &HeaderMap::new(), b"")));
        assert!(e.to_string().contains("Azure ContainerApps Session Executor"));
        assert!(!e.is_retryable());
    }
}

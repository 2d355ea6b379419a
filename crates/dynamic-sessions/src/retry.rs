//! When and how often requests are repeated.

use std::time::Duration;

use backon::ExponentialBuilder;

use crate::error::{Error, is_retryable_status};

/// How failed requests are retried: capped exponential backoff with jitter, honouring `Retry-After`.
///
/// * Idempotent operations (listing, downloads, metadata, deletes, uploads of replayable data, polling)
///   are retried on 408, 429, 500, 502, 503, 504, timeouts and connection failures.
/// * Code execution is retried **only** when the request provably never reached the service (the
///   connection could not be opened), so code never runs twice.
/// * A `Retry-After` longer than [`RetryPolicy::with_max_retry_after`] is not waited for: the
///   [`Error::Throttled`] is returned with the delay, for the caller to decide.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RetryPolicy {
    max_retries: usize,
    initial_delay: Duration,
    max_delay: Duration,
    max_retry_after: Duration,
    jitter: bool,
}

impl Default for RetryPolicy {
    fn default() -> Self {
        RetryPolicy {
            max_retries: 3,
            initial_delay: Duration::from_millis(500),
            max_delay: Duration::from_secs(30),
            max_retry_after: Duration::from_secs(60),
            jitter: true,
        }
    }
}

impl RetryPolicy {
    /// The default: 3 retries, 0.5 s first delay doubling up to 30 s, with jitter, `Retry-After` up to 60 s.
    pub fn new() -> Self {
        Self::default()
    }

    /// Never retry.
    pub fn none() -> Self {
        RetryPolicy { max_retries: 0, ..Self::default() }
    }

    /// How many times a request is repeated after the first attempt.
    #[must_use]
    pub fn with_max_retries(mut self, n: usize) -> Self {
        self.max_retries = n;
        self
    }

    /// The first backoff delay; later delays double.
    #[must_use]
    pub fn with_initial_delay(mut self, d: Duration) -> Self {
        self.initial_delay = d;
        self
    }

    /// The longest backoff delay.
    #[must_use]
    pub fn with_max_delay(mut self, d: Duration) -> Self {
        self.max_delay = d;
        self
    }

    /// The longest `Retry-After` the client waits for by itself.
    #[must_use]
    pub fn with_max_retry_after(mut self, d: Duration) -> Self {
        self.max_retry_after = d;
        self
    }

    /// Turns jitter off (delays become deterministic; useful in tests).
    #[must_use]
    pub fn without_jitter(mut self) -> Self {
        self.jitter = false;
        self
    }

    /// The number of retries after the first attempt.
    pub fn max_retries(&self) -> usize {
        self.max_retries
    }

    pub(crate) fn backoff(&self) -> ExponentialBuilder {
        let builder = ExponentialBuilder::new()
            .with_min_delay(self.initial_delay)
            .with_max_delay(self.max_delay)
            .with_factor(2.0)
            .with_max_times(self.max_retries);
        if self.jitter { builder.with_jitter() } else { builder }
    }

    /// The delay before the next attempt, or `None` to give up.
    pub(crate) fn next_delay(&self, error: &Error, backoff: Option<Duration>) -> Option<Duration> {
        let backoff = backoff?;
        match error.retry_after() {
            Some(wait) if wait > self.max_retry_after => None,
            Some(wait) => Some(wait),
            None => Some(backoff),
        }
    }
}

/// How safe it is to repeat an operation.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Replay {
    /// Repeating has no extra effect.
    Idempotent,
    /// Repeat only if the request never reached the service (code execution).
    IfNotSent,
    /// The body cannot be produced twice (a one-shot stream).
    Never,
}

pub(crate) fn should_retry(replay: Replay, error: &Error) -> bool {
    match replay {
        Replay::Never => false,
        Replay::IfNotSent => matches!(error, Error::Transport { sent: false, .. }),
        Replay::Idempotent => match error {
            Error::Transport { .. } | Error::Timeout { .. } | Error::Throttled { .. } => true,
            Error::Service(e) => is_retryable_status(e.status),
            _ => false,
        },
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::error::ServiceError;
    use reqwest::StatusCode;
    use reqwest::header::HeaderMap;

    fn service(status: u16) -> Error {
        let status = StatusCode::from_u16(status).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR);
        Error::Service(Box::new(ServiceError::from_parts(status, &HeaderMap::new(), b"")))
    }

    #[test]
    fn classification() {
        for s in [408, 500, 502, 503, 504] {
            assert!(should_retry(Replay::Idempotent, &service(s)), "{s}");
            assert!(!should_retry(Replay::IfNotSent, &service(s)), "{s}");
        }
        for s in [400, 409, 501] {
            assert!(!should_retry(Replay::Idempotent, &service(s)), "{s}");
        }
        let timeout = Error::Timeout { operation: "execute", after: Duration::from_secs(1), may_have_run: true };
        assert!(should_retry(Replay::Idempotent, &timeout));
        assert!(!should_retry(Replay::IfNotSent, &timeout));
        assert!(!should_retry(Replay::Never, &service(503)));
    }

    #[test]
    fn retry_after_is_honoured_up_to_the_cap() {
        let policy = RetryPolicy::new().with_max_retry_after(Duration::from_secs(10));
        let mut headers = HeaderMap::new();
        headers.insert("retry-after", reqwest::header::HeaderValue::from_static("3"));
        let e = Error::Throttled {
            retry_after: Some(Duration::from_secs(3)),
            error: Box::new(ServiceError::from_parts(StatusCode::TOO_MANY_REQUESTS, &headers, b"")),
        };
        assert_eq!(policy.next_delay(&e, Some(Duration::from_millis(1))), Some(Duration::from_secs(3)));
        assert_eq!(policy.next_delay(&e, None), None);
        let long = Error::Throttled {
            retry_after: Some(Duration::from_secs(11)),
            error: Box::new(ServiceError::from_parts(StatusCode::TOO_MANY_REQUESTS, &HeaderMap::new(), b"")),
        };
        assert_eq!(policy.next_delay(&long, Some(Duration::from_millis(1))), None);
    }
}

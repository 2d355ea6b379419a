//! The shared HTTP core: URLs, authentication, error classification, retries, tracing.

use std::future::Future;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::{Duration, Instant};

use backon::Retryable;
use bytes::{Bytes, BytesMut};
use reqwest::header::{HeaderValue, USER_AGENT};
use reqwest::{RequestBuilder, Response, StatusCode};
use serde::de::DeserializeOwned;
use tracing::Instrument;
use url::Url;

use crate::api_version::ApiVersion;
use crate::auth::Authenticator;
use crate::error::{Error, ServiceError, truncate_lossy};
use crate::retry::{Replay, RetryPolicy, should_retry};
use crate::session_id::SessionId;

/// Error bodies are read up to this many bytes.
const ERROR_BODY_LIMIT: usize = 64 * 1024;

/// One kind of call, with the properties that drive retries and error classification.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Op {
    /// Name used in spans and errors (`execute`, `files.upload`, ...).
    pub(crate) name: &'static str,
    pub(crate) replay: Replay,
    /// A 404 means "no session could be allocated" (pool full) rather than "no such resource".
    pub(crate) allocates: bool,
    pub(crate) timing: Timing,
}

/// How a request is timed.
#[derive(Debug, Clone, Copy)]
pub(crate) enum Timing {
    /// The whole request, body included, must finish within this time.
    Total(Duration),
    /// The response headers must arrive within this time; the body is streamed by the caller, who times
    /// each chunk.
    Headers(Duration),
}

/// Everything a request needs; shared by all clones of a client.
#[derive(Debug)]
pub(crate) struct Transport {
    pub(crate) http: reqwest::Client,
    pub(crate) endpoint: Url,
    pub(crate) api_version: ApiVersion,
    pub(crate) auth: Authenticator,
    pub(crate) user_agent: HeaderValue,
    pub(crate) request_timeout: Duration,
    pub(crate) execution_timeout: Duration,
    pub(crate) execution_grace: Duration,
    pub(crate) idle_timeout: Duration,
    pub(crate) retry: RetryPolicy,
}

impl Transport {
    /// The api-version for `session`, `listSessions` and `metadata`: the configured one when it has them,
    /// otherwise `2025-10-02-preview` (as LangChain does for `DELETE session` on legacy pools).
    pub(crate) fn management_version(&self) -> ApiVersion {
        if self.api_version.has_session_management() { self.api_version.clone() } else { ApiVersion::latest() }
    }

    /// A JSON operation timed by the request timeout.
    pub(crate) fn op(&self, name: &'static str, replay: Replay, allocates: bool) -> Op {
        Op { name, replay, allocates, timing: Timing::Total(self.request_timeout) }
    }

    /// `endpoint/seg1/seg2?api-version=..&identifier=..&extra..`, each segment percent-encoded.
    pub(crate) fn url(
        &self,
        segments: &[&str],
        version: &ApiVersion,
        session: Option<&SessionId>,
        extra: &[(&str, &str)],
    ) -> Url {
        let mut url = self.endpoint.clone();
        if let Ok(mut path) = url.path_segments_mut() {
            path.pop_if_empty().extend(segments);
        }
        {
            let mut query = url.query_pairs_mut();
            query.append_pair("api-version", version.as_str());
            if let Some(id) = session {
                query.append_pair("identifier", id.as_str());
            }
            for (k, v) in extra {
                query.append_pair(k, v);
            }
        }
        url
    }

    /// Whether `url` may receive this client's token: same scheme, host and port as the endpoint.
    pub(crate) fn same_origin(&self, url: &Url) -> bool {
        url.origin() == self.endpoint.origin()
    }

    /// Sends a request built by `build` (called once per attempt), with auth, timeouts, retries and tracing.
    pub(crate) async fn send<F>(&self, op: Op, session: Option<&SessionId>, build: F) -> Result<Response, Error>
    where
        F: Fn(&reqwest::Client) -> Result<RequestBuilder, Error>,
    {
        self.send_with(op, session, |http| std::future::ready(build(&http))).await
    }

    /// Like [`Transport::send`], with an asynchronous request builder (to open a file for each attempt).
    pub(crate) async fn send_with<F, Fut>(
        &self,
        op: Op,
        session: Option<&SessionId>,
        build: F,
    ) -> Result<Response, Error>
    where
        F: Fn(reqwest::Client) -> Fut,
        Fut: Future<Output = Result<RequestBuilder, Error>>,
    {
        let span = tracing::debug_span!(
            "dynamic_sessions.request",
            op = op.name,
            session_id = session.map(SessionId::as_str).unwrap_or(""),
            http.status_code = tracing::field::Empty,
            attempts = tracing::field::Empty,
            duration_ms = tracing::field::Empty,
        );
        let started = Instant::now();
        let attempts = AtomicUsize::new(0);
        let result = (|| async {
            attempts.fetch_add(1, Ordering::Relaxed);
            self.attempt(op, &build).await
        })
        .retry(self.retry.backoff())
        .sleep(tokio::time::sleep)
        .when(|e| should_retry(op.replay, e))
        .adjust(|e, backoff| self.retry.next_delay(e, backoff))
        .notify(|e, wait| tracing::debug!(op = op.name, error = %e, ?wait, "retrying"))
        .instrument(span.clone())
        .await;
        let status = match &result {
            Ok(resp) => Some(resp.status()),
            Err(e) => e.status(),
        };
        span.record("http.status_code", status.map(|s| s.as_u16()).unwrap_or(0));
        span.record("attempts", attempts.load(Ordering::Relaxed));
        span.record("duration_ms", started.elapsed().as_secs_f64() * 1000.0);
        span.in_scope(|| match &result {
            Ok(_) => tracing::debug!("request succeeded"),
            Err(e) => tracing::debug!(error = %e, "request failed"),
        });
        result
    }

    async fn attempt<F, Fut>(&self, op: Op, build: &F) -> Result<Response, Error>
    where
        F: Fn(reqwest::Client) -> Fut,
        Fut: Future<Output = Result<RequestBuilder, Error>>,
    {
        let token = self.auth.token().await?;
        let mut request = build(self.http.clone()).await?.header(USER_AGENT, self.user_agent.clone());
        if let Some(token) = token {
            request = request.bearer_auth(token.secret());
        }
        let response = match op.timing {
            Timing::Total(limit) => request.timeout(limit).send().await.map_err(|e| transport_error(op, limit, e))?,
            Timing::Headers(limit) => tokio::time::timeout(limit, request.send())
                .await
                .map_err(|_| Error::Timeout { operation: op.name, after: limit, may_have_run: true })?
                .map_err(|e| transport_error(op, limit, e))?,
        };
        if response.status().is_success() {
            return Ok(response);
        }
        Err(self.classify(op, response).await)
    }

    async fn classify(&self, op: Op, response: Response) -> Error {
        let status = response.status();
        let headers = response.headers().clone();
        let body = read_limited(response, ERROR_BODY_LIMIT).await.unwrap_or_default();
        let error = Box::new(ServiceError::from_parts(status, &headers, &body));
        match status {
            StatusCode::UNAUTHORIZED => {
                self.auth.invalidate();
                Error::Unauthorized(error)
            }
            StatusCode::FORBIDDEN => Error::Forbidden(error),
            // The service answers a full pool with 404 on a call that would allocate a session, but a 404 is far
            // more often a wrong endpoint, pool name or route: only an answer that says so is a full pool.
            StatusCode::NOT_FOUND if op.allocates && says_pool_is_full(&error) => Error::PoolFull(error),
            StatusCode::NOT_FOUND => Error::NotFound(error),
            // Expired sessions can be reported as 400 `SessionWithIdentifierNotFound` (seen on `.management`
            // routes): a missing resource, whatever the status.
            _ if names_missing_resource(&error) => Error::NotFound(error),
            StatusCode::PAYLOAD_TOO_LARGE => Error::PayloadTooLarge {
                message: "the service rejected the upload (413); the documented limit is 128 MB".to_owned(),
                service: Some(error),
            },
            StatusCode::TOO_MANY_REQUESTS => Error::Throttled { retry_after: error.retry_after, error },
            _ => Error::Service(error),
        }
    }
}

/// A code such as `FileNotFound`, `DirectoryNotFound`, `SessionWithIdentifierNotFound`.
fn names_missing_resource(error: &ServiceError) -> bool {
    error.code.as_deref().is_some_and(|c| c.to_ascii_lowercase().ends_with("notfound"))
}

/// Whether a 404 says that no session can be allocated (the pool is at its maximum), by its code or message.
fn says_pool_is_full(error: &ServiceError) -> bool {
    let code = error.code.as_deref().unwrap_or("").to_ascii_lowercase();
    let message = format!("{} {}", error.message.as_deref().unwrap_or(""), error.raw_body).to_ascii_lowercase();
    code.contains("poolfull")
        || code.contains("maxconcurrentsessions")
        || code.contains("capacity")
        || ["pool is full", "no more sessions", "maximum number of sessions", "max concurrent sessions"]
            .iter()
            .any(|phrase| message.contains(phrase))
}

fn transport_error(op: Op, limit: Duration, e: reqwest::Error) -> Error {
    if e.is_builder() {
        return Error::invalid(format!("could not build the {} request: {e}", op.name));
    }
    if e.is_timeout() {
        return Error::Timeout { operation: op.name, after: limit, may_have_run: !e.is_connect() };
    }
    Error::Transport { operation: op.name, sent: !e.is_connect(), source: e }
}

/// Reads at most `limit` bytes of a body.
pub(crate) async fn read_limited(mut response: Response, limit: usize) -> Result<Bytes, reqwest::Error> {
    let mut buf = BytesMut::new();
    while let Some(chunk) = response.chunk().await? {
        let room = limit.saturating_sub(buf.len());
        buf.extend_from_slice(&chunk[..chunk.len().min(room)]);
        if buf.len() >= limit {
            break;
        }
    }
    Ok(buf.freeze())
}

/// Reads a whole body and parses it as JSON (an empty body parses as `null`).
pub(crate) async fn read_json<T: DeserializeOwned>(op: Op, response: Response) -> Result<T, Error> {
    let body = response.bytes().await.map_err(|e| Error::Transport { operation: op.name, sent: true, source: e })?;
    parse_json(op.name, &body)
}

pub(crate) fn parse_json<T: DeserializeOwned>(operation: &'static str, body: &[u8]) -> Result<T, Error> {
    let body: &[u8] = if body.iter().all(u8::is_ascii_whitespace) { b"null" } else { body };
    serde_json::from_slice(body).map_err(|e| Error::Decode {
        operation,
        message: e.to_string(),
        body_snippet: truncate_lossy(body, 256),
    })
}

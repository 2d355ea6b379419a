//! [`RawRequest`]: authenticated requests to routes the client does not model (custom-container pools).

use std::fmt;
use std::sync::Arc;
use std::time::Duration;

use bytes::Bytes;
use reqwest::header::{CONTENT_TYPE, HeaderName, HeaderValue};
use reqwest::{Method, Response};

use crate::error::Error;
use crate::retry::Replay;
use crate::session_id::SessionId;
use crate::transport::{Op, Timing, Transport};

/// A request to any path under the pool endpoint, with the client's auth, user agent, timeouts, retries
/// (for idempotent methods) and error mapping. Non-success statuses become [`Error`]s.
#[must_use = "a request does nothing until send() is awaited"]
pub struct RawRequest {
    transport: Arc<Transport>,
    method: Method,
    path: String,
    session: Option<SessionId>,
    query: Vec<(String, String)>,
    headers: Vec<(String, String)>,
    body: Option<Bytes>,
    api_version: bool,
    timeout: Option<Duration>,
}

impl RawRequest {
    pub(crate) fn new(transport: Arc<Transport>, method: Method, path: &str, session: Option<SessionId>) -> Self {
        RawRequest {
            transport,
            method,
            path: path.to_owned(),
            session,
            query: Vec::new(),
            headers: Vec::new(),
            body: None,
            api_version: true,
            timeout: None,
        }
    }

    /// Adds a query parameter.
    pub fn query(mut self, key: impl Into<String>, value: impl Into<String>) -> Self {
        self.query.push((key.into(), value.into()));
        self
    }

    /// Adds a header.
    pub fn header(mut self, name: impl Into<String>, value: impl Into<String>) -> Self {
        self.headers.push((name.into(), value.into()));
        self
    }

    /// Sets a JSON body (and `Content-Type: application/json`).
    ///
    /// # Errors
    /// [`Error::InvalidInput`] when the value cannot be serialised.
    pub fn json<T: serde::Serialize + ?Sized>(mut self, value: &T) -> Result<Self, Error> {
        let body = serde_json::to_vec(value).map_err(|e| Error::invalid(format!("cannot serialise the body: {e}")))?;
        self.body = Some(body.into());
        self.headers.push((CONTENT_TYPE.as_str().to_owned(), "application/json".to_owned()));
        Ok(self)
    }

    /// Sets a raw body.
    pub fn body(mut self, body: impl Into<Bytes>) -> Self {
        self.body = Some(body.into());
        self
    }

    /// Does not add `api-version` (some custom containers reject unknown parameters).
    pub fn without_api_version(mut self) -> Self {
        self.api_version = false;
        self
    }

    /// Overrides the request timeout.
    pub fn timeout(mut self, timeout: Duration) -> Self {
        self.timeout = Some(timeout);
        self
    }

    /// Sends the request.
    ///
    /// # Errors
    /// [`Error::InvalidInput`] for a path with `.`/`..` segments or an invalid header; service and transport
    /// errors as for every other call.
    pub async fn send(self) -> Result<Response, Error> {
        let segments: Vec<&str> = self.path.trim_matches('/').split('/').filter(|s| !s.is_empty()).collect();
        if segments.iter().any(|s| *s == "." || *s == "..") {
            return Err(Error::invalid(format!("path {:?} must not contain . or .. segments", self.path)));
        }
        let mut headers = Vec::with_capacity(self.headers.len());
        for (name, value) in &self.headers {
            let name = HeaderName::from_bytes(name.as_bytes())
                .map_err(|_| Error::invalid(format!("{name:?} is not a valid header name")))?;
            let value = HeaderValue::from_str(value)
                .map_err(|_| Error::invalid(format!("the value of header {name} is not a valid header value")))?;
            headers.push((name, value));
        }
        let t = &self.transport;
        let mut url = t.url(&segments, &t.api_version, self.session.as_ref(), &[]);
        if !self.api_version {
            let kept: Vec<(String, String)> = url
                .query_pairs()
                .filter(|(k, _)| k != "api-version")
                .map(|(k, v)| (k.into_owned(), v.into_owned()))
                .collect();
            url.query_pairs_mut().clear().extend_pairs(kept);
        }
        url.query_pairs_mut().extend_pairs(&self.query);
        let idempotent =
            matches!(self.method, Method::GET | Method::HEAD | Method::PUT | Method::DELETE | Method::OPTIONS);
        let op = Op {
            name: "raw",
            replay: if idempotent { Replay::Idempotent } else { Replay::IfNotSent },
            allocates: false,
            timing: Timing::Total(self.timeout.unwrap_or(t.request_timeout)),
        };
        t.send(op, self.session.as_ref(), |http| {
            let mut request = http.request(self.method.clone(), url.clone());
            for (name, value) in &headers {
                request = request.header(name, value);
            }
            if let Some(body) = &self.body {
                request = request.body(body.clone());
            }
            Ok(request)
        })
        .await
    }
}

impl fmt::Debug for RawRequest {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("RawRequest")
            .field("method", &self.method)
            .field("path", &self.path)
            .field("session", &self.session)
            .finish_non_exhaustive()
    }
}

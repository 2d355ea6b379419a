//! [`ExecuteBuilder`]: options for one execution, synchronous or asynchronous with polling.

use std::future::{Future, IntoFuture};
use std::pin::Pin;
use std::time::{Duration, Instant};

use reqwest::StatusCode;
use reqwest::header::HeaderValue;
use serde_json::{Value, json};

use super::MAX_EXECUTION_TIMEOUT;
use super::model::{Execution, ExecutionStatus};
use crate::api_version::ApiFamily;
use crate::error::Error;
use crate::retry::Replay;
use crate::session::Session;
use crate::transport::{Op, Timing, Transport, read_json};

/// The longest pause between two polls of an asynchronous execution.
const MAX_POLL_INTERVAL: Duration = Duration::from_secs(2);

/// Options for one execution. Await it directly, or call [`ExecuteBuilder::send`].
#[derive(Debug)]
#[must_use = "an execution does nothing until it is awaited"]
pub struct ExecuteBuilder {
    session: Session,
    code: String,
    timeout: Option<Duration>,
    operation_id: Option<String>,
    asynchronous: bool,
    poll_interval: Duration,
}

impl ExecuteBuilder {
    pub(crate) fn new(session: Session, code: String) -> Self {
        ExecuteBuilder {
            session,
            code,
            timeout: None,
            operation_id: None,
            asynchronous: false,
            poll_interval: Duration::from_millis(250),
        }
    }

    /// The execution time limit sent as `timeoutInSeconds` (whole seconds, 1–220; default: the client's).
    pub fn timeout(mut self, timeout: Duration) -> Self {
        self.timeout = Some(timeout);
        self
    }

    /// A client-chosen execution id, sent as the `operation-id` header (current family).
    pub fn operation_id(mut self, id: impl Into<String>) -> Self {
        self.operation_id = Some(id.into());
        self
    }

    /// Submit as an asynchronous execution and poll `executions/{id}` until it finishes (current family
    /// only). Long runs then do not hold one HTTP request open.
    pub fn asynchronous(mut self) -> Self {
        self.asynchronous = true;
        self
    }

    /// The first polling interval of an asynchronous execution (default 250 ms; grows to 2 s).
    pub fn poll_interval(mut self, interval: Duration) -> Self {
        self.poll_interval = interval.max(Duration::from_millis(10));
        self
    }

    /// Runs the code.
    ///
    /// Returns `Ok` with [`ExecutionStatus::Failed`](super::ExecutionStatus::Failed) when the Python code
    /// raised; `Err` only when the call itself failed. The request is repeated only if it provably never
    /// reached the service, so code never runs twice.
    ///
    /// # Errors
    /// [`Error::InvalidInput`] for empty code or a timeout outside 1–220 s (or an asynchronous execution on
    /// a legacy api-version); [`Error::Timeout`] when no answer came within the limit (the code may have
    /// run); [`Error::PoolFull`] when no session can be allocated; auth, service and transport errors.
    pub async fn send(self) -> Result<Execution, Error> {
        let t = &self.session.client.transport;
        let limit = self.timeout.unwrap_or(t.execution_timeout);
        validate(&self.code, limit)?;
        let family = t.api_version.family();
        if self.asynchronous && family == ApiFamily::Legacy {
            return Err(Error::invalid(format!(
                "asynchronous execution needs api-version {} or later; this client uses {}",
                crate::ApiVersion::V2024_10_02_PREVIEW,
                t.api_version
            )));
        }
        let seconds = limit.as_secs().max(1);
        let deadline = Instant::now() + limit + t.execution_grace;
        let operation_id = match (&self.operation_id, self.asynchronous) {
            (Some(id), _) => Some(id.clone()),
            (None, true) => Some(uuid::Uuid::new_v4().to_string()),
            (None, false) => None,
        };
        let execution_type = if self.asynchronous { "Asynchronous" } else { "Synchronous" };
        let mut execution = match family {
            ApiFamily::Legacy => {
                let body = wrapped(&self.code, "synchronous", seconds);
                self.post(t, &["code", "execute"], &body, None, limit).await?
            }
            _ => {
                let flat = json!({
                    "codeInputType": "Inline",
                    "executionType": execution_type,
                    "code": self.code,
                    "timeoutInSeconds": seconds,
                });
                match self.post(t, &["executions"], &flat, operation_id.as_deref(), limit).await {
                    // Some regions want the legacy `properties` wrapper even on current versions; a 400 means
                    // the code did not run, so sending it again wrapped is safe.
                    Err(Error::Service(e))
                        if e.status == StatusCode::BAD_REQUEST
                            && e.code.as_deref() == Some("SessionPropertiesMissing") =>
                    {
                        tracing::debug!("service asked for a wrapped body (SessionPropertiesMissing); resending");
                        let body = wrapped(&self.code, execution_type, seconds);
                        self.post(t, &["executions"], &body, operation_id.as_deref(), limit).await?
                    }
                    other => other?,
                }
            }
        };
        if execution.id.is_none() {
            execution.id = operation_id;
        }
        if !execution.status.is_terminal() {
            execution = self.poll(t, execution, deadline).await?;
        }
        Ok(execution)
    }

    async fn post(
        &self,
        t: &Transport,
        route: &[&str],
        body: &Value,
        operation_id: Option<&str>,
        limit: Duration,
    ) -> Result<Execution, Error> {
        let id = &self.session.id;
        let url = t.url(route, &t.api_version, Some(id), &[]);
        let op = Op {
            name: "execute",
            replay: Replay::IfNotSent,
            allocates: true,
            timing: Timing::Total(limit + t.execution_grace),
        };
        let operation_header = operation_id
            .map(|o| {
                HeaderValue::from_str(o)
                    .map_err(|_| Error::invalid(format!("operation id {o:?} is not a valid header value")))
            })
            .transpose()?;
        let response = t
            .send(op, Some(id), |http| {
                let mut request = http.post(url.clone()).json(body);
                if let Some(value) = &operation_header {
                    request = request.header("operation-id", value.clone());
                }
                Ok(request)
            })
            .await?;
        let header_id = response.headers().get("operation-id").and_then(|v| v.to_str().ok()).map(str::to_owned);
        let v: Value = read_json(op, response).await?;
        let mut execution = checked(op, &v)?;
        if execution.id.is_none() {
            execution.id = header_id;
        }
        Ok(execution)
    }

    async fn poll(&self, t: &Transport, started: Execution, deadline: Instant) -> Result<Execution, Error> {
        let Some(exec_id) = started.id.clone() else {
            return Err(Error::Decode {
                operation: "execute",
                message: format!("the execution is {} but the service sent no id to poll", started.status),
                body_snippet: String::new(),
            });
        };
        let id = &self.session.id;
        let url = t.url(&["executions", &exec_id], &t.api_version, Some(id), &[]);
        let op = t.op("execute.poll", Replay::Idempotent, false);
        let mut interval = self.poll_interval;
        loop {
            let now = Instant::now();
            if now >= deadline {
                return Err(Error::Timeout {
                    operation: "execute",
                    after: self.timeout.unwrap_or(t.execution_timeout) + t.execution_grace,
                    may_have_run: true,
                });
            }
            tokio::time::sleep(interval.min(deadline - now)).await;
            interval = (interval.mul_f32(1.5)).min(MAX_POLL_INTERVAL);
            let response = t.send(op, Some(id), |http| Ok(http.get(url.clone()))).await?;
            let v: Value = read_json(op, response).await?;
            let mut execution = checked(op, &v)?;
            if execution.status.is_terminal() {
                execution.id.get_or_insert(exec_id);
                return Ok(execution);
            }
        }
    }
}

/// Reads an execution, refusing an answer without a status (it would look like neither success nor failure).
fn checked(op: Op, v: &Value) -> Result<Execution, Error> {
    let execution = Execution::from_json(v);
    if execution.status == ExecutionStatus::Other(String::new()) {
        return Err(Error::Decode {
            operation: op.name,
            message: "the answer has no execution status".to_owned(),
            body_snippet: v.to_string().chars().take(256).collect(),
        });
    }
    Ok(execution)
}

fn validate(code: &str, limit: Duration) -> Result<(), Error> {
    if code.trim().is_empty() {
        return Err(Error::invalid("there is no code to execute (the code is empty)"));
    }
    if limit.is_zero() || limit > MAX_EXECUTION_TIMEOUT {
        return Err(Error::invalid(format!(
            "execution timeout {limit:?} is outside 1-220 s; the service stops every execution after 220 seconds, \
             so split long work into several executions (state persists between them)"
        )));
    }
    Ok(())
}

fn wrapped(code: &str, execution_type: &str, seconds: u64) -> Value {
    json!({"properties": {
        "codeInputType": "inline",
        "executionType": execution_type.to_ascii_lowercase(),
        "code": code,
        "timeoutInSeconds": seconds,
    }})
}

impl IntoFuture for ExecuteBuilder {
    type Output = Result<Execution, Error>;
    type IntoFuture = Pin<Box<dyn Future<Output = Self::Output> + Send>>;

    fn into_future(self) -> Self::IntoFuture {
        Box::pin(self.send())
    }
}

//! Posting an execution request and polling it: shared by code and shell executions.

use std::time::{Duration, Instant};

use reqwest::header::HeaderValue;
use serde_json::Value;

use crate::error::Error;
use crate::retry::Replay;
use crate::session::Session;
use crate::transport::{Op, Timing, Transport, read_json};

/// The longest pause between two polls of an asynchronous execution.
const MAX_POLL_INTERVAL: Duration = Duration::from_secs(2);

/// An answer to an execution request: the body, and the `operation-id` header (the execution's id when the
/// body's `id` is missing or empty, as in the service's own examples).
pub(crate) struct Answer {
    pub(crate) body: Value,
    pub(crate) operation_id: Option<String>,
}

/// `POST <route>` with `body`: never repeated once it may have reached the service.
pub(crate) async fn post(
    session: &Session,
    route: &[&str],
    body: &Value,
    operation_id: Option<&str>,
    limit: Duration,
) -> Result<Answer, Error> {
    let t = &session.client.transport;
    let id = &session.id;
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
    let operation_id = response
        .headers()
        .get("operation-id")
        .and_then(|v| v.to_str().ok())
        .map(str::to_owned)
        .filter(|v| !v.is_empty());
    Ok(Answer { body: read_json(op, response).await?, operation_id })
}

/// `GET executions/{id}` once.
pub(crate) async fn get(t: &Transport, session: &Session, execution_id: &str) -> Result<Value, Error> {
    let id = &session.id;
    let url = t.url(&["executions", execution_id], &t.api_version, Some(id), &[]);
    let op = t.op("execute.poll", Replay::Idempotent, false);
    let response = t.send(op, Some(id), |http| Ok(http.get(url.clone()))).await?;
    read_json(op, response).await
}

/// Polls `executions/{id}` until `done` says the answer is final, or the deadline passes.
pub(crate) async fn poll(
    session: &Session,
    execution_id: &str,
    first_interval: Duration,
    deadline: Instant,
    after: Duration,
    done: impl Fn(&Value) -> Result<bool, Error>,
) -> Result<Value, Error> {
    let t = &session.client.transport;
    let mut interval = first_interval;
    loop {
        let now = Instant::now();
        if now >= deadline {
            return Err(Error::Timeout { operation: "execute", after, may_have_run: true });
        }
        tokio::time::sleep(interval.min(deadline - now)).await;
        interval = interval.mul_f32(1.5).min(MAX_POLL_INTERVAL);
        let answer = get(t, session, execution_id).await?;
        if done(&answer)? {
            return Ok(answer);
        }
    }
}

/// Whether a service error is the 400 `SessionPropertiesMissing`: the request was refused before anything
/// ran (so sending it again in another shape is safe).
pub(crate) fn is_properties_missing(error: &Error) -> bool {
    matches!(error, Error::Service(e)
        if e.status == reqwest::StatusCode::BAD_REQUEST && e.code.as_deref() == Some("SessionPropertiesMissing"))
}

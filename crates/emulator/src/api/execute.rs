//! `POST code/execute` (legacy), `POST executions` and `GET executions/{id}` (current): Python code and shell
//! commands.

use std::sync::Arc;
use std::sync::atomic::Ordering;

use axum::body::Bytes;
use axum::extract::{OriginalUri, Path, RawQuery, State};
use axum::http::{HeaderMap, HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use serde::Deserialize;

use super::AppState;
use super::params::{ExecuteRequest, Family, Query, operation_id};
use super::render;
use crate::error::ApiError;
use crate::kernel::{Flavor, Stop};
use crate::pool::{ExecutionState, MAX_PENDING_ASYNC, RecordMeta, RunResult, Session};

/// The service's default `outputStreamsMaxLength` (2025-10-02-preview and later).
const DEFAULT_OUTPUT_STREAMS_MAX_LENGTH: usize = 4096;

/// Runs the request's work in its kernel and applies the version's output rules.
async fn run(
    state: &AppState,
    session: &Session,
    request: &ExecuteRequest,
    query: &Query,
    stop: &mut Stop,
) -> Result<RunResult, ApiError> {
    let pool = state.pool();
    let options = query.has_execution_options();
    let flavor = if request.empty_kernel && options { Flavor::Empty } else { Flavor::Preloaded };
    let mut result = session
        .run(pool.sandbox(), &request.work, flavor, request.timeout, pool.config().interrupt_grace, stop)
        .await
        .map_err(|e| ApiError::internal("the session's Python kernel could not start", e))?;
    if options {
        // As the service: each stream cut at outputStreamsMaxLength characters (4,096 unless asked), silently.
        result.limit_streams(request.output_streams_max_length.unwrap_or(DEFAULT_OUTPUT_STREAMS_MAX_LENGTH));
    }
    Ok(result)
}

/// A synchronous execution: it runs in a task of its own, and if the client goes away (the request is
/// dropped), the code is interrupted as if its time limit had run out; the kernel keeps its state. (A
/// client that stops waiting, like a chat whose user pressed Stop, should not leave code running.)
async fn run_sync(
    state: &AppState,
    session: &Arc<Session>,
    request: &ExecuteRequest,
    query: &Query,
) -> Result<RunResult, ApiError> {
    struct InterruptOnDrop(Option<tokio::sync::oneshot::Sender<()>>);
    impl Drop for InterruptOnDrop {
        fn drop(&mut self) {
            if let Some(client_gone) = self.0.take() {
                let _ = client_gone.send(());
            }
        }
    }
    let (sender, receiver) = tokio::sync::oneshot::channel();
    let mut guard = InterruptOnDrop(Some(sender));
    let (state, session, request, query) = (state.clone(), Arc::clone(session), request.clone(), query.clone());
    let task = tokio::spawn(async move { run(&state, &session, &request, &query, &mut Stop::on(receiver)).await });
    let result = task.await.map_err(|e| ApiError::internal("the execution task failed", e))?;
    // Finished: dropping the sender without sending stops nothing.
    guard.0 = None;
    result
}

/// Legacy: always synchronous, Python only; answers in the wrapped shape.
pub(crate) async fn legacy(
    State(state): State<AppState>,
    RawQuery(raw): RawQuery,
    body: Bytes,
) -> Result<Response, ApiError> {
    let query = Query::parse(raw.as_deref())?;
    let request = ExecuteRequest::parse(&body)?;
    if request.work.is_shell() {
        return Err(ApiError::bad_request(
            "SessionPropertiesMissing",
            "code/execute runs Python ('code'); send shell commands to executions with api-version 2025-02-02-preview or later.",
        ));
    }
    let session = state.pool().acquire(query.identifier()?).await?;
    let result = run_sync(&state, &session, &request, &query).await?;
    Ok(match query.family() {
        Family::Legacy => axum::Json(render::legacy_execution(&result)).into_response(),
        Family::Current => {
            let id = uuid::Uuid::new_v4().to_string();
            let meta = RecordMeta { asynchronous: false, execution_type: true, jupyter: false };
            axum::Json(render::current_execution(
                &id,
                &session.identifier,
                meta,
                query.date,
                &ExecutionState::Done(Box::new(result)),
            ))
            .into_response()
        }
    })
}

/// Current: synchronous (200) or asynchronous (200, status `Running`, then poll `Operation-Location`).
pub(crate) async fn current(
    State(state): State<AppState>,
    RawQuery(raw): RawQuery,
    OriginalUri(uri): OriginalUri,
    headers: HeaderMap,
    body: Bytes,
) -> Result<Response, ApiError> {
    let query = Query::parse(raw.as_deref())?;
    let request = ExecuteRequest::parse(&body)?;
    let session = state.pool().acquire(query.identifier()?).await?;
    let id = operation_id(&headers).unwrap_or_else(|| uuid::Uuid::new_v4().to_string());
    if query.family() == Family::Legacy {
        let result = run_sync(&state, &session, &request, &query).await?;
        return Ok(axum::Json(render::legacy_execution(&result)).into_response());
    }
    let meta = RecordMeta {
        asynchronous: request.asynchronous,
        execution_type: request.has_execution_type,
        jupyter: request.jupyter && query.has_execution_options(),
    };
    let body = if request.asynchronous {
        if session.pending.fetch_add(1, Ordering::AcqRel) >= MAX_PENDING_ASYNC {
            session.pending.fetch_sub(1, Ordering::AcqRel);
            let mut refused = ApiError::new(
                StatusCode::TOO_MANY_REQUESTS,
                "TooManyPendingExecutions",
                format!(
                    "The session already has {MAX_PENDING_ASYNC} asynchronous executions queued or running; wait for \
                     one to finish (poll executions/{{id}})."
                ),
            )
            .into_response();
            refused.headers_mut().insert(header::RETRY_AFTER, HeaderValue::from_static("1"));
            return Ok(refused);
        }
        session.record(&id, meta, ExecutionState::Running);
        let (state2, session2, id2, request2, query2) =
            (state.clone(), Arc::clone(&session), id.clone(), request.clone(), query.clone());
        tokio::spawn(async move {
            let done = match run(&state2, &session2, &request2, &query2, &mut Stop::never()).await {
                Ok(result) => result,
                Err(e) => RunResult::failure(String::new(), e.message.clone(), 0.0, e.code, e.message),
            };
            session2.record(&id2, meta, ExecutionState::Done(Box::new(done)));
            session2.pending.fetch_sub(1, Ordering::AcqRel);
        });
        render::current_execution(&id, &session.identifier, meta, query.date, &ExecutionState::Running)
    } else {
        let done = ExecutionState::Done(Box::new(run_sync(&state, &session, &request, &query).await?));
        let body = render::current_execution(&id, &session.identifier, meta, query.date, &done);
        session.record(&id, meta, done);
        body
    };
    let mut response = axum::Json(body).into_response();
    let base = uri.path().trim_end_matches('/').trim_end_matches("/executions");
    let location = format!(
        "{base}/executions/{id}?api-version={}&identifier={}",
        query.api_version,
        url::form_urlencoded::byte_serialize(session.identifier.as_bytes()).collect::<String>()
    );
    if let Ok(v) = HeaderValue::from_str(&state.absolute_url(&headers, &location)) {
        response.headers_mut().insert("operation-location", v);
    }
    if let Ok(v) = HeaderValue::from_str(&id) {
        response.headers_mut().insert("operation-id", v);
    }
    Ok(response)
}

#[derive(Debug, Deserialize)]
pub(crate) struct ExecutionPath {
    execution_id: String,
}

/// `GET executions/{id}`: the state of an execution of this session.
pub(crate) async fn get_execution(
    State(state): State<AppState>,
    RawQuery(raw): RawQuery,
    Path(path): Path<ExecutionPath>,
) -> Result<Response, ApiError> {
    let query = Query::parse(raw.as_deref())?;
    let missing = || {
        ApiError::not_found(
            "ExecutionNotFound",
            format!("No execution available for operation Id: {}", path.execution_id),
        )
    };
    let session = state.pool().get(query.identifier()?).ok_or_else(missing)?;
    let record = session.execution(&path.execution_id).ok_or_else(missing)?;
    let body =
        render::current_execution(&path.execution_id, &session.identifier, record.meta, query.date, &record.state);
    Ok(axum::Json(body).into_response())
}

//! `POST code/execute` (legacy), `POST executions` and `GET executions/{id}` (current): code in the pool's
//! language and shell commands.

use axum::body::Bytes;
use axum::extract::{OriginalUri, Path, RawQuery, State};
use axum::http::{HeaderMap, HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use serde::Deserialize;

use super::AppState;
use super::params::{ExecuteRequest, Family, Query, operation_id};
use super::pool::Pool;
use super::render;
use crate::config::DEFAULT_OUTPUT_STREAMS_MAX_LENGTH;
use crate::error::ApiError;
use crate::kernel::Flavor;
use crate::pool::{ExecutionState, Job, MAX_PENDING_ASYNC, RecordMeta, SessionPool, TooManyPending};

/// The execution `request` asks for, under the rules of the query's api-version: the empty kernel and the
/// stream limit (4,096 characters unless asked) exist from 2025-10-02-preview on.
fn job(request: &ExecuteRequest, query: &Query) -> Job {
    let options = query.has_execution_options();
    Job {
        work: request.work.clone(),
        flavor: if request.empty_kernel && options { Flavor::Empty } else { Flavor::Preloaded },
        limit: request.timeout,
        stream_limit: options.then(|| request.output_streams_max_length.unwrap_or(DEFAULT_OUTPUT_STREAMS_MAX_LENGTH)),
    }
}

fn kernel_failed(e: crate::kernel::KernelError) -> ApiError {
    ApiError::internal("the session's kernel could not start", e)
}

/// Refuses `request` when the pool cannot run it: code sent to a `Shell` pool gets the service's 400
/// `SessionPropertiesMissing`; a pool whose runtime is missing on this machine answers 503.
fn admit(pool: &SessionPool, request: &ExecuteRequest) -> Result<(), ApiError> {
    let kind = pool.kind();
    match kind.refuses(&request.work) {
        None => Ok(()),
        Some(why) if kind.unavailable.is_some() => {
            Err(ApiError::new(StatusCode::SERVICE_UNAVAILABLE, "SessionPoolUnavailable", why))
        }
        Some(why) => Err(ApiError::bad_request("SessionPropertiesMissing", why)),
    }
}

/// Legacy: always synchronous, code only; answers in the wrapped shape.
pub(crate) async fn legacy(Pool(pool): Pool, RawQuery(raw): RawQuery, body: Bytes) -> Result<Response, ApiError> {
    let query = Query::parse(raw.as_deref())?;
    let request = ExecuteRequest::parse(&body)?;
    if request.work.is_shell() {
        return Err(ApiError::bad_request(
            "SessionPropertiesMissing",
            "code/execute runs code ('code'); send shell commands to executions with api-version 2025-02-02-preview or later.",
        ));
    }
    admit(&pool, &request)?;
    let session = pool.acquire(query.identifier()?).await?;
    let result = pool.run(&session, job(&request, &query)).await.map_err(kernel_failed)?;
    Ok(match query.family() {
        Family::Legacy => {
            axum::Json(render::legacy_execution(&result, pool.kind().spec.container_type)).into_response()
        }
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
    Pool(pool): Pool,
    RawQuery(raw): RawQuery,
    OriginalUri(uri): OriginalUri,
    headers: HeaderMap,
    body: Bytes,
) -> Result<Response, ApiError> {
    let query = Query::parse(raw.as_deref())?;
    let request = ExecuteRequest::parse(&body)?;
    admit(&pool, &request)?;
    let session = pool.acquire(query.identifier()?).await?;
    let id = operation_id(&headers).unwrap_or_else(|| uuid::Uuid::new_v4().to_string());
    if query.family() == Family::Legacy {
        let result = pool.run(&session, job(&request, &query)).await.map_err(kernel_failed)?;
        return Ok(axum::Json(render::legacy_execution(&result, pool.kind().spec.container_type)).into_response());
    }
    let meta = RecordMeta {
        asynchronous: request.asynchronous,
        execution_type: request.has_execution_type,
        jupyter: request.jupyter && query.has_execution_options(),
    };
    let body = if request.asynchronous {
        if let Err(TooManyPending) = pool.submit(&session, id.clone(), meta, job(&request, &query)) {
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
        render::current_execution(&id, &session.identifier, meta, query.date, &ExecutionState::Running)
    } else {
        let result = pool.run(&session, job(&request, &query)).await.map_err(kernel_failed)?;
        let done = ExecutionState::Done(Box::new(result));
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
    Pool(pool): Pool,
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
    let session = pool.get(query.identifier()?).ok_or_else(missing)?;
    let record = session.execution(&path.execution_id).ok_or_else(missing)?;
    let body =
        render::current_execution(&path.execution_id, &session.identifier, record.meta, query.date, &record.state);
    Ok(axum::Json(body).into_response())
}

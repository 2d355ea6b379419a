//! `POST code/execute` (legacy), `POST executions` and `GET executions/{id}` (current).

use std::sync::Arc;

use axum::body::Bytes;
use axum::extract::{OriginalUri, Path, RawQuery, State};
use axum::http::{HeaderMap, HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use serde::Deserialize;

use super::AppState;
use super::params::{ExecuteRequest, Family, Query, operation_id};
use super::render;
use crate::error::ApiError;
use crate::pool::{ExecutionState, RunResult, Session};

async fn run(state: &AppState, session: &Session, request: &ExecuteRequest) -> Result<RunResult, ApiError> {
    let pool = state.pool();
    session
        .run(pool.sandbox(), &request.code, request.timeout, pool.config().interrupt_grace)
        .await
        .map_err(|e| ApiError::internal("the session's Python kernel could not start", e))
}

/// Legacy: always synchronous; answers in the wrapped shape.
pub(crate) async fn legacy(
    State(state): State<AppState>,
    RawQuery(raw): RawQuery,
    body: Bytes,
) -> Result<Response, ApiError> {
    let query = Query::parse(raw.as_deref())?;
    let request = ExecuteRequest::parse(&body)?;
    let session = state.pool().acquire(query.identifier()?).await?;
    let result = run(&state, &session, &request).await?;
    Ok(match query.family() {
        Family::Legacy => axum::Json(render::legacy_execution(&result)).into_response(),
        Family::Current => {
            let id = uuid::Uuid::new_v4().to_string();
            let body = render::current_execution(&id, &session.identifier, false, &ExecutionState::Done(result));
            axum::Json(body).into_response()
        }
    })
}

/// Current: synchronous (200, or 202 on 2024-10-02-preview) or asynchronous (202 + `Operation-Location`).
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
        let result = run(&state, &session, &request).await?;
        return Ok(axum::Json(render::legacy_execution(&result)).into_response());
    }
    let (status, body) = if request.asynchronous {
        session.record(&id, true, ExecutionState::Running);
        let (state2, session2, id2, request2) = (state.clone(), Arc::clone(&session), id.clone(), request.clone());
        tokio::spawn(async move {
            let done = match run(&state2, &session2, &request2).await {
                Ok(result) => result,
                Err(e) => RunResult {
                    succeeded: false,
                    stdout: String::new(),
                    stderr: e.message.clone(),
                    result: serde_json::Value::Null,
                    duration_ms: 0.0,
                    error: Some((e.code, e.message)),
                },
            };
            session2.record(&id2, true, ExecutionState::Done(done));
        });
        (StatusCode::ACCEPTED, render::current_execution(&id, &session.identifier, true, &ExecutionState::Running))
    } else {
        let result = run(&state, &session, &request).await?;
        let status = if query.date < (2025, 2, 2) { StatusCode::ACCEPTED } else { StatusCode::OK };
        let done = ExecutionState::Done(result);
        session.record(&id, false, done.clone());
        (status, render::current_execution(&id, &session.identifier, false, &done))
    };
    let mut response = (status, axum::Json(body)).into_response();
    let base = uri.path().trim_end_matches('/').trim_end_matches("/executions");
    let location = format!(
        "{base}/executions/{id}?api-version={}&identifier={}",
        query.api_version,
        url::form_urlencoded::byte_serialize(session.identifier.as_bytes()).collect::<String>()
    );
    let host = headers.get(header::HOST).and_then(|h| h.to_str().ok()).unwrap_or("127.0.0.1");
    if let Ok(v) = HeaderValue::from_str(&format!("http://{host}{location}")) {
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
    let body = render::current_execution(&path.execution_id, &session.identifier, record.asynchronous, &record.state);
    Ok(axum::Json(body).into_response())
}

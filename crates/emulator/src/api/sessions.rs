//! `GET|DELETE session`, `GET listSessions`, `GET metadata`.

use axum::extract::{OriginalUri, RawQuery, State};
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use serde_json::json;

use super::AppState;
use super::params::Query;
use super::render;
use crate::error::ApiError;

const PAGE: usize = 100;

/// `GET session`: an existing session (no session is allocated for an unknown identifier: 404).
pub(crate) async fn get(State(state): State<AppState>, RawQuery(raw): RawQuery) -> Result<Response, ApiError> {
    let query = Query::parse(raw.as_deref())?;
    let id = query.identifier()?;
    let session = state.pool().get(id).ok_or_else(|| {
        ApiError::not_found("SessionNotFound", format!("There is no session with identifier '{id}'."))
    })?;
    Ok(axum::Json(render::session(&session, state.pool().config().cooldown)).into_response())
}

/// `DELETE session`: destroys the session and its files (204), or 404.
pub(crate) async fn delete(State(state): State<AppState>, RawQuery(raw): RawQuery) -> Result<Response, ApiError> {
    let query = Query::parse(raw.as_deref())?;
    let id = query.identifier()?;
    if state.pool().remove(id).await {
        Ok(StatusCode::NO_CONTENT.into_response())
    } else {
        Err(ApiError::not_found("SessionNotFound", format!("There is no session with identifier '{id}'.")))
    }
}

/// `GET listSessions?skip=`: pages of 100 with a `nextLink`.
pub(crate) async fn list(
    State(state): State<AppState>,
    RawQuery(raw): RawQuery,
    OriginalUri(uri): OriginalUri,
    headers: HeaderMap,
) -> Result<Response, ApiError> {
    let query = Query::parse(raw.as_deref())?;
    let cooldown = state.pool().config().cooldown;
    let all = state.pool().list();
    let page: Vec<_> = all.iter().skip(query.skip).take(PAGE).map(|s| render::session(s, cooldown)).collect();
    let next = query.skip + page.len();
    let next_link = (next < all.len()).then(|| {
        state.absolute_url(&headers, &format!("{}?api-version={}&skip={next}", uri.path(), query.api_version))
    });
    Ok(axum::Json(json!({"sessions": page, "nextLink": next_link})).into_response())
}

/// `GET metadata`: the runtime and what is really installed.
pub(crate) async fn metadata(State(state): State<AppState>, RawQuery(raw): RawQuery) -> Result<Response, ApiError> {
    Query::parse(raw.as_deref())?;
    let runtime = &state.inner.runtime;
    let started = render::timestamp(state.inner.started);
    Ok(axum::Json(json!({
        "runtimes": [{"name": "python", "version": runtime.version}],
        "preInstalledPackages": runtime.packages,
        "createdAt": started,
        "lastUpdatedAt": started,
        "jupyterKernel": {
            "name": "dynamic-sessions-kernel",
            "version": env!("CARGO_PKG_VERSION"),
            "projectUrl": "https://github.com/dynamic-sessions/dynamic-sessions",
            "description": "Stateful Python kernel of the dynamic-sessions emulator (stdlib only, notebook-style results).",
        },
    }))
    .into_response())
}

//! `GET|DELETE session`, `GET listSessions`, `GET metadata`.

use axum::extract::{OriginalUri, RawQuery, State};
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use serde_json::json;

use super::AppState;
use super::params::Query;
use super::pool::Pool;
use super::render;
use crate::config::ContainerType;
use crate::error::ApiError;

const PAGE: usize = 100;

/// `GET session`: an existing session (no session is allocated for an unknown identifier: 404).
pub(crate) async fn get(Pool(pool): Pool, RawQuery(raw): RawQuery) -> Result<Response, ApiError> {
    let query = Query::parse(raw.as_deref())?;
    let id = query.identifier()?;
    let session = pool.get(id).ok_or_else(|| {
        ApiError::not_found("SessionNotFound", format!("There is no session with identifier '{id}'."))
    })?;
    Ok(axum::Json(render::session(&session, pool.config().cooldown)).into_response())
}

/// `DELETE session`: destroys the session and its files (204), or 404.
pub(crate) async fn delete(Pool(pool): Pool, RawQuery(raw): RawQuery) -> Result<Response, ApiError> {
    let query = Query::parse(raw.as_deref())?;
    let id = query.identifier()?;
    if pool.remove(id).await {
        Ok(StatusCode::NO_CONTENT.into_response())
    } else {
        Err(ApiError::not_found("SessionNotFound", format!("There is no session with identifier '{id}'.")))
    }
}

/// `GET listSessions?skip=`: pages of 100 with a `nextLink`.
pub(crate) async fn list(
    State(state): State<AppState>,
    Pool(pool): Pool,
    RawQuery(raw): RawQuery,
    OriginalUri(uri): OriginalUri,
    headers: HeaderMap,
) -> Result<Response, ApiError> {
    let query = Query::parse(raw.as_deref())?;
    let cooldown = pool.config().cooldown;
    let all = pool.list();
    let page: Vec<_> = all.iter().skip(query.skip).take(PAGE).map(|s| render::session(s, cooldown)).collect();
    let next = query.skip + page.len();
    let next_link = (next < all.len()).then(|| {
        state.absolute_url(&headers, &format!("{}?api-version={}&skip={next}", uri.path(), query.api_version))
    });
    Ok(axum::Json(json!({"sessions": page, "nextLink": next_link})).into_response())
}

/// `GET metadata`: the pool's runtime, what is really installed, and its kernel, in the shape of the service's
/// `SessionPoolMetadata_Get` example (a `Shell` pool has no kernel).
pub(crate) async fn metadata(
    State(state): State<AppState>,
    Pool(pool): Pool,
    RawQuery(raw): RawQuery,
) -> Result<Response, ApiError> {
    Query::parse(raw.as_deref())?;
    let started = render::timestamp(state.inner.started);
    let python = &state.inner.runtime;
    let (runtimes, packages, kernel) = match pool.kind().spec.container_type {
        ContainerType::NodeLts => {
            let (version, packages) = match state.inner.node.as_deref() {
                Some(node) => (node.version.as_str(), node.packages.as_slice()),
                None => ("", &[][..]),
            };
            (json!([{"name": "node", "version": version}]), json!(packages), Some(JAVASCRIPT_KERNEL))
        }
        ContainerType::Shell => (json!([{"name": "bash", "version": state.inner.bash_version}]), json!([]), None),
        _ => (json!([{"name": "python", "version": python.version}]), json!(python.packages), Some(PYTHON_KERNEL)),
    };
    let kernel = kernel.map(|(name, description)| {
        json!({
            "name": name,
            "version": env!("CARGO_PKG_VERSION"),
            "projectUrl": "https://github.com/dynamic-sessions/dynamic-sessions",
            "description": description,
        })
    });
    Ok(axum::Json(json!({
        "runtimes": runtimes,
        "preInstalledPackages": packages,
        "createdAt": started,
        "lastUpdatedAt": started,
        "jupyterKernel": kernel,
    }))
    .into_response())
}

/// The Python kernel's name and description in `metadata`.
const PYTHON_KERNEL: (&str, &str) =
    ("dynamic-sessions-kernel", "Stateful Python kernel of the dynamic-sessions emulator (notebook-style results).");

/// The JavaScript kernel's name and description: like the service's IJavascript, a sync and async kernel.
const JAVASCRIPT_KERNEL: (&str, &str) = (
    "dynamic-sessions-javascript-kernel",
    "Stateful JavaScript kernel of the dynamic-sessions emulator, compatible with IJavascript: sync and async \
     kernel for javascript code executions (top-level await, $$ helpers).",
);

//! The session-pool REST API, both families, on one router.

mod arm;
mod execute;
mod files;
mod guard;
mod management;
mod params;
mod pool;
mod render;
mod sessions;
mod token;

use std::sync::Arc;

use axum::Router;
use axum::extract::{DefaultBodyLimit, Request, State};
use axum::http::{HeaderMap, HeaderValue, StatusCode, header};
use axum::middleware::{self, Next};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use dynamic_sessions_http_guard::BrowserGuard;
use serde_json::json;
use time::OffsetDateTime;

use crate::error::ApiError;
use crate::pool::{PoolError, Pools};
use crate::runtime::{NodeRuntime, Runtime};
pub(crate) use pool::Pool;
pub(crate) use token::TokenCheck;

/// The largest JSON body accepted (code to execute).
const JSON_BODY_LIMIT: usize = 32 << 20;

/// Shared state of the API handlers. Create it with [`crate::Emulator::start`].
#[derive(Debug, Clone)]
pub struct AppState {
    pub(crate) inner: Arc<StateInner>,
}

#[derive(Debug)]
pub(crate) struct StateInner {
    pub(crate) pools: Pools,
    pub(crate) runtime: Arc<Runtime>,
    /// Node.js, when a `NodeLTS` pool is configured and a usable one was found.
    pub(crate) node: Option<Arc<NodeRuntime>>,
    /// The version of `/bin/bash`, which shell commands run in (`metadata` of a `Shell` pool).
    pub(crate) bash_version: String,
    /// The pools' MCP servers, when enabled (`--mcp`).
    pub(crate) mcp: Option<crate::mcp::McpServer>,
    pub(crate) token: Option<token::TokenCheck>,
    pub(crate) guard: BrowserGuard,
    /// Whether the emulator is served over https (for the URLs it hands out).
    pub(crate) tls: bool,
    pub(crate) started: OffsetDateTime,
}

impl AppState {
    /// An absolute URL on this emulator for `path_and_query`, with the request's `Host` (already checked by
    /// the guard) and the scheme it is served with.
    pub(crate) fn absolute_url(&self, headers: &HeaderMap, path_and_query: &str) -> String {
        let host = headers.get(header::HOST).and_then(|h| h.to_str().ok()).unwrap_or("127.0.0.1");
        let scheme = if self.inner.tls { "https" } else { "http" };
        format!("{scheme}://{host}{path_and_query}")
    }
}

/// The emulator's routes: both API families at `/` and under
/// `/subscriptions/{sub}/resourceGroups/{rg}/sessionPools/{pool}`, plus `GET /health`. Every request first
/// passes the browser guard (Host, Origin, Sec-Fetch-Site), then the bearer token when one is set.
pub fn router(state: AppState) -> Router {
    // Routes that take a JSON body (and nothing else).
    let json = Router::new()
        .route("/code/execute", post(execute::legacy))
        .route("/executions", post(execute::current))
        .route("/.management/stopSession", post(management::stop_session))
        .route("/.management/getSession", post(management::get_session))
        .route("/.management/listSessions", post(management::list_sessions))
        .route_layer(middleware::from_fn(guard::require_json));
    let api = Router::new()
        .merge(json)
        .route("/executions/{execution_id}", get(execute::get_execution))
        .route("/files", get(files::list).post(files::upload).layer(DefaultBodyLimit::disable()))
        .route(
            "/files/upload",
            post(files::upload)
                .get(files::metadata_of_upload)
                .delete(files::delete_upload)
                .layer(DefaultBodyLimit::disable()),
        )
        .route("/files/content/{*path}", get(files::download_legacy))
        .route("/files/{name}", get(files::metadata).delete(files::delete))
        .route("/files/{name}/content", get(files::download_current))
        .route("/session", get(sessions::get).delete(sessions::delete))
        .route("/listSessions", get(sessions::list))
        .route("/metadata", get(sessions::metadata))
        .layer(DefaultBodyLimit::max(JSON_BODY_LIMIT))
        .route_layer(middleware::from_fn_with_state(state.clone(), authenticate))
        // The pool's MCP endpoint authenticates by its own API key (x-ms-apikey), not the bearer token.
        .route(
            crate::mcp::ENDPOINT_PATH,
            post(crate::mcp::handle)
                .get(crate::mcp::only_post)
                .delete(crate::mcp::only_post)
                .layer(DefaultBodyLimit::max(JSON_BODY_LIMIT)),
        );
    // The few Azure Resource Manager calls a pool's users make (the pool resource, its MCP credentials).
    let arm = Router::new()
        .route(
            "/subscriptions/{subscription}/resourceGroups/{group}/providers/Microsoft.App/sessionPools/{pool}",
            get(arm::get_pool),
        )
        .route(
            "/subscriptions/{subscription}/resourceGroups/{group}/providers/Microsoft.App/sessionPools/{pool}/{action}",
            post(arm::pool_action),
        )
        .route_layer(middleware::from_fn_with_state(state.clone(), authenticate));
    Router::new()
        .merge(api.clone())
        .nest("/subscriptions/{subscription}/resourceGroups/{group}/sessionPools/{pool}", api)
        .merge(arm)
        .route("/health", get(health))
        .fallback(not_found)
        .method_not_allowed_fallback(method_not_allowed)
        .layer(middleware::from_fn_with_state(state.clone(), guard::refuse_browsers))
        .layer(tower_http::trace::TraceLayer::new_for_http())
        .with_state(state)
}

/// With a token configured, every API request needs `Authorization: Bearer <token>`.
async fn authenticate(State(state): State<AppState>, request: Request, next: Next) -> Response {
    if let Some(expected) = &state.inner.token {
        let presented = request
            .headers()
            .get(header::AUTHORIZATION)
            .and_then(|v| v.to_str().ok())
            .and_then(|v| v.strip_prefix("Bearer ").or_else(|| v.strip_prefix("bearer ")))
            .unwrap_or("");
        if !expected.matches(presented) {
            let mut response = ApiError::new(
                StatusCode::UNAUTHORIZED,
                "Unauthorized",
                "The request has no valid bearer token. Send 'Authorization: Bearer <token>' with the emulator's token.",
            )
            .into_response();
            response.headers_mut().insert(header::WWW_AUTHENTICATE, HeaderValue::from_static("Bearer"));
            return response;
        }
    }
    next.run(request).await
}

async fn health(State(state): State<AppState>, headers: HeaderMap) -> Response {
    let pools = &state.inner.pools;
    let default = pools.default_pool();
    let (sessions, ready) = pools.iter().map(|p| p.counts()).fold((0, 0), |(s, r), (ps, pr)| (s + ps, r + pr));
    let tier = pools.sandbox().info.tier;
    let listed: Vec<_> = pools
        .iter()
        .map(|pool| {
            let (sessions, ready) = pool.counts();
            let kind = pool.kind();
            json!({
                "name": kind.spec.name,
                "containerType": kind.spec.container_type.to_string(),
                "tier": tier,
                "sessions": sessions,
                "readySessions": ready,
                "unavailable": kind.unavailable,
                "mcpServerEndpoint": state.inner.mcp.as_ref().map(|_| {
                    let base = if kind.spec.name == crate::config::DEFAULT_POOL {
                        String::new()
                    } else {
                        format!("/subscriptions/local/resourceGroups/local/sessionPools/{}", kind.spec.name)
                    };
                    state.absolute_url(&headers, &format!("{base}{}", crate::mcp::ENDPOINT_PATH))
                }),
            })
        })
        .collect();
    let runtime = &state.inner.runtime;
    let node = state
        .inner
        .node
        .as_deref()
        .map(|node| json!({"version": node.version, "packages": node.packages.len(), "note": node.note}));
    axum::Json(json!({
        "status": "ok",
        "sandbox": pools.sandbox().info,
        "pools": listed,
        "sessions": sessions,
        "readySessions": ready,
        "maxSessions": default.config().max_sessions,
        "cooldownSeconds": default.config().cooldown.as_secs(),
        "auth": state.inner.token.is_some(),
        "tls": state.inner.tls,
        "python": {
            "version": runtime.version,
            "virtualEnvironment": runtime.venv.is_some(),
            "packages": runtime.packages.len(),
            "note": runtime.note,
        },
        "node": node,
        "startedAt": render::timestamp(state.inner.started),
    }))
    .into_response()
}

async fn not_found(request: Request) -> ApiError {
    ApiError::not_found("NotFound", format!("No route for {} {}.", request.method(), request.uri().path()))
}

async fn method_not_allowed(request: Request) -> ApiError {
    ApiError::new(
        StatusCode::METHOD_NOT_ALLOWED,
        "MethodNotAllowed",
        format!("{} is not supported on {}.", request.method(), request.uri().path()),
    )
}

impl From<PoolError> for ApiError {
    fn from(e: PoolError) -> Self {
        match e {
            // The service answers 404 when no more sessions can be allocated.
            PoolError::Full(_) => ApiError::not_found("SessionPoolFull", e.to_string()),
            PoolError::Closing => ApiError::new(StatusCode::SERVICE_UNAVAILABLE, "ServiceUnavailable", e.to_string()),
            PoolError::Internal(why) => ApiError::internal("cannot allocate a session", why),
        }
    }
}

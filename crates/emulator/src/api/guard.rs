//! What every request passes before a handler: the browser guard, and JSON content types on JSON routes.

use axum::extract::{Request, State};
use axum::http::{StatusCode, header};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};

use super::AppState;
use crate::error::ApiError;

/// Refuses requests a web page in a browser sent (cross-site or rebound to this host): the emulator runs
/// code, and nothing a page does may reach it. See `dynamic-sessions-http-guard`.
pub(crate) async fn refuse_browsers(State(state): State<AppState>, request: Request, next: Next) -> Response {
    if let Err(refusal) = state.inner.guard.check(request.headers(), request.uri().authority()) {
        tracing::warn!(method = %request.method(), path = %request.uri().path(), %refusal, "request refused");
        return ApiError::new(StatusCode::FORBIDDEN, refusal.code(), refusal.to_string()).into_response();
    }
    next.run(request).await
}

/// A JSON route with a body needs a JSON content type. Browsers can send `text/plain`, form and multipart
/// bodies to any site without asking first; a JSON body they cannot, so this closes the door on "simple"
/// cross-site requests even from a browser that sends no `Origin`.
pub(crate) async fn require_json(request: Request, next: Next) -> Response {
    let headers = request.headers();
    let content_type = headers.get(header::CONTENT_TYPE).and_then(|v| v.to_str().ok()).unwrap_or("");
    let essence = content_type.split(';').next().unwrap_or("").trim().to_ascii_lowercase();
    let is_json = essence == "application/json" || (essence.starts_with("application/") && essence.ends_with("+json"));
    let empty = headers.get(header::CONTENT_LENGTH).and_then(|v| v.to_str().ok()).is_some_and(|v| v.trim() == "0")
        || (content_type.is_empty()
            && !headers.contains_key(header::TRANSFER_ENCODING)
            && !headers.contains_key(header::CONTENT_LENGTH));
    if !is_json && !empty {
        return ApiError::new(
            StatusCode::UNSUPPORTED_MEDIA_TYPE,
            "UnsupportedMediaType",
            format!(
                "This route takes a JSON body: send 'Content-Type: application/json' (got {:?}).",
                if content_type.is_empty() { "none" } else { content_type }
            ),
        )
        .into_response();
    }
    next.run(request).await
}

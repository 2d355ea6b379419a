//! The `.management` calls: `stopSession` (every pool, 2025-10-02-preview), and `getSession` and
//! `listSessions` as custom-container pools answer them (`POST`, `SessionView` with `expiresAt`, pages of
//! 300 in `{"value", "count", "nextLink"}`).

use axum::extract::{OriginalUri, RawQuery, State};
use axum::http::{HeaderMap, header};
use axum::response::{IntoResponse, Response};
use serde_json::json;

use super::AppState;
use super::params::Query;
use super::pool::Pool;
use super::render;
use crate::error::ApiError;

/// Sessions per `listSessions` page, as custom-container pools answer.
const PAGE: usize = 300;

/// The pool's name in answers: the `{pool}` of `.../sessionPools/{pool}/...` routes, else `emulator`.
fn pool_name(path: &str) -> String {
    let mut segments = path.split('/');
    segments
        .by_ref()
        .find(|s| s.eq_ignore_ascii_case("sessionPools"))
        .and_then(|_| segments.next())
        .filter(|p| !p.is_empty())
        .map(percent_decode)
        .unwrap_or_else(|| "emulator".to_owned())
}

fn percent_decode(segment: &str) -> String {
    url::form_urlencoded::parse(format!("x={}", segment.replace('+', "%2B")).as_bytes())
        .next()
        .map(|(_, v)| v.into_owned())
        .unwrap_or_else(|| segment.to_owned())
}

/// A session the pool does not know, as `.management` calls answer it (seen on live pools: a 400).
fn unknown(id: &str) -> ApiError {
    ApiError::bad_request("SessionWithIdentifierNotFound", format!("There is no session with identifier '{id}'."))
}

/// `POST .management/stopSession`: stops the session and removes its files; `200 text/plain`.
pub(crate) async fn stop_session(
    Pool(pool): Pool,
    RawQuery(raw): RawQuery,
    OriginalUri(uri): OriginalUri,
) -> Result<Response, ApiError> {
    let query = Query::parse(raw.as_deref())?;
    let id = query.identifier()?;
    if !pool.remove(id).await {
        return Err(unknown(id));
    }
    let pool = pool_name(uri.path());
    let text = format!("Session {id} in session pool {pool} stopped.");
    Ok(([(header::CONTENT_TYPE, "text/plain; charset=utf-8")], text).into_response())
}

/// `POST .management/getSession`: one session's `SessionView`.
pub(crate) async fn get_session(Pool(pool): Pool, RawQuery(raw): RawQuery) -> Result<Response, ApiError> {
    let query = Query::parse(raw.as_deref())?;
    let id = query.identifier()?;
    let session = pool.get(id).ok_or_else(|| unknown(id))?;
    Ok(axum::Json(render::session_view(&session, pool.config().cooldown)).into_response())
}

/// `POST .management/listSessions?skip=`: pages of 300, `nextLink` without `api-version` (as documented).
pub(crate) async fn list_sessions(
    State(state): State<AppState>,
    Pool(pool): Pool,
    RawQuery(raw): RawQuery,
    OriginalUri(uri): OriginalUri,
    headers: HeaderMap,
) -> Result<Response, ApiError> {
    let query = Query::parse(raw.as_deref())?;
    let cooldown = pool.config().cooldown;
    let all = pool.list();
    let page: Vec<_> = all.iter().skip(query.skip).take(PAGE).map(|s| render::session_view(s, cooldown)).collect();
    let next = query.skip + page.len();
    let next_link = (next < all.len()).then(|| state.absolute_url(&headers, &format!("{}?skip={next}", uri.path())));
    Ok(axum::Json(json!({"value": page, "count": page.len(), "nextLink": next_link})).into_response())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn pool_names_come_from_the_route() {
        assert_eq!(
            pool_name("/subscriptions/s/resourceGroups/g/sessionPools/my%20pool/.management/stopSession"),
            "my pool"
        );
        assert_eq!(pool_name("/.management/stopSession"), "emulator");
    }
}

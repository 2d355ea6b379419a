//! Which pool a request is for: the `{pool}` of `.../sessionPools/{pool}/...`, or the default pool at the root
//! path and for a name no pool has.

use axum::extract::{FromRequestParts, RawPathParams};
use axum::http::request::Parts;

use super::AppState;
use crate::pool::SessionPool;

/// The pool a request is for.
#[derive(Debug, Clone)]
pub(crate) struct Pool(pub(crate) SessionPool);

impl FromRequestParts<AppState> for Pool {
    type Rejection = std::convert::Infallible;

    async fn from_request_parts(parts: &mut Parts, state: &AppState) -> Result<Self, Self::Rejection> {
        let params = RawPathParams::from_request_parts(parts, state).await.ok();
        let name = params.as_ref().and_then(|p| p.iter().find(|(key, _)| *key == "pool").map(|(_, value)| value));
        Ok(Pool(state.inner.pools.get(name).clone()))
    }
}

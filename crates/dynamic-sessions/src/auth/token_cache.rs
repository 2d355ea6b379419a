//! A token cache that refreshes ahead of expiry and lets one caller refresh while the others wait.

use std::fmt;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, RwLock};
use std::time::Duration;

use azure_core::credentials::{AccessToken, Secret, TokenCredential};
use azure_core::time::OffsetDateTime;

use crate::error::Error;

/// A token this close to expiry is not handed out even while another caller refreshes.
const MIN_VALIDITY: Duration = Duration::from_secs(30);

/// Caches one access token for one scope.
///
/// * A token is reused until `refresh_margin` before it expires; then it is refreshed ahead of expiry.
/// * Only one refresh runs at a time. While it runs, callers keep using the old token if it is still valid
///   for at least 30 seconds; otherwise they wait for the refresh and share its result.
pub(crate) struct TokenCache {
    credential: Arc<dyn TokenCredential>,
    scope: String,
    refresh_margin: Duration,
    /// `std` lock: held only to clone or replace the token, never across an `.await`.
    cached: RwLock<Option<AccessToken>>,
    /// Serialises refreshes; held across the credential call.
    refresh: tokio::sync::Mutex<()>,
    /// Bumped after every successful refresh, so waiters can tell a fresh token from the one they rejected.
    generation: AtomicU64,
}

impl TokenCache {
    pub(crate) fn new(credential: Arc<dyn TokenCredential>, scope: String, refresh_margin: Duration) -> Self {
        TokenCache {
            credential,
            scope,
            refresh_margin,
            cached: RwLock::new(None),
            refresh: tokio::sync::Mutex::new(()),
            generation: AtomicU64::new(0),
        }
    }

    fn current(&self) -> Option<AccessToken> {
        self.cached.read().ok().and_then(|guard| guard.clone())
    }

    fn valid_for(token: &AccessToken, at_least: Duration) -> bool {
        token.expires_on - at_least > OffsetDateTime::now_utc()
    }

    pub(crate) async fn token(&self) -> Result<Secret, Error> {
        let seen_generation = self.generation.load(Ordering::Acquire);
        let current = self.current();
        if let Some(token) = current.as_ref().filter(|t| Self::valid_for(t, self.refresh_margin)) {
            return Ok(token.token.clone());
        }
        let _guard = match self.refresh.try_lock() {
            Ok(guard) => guard,
            Err(_) => {
                // Someone else is refreshing: use the old token while it is still good.
                if let Some(token) = current.as_ref().filter(|t| Self::valid_for(t, MIN_VALIDITY)) {
                    return Ok(token.token.clone());
                }
                self.refresh.lock().await
            }
        };
        // Another caller may have refreshed while we waited for the lock.
        if let Some(token) = self.current() {
            let refreshed_meanwhile = self.generation.load(Ordering::Acquire) != seen_generation;
            if Self::valid_for(&token, self.refresh_margin)
                || (refreshed_meanwhile && Self::valid_for(&token, MIN_VALIDITY))
            {
                return Ok(token.token.clone());
            }
        }
        let fresh = self
            .credential
            .get_token(&[self.scope.as_str()], None)
            .await
            .map_err(|source| Error::Credential { scope: self.scope.clone(), source })?;
        tracing::debug!(scope = %self.scope, expires_on = %fresh.expires_on, "access token refreshed");
        let secret = fresh.token.clone();
        if let Ok(mut slot) = self.cached.write() {
            *slot = Some(fresh);
        }
        self.generation.fetch_add(1, Ordering::AcqRel);
        Ok(secret)
    }

    pub(crate) fn invalidate(&self) {
        if let Ok(mut slot) = self.cached.write() {
            *slot = None;
        }
    }
}

impl fmt::Debug for TokenCache {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("TokenCache")
            .field("credential", &self.credential)
            .field("scope", &self.scope)
            .field("refresh_margin", &self.refresh_margin)
            .finish_non_exhaustive()
    }
}

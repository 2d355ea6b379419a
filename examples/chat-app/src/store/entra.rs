//! Azure Database for PostgreSQL with Microsoft Entra authentication: the app's identity gets a token, the
//! token is the password of new connections, and a fresh one replaces it before it expires. No password is
//! stored anywhere.

use std::str::FromStr;
use std::sync::Arc;
use std::time::Duration;

use azure_core::credentials::TokenCredential;
use sqlx::any::AnyConnectOptions;
use time::OffsetDateTime;

use super::{Store, StoreError};

/// The token scope of Azure Database for PostgreSQL.
pub const ENTRA_SCOPE: &str = "https://ossrdbms-aad.database.windows.net/.default";

/// How long before expiry the token is replaced.
const REFRESH_MARGIN: Duration = Duration::from_secs(300);

/// How long to wait after a failed token request (and the least time between two requests).
const RETRY: Duration = Duration::from_secs(15);

/// Connections to PostgreSQL that sign in with Entra ID tokens.
pub struct EntraPassword {
    url: url::Url,
    credential: Arc<dyn TokenCredential>,
    margin: Duration,
    retry: Duration,
}

impl std::fmt::Debug for EntraPassword {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("EntraPassword").field("host", &self.url.host_str()).finish_non_exhaustive()
    }
}

impl EntraPassword {
    /// Tokens from `credential` as the password of `database_url`, which must name the user (the identity's
    /// name as its database role) and carry no password.
    ///
    /// # Errors
    /// [`StoreError::Config`] for a URL that cannot be read, has a password, or names no user.
    pub fn new(database_url: &str, credential: Arc<dyn TokenCredential>) -> Result<Self, StoreError> {
        let url = url::Url::parse(database_url)
            .map_err(|e| StoreError::Config(format!("DATABASE_URL cannot be read: {e}")))?;
        if url.password().is_some() {
            return Err(StoreError::Config(
                "DATABASE_URL carries a password, but DATABASE_AUTH=entra signs in with Entra ID tokens: remove it"
                    .into(),
            ));
        }
        if url.username().is_empty() {
            return Err(StoreError::Config(
                "DATABASE_URL names no user: with DATABASE_AUTH=entra it is the identity's database role".into(),
            ));
        }
        Ok(EntraPassword { url, credential, margin: REFRESH_MARGIN, retry: RETRY })
    }

    /// Replaces the token `margin` before it expires (five minutes by default), and waits `retry` after a
    /// failed request (15 s by default; also the least time between two requests).
    pub fn with_timing(mut self, margin: Duration, retry: Duration) -> Self {
        self.margin = margin;
        self.retry = retry;
        self
    }

    /// The options of a new connection now: a fresh token as the password, and when it expires.
    ///
    /// # Errors
    /// [`StoreError::Config`] when the credential gives no token.
    pub async fn connect_options(&self) -> Result<(AnyConnectOptions, OffsetDateTime), StoreError> {
        let token = self
            .credential
            .get_token(&[ENTRA_SCOPE], None)
            .await
            .map_err(|e| StoreError::Config(format!("no Entra ID token for the database: {e}")))?;
        let mut url = self.url.clone();
        url.set_password(Some(token.token.secret()))
            .map_err(|()| StoreError::Config("DATABASE_URL cannot carry a token".into()))?;
        let options = AnyConnectOptions::from_str(url.as_str())
            .map_err(|e| StoreError::Config(format!("DATABASE_URL cannot be read: {e}")))?;
        Ok((options, token.expires_on))
    }

    /// The store (at most `max_connections` connections, see [`Store::lazy_with`]), signed in with a first
    /// token when one comes, and a task that replaces it before it expires for as long as the app runs (when
    /// no token comes, the task keeps asking and the store is not ready until one does).
    ///
    /// # Errors
    /// As [`Store::lazy`].
    pub async fn into_store(self, max_connections: Option<u32>) -> Result<Store, StoreError> {
        let store = Store::lazy_with(self.url.as_str(), max_connections)?;
        let refreshed = store.clone();
        let first = self.connect_options().await;
        tokio::spawn(async move {
            let mut next = Some(first);
            loop {
                let options = match next.take() {
                    Some(first) => first,
                    None => self.connect_options().await,
                };
                let pause = match options {
                    Ok((options, expires_on)) => {
                        refreshed.set_connect_options(options);
                        let left = expires_on - OffsetDateTime::now_utc();
                        let left = if left.is_positive() { left.unsigned_abs() } else { Duration::ZERO };
                        tracing::debug!(expires_on = %expires_on, "database token refreshed");
                        left.saturating_sub(self.margin).max(self.retry)
                    }
                    Err(e) => {
                        tracing::error!(error = %e, "cannot get a database token; retrying");
                        self.retry
                    }
                };
                tokio::time::sleep(pause).await;
            }
        });
        Ok(store)
    }
}

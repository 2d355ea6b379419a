//! How requests are authenticated: an Entra ID credential, a static bearer token, or nothing (emulator).

mod chooser;
mod token_cache;

use std::fmt;
use std::sync::Arc;
use std::time::Duration;

use azure_core::credentials::{Secret, TokenCredential};

pub(crate) use chooser::choose as chooser_from;
pub use chooser::{CredentialKind, SelectedCredential, credential_from_env};
pub(crate) use token_cache::TokenCache;

use crate::error::Error;

/// The token scope of the session-pool data plane.
pub const DEFAULT_SCOPE: &str = "https://dynamicsessions.io/.default";

/// How long before expiry a cached token is refreshed.
pub const DEFAULT_REFRESH_MARGIN: Duration = Duration::from_secs(300);

/// The authentication a [`SessionPoolClient`](crate::SessionPoolClient) uses.
///
/// `Debug` never prints a token.
#[derive(Clone)]
pub struct Auth {
    pub(crate) inner: AuthInner,
}

#[derive(Clone)]
pub(crate) enum AuthInner {
    None,
    Static(Secret),
    Credential(Arc<dyn TokenCredential>),
}

impl Auth {
    /// No `Authorization` header: for the local emulator without a token.
    pub fn none() -> Self {
        Auth { inner: AuthInner::None }
    }

    /// A fixed bearer token (an emulator token, or a token obtained elsewhere). It is never refreshed.
    pub fn bearer(token: impl Into<String>) -> Self {
        Auth { inner: AuthInner::Static(Secret::new(token.into())) }
    }

    /// Any `azure_core` credential (managed identity, workload identity, client secret, Azure CLI, ...).
    /// Tokens are cached and refreshed ahead of expiry; concurrent requests share a single refresh.
    pub fn credential(credential: Arc<dyn TokenCredential>) -> Self {
        Auth { inner: AuthInner::Credential(credential) }
    }

    /// The Entra ID credential chosen from the environment; see [`credential_from_env`].
    ///
    /// # Errors
    /// [`Error::MissingEnv`] when a partially configured credential lacks a variable, [`Error::Config`] when
    /// the credential cannot be built.
    pub fn from_env() -> Result<Self, Error> {
        Ok(Auth::credential(credential_from_env()?.credential))
    }

    /// The auth [`SessionPoolClient::from_env`](crate::SessionPoolClient::from_env) would use for `endpoint`:
    /// `DYNAMIC_SESSIONS_TOKEN` when set, none for a loopback emulator, otherwise the Entra ID credential
    /// chosen by [`credential_from_env`].
    ///
    /// # Errors
    /// [`Error::Config`] for an invalid endpoint; the errors of [`credential_from_env`].
    pub fn for_endpoint(endpoint: &str) -> Result<Self, Error> {
        let url = crate::builder::validate_endpoint(endpoint)?;
        crate::builder::auth_for(&url, &crate::env::lookup)
    }
}

impl fmt::Debug for Auth {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match &self.inner {
            AuthInner::None => f.write_str("Auth::None"),
            AuthInner::Static(_) => f.write_str("Auth::Bearer(<redacted>)"),
            AuthInner::Credential(c) => write!(f, "Auth::Credential({c:?})"),
        }
    }
}

/// The runtime side of [`Auth`]: hands out `Authorization` header values.
#[derive(Debug)]
pub(crate) enum Authenticator {
    None,
    Static(Secret),
    Cached(TokenCache),
}

impl Authenticator {
    pub(crate) fn new(auth: Auth, scope: String, refresh_margin: Duration) -> Self {
        match auth.inner {
            AuthInner::None => Authenticator::None,
            AuthInner::Static(token) => Authenticator::Static(token),
            AuthInner::Credential(c) => Authenticator::Cached(TokenCache::new(c, scope, refresh_margin)),
        }
    }

    /// The bearer token to send, if any.
    pub(crate) async fn token(&self) -> Result<Option<Secret>, Error> {
        match self {
            Authenticator::None => Ok(None),
            Authenticator::Static(t) => Ok(Some(t.clone())),
            Authenticator::Cached(cache) => cache.token().await.map(Some),
        }
    }

    /// Forgets a cached token after the service rejected it (401), so the next call fetches a new one.
    pub(crate) fn invalidate(&self) {
        if let Authenticator::Cached(cache) = self {
            cache.invalidate();
        }
    }
}

//! Building a [`SessionPoolClient`]: endpoint validation, options, and configuration from the environment.

use std::net::IpAddr;
use std::sync::Arc;
use std::time::Duration;

use azure_core::credentials::TokenCredential;
use reqwest::header::HeaderValue;
use url::{Host, Url};

use crate::api_version::ApiVersion;
use crate::auth::{Auth, Authenticator, DEFAULT_REFRESH_MARGIN, DEFAULT_SCOPE};
use crate::client::SessionPoolClient;
use crate::env;
use crate::error::Error;
use crate::execution::MAX_EXECUTION_TIMEOUT;
use crate::retry::RetryPolicy;
use crate::transport::Transport;

/// Default timeout of a non-streaming request.
pub const DEFAULT_REQUEST_TIMEOUT: Duration = Duration::from_secs(60);
/// Default `timeoutInSeconds` of an execution.
pub const DEFAULT_EXECUTION_TIMEOUT: Duration = Duration::from_secs(100);
/// Default connect timeout.
pub const DEFAULT_CONNECT_TIMEOUT: Duration = Duration::from_secs(10);
/// Default extra time an execution's HTTP request gets beyond the execution limit.
pub const DEFAULT_EXECUTION_GRACE: Duration = Duration::from_secs(30);
/// Default longest pause between two chunks of a streamed upload or download.
pub const DEFAULT_IDLE_TIMEOUT: Duration = Duration::from_secs(60);

/// Options for a [`SessionPoolClient`]. Create with [`SessionPoolClient::builder`].
#[derive(Debug)]
#[must_use = "a builder does nothing until build() is called"]
pub struct ClientBuilder {
    endpoint: String,
    auth: Auth,
    api_version: ApiVersion,
    scope: String,
    request_timeout: Duration,
    execution_timeout: Duration,
    execution_grace: Duration,
    connect_timeout: Duration,
    idle_timeout: Duration,
    user_agent_suffix: Option<String>,
    retry: RetryPolicy,
    http: Option<reqwest::Client>,
    root_certificates: Vec<reqwest::Certificate>,
}

impl ClientBuilder {
    pub(crate) fn new(endpoint: impl Into<String>) -> Self {
        ClientBuilder {
            endpoint: endpoint.into(),
            auth: Auth::none(),
            api_version: ApiVersion::default(),
            scope: DEFAULT_SCOPE.to_owned(),
            request_timeout: DEFAULT_REQUEST_TIMEOUT,
            execution_timeout: DEFAULT_EXECUTION_TIMEOUT,
            execution_grace: DEFAULT_EXECUTION_GRACE,
            connect_timeout: DEFAULT_CONNECT_TIMEOUT,
            idle_timeout: DEFAULT_IDLE_TIMEOUT,
            user_agent_suffix: None,
            retry: RetryPolicy::default(),
            http: None,
            root_certificates: Vec::new(),
        }
    }

    /// How requests authenticate (default: none, for the emulator).
    pub fn auth(mut self, auth: Auth) -> Self {
        self.auth = auth;
        self
    }

    /// Authenticate with an Entra ID credential (cached, refreshed ahead of expiry).
    pub fn credential(self, credential: Arc<dyn TokenCredential>) -> Self {
        self.auth(Auth::credential(credential))
    }

    /// Authenticate with a fixed bearer token.
    pub fn bearer_token(self, token: impl Into<String>) -> Self {
        self.auth(Auth::bearer(token))
    }

    /// The data-plane api-version (default `2025-10-02-preview`); selects the wire family.
    pub fn api_version(mut self, version: ApiVersion) -> Self {
        self.api_version = version;
        self
    }

    /// The token scope (default `https://dynamicsessions.io/.default`).
    pub fn token_scope(mut self, scope: impl Into<String>) -> Self {
        self.scope = scope.into();
        self
    }

    /// Timeout of each non-streaming request (default 60 s). For streamed uploads and downloads it bounds
    /// the wait for the response headers.
    pub fn request_timeout(mut self, timeout: Duration) -> Self {
        self.request_timeout = timeout;
        self
    }

    /// Default execution time limit sent as `timeoutInSeconds` (default 100 s, at most 220 s).
    pub fn execution_timeout(mut self, timeout: Duration) -> Self {
        self.execution_timeout = timeout;
        self
    }

    /// Extra time an execution's HTTP request gets beyond its execution limit, for session allocation,
    /// queueing and the network (default 30 s). After limit + grace without an answer the call fails with
    /// [`Error::Timeout`], and the code may have run.
    pub fn execution_grace(mut self, grace: Duration) -> Self {
        self.execution_grace = grace;
        self
    }

    /// Connect timeout (default 10 s). Ignored with [`ClientBuilder::http_client`].
    pub fn connect_timeout(mut self, timeout: Duration) -> Self {
        self.connect_timeout = timeout;
        self
    }

    /// Longest pause between two chunks of a streamed upload or download (default 60 s).
    pub fn idle_timeout(mut self, timeout: Duration) -> Self {
        self.idle_timeout = timeout;
        self
    }

    /// Appended to the `User-Agent` (`dynamic-sessions-rust/<version> <suffix>`), e.g. your app's name.
    pub fn user_agent(mut self, suffix: impl Into<String>) -> Self {
        self.user_agent_suffix = Some(suffix.into());
        self
    }

    /// The retry policy (default [`RetryPolicy::default`]).
    pub fn retry_policy(mut self, policy: RetryPolicy) -> Self {
        self.retry = policy;
        self
    }

    /// Use this `reqwest::Client` (proxies, TLS roots, connection pool settings). Its own timeouts apply
    /// in addition to this builder's.
    pub fn http_client(mut self, client: reqwest::Client) -> Self {
        self.http = Some(client);
        self
    }

    /// Also trusts this PEM certificate (besides the system's roots): the CA of an emulator started with
    /// `--tls`, or a private CA. Ignored with [`ClientBuilder::http_client`].
    ///
    /// # Errors
    /// [`Error::Config`] when the PEM holds no certificate.
    pub fn ca_certificate_pem(mut self, pem: &[u8]) -> Result<Self, Error> {
        let certificate = reqwest::Certificate::from_pem(pem)
            .map_err(|e| Error::config(format!("the CA certificate is not a PEM certificate: {e}")))?;
        self.root_certificates.push(certificate);
        Ok(self)
    }

    /// Validates the options and builds the client.
    ///
    /// # Errors
    /// [`Error::Config`] for an endpoint that is not a URL, uses http for a non-loopback host, or carries
    /// credentials; an execution timeout above 220 s; a user agent that is not a valid header value.
    pub fn build(self) -> Result<SessionPoolClient, Error> {
        let endpoint = validate_endpoint(&self.endpoint)?;
        if self.execution_timeout.is_zero() || self.execution_timeout > MAX_EXECUTION_TIMEOUT {
            return Err(Error::config(format!(
                "execution timeout must be between 1 and 220 seconds (the service's limit), got {:?}",
                self.execution_timeout
            )));
        }
        let mut agent = format!("dynamic-sessions-rust/{}", env!("CARGO_PKG_VERSION"));
        if let Some(suffix) = &self.user_agent_suffix {
            agent.push(' ');
            agent.push_str(suffix);
        }
        let user_agent = HeaderValue::from_str(&agent)
            .map_err(|_| Error::config(format!("user agent {agent:?} is not a valid header value")))?;
        let http = match self.http {
            Some(http) => http,
            None => reqwest::Client::builder()
                .connect_timeout(self.connect_timeout)
                .read_timeout(self.idle_timeout)
                .tls_certs_merge(self.root_certificates)
                .build()
                .map_err(|e| Error::config(format!("could not create the HTTP client: {e}")))?,
        };
        Ok(SessionPoolClient::from_transport(Transport {
            http,
            endpoint,
            api_version: self.api_version,
            auth: Authenticator::new(self.auth, self.scope, DEFAULT_REFRESH_MARGIN),
            user_agent,
            request_timeout: self.request_timeout,
            execution_timeout: self.execution_timeout,
            execution_grace: self.execution_grace,
            idle_timeout: self.idle_timeout,
            retry: self.retry,
        }))
    }
}

/// Reads the client's configuration from the environment; see [`SessionPoolClient::from_env`].
pub(crate) fn from_env(lookup: &dyn Fn(&str) -> Option<String>) -> Result<ClientBuilder, Error> {
    let endpoint = lookup(env::POOL_MANAGEMENT_ENDPOINT).ok_or(Error::MissingEnv {
        name: env::POOL_MANAGEMENT_ENDPOINT,
        hint: "set it to the pool's management endpoint (https://<region>.dynamicsessions.io/subscriptions/...), \
               or to an emulator URL such as http://127.0.0.1:8484",
    })?;
    let url = validate_endpoint(&endpoint)?;
    let mut builder = ClientBuilder::new(endpoint.clone());
    if let Some(version) = lookup(env::DYNAMIC_SESSIONS_API_VERSION) {
        builder = builder.api_version(ApiVersion::new(version)?);
    }
    if let Some(path) = lookup(env::DYNAMIC_SESSIONS_CA_CERT) {
        let pem = std::fs::read(&path).map_err(|e| {
            Error::config(format!("{}={path}: cannot read the CA certificate: {e}", env::DYNAMIC_SESSIONS_CA_CERT))
        })?;
        builder = builder.ca_certificate_pem(&pem)?;
    }
    Ok(builder.auth(auth_for(&url, lookup)?))
}

/// The auth `from_env` picks for `url`: `DYNAMIC_SESSIONS_TOKEN` if set, none for loopback, else Entra ID.
pub(crate) fn auth_for(url: &Url, lookup: &dyn Fn(&str) -> Option<String>) -> Result<Auth, Error> {
    Ok(if let Some(token) = lookup(env::DYNAMIC_SESSIONS_TOKEN) {
        Auth::bearer(token)
    } else if is_loopback(url) {
        Auth::none()
    } else {
        Auth::credential(crate::auth::chooser_from(lookup)?.credential)
    })
}

/// Parses and checks an endpoint: https, or http for loopback hosts only; no credentials or fragment.
pub(crate) fn validate_endpoint(raw: &str) -> Result<Url, Error> {
    let mut url = Url::parse(raw.trim())
        .map_err(|e| Error::config(format!("pool management endpoint {raw:?} is not a valid URL: {e}")))?;
    if url.cannot_be_a_base() || url.host().is_none() {
        return Err(Error::config(format!("pool management endpoint {raw:?} has no host")));
    }
    if !url.username().is_empty() || url.password().is_some() {
        return Err(Error::config("the pool management endpoint must not contain a user name or password"));
    }
    if url.fragment().is_some() {
        return Err(Error::config(format!("pool management endpoint {raw:?} must not have a #fragment")));
    }
    match url.scheme() {
        "https" => {}
        "http" if is_loopback(&url) => {}
        "http" => {
            return Err(Error::config(format!(
                "pool management endpoint {raw:?} uses http; only https is allowed, except for loopback \
                 emulators (http://127.0.0.1:...)"
            )));
        }
        other => return Err(Error::config(format!("unsupported URL scheme {other:?} in {raw:?}; use https"))),
    }
    // Early preview endpoints ended in /python/execute; Semantic Kernel strips it too.
    let trimmed = url.path().trim_end_matches('/').trim_end_matches("/python/execute").trim_end_matches('/').to_owned();
    url.set_path(&trimmed);
    Ok(url)
}

pub(crate) fn is_loopback(url: &Url) -> bool {
    match url.host() {
        Some(Host::Ipv4(ip)) => IpAddr::V4(ip).is_loopback(),
        Some(Host::Ipv6(ip)) => IpAddr::V6(ip).is_loopback(),
        Some(Host::Domain(d)) => d.eq_ignore_ascii_case("localhost") || d.to_ascii_lowercase().ends_with(".localhost"),
        None => false,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::collections::HashMap;

    #[test]
    fn endpoint_rules() -> Result<(), Error> {
        let azure = "https://eastus.dynamicsessions.io/subscriptions/s/resourceGroups/r/sessionPools/p/";
        assert_eq!(validate_endpoint(azure)?.path(), "/subscriptions/s/resourceGroups/r/sessionPools/p");
        assert_eq!(validate_endpoint("https://h.io/sessionPools/p/python/execute")?.path(), "/sessionPools/p");
        for ok in ["http://127.0.0.1:8484", "http://localhost:1", "http://[::1]:9", "http://127.9.9.9"] {
            validate_endpoint(ok)?;
        }
        for bad in [
            "http://example.com",
            "http://10.0.0.1:8484",
            "ftp://127.0.0.1",
            "not a url",
            "https://user:pw@h.io",
            "https://h.io/#x",
        ] {
            assert!(matches!(validate_endpoint(bad), Err(Error::Config { .. })), "{bad} accepted");
        }
        Ok(())
    }

    fn env_of(vars: &[(&str, &str)]) -> impl Fn(&str) -> Option<String> {
        let map: HashMap<String, String> = vars.iter().map(|(k, v)| (k.to_string(), v.to_string())).collect();
        move |name| map.get(name).cloned()
    }

    #[test]
    fn from_env_names_missing_endpoint() {
        let err = from_env(&env_of(&[])).err();
        assert!(matches!(err, Some(Error::MissingEnv { name: "POOL_MANAGEMENT_ENDPOINT", .. })));
        let text = err.map(|e| e.to_string()).unwrap_or_default();
        assert!(text.contains("POOL_MANAGEMENT_ENDPOINT"), "{text}");
    }

    #[test]
    fn from_env_loopback_needs_no_credential() -> Result<(), Error> {
        let builder = from_env(&env_of(&[
            ("POOL_MANAGEMENT_ENDPOINT", "http://127.0.0.1:8484"),
            ("DYNAMIC_SESSIONS_API_VERSION", "2024-02-02-preview"),
        ]))?;
        assert!(format!("{builder:?}").contains("Auth::None"));
        let client = builder.build()?;
        assert_eq!(client.api_version().as_str(), "2024-02-02-preview");
        Ok(())
    }

    #[test]
    fn from_env_remote_partial_service_principal_names_variable() {
        let err = from_env(&env_of(&[
            ("POOL_MANAGEMENT_ENDPOINT", "https://eastus.dynamicsessions.io/p"),
            ("AZURE_CLIENT_SECRET", "s"),
            ("AZURE_TENANT_ID", "72f988bf-86f1-41af-91ab-2d7cd011db47"),
        ]))
        .err();
        assert!(matches!(err, Some(Error::MissingEnv { name: "AZURE_CLIENT_ID", .. })), "{err:?}");
    }

    #[test]
    fn static_token_is_redacted() -> Result<(), Error> {
        let builder = from_env(&env_of(&[
            ("POOL_MANAGEMENT_ENDPOINT", "http://127.0.0.1:8484"),
            ("DYNAMIC_SESSIONS_TOKEN", "super-secret-token"),
        ]))?;
        assert!(!format!("{builder:?}").contains("super-secret-token"));
        let client = builder.build()?;
        assert!(!format!("{client:?}").contains("super-secret-token"));
        Ok(())
    }

    #[test]
    fn rejects_execution_timeout_above_limit() {
        let err = SessionPoolClient::builder("http://127.0.0.1:1").execution_timeout(Duration::from_secs(221)).build();
        assert!(matches!(err, Err(Error::Config { .. })));
    }
}

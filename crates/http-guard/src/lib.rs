//! Keeps web browsers out of a local HTTP service that runs code.
//!
//! A service on `127.0.0.1` is reachable from every web page open in the developer's browser: a page can send
//! a "simple" cross-site request (a `POST` with `Content-Type: text/plain`, no preflight), and with DNS
//! rebinding (`attacker.example` resolving to `127.0.0.1`) it can even read the answers. [`BrowserGuard`]
//! refuses both, before any handler runs:
//!
//! * **`Host`** must name the service: a loopback address or `localhost`, the address it is bound to (any IP
//!   address when it is bound to all of them), or a name the operator allowed. A rebinding attack always
//!   arrives with the attacker's domain name in `Host`.
//! * **`Origin`**, when a browser sends one, must be the service's own origin (or an allowed name).
//! * **`Sec-Fetch-Site`** must not be `cross-site` or `same-site` (another port on `localhost` is the same
//!   site but another origin).
//!
//! Programs (the Azure SDKs, LangChain, Semantic Kernel, `curl`) send none of `Origin` or `Sec-Fetch-*` and a
//! `Host` naming the address they connect to, so they are unaffected.
//!
//! ```
//! use dynamic_sessions_http_guard::BrowserGuard;
//! use http::HeaderMap;
//!
//! let guard = BrowserGuard::new("127.0.0.1:8484".parse().unwrap(), &[]);
//! let mut headers = HeaderMap::new();
//! headers.insert("host", "127.0.0.1:8484".parse().unwrap());
//! assert!(guard.check(&headers, None).is_ok());
//! headers.insert("host", "attacker.example:8484".parse().unwrap());
//! assert!(guard.check(&headers, None).is_err());
//! ```

#![warn(missing_docs)]

use std::fmt;
use std::net::{IpAddr, SocketAddr};

use http::HeaderMap;
use http::uri::Authority;

/// The operator's "allow any host" value for `--allowed-host` (behind a trusted reverse proxy).
pub const ANY_HOST: &str = "*";

/// Why a request was refused.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum Refusal {
    /// `Host` names something other than this service (DNS rebinding, or a misconfigured proxy).
    ForeignHost(String),
    /// `Origin` is another web origin (a page in a browser).
    ForeignOrigin(String),
    /// `Sec-Fetch-Site` says a browser sent it for another site.
    CrossSite(String),
}

impl Refusal {
    /// A short code for error bodies (`ForeignHost`, `ForeignOrigin`, `CrossSiteRequest`).
    pub fn code(&self) -> &'static str {
        match self {
            Refusal::ForeignHost(_) => "ForeignHost",
            Refusal::ForeignOrigin(_) => "ForeignOrigin",
            Refusal::CrossSite(_) => "CrossSiteRequest",
        }
    }
}

impl fmt::Display for Refusal {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Refusal::ForeignHost(host) => write!(
                f,
                "the Host {host:?} does not name this service; connect to 127.0.0.1 or localhost, or start it with \
                 --allowed-host {} if a proxy forwards that name",
                host_only(host)
            ),
            Refusal::ForeignOrigin(origin) => write!(
                f,
                "requests from web pages ({origin}) are refused: this service runs code, and a page open in a browser \
                 must not reach it"
            ),
            Refusal::CrossSite(site) => {
                write!(f, "requests a browser sends for another site (Sec-Fetch-Site: {site}) are refused")
            }
        }
    }
}

impl std::error::Error for Refusal {}

/// The Host, Origin and Sec-Fetch-Site policy of one listening service.
#[derive(Debug, Clone)]
pub struct BrowserGuard {
    bind: IpAddr,
    /// Lower-case host names (no port) the operator allowed.
    names: Vec<String>,
    any_host: bool,
}

impl BrowserGuard {
    /// The policy of a service bound to `bind`, also accepting `allowed_hosts` (names or addresses, with or
    /// without a port; [`ANY_HOST`] accepts every `Host`, for a service behind a trusted reverse proxy).
    pub fn new(bind: SocketAddr, allowed_hosts: &[String]) -> BrowserGuard {
        let any_host = allowed_hosts.iter().any(|h| h.trim() == ANY_HOST);
        let names = allowed_hosts
            .iter()
            .map(|h| h.trim())
            .filter(|h| !h.is_empty() && *h != ANY_HOST)
            .map(|h| host_only(h).to_ascii_lowercase())
            .collect();
        BrowserGuard { bind: bind.ip(), names, any_host }
    }

    /// Checks a request's headers. `authority` is the request URI's authority, for HTTP/2 requests that carry
    /// no `Host` header.
    ///
    /// # Errors
    /// The [`Refusal`] when the request must not be served.
    pub fn check(&self, headers: &HeaderMap, authority: Option<&Authority>) -> Result<(), Refusal> {
        let host = header(headers, "host").map(str::to_owned).or_else(|| authority.map(|a| a.as_str().to_owned()));
        if let Some(host) = &host
            && !self.any_host
            && !self.host_allowed(host_only(host))
        {
            return Err(Refusal::ForeignHost(host.clone()));
        }
        if let Some(site) = header(headers, "sec-fetch-site") {
            let site = site.to_ascii_lowercase();
            if site == "cross-site" || site == "same-site" {
                return Err(Refusal::CrossSite(site));
            }
        }
        if let Some(origin) = header(headers, "origin")
            && !self.origin_allowed(origin, host.as_deref())
        {
            return Err(Refusal::ForeignOrigin(origin.to_owned()));
        }
        Ok(())
    }

    fn host_allowed(&self, host: &str) -> bool {
        let host = host.trim_end_matches('.').to_ascii_lowercase();
        if let Ok(ip) = host.trim_start_matches('[').trim_end_matches(']').parse::<IpAddr>() {
            // An address can never be a rebinding attack: the page's origin would be the address itself.
            return ip.is_loopback() || ip == self.bind || self.bind.is_unspecified() || self.names.contains(&host);
        }
        host == "localhost" || host.ends_with(".localhost") || self.names.contains(&host)
    }

    /// The page's origin must be this service's own (the same authority as `Host`), or an allowed name.
    fn origin_allowed(&self, origin: &str, host: Option<&str>) -> bool {
        let Some((scheme, authority)) = origin.split_once("://") else { return false };
        if !matches!(scheme.to_ascii_lowercase().as_str(), "http" | "https") {
            return false;
        }
        let authority = authority.trim_end_matches('/').to_ascii_lowercase();
        let same_origin = host.is_some_and(|h| h.trim().eq_ignore_ascii_case(&authority));
        same_origin || self.any_host || self.names.contains(&host_only(&authority).to_owned())
    }
}

fn header<'a>(headers: &'a HeaderMap, name: &str) -> Option<&'a str> {
    headers.get(name).and_then(|v| v.to_str().ok()).map(str::trim).filter(|v| !v.is_empty())
}

/// `host:port` without the port; `[v6]:port` keeps its brackets.
fn host_only(authority: &str) -> &str {
    let authority = authority.trim();
    if authority.starts_with('[') {
        return authority.split_once(']').map(|(h, _)| &authority[..=h.len()]).unwrap_or(authority);
    }
    match authority.rsplit_once(':') {
        Some((host, port)) if !host.contains(':') && port.bytes().all(|b| b.is_ascii_digit()) => host,
        _ => authority,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn headers(pairs: &[(&'static str, &str)]) -> HeaderMap {
        let mut map = HeaderMap::new();
        for (name, value) in pairs {
            map.insert(*name, value.parse().unwrap_or_else(|_| http::HeaderValue::from_static("x")));
        }
        map
    }

    fn loopback() -> BrowserGuard {
        BrowserGuard::new(SocketAddr::from(([127, 0, 0, 1], 8484)), &[])
    }

    #[test]
    fn programs_pass() {
        let guard = loopback();
        for host in ["127.0.0.1:8484", "localhost:8484", "[::1]:8484", "LOCALHOST", "127.0.0.1", "app.localhost:1"] {
            assert_eq!(guard.check(&headers(&[("host", host)]), None), Ok(()), "{host}");
        }
        assert_eq!(guard.check(&HeaderMap::new(), None), Ok(()), "HTTP/1.0 without Host");
    }

    #[test]
    fn rebinding_and_cross_site_requests_are_refused() {
        let guard = loopback();
        let refused = |pairs: &[(&'static str, &str)]| guard.check(&headers(pairs), None).err().map(|r| r.code());
        assert_eq!(refused(&[("host", "attacker.example:8484")]), Some("ForeignHost"));
        assert_eq!(refused(&[("host", "127.0.0.1.attacker.example")]), Some("ForeignHost"));
        assert_eq!(refused(&[("host", "127.0.0.1:8484"), ("origin", "http://evil.example")]), Some("ForeignOrigin"));
        assert_eq!(refused(&[("host", "127.0.0.1:8484"), ("origin", "null")]), Some("ForeignOrigin"));
        assert_eq!(
            refused(&[("host", "127.0.0.1:8484"), ("origin", "http://localhost:3000")]),
            Some("ForeignOrigin"),
            "another port is another origin"
        );
        assert_eq!(refused(&[("host", "127.0.0.1:8484"), ("sec-fetch-site", "cross-site")]), Some("CrossSiteRequest"));
        assert_eq!(refused(&[("host", "127.0.0.1:8484"), ("sec-fetch-site", "same-site")]), Some("CrossSiteRequest"));
        assert_eq!(refused(&[("host", "127.0.0.1:8484"), ("origin", "http://127.0.0.1:8484")]), None, "same origin");
        assert_eq!(refused(&[("host", "127.0.0.1:8484"), ("sec-fetch-site", "same-origin")]), None);
        assert_eq!(refused(&[("host", "127.0.0.1:8484"), ("sec-fetch-site", "none")]), None);
    }

    #[test]
    fn operators_can_allow_names_and_all_addresses() {
        let guard = BrowserGuard::new(SocketAddr::from(([0, 0, 0, 0], 8080)), &["pool.example.net:443".into()]);
        assert_eq!(guard.check(&headers(&[("host", "10.1.2.3:8080")]), None), Ok(()));
        assert_eq!(guard.check(&headers(&[("host", "POOL.example.net")]), None), Ok(()));
        assert!(guard.check(&headers(&[("host", "other.example.net")]), None).is_err());
        let any = BrowserGuard::new(SocketAddr::from(([0, 0, 0, 0], 8080)), &[ANY_HOST.into()]);
        assert_eq!(any.check(&headers(&[("host", "whatever.example")]), None), Ok(()));
        assert!(any.check(&headers(&[("host", "x"), ("sec-fetch-site", "cross-site")]), None).is_err());
    }

    #[test]
    fn http2_authority_is_checked_without_a_host_header() {
        let guard = loopback();
        let authority: Authority = "attacker.example:8484".parse().unwrap_or_else(|_| Authority::from_static("x"));
        assert!(guard.check(&HeaderMap::new(), Some(&authority)).is_err());
    }

    #[test]
    fn host_parsing() {
        assert_eq!(host_only("[::1]:8484"), "[::1]");
        assert_eq!(host_only("[::1]"), "[::1]");
        assert_eq!(host_only("example.com:80"), "example.com");
        assert_eq!(host_only("::1"), "::1");
        assert_eq!(host_only("example.com:8x"), "example.com:8x");
    }

    mod properties {
        use super::*;
        use proptest::prelude::*;

        proptest! {
            /// No header value, however malformed, panics; a refused request names its reason.
            #[test]
            fn any_headers(host in any::<String>(), origin in any::<String>(), site in any::<String>()) {
                let mut map = HeaderMap::new();
                for (name, value) in [("host", &host), ("origin", &origin), ("sec-fetch-site", &site)] {
                    if let Ok(v) = http::HeaderValue::from_str(value) {
                        map.insert(name, v);
                    }
                }
                if let Err(refusal) = loopback().check(&map, None) {
                    prop_assert!(!refusal.to_string().is_empty());
                }
            }
        }
    }
}

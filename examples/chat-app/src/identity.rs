//! Who the browser is: a random identity in a signed, HttpOnly, SameSite cookie; and protection of
//! state-changing requests against cross-site use (a CSRF token plus `Origin`/`Sec-Fetch-Site` checks).
//!
//! The identity never leaves the server except in the cookie; the session pool identifier is derived from it
//! with HMAC and never shown.

use axum::extract::FromRequestParts;
use axum::http::request::Parts;
use axum::http::{HeaderMap, HeaderValue, Method, header};
use hmac::{Hmac, Mac};
use sha2::Sha256;

use crate::AppState;
use crate::error::AppError;

/// The cookie's name.
pub const COOKIE: &str = "dsc_identity";
/// The header the page's JavaScript sends the CSRF token in.
pub const CSRF_HEADER: &str = "x-csrf-token";

/// Bytes of the HMAC kept in cookies and CSRF tokens (160 bits).
const TAG_BYTES: usize = 20;

fn keyed(secret: &[u8], purpose: &str, id: &str) -> Option<Hmac<Sha256>> {
    let mut mac = Hmac::<Sha256>::new_from_slice(secret).ok()?;
    mac.update(purpose.as_bytes());
    mac.update(b"\0");
    mac.update(id.as_bytes());
    Some(mac)
}

/// The hex tag of `id` for `purpose`.
fn mac(secret: &[u8], purpose: &str, id: &str) -> String {
    keyed(secret, purpose, id)
        .map(|m| m.finalize().into_bytes().iter().take(TAG_BYTES).map(|b| format!("{b:02x}")).collect())
        .unwrap_or_default()
}

/// Whether `presented` (hex) is the tag of `id` for `purpose`, checked in constant time by `hmac` itself.
fn verify(secret: &[u8], purpose: &str, id: &str, presented: &str) -> bool {
    let Some(tag) = decode_hex(presented).filter(|t| t.len() == TAG_BYTES) else { return false };
    keyed(secret, purpose, id).is_some_and(|m| m.verify_truncated_left(&tag).is_ok())
}

fn decode_hex(text: &str) -> Option<Vec<u8>> {
    let bytes = text.as_bytes();
    if !bytes.len().is_multiple_of(2) {
        return None;
    }
    let nibble = |b: u8| (b as char).to_digit(16).map(|d| d as u8);
    bytes.chunks(2).map(|pair| Some(nibble(pair[0])? << 4 | nibble(pair[1])?)).collect()
}

/// The owner of an identity's conversations in the store: a keyed hash of the identity (the identity itself
/// stays in the signed cookie).
pub fn owner_of(secret: &[u8], identity: &str) -> String {
    mac(secret, "owner", identity)
}

/// A browser, identified by a verified cookie.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Visitor {
    /// The random identity (never shown to the user; only in the signed cookie).
    pub id: String,
}

impl Visitor {
    /// A fresh identity (244 random bits).
    pub fn new() -> Self {
        Visitor { id: format!("{}{}", uuid::Uuid::new_v4().simple(), uuid::Uuid::new_v4().simple()) }
    }

    /// The identity from the request's cookie, if it carries a valid signature.
    pub fn from_headers(secret: &[u8], headers: &HeaderMap) -> Option<Visitor> {
        headers
            .get_all(header::COOKIE)
            .iter()
            .filter_map(|v| v.to_str().ok())
            .flat_map(|v| v.split(';'))
            .filter_map(|pair| pair.trim().strip_prefix(COOKIE).and_then(|rest| rest.strip_prefix('=')))
            .find_map(|value| {
                let (id, signature) = value.split_once('.')?;
                let valid = id.len() == 64 && id.bytes().all(|b| b.is_ascii_hexdigit());
                (valid && verify(secret, "cookie", id, signature)).then(|| Visitor { id: id.to_owned() })
            })
    }

    /// The `Set-Cookie` value that gives the browser this identity.
    pub fn cookie(&self, secret: &[u8], secure: bool) -> HeaderValue {
        let value = format!(
            "{COOKIE}={}.{}; Path=/; HttpOnly; SameSite=Strict; Max-Age=2592000{}",
            self.id,
            mac(secret, "cookie", &self.id),
            if secure { "; Secure" } else { "" }
        );
        HeaderValue::from_str(&value).unwrap_or_else(|_| HeaderValue::from_static("dsc_identity=; Path=/"))
    }

    /// The CSRF token the page embeds and sends back on state-changing requests.
    pub fn csrf_token(&self, secret: &[u8]) -> String {
        mac(secret, "csrf", &self.id)
    }
}

impl Default for Visitor {
    fn default() -> Self {
        Self::new()
    }
}

/// Rejects cross-site requests: a `Sec-Fetch-Site: cross-site`, or an `Origin` whose host differs from `Host`.
fn same_origin(headers: &HeaderMap) -> bool {
    if headers.get("sec-fetch-site").and_then(|v| v.to_str().ok()) == Some("cross-site") {
        return false;
    }
    let Some(origin) = headers.get(header::ORIGIN).and_then(|v| v.to_str().ok()) else { return true };
    let host = headers.get(header::HOST).and_then(|v| v.to_str().ok()).unwrap_or("");
    let origin_host = origin.split_once("://").map(|(_, rest)| rest).unwrap_or(origin).trim_end_matches('/');
    !host.is_empty() && origin_host.eq_ignore_ascii_case(host)
}

/// API requests need a valid identity cookie; state-changing ones also a same-origin request and the CSRF token.
impl FromRequestParts<AppState> for Visitor {
    type Rejection = AppError;

    async fn from_request_parts(parts: &mut Parts, state: &AppState) -> Result<Self, AppError> {
        let secret = state.secret();
        let visitor = Visitor::from_headers(secret, &parts.headers).ok_or_else(|| {
            AppError::unauthorized("Your session cookie is missing or invalid. Reload the page to start a new session.")
        })?;
        let mutating = !matches!(parts.method, Method::GET | Method::HEAD | Method::OPTIONS);
        if mutating {
            if !same_origin(&parts.headers) {
                return Err(AppError::forbidden("Cross-site requests are not allowed."));
            }
            let token = parts.headers.get(CSRF_HEADER).and_then(|v| v.to_str().ok()).unwrap_or("");
            if !verify(secret, "csrf", &visitor.id, token) {
                return Err(AppError::forbidden("The request's CSRF token is missing or wrong. Reload the page."));
            }
        }
        Ok(visitor)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn cookies_are_signed() {
        let secret = [9u8; 32];
        let visitor = Visitor::new();
        let cookie = visitor.cookie(&secret, true);
        let text = cookie.to_str().unwrap_or_default();
        assert!(text.contains("HttpOnly") && text.contains("SameSite=Strict") && text.contains("Secure"));
        let pair = text.split(';').next().unwrap_or_default().to_owned();
        let mut headers = HeaderMap::new();
        headers.insert(
            header::COOKIE,
            HeaderValue::from_str(&format!("other=1; {pair}")).unwrap_or(HeaderValue::from_static("")),
        );
        assert_eq!(Visitor::from_headers(&secret, &headers), Some(visitor.clone()));
        assert_eq!(Visitor::from_headers(&[8u8; 32], &headers), None, "another key's signature fails");
        let forged = format!("{COOKIE}={}.{}", visitor.id, "0".repeat(40));
        headers.insert(header::COOKIE, HeaderValue::from_str(&forged).unwrap_or(HeaderValue::from_static("")));
        assert_eq!(Visitor::from_headers(&secret, &headers), None);
    }

    #[test]
    fn origin_rules() {
        let mut headers = HeaderMap::new();
        headers.insert(header::HOST, HeaderValue::from_static("127.0.0.1:8000"));
        assert!(same_origin(&headers));
        headers.insert(header::ORIGIN, HeaderValue::from_static("http://127.0.0.1:8000"));
        assert!(same_origin(&headers));
        headers.insert(header::ORIGIN, HeaderValue::from_static("https://evil.example"));
        assert!(!same_origin(&headers));
        headers.remove(header::ORIGIN);
        headers.insert("sec-fetch-site", HeaderValue::from_static("cross-site"));
        assert!(!same_origin(&headers));
    }
}

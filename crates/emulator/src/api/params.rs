//! Query parameters and request bodies, read as leniently as the service reads them.

use std::time::Duration;

use axum::http::HeaderMap;
use base64::Engine as _;
use serde_json::Value;

use crate::config::MAX_EXECUTION_TIMEOUT;
use crate::error::ApiError;

/// The wire family an api-version belongs to.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Family {
    /// `2024-02-02-preview`, `2024-08-02-preview`: wrapped bodies, `Success`/`Failure`.
    Legacy,
    /// `2024-10-02-preview` and later: flat bodies, `Succeeded`/`Failed`.
    Current,
}

/// The common query parameters.
#[derive(Debug, Clone)]
pub(crate) struct Query {
    pub(crate) api_version: String,
    /// (year, month, day) of the api-version.
    pub(crate) date: (u16, u8, u8),
    identifier: Option<String>,
    pub(crate) path: Option<String>,
    pub(crate) recursive: bool,
    pub(crate) skip: usize,
}

impl Query {
    /// Parses the raw query string. `api-version` is required, as on the service.
    pub(crate) fn parse(raw: Option<&str>) -> Result<Query, ApiError> {
        let mut api_version = None;
        let mut identifier = None;
        let mut path = None;
        let mut recursive = false;
        let mut skip = 0;
        for (key, value) in url::form_urlencoded::parse(raw.unwrap_or("").as_bytes()) {
            match key.to_ascii_lowercase().as_str() {
                "api-version" => api_version = Some(value.into_owned()),
                "identifier" => identifier = Some(value.into_owned()),
                "path" => path = Some(value.into_owned()),
                "recursive" => recursive = value.eq_ignore_ascii_case("true") || value == "1",
                "skip" => {
                    skip = value
                        .parse()
                        .map_err(|_| ApiError::bad_request("InvalidParameter", "skip must be a non-negative integer"))?
                }
                _ => {}
            }
        }
        let api_version = api_version.ok_or_else(|| {
            ApiError::bad_request(
                "MissingApiVersionParameter",
                "The api-version query parameter (?api-version=) is required.",
            )
        })?;
        let date = parse_date(&api_version).ok_or_else(|| {
            ApiError::bad_request(
                "InvalidApiVersionParameter",
                format!(
                    "The api-version '{api_version}' is invalid; use e.g. 2025-10-02-preview or 2024-02-02-preview."
                ),
            )
        })?;
        Ok(Query { api_version, date, identifier, path, recursive, skip })
    }

    pub(crate) fn family(&self) -> Family {
        if self.date < (2024, 10, 2) { Family::Legacy } else { Family::Current }
    }

    /// Whether this version has `directory` on file resources and directory sizes (2025-10-02 and later).
    pub(crate) fn has_directory_field(&self) -> bool {
        self.date >= (2025, 10, 2)
    }

    /// The session identifier, validated leniently (1–256 printable characters).
    pub(crate) fn identifier(&self) -> Result<&str, ApiError> {
        let id = self.identifier.as_deref().ok_or_else(|| {
            ApiError::bad_request(
                "MissingIdentifier",
                "The identifier query parameter (?identifier=<session id>) is required.",
            )
        })?;
        let len = id.chars().count();
        if len == 0 || len > 256 || id.chars().any(char::is_control) {
            return Err(ApiError::bad_request(
                "InvalidIdentifier",
                "The session identifier must be 1-256 printable characters (4-128 letters, digits and punctuation recommended).",
            ));
        }
        Ok(id)
    }
}

fn parse_date(v: &str) -> Option<(u16, u8, u8)> {
    let bytes = v.as_bytes();
    if bytes.len() < 10 || bytes[4] != b'-' || bytes[7] != b'-' {
        return None;
    }
    if bytes.len() > 10 && bytes[10] != b'-' {
        return None;
    }
    let y = v.get(0..4)?.parse().ok()?;
    let m = v.get(5..7)?.parse().ok()?;
    let d = v.get(8..10)?.parse().ok()?;
    ((1..=12).contains(&m) && (1..=31).contains(&d)).then_some((y, m, d))
}

/// A parsed execute request.
#[derive(Debug, Clone)]
pub(crate) struct ExecuteRequest {
    pub(crate) code: String,
    pub(crate) asynchronous: bool,
    pub(crate) timeout: Duration,
}

/// The first of `names` in `obj`, compared case-insensitively.
fn get_ci<'a>(obj: &'a serde_json::Map<String, Value>, names: &[&str]) -> Option<&'a Value> {
    obj.iter().find(|(k, _)| names.iter().any(|n| k.eq_ignore_ascii_case(n))).map(|(_, v)| v)
}

impl ExecuteRequest {
    /// Reads a wrapped (`{"properties": {...}}`) or flat body; enum values in any case; `timeoutInSeconds`
    /// optional (default and maximum 220), as a number or a numeric string.
    pub(crate) fn parse(body: &[u8]) -> Result<ExecuteRequest, ApiError> {
        let value: Value = serde_json::from_slice(body).map_err(|e| {
            ApiError::bad_request("InvalidRequestBody", format!("The request body is not valid JSON: {e}"))
        })?;
        let outer = value
            .as_object()
            .ok_or_else(|| ApiError::bad_request("InvalidRequestBody", "The request body must be a JSON object."))?;
        let props = match get_ci(outer, &["properties"]).and_then(Value::as_object) {
            Some(inner) => inner,
            None => outer,
        };
        if get_ci(props, &["shellCommand"]).is_some() && get_ci(props, &["code", "pythonCode"]).is_none() {
            return Err(ApiError::bad_request(
                "SessionPropertiesMissing",
                "This pool runs Python: send the code in 'code' (shellCommand is for Shell pools).",
            ));
        }
        let raw_code = get_ci(props, &["code", "pythonCode"]).and_then(Value::as_str).ok_or_else(|| {
            ApiError::bad_request(
                "SessionPropertiesMissing",
                "The request has no 'code' property (the Python code to run).",
            )
        })?;
        let input = get_ci(props, &["codeInputType"]).and_then(Value::as_str).unwrap_or("inline").to_ascii_lowercase();
        let code = match input.as_str() {
            "inline" | "inlinetext" => raw_code.to_owned(),
            "inlinebase64" => {
                let bytes = base64::engine::general_purpose::STANDARD.decode(raw_code.trim()).map_err(|e| {
                    ApiError::bad_request(
                        "InvalidRequestBody",
                        format!("codeInputType is InlineBase64 but the code is not base64: {e}"),
                    )
                })?;
                String::from_utf8(bytes)
                    .map_err(|_| ApiError::bad_request("InvalidRequestBody", "The decoded code is not UTF-8."))?
            }
            other => {
                return Err(ApiError::bad_request(
                    "InvalidRequestBody",
                    format!("codeInputType '{other}' is not supported; use Inline, InlineText or InlineBase64."),
                ));
            }
        };
        let asynchronous =
            match get_ci(props, &["executionType"]).and_then(Value::as_str).map(str::to_ascii_lowercase).as_deref() {
                None | Some("synchronous") => false,
                Some("asynchronous") => true,
                Some(other) => {
                    return Err(ApiError::bad_request(
                        "InvalidRequestBody",
                        format!("executionType '{other}' is not supported; use Synchronous or Asynchronous."),
                    ));
                }
            };
        let timeout = match get_ci(props, &["timeoutInSeconds"]) {
            None | Some(Value::Null) => MAX_EXECUTION_TIMEOUT,
            Some(v) => {
                let secs = v.as_f64().or_else(|| v.as_str().and_then(|s| s.trim().parse().ok())).ok_or_else(|| {
                    ApiError::bad_request("InvalidRequestBody", "timeoutInSeconds must be a number of seconds.")
                })?;
                if !secs.is_finite() || secs <= 0.0 {
                    return Err(ApiError::bad_request("InvalidRequestBody", "timeoutInSeconds must be positive."));
                }
                Duration::from_secs_f64(secs.min(MAX_EXECUTION_TIMEOUT.as_secs_f64()))
            }
        };
        Ok(ExecuteRequest { code, asynchronous, timeout })
    }
}

/// A client-chosen execution id from the `operation-id` header, if usable.
pub(crate) fn operation_id(headers: &HeaderMap) -> Option<String> {
    let value = headers.get("operation-id")?.to_str().ok()?.trim();
    let ok = !value.is_empty()
        && value.len() <= 128
        && value.chars().all(|c| c.is_ascii_alphanumeric() || "-_.".contains(c));
    ok.then(|| value.to_owned())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn query_rules() {
        assert!(matches!(Query::parse(Some("identifier=x")), Err(e) if e.code == "MissingApiVersionParameter"));
        assert!(matches!(Query::parse(Some("api-version=latest")), Err(e) if e.code == "InvalidApiVersionParameter"));
        let q =
            Query::parse(Some("api-version=2024-02-02-preview&identifier=a%7Cb&path=%2Fmnt%2Fdata%2Fx&recursive=true"));
        let q = q.ok();
        assert_eq!(q.as_ref().map(Query::family), Some(Family::Legacy));
        assert_eq!(q.as_ref().and_then(|q| q.identifier().ok()), Some("a|b"));
        assert_eq!(q.as_ref().and_then(|q| q.path.clone()).as_deref(), Some("/mnt/data/x"));
        let q = Query::parse(Some("API-VERSION=2025-10-02-preview")).ok();
        assert_eq!(q.as_ref().map(Query::family), Some(Family::Current));
        assert!(q.is_some_and(|q| q.identifier().is_err()));
    }

    #[test]
    fn execute_bodies() {
        let wrapped = br#"{"properties":{"codeInputType":"INLINE","executionType":"synchronous","code":"1+1","timeoutInSeconds":"30"}}"#;
        let r = ExecuteRequest::parse(wrapped).ok();
        assert_eq!(
            r.as_ref().map(|r| (r.code.as_str(), r.timeout.as_secs(), r.asynchronous)),
            Some(("1+1", 30, false))
        );
        let flat =
            br#"{"codeInputType":"InlineBase64","executionType":"Asynchronous","code":"MSsx","timeoutInSeconds":900}"#;
        let r = ExecuteRequest::parse(flat).ok();
        assert_eq!(
            r.as_ref().map(|r| (r.code.as_str(), r.timeout.as_secs(), r.asynchronous)),
            Some(("1+1", 220, true))
        );
        for bad in [
            &b"not json"[..],
            b"[]",
            br#"{"codeInputType":"inline"}"#,
            br#"{"code":"1","timeoutInSeconds":0}"#,
            br#"{"code":"1","executionType":"later"}"#,
        ] {
            assert!(ExecuteRequest::parse(bad).is_err(), "{}", String::from_utf8_lossy(bad));
        }
    }

    mod properties {
        use super::*;
        use proptest::prelude::*;

        fn text(shapes: &'static [&'static str]) -> impl Strategy<Value = String> {
            prop_oneof![
                any::<String>(),
                proptest::sample::select(shapes)
                    .prop_flat_map(|s| { ("\\PC{0,4}", "\\PC{0,4}").prop_map(move |(a, b)| format!("{a}{s}{b}")) }),
                proptest::sample::select(shapes).prop_map(str::to_owned),
            ]
        }

        proptest! {
            #![proptest_config(ProptestConfig { cases: 2000, ..ProptestConfig::default() })]

            /// Query strings: no panic; a 400 with a code, or parameters that keep their promises.
            #[test]
            fn query_strings(raw in text(&[
                "api-version=2025-10-02-preview&identifier=", "api-version=2024-0é-02", "&skip=", "%", "%ff",
                "recursive=true", "path=/mnt/data/../x", "identifier=%00",
            ])) {
                match Query::parse(Some(&raw)) {
                    Ok(q) => {
                        prop_assert!(parse_date(&q.api_version).is_some());
                        if let Ok(id) = q.identifier() {
                            prop_assert!(!id.is_empty() && !id.chars().any(char::is_control));
                        }
                    }
                    Err(e) => prop_assert_eq!(e.status, axum::http::StatusCode::BAD_REQUEST),
                }
            }

            /// Execute bodies: no panic; a 400, or a request with code and a timeout within the ceiling.
            #[test]
            fn execute_bodies(raw in prop_oneof![
                any::<Vec<u8>>(),
                text(&[
                    r#"{"code":"1"}"#, r#"{"properties":{"code":"1","timeoutInSeconds":-1}}"#,
                    r#"{"codeInputType":"InlineBase64","code":"%%%"}"#, r#"{"timeoutInSeconds":1e308,"code":"x"}"#,
                    r#"{"executionType":"é","code":"x"}"#, r#"{"shellCommand":"ls"}"#,
                ]).prop_map(String::into_bytes),
            ]) {
                match ExecuteRequest::parse(&raw) {
                    Ok(r) => prop_assert!(!r.timeout.is_zero() && r.timeout <= MAX_EXECUTION_TIMEOUT),
                    Err(e) => prop_assert_eq!(e.status, axum::http::StatusCode::BAD_REQUEST),
                }
            }

            /// `operation-id` headers: accepted ids are short and safe to echo in a header and a URL.
            #[test]
            fn operation_ids(raw in any::<Vec<u8>>()) {
                let mut headers = HeaderMap::new();
                if let Ok(value) = axum::http::HeaderValue::from_bytes(&raw) {
                    headers.insert("operation-id", value);
                }
                if let Some(id) = operation_id(&headers) {
                    prop_assert!(!id.is_empty() && id.len() <= 128);
                    prop_assert!(id.chars().all(|c| c.is_ascii_alphanumeric() || "-_.".contains(c)));
                }
            }
        }
    }
}

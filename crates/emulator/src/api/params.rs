//! Query parameters and request bodies, read as leniently as the service reads them.

use std::time::Duration;

use axum::http::HeaderMap;
use base64::Engine as _;
use serde_json::Value;

use crate::config::MAX_EXECUTION_TIMEOUT;
use crate::error::ApiError;
use crate::kernel::protocol::Work;

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
                "skip" | "offset" => {
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

    /// Whether executions take `outputStreamsMaxLength` (default 4,096), `useEmptyKernel` and the Jupyter
    /// format (2025-10-02 and later).
    pub(crate) fn has_execution_options(&self) -> bool {
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
    pub(crate) work: Work,
    pub(crate) asynchronous: bool,
    /// Whether the request named an `executionType` (an `execCommandAndArgs` request has none, and neither has
    /// its answer).
    pub(crate) has_execution_type: bool,
    pub(crate) timeout: Duration,
    /// `outputStreamsMaxLength`, when given.
    pub(crate) output_streams_max_length: Option<usize>,
    /// `useEmptyKernel`.
    pub(crate) empty_kernel: bool,
    /// `returnJupyterFormatExecutionResult` (or `returnJupyterFormat`, as the TypeSpec examples spell it).
    pub(crate) jupyter: bool,
}

/// The first of `names` in `obj`, compared case-insensitively.
fn get_ci<'a>(obj: &'a serde_json::Map<String, Value>, names: &[&str]) -> Option<&'a Value> {
    obj.iter().find(|(k, _)| names.iter().any(|n| k.eq_ignore_ascii_case(n))).map(|(_, v)| v)
}

fn invalid(message: impl Into<String>) -> ApiError {
    ApiError::bad_request("InvalidRequestBody", message)
}

fn flag(props: &serde_json::Map<String, Value>, names: &[&str]) -> Result<bool, ApiError> {
    match get_ci(props, names) {
        None | Some(Value::Null) => Ok(false),
        Some(Value::Bool(b)) => Ok(*b),
        Some(Value::String(s)) if s.eq_ignore_ascii_case("true") || s.eq_ignore_ascii_case("false") => {
            Ok(s.eq_ignore_ascii_case("true"))
        }
        Some(_) => Err(invalid(format!("{} must be true or false.", names[0]))),
    }
}

fn optional_string(props: &serde_json::Map<String, Value>, name: &str) -> Result<Option<String>, ApiError> {
    match get_ci(props, &[name]) {
        None | Some(Value::Null) => Ok(None),
        Some(Value::String(s)) => Ok(Some(s.clone())),
        Some(_) => Err(invalid(format!("{name} must be a string."))),
    }
}

impl ExecuteRequest {
    /// Reads a wrapped (`{"properties": {...}}`) or flat body; enum values in any case; `timeoutInSeconds`
    /// optional (default and maximum 220), as a number or a numeric string. Python code (`code`), a shell
    /// command line (`shellCommand`, with `stdin`) or an argument list (`execCommandAndArgs`).
    pub(crate) fn parse(body: &[u8]) -> Result<ExecuteRequest, ApiError> {
        let value: Value =
            serde_json::from_slice(body).map_err(|e| invalid(format!("The request body is not valid JSON: {e}")))?;
        let outer = value.as_object().ok_or_else(|| invalid("The request body must be a JSON object."))?;
        let props = match get_ci(outer, &["properties"]).and_then(Value::as_object) {
            Some(inner) => inner,
            None => outer,
        };
        let work = Self::work(props)?;
        let execution_type = get_ci(props, &["executionType"]);
        let asynchronous = match execution_type.and_then(Value::as_str).map(str::to_ascii_lowercase).as_deref() {
            None | Some("synchronous") => false,
            Some("asynchronous") => true,
            Some(other) => {
                return Err(invalid(format!(
                    "executionType '{other}' is not supported; use Synchronous or Asynchronous."
                )));
            }
        };
        let timeout = match get_ci(props, &["timeoutInSeconds"]) {
            None | Some(Value::Null) => MAX_EXECUTION_TIMEOUT,
            Some(v) => {
                let secs = v
                    .as_f64()
                    .or_else(|| v.as_str().and_then(|s| s.trim().parse().ok()))
                    .ok_or_else(|| invalid("timeoutInSeconds must be a number of seconds."))?;
                if !secs.is_finite() || secs <= 0.0 {
                    return Err(invalid("timeoutInSeconds must be positive."));
                }
                Duration::from_secs_f64(secs.min(MAX_EXECUTION_TIMEOUT.as_secs_f64()))
            }
        };
        let output_streams_max_length = match get_ci(props, &["outputStreamsMaxLength"]) {
            None | Some(Value::Null) => None,
            Some(v) => Some(
                v.as_u64()
                    .filter(|n| *n > 0)
                    .and_then(|n| usize::try_from(n).ok())
                    .ok_or_else(|| invalid("outputStreamsMaxLength must be a positive integer."))?,
            ),
        };
        Ok(ExecuteRequest {
            work,
            asynchronous,
            has_execution_type: execution_type.is_some(),
            timeout,
            output_streams_max_length,
            empty_kernel: flag(props, &["useEmptyKernel"])?,
            jupyter: flag(props, &["returnJupyterFormatExecutionResult", "returnJupyterFormat"])?,
        })
    }

    fn work(props: &serde_json::Map<String, Value>) -> Result<Work, ApiError> {
        let code = get_ci(props, &["code", "pythonCode"]);
        let shell = optional_string(props, "shellCommand")?;
        let argv = get_ci(props, &["execCommandAndArgs"]).filter(|v| !v.is_null());
        let stdin = optional_string(props, "stdin")?;
        match (code, shell, argv) {
            (Some(code), None, None) => {
                let raw = code.as_str().ok_or_else(|| invalid("'code' must be a string of Python code."))?;
                Ok(Work::Code(Self::decode(props, raw)?))
            }
            (None, Some(command), None) if !command.trim().is_empty() => Ok(Work::Shell { command, stdin }),
            (None, None, Some(argv)) => {
                let argv: Option<Vec<String>> =
                    argv.as_array().and_then(|a| a.iter().map(|x| x.as_str().map(str::to_owned)).collect());
                match argv {
                    Some(argv) if argv.first().is_some_and(|p| !p.trim().is_empty()) => Ok(Work::Exec { argv, stdin }),
                    _ => Err(invalid("execCommandAndArgs must be a list of strings, the program first.")),
                }
            }
            (None, None, None) | (None, Some(_), None) => Err(ApiError::bad_request(
                "SessionPropertiesMissing",
                "The request has no 'code' (Python code to run), 'shellCommand' or 'execCommandAndArgs'.",
            )),
            _ => Err(invalid("Send one of 'code', 'shellCommand' and 'execCommandAndArgs'; they cannot coexist.")),
        }
    }

    fn decode(props: &serde_json::Map<String, Value>, raw_code: &str) -> Result<String, ApiError> {
        let input = get_ci(props, &["codeInputType"]).and_then(Value::as_str).unwrap_or("inline").to_ascii_lowercase();
        match input.as_str() {
            "inline" | "inlinetext" => Ok(raw_code.to_owned()),
            "inlinebase64" => {
                let bytes = base64::engine::general_purpose::STANDARD
                    .decode(raw_code.trim())
                    .map_err(|e| invalid(format!("codeInputType is InlineBase64 but the code is not base64: {e}")))?;
                String::from_utf8(bytes).map_err(|_| invalid("The decoded code is not UTF-8."))
            }
            other => Err(invalid(format!(
                "codeInputType '{other}' is not supported; use Inline, InlineText or InlineBase64."
            ))),
        }
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
        let code = |r: &ExecuteRequest| match &r.work {
            Work::Code(code) => code.clone(),
            other => format!("{other:?}"),
        };
        let r = ExecuteRequest::parse(wrapped).ok();
        assert_eq!(r.as_ref().map(|r| (code(r), r.timeout.as_secs(), r.asynchronous)), Some(("1+1".into(), 30, false)));
        let flat =
            br#"{"codeInputType":"InlineBase64","executionType":"Asynchronous","code":"MSsx","timeoutInSeconds":900}"#;
        let r = ExecuteRequest::parse(flat).ok();
        assert_eq!(r.as_ref().map(|r| (code(r), r.timeout.as_secs(), r.asynchronous)), Some(("1+1".into(), 220, true)));
        let shell = br#"{"codeInputType":"Inline","executionType":"Synchronous","stdin":"x","shellCommand":"read L","outputStreamsMaxLength":4096,"timeoutInSeconds":600}"#;
        let r = ExecuteRequest::parse(shell).ok();
        assert!(matches!(r.as_ref().map(|r| &r.work), Some(Work::Shell { stdin: Some(s), .. }) if s == "x"));
        assert_eq!(r.as_ref().and_then(|r| r.output_streams_max_length), Some(4096));
        let exec = br#"{"execCommandAndArgs":["ls","-a"],"returnJupyterFormat":true}"#;
        let r = ExecuteRequest::parse(exec).ok();
        assert!(r.as_ref().is_some_and(|r| !r.has_execution_type && r.jupyter));
        for bad in [
            &b"not json"[..],
            b"[]",
            br#"{"codeInputType":"inline"}"#,
            br#"{"code":"1","timeoutInSeconds":0}"#,
            br#"{"code":"1","executionType":"later"}"#,
            br#"{"code":"1","shellCommand":"ls"}"#,
            br#"{"execCommandAndArgs":[]}"#,
            br#"{"execCommandAndArgs":[1]}"#,
            br#"{"code":"1","useEmptyKernel":"maybe"}"#,
            br#"{"code":"1","outputStreamsMaxLength":-5}"#,
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

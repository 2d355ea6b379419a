//! JSON-RPC 2.0 as the pool's MCP endpoint speaks it: one request or a batch per POST, notifications (no
//! `id`) answered with nothing, errors with the standard codes and a message that says what to do.

use serde_json::{Map, Value, json};

/// The body was not JSON.
pub(crate) const PARSE_ERROR: i64 = -32700;
/// Not a JSON-RPC 2.0 request.
pub(crate) const INVALID_REQUEST: i64 = -32600;
/// No such method.
pub(crate) const METHOD_NOT_FOUND: i64 = -32601;
/// The method's parameters do not fit.
pub(crate) const INVALID_PARAMS: i64 = -32602;
/// The server failed.
pub(crate) const INTERNAL_ERROR: i64 = -32603;

/// A JSON-RPC error: its code and a message for a person.
#[derive(Debug, Clone, PartialEq)]
pub(crate) struct RpcError {
    pub(crate) code: i64,
    pub(crate) message: String,
}

impl RpcError {
    pub(crate) fn new(code: i64, message: impl Into<String>) -> RpcError {
        RpcError { code, message: message.into() }
    }

    pub(crate) fn invalid_params(message: impl Into<String>) -> RpcError {
        RpcError::new(INVALID_PARAMS, message)
    }
}

/// One parsed request: its id (`None` for a notification), method and parameters.
#[derive(Debug, Clone, PartialEq)]
pub(crate) struct Request {
    pub(crate) id: Option<Value>,
    pub(crate) method: String,
    pub(crate) params: Map<String, Value>,
}

/// A message of the body as read: a request, or why it is not one (with the id it had, if any).
pub(crate) type Parsed = Result<Request, (Value, RpcError)>;

/// The body's messages, and whether it was a batch. `Err` when it is not JSON at all, or an empty batch.
pub(crate) fn parse(body: &[u8]) -> Result<(Vec<Parsed>, bool), RpcError> {
    let value: Value = serde_json::from_slice(body).map_err(|e| {
        RpcError::new(PARSE_ERROR, format!("Parse error: the body is not JSON ({e}). Send one JSON-RPC 2.0 request."))
    })?;
    match value {
        Value::Array(items) if items.is_empty() => {
            Err(RpcError::new(INVALID_REQUEST, "Invalid Request: an empty batch. Send at least one request."))
        }
        Value::Array(items) => Ok((items.into_iter().map(message).collect(), true)),
        single => Ok((vec![message(single)], false)),
    }
}

/// One message: `{"jsonrpc": "2.0", "id": <string|number>, "method": "...", "params": {...}}`.
fn message(value: Value) -> Parsed {
    let Value::Object(mut object) = value else {
        return Err((Value::Null, RpcError::new(INVALID_REQUEST, "Invalid Request: a request is a JSON object.")));
    };
    let id = object.remove("id");
    let echo = id.clone().unwrap_or(Value::Null);
    let invalid = |why: &str| Err((echo.clone(), RpcError::new(INVALID_REQUEST, format!("Invalid Request: {why}"))));
    if object.get("jsonrpc").and_then(Value::as_str) != Some("2.0") {
        return invalid("the `jsonrpc` field must be exactly \"2.0\".");
    }
    if let Some(id) = &id
        && !(id.is_string() || id.is_i64() || id.is_u64())
    {
        return invalid("the `id` must be a string or an integer.");
    }
    let Some(method) = object.get("method").and_then(Value::as_str).map(str::to_owned) else {
        return invalid("the `method` field is missing.");
    };
    let params = match object.remove("params") {
        None | Some(Value::Null) => Map::new(),
        Some(Value::Object(params)) => params,
        Some(_) => {
            return Err((echo, RpcError::invalid_params("Invalid params: `params` must be an object.")));
        }
    };
    Ok(Request { id, method, params })
}

/// A success answer to request `id`.
pub(crate) fn result(id: Value, result: Value) -> Value {
    json!({"jsonrpc": "2.0", "id": id, "result": result})
}

/// An error answer to request `id` (`null` when it could not be read).
pub(crate) fn error(id: Value, error: &RpcError) -> Value {
    json!({"jsonrpc": "2.0", "id": id, "error": {"code": error.code, "message": error.message}})
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn requests_notifications_batches_and_mistakes_are_told_apart() {
        let (single, batch) = parse(br#"{ "jsonrpc": "2.0", "id": "1", "method": "initialize" }"#).unwrap_or_default();
        assert!(!batch);
        assert_eq!(single, [Ok(Request { id: Some(json!("1")), method: "initialize".into(), params: Map::new() })]);
        let (many, batch) = parse(br#"[{"jsonrpc":"2.0","method":"notifications/initialized"},{"jsonrpc":"2.0","id":7,"method":"tools/list","params":{}}]"#).unwrap_or_default();
        assert!(batch && many.len() == 2);
        assert!(matches!(&many[0], Ok(r) if r.id.is_none()));
        assert!(matches!(&many[1], Ok(r) if r.id == Some(json!(7))));
        for (body, code) in [(&b"not json"[..], PARSE_ERROR), (b"[]", INVALID_REQUEST)] {
            assert_eq!(parse(body).err().map(|e| e.code), Some(code), "{body:?}");
        }
        for (body, code) in [
            (r#"{"jsonrpc":"1.0","id":1,"method":"x"}"#, INVALID_REQUEST),
            (r#"{"jsonrpc":"2.0","id":1.5,"method":"x"}"#, INVALID_REQUEST),
            (r#"{"jsonrpc":"2.0","id":{"a":1},"method":"x"}"#, INVALID_REQUEST),
            (r#"{"jsonrpc":"2.0","id":1}"#, INVALID_REQUEST),
            (r#"{"jsonrpc":"2.0","id":1,"method":"x","params":[1]}"#, INVALID_PARAMS),
            (r#"3"#, INVALID_REQUEST),
        ] {
            let (parsed, _) = parse(body.as_bytes()).unwrap_or_default();
            assert!(matches!(parsed.as_slice(), [Err((_, e))] if e.code == code), "{body}: {parsed:?}");
        }
    }

    proptest::proptest! {
        /// Any body: no panic, and every message is a request or an error.
        #[test]
        fn any_body_is_read_without_panic(body in proptest::collection::vec(proptest::num::u8::ANY, 0..256)) {
            let _ = parse(&body);
        }

        /// Any JSON value: a request or an error, never a panic.
        #[test]
        fn any_json_is_read_without_panic(text in r#"[\[\]{}",:0-9a-z. -]{0,64}"#) {
            let _ = parse(text.as_bytes());
        }
    }
}

//! Lenient readers for the service's JSON: `$id` fields, `value`/`$values` wrappers, several spellings.

use serde_json::Value;
use time::OffsetDateTime;
use time::format_description::well_known::{Rfc2822, Rfc3339};

/// The first of `names` present (and not null) in `obj`.
pub(crate) fn field<'a>(obj: &'a Value, names: &[&str]) -> Option<&'a Value> {
    names.iter().find_map(|n| obj.get(*n).filter(|v| !v.is_null()))
}

pub(crate) fn string(obj: &Value, names: &[&str]) -> Option<String> {
    field(obj, names).and_then(|v| match v {
        Value::String(s) => Some(s.clone()),
        Value::Number(n) => Some(n.to_string()),
        _ => None,
    })
}

pub(crate) fn unsigned(obj: &Value, names: &[&str]) -> Option<u64> {
    field(obj, names).and_then(|v| match v {
        Value::Number(n) => n.as_u64().or_else(|| n.as_f64().filter(|f| *f >= 0.0).map(|f| f as u64)),
        Value::String(s) => s.trim().parse().ok(),
        _ => None,
    })
}

pub(crate) fn float(obj: &Value, names: &[&str]) -> Option<f64> {
    field(obj, names).and_then(|v| match v {
        Value::Number(n) => n.as_f64(),
        Value::String(s) => s.trim().parse().ok(),
        _ => None,
    })
}

/// Parses RFC 3339 timestamps with any number of fractional digits (`...07.9922617Z`), and RFC 2822.
pub(crate) fn timestamp(obj: &Value, names: &[&str]) -> Option<OffsetDateTime> {
    let text = string(obj, names)?;
    OffsetDateTime::parse(&text, &Rfc3339).or_else(|_| OffsetDateTime::parse(&text, &Rfc2822)).ok()
}

/// The items of a list response: `[..]`, `{"value": [..]}`, `{"$values": [..]}`, `{"value": {"$values": [..]}}`,
/// or a single object (treated as a one-item list).
pub(crate) fn items(v: &Value) -> Vec<&Value> {
    match v {
        Value::Array(a) => a.iter().collect(),
        Value::Object(o) => {
            for key in ["value", "$values", "sessions"] {
                if let Some(inner) = o.get(key) {
                    return items(inner);
                }
            }
            vec![v]
        }
        _ => Vec::new(),
    }
}

/// The `properties` object of a legacy resource, or the resource itself.
pub(crate) fn properties(v: &Value) -> &Value {
    v.get("properties").filter(|p| p.is_object()).unwrap_or(v)
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn timestamps_with_seven_fraction_digits() {
        let v = json!({"a": "2024-05-02T07:21:07.9922617Z", "b": "2024-05-29T00:00:00.000Z"});
        assert_eq!(timestamp(&v, &["a"]).map(|t| t.unix_timestamp()), Some(1_714_634_467));
        assert!(timestamp(&v, &["b"]).is_some());
        assert!(timestamp(&v, &["missing"]).is_none());
    }

    #[test]
    fn list_wrappers() {
        assert_eq!(items(&json!([1, 2])).len(), 2);
        assert_eq!(items(&json!({"$id": "1", "value": [1, 2, 3]})).len(), 3);
        assert_eq!(items(&json!({"$values": [1]})).len(), 1);
        assert_eq!(items(&json!({"value": {"$values": [1, 2]}})).len(), 2);
        assert_eq!(items(&json!({"name": "x"})).len(), 1);
        assert!(items(&json!(null)).is_empty());
    }
}

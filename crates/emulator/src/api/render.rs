//! Response bodies in each family's exact shape.

use axum::http::HeaderValue;
use serde_json::{Value, json};
use time::OffsetDateTime;
use time::format_description::well_known::Rfc3339;

use super::params::{Family, Query};
use crate::pool::{ExecutionState, RunResult, Session};
use crate::safefs::Entry;

pub(crate) fn timestamp(t: OffsetDateTime) -> String {
    t.format(&Rfc3339).unwrap_or_default()
}

/// `Last-Modified` / HTTP-date.
pub(crate) fn http_date(t: OffsetDateTime) -> Option<HeaderValue> {
    let format = time::macros::format_description!(
        "[weekday repr:short], [day] [month repr:short] [year] [hour]:[minute]:[second] GMT"
    );
    t.to_offset(time::UtcOffset::UTC).format(&format).ok().and_then(|s| HeaderValue::from_str(&s).ok())
}

fn milliseconds(ms: f64) -> u64 {
    ms.max(0.0).round() as u64
}

/// Legacy execute answer: `{"$id":"1","properties":{"$id":"2","status":"Success"|"Failure",...}}`.
pub(crate) fn legacy_execution(r: &RunResult) -> Value {
    let result = match (&r.result, r.succeeded) {
        (Value::Null, true) => json!(""),
        (other, _) => other.clone(),
    };
    json!({"$id": "1", "properties": {
        "$id": "2",
        "status": if r.succeeded { "Success" } else { "Failure" },
        "stdout": r.stdout,
        "stderr": r.stderr,
        "result": result,
        "executionTimeInMilliseconds": milliseconds(r.duration_ms),
    }})
}

/// Current execution resource (`SessionCodeExecutionResource`).
pub(crate) fn current_execution(id: &str, identifier: &str, asynchronous: bool, state: &ExecutionState) -> Value {
    let execution_type = if asynchronous { "Asynchronous" } else { "Synchronous" };
    match state {
        ExecutionState::Running => json!({
            "id": id, "identifier": identifier, "executionType": execution_type, "status": "Running",
        }),
        ExecutionState::Done(r) => {
            let mut body = json!({
                "id": id,
                "identifier": identifier,
                "executionType": execution_type,
                "status": if r.succeeded { "Succeeded" } else { "Failed" },
                "result": {
                    "stdout": r.stdout,
                    "stderr": r.stderr,
                    "executionResult": if r.result.is_null() && r.succeeded { json!("") } else { r.result.clone() },
                    "executionTimeInMilliseconds": milliseconds(r.duration_ms),
                },
            });
            if let (Some((code, message)), Some(obj)) = (&r.error, body.as_object_mut()) {
                obj.insert("error".into(), json!({"code": code, "message": message}));
            }
            body
        }
    }
}

fn content_type(name: &str) -> String {
    mime_guess::from_path(name).first_or_octet_stream().essence_str().to_owned()
}

/// Legacy file entry: `{"$id":..,"properties":{"$id":..,"filename","size","lastModifiedTime"}}`.
pub(crate) fn legacy_file(entry: &Entry, n: usize) -> Value {
    json!({"$id": (2 * n + 2).to_string(), "properties": {
        "$id": (2 * n + 3).to_string(),
        "filename": entry.name,
        "size": entry.size,
        "lastModifiedTime": timestamp(entry.modified),
    }})
}

/// Current file resource (`SessionResourceFile`).
pub(crate) fn current_file(entry: &Entry, q: &Query) -> Value {
    let mut v = json!({
        "name": entry.name,
        "type": if entry.is_dir { "Directory" } else { "File" },
        "lastModifiedAt": timestamp(entry.modified),
    });
    if let Some(obj) = v.as_object_mut() {
        if !entry.is_dir {
            obj.insert("contentType".into(), json!(content_type(&entry.name)));
            obj.insert("sizeInBytes".into(), json!(entry.size));
        } else if q.has_directory_field() {
            obj.insert("sizeInBytes".into(), json!(4096));
        }
        if q.has_directory_field() && !entry.directory.is_empty() {
            obj.insert("directory".into(), json!(entry.directory));
        }
    }
    v
}

/// A file list in the family's shape.
pub(crate) fn file_list(entries: &[Entry], q: &Query) -> Value {
    match q.family() {
        Family::Legacy => {
            let files: Vec<Value> =
                entries.iter().filter(|e| !e.is_dir).enumerate().map(|(n, e)| legacy_file(e, n)).collect();
            json!({"$id": "1", "value": files})
        }
        Family::Current => {
            json!({"value": entries.iter().map(|e| current_file(e, q)).collect::<Vec<_>>(), "nextLink": null})
        }
    }
}

/// A session resource.
pub(crate) fn session(s: &Session, cooldown: std::time::Duration) -> Value {
    let last = s.last_accessed_at();
    json!({
        "identifier": s.identifier,
        "createdAt": timestamp(s.created_at),
        "lastAccessedAt": timestamp(last),
        "expireAt": timestamp(last + cooldown),
        "etag": s.etag,
    })
}

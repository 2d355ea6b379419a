//! Response bodies in each family's exact shape.

use axum::http::HeaderValue;
use serde_json::{Value, json};
use time::OffsetDateTime;
use time::format_description::well_known::Rfc3339;

use super::params::{Family, Query};
use crate::config::ContainerType;
use crate::kernel::protocol::{ResultKind, RunResult};
use crate::pool::{ExecutionState, RecordMeta, Session};
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

/// The value of an execution as one family and version show it: an image (or several), or the last
/// expression's value.
fn result_value(r: &RunResult, version: (u16, u8, u8), jupyter: bool) -> Value {
    match r.images.len() {
        0 => {}
        // As on the service: a cell that draws returns the image as its result.
        1 => return r.images[0].clone(),
        // More figures than one result can hold: all of them, in order (the service's shape for this is not
        // published; this keeps every chart, and clients that read one image object read the first).
        _ => return Value::Array(r.images.clone()),
    }
    match r.kind {
        ResultKind::None if jupyter || !r.succeeded => Value::Null,
        ResultKind::None => json!(""),
        // The Jupyter format shows primitives as their notebook text: 'nan' for the string, nan for the float.
        _ if jupyter => r.repr.clone().map(Value::String).unwrap_or_else(|| r.value.clone()),
        // NaN has no JSON form: 2025-10-02-preview answers null (its example), older versions the text.
        ResultKind::NonFinite if version >= (2025, 10, 2) => Value::Null,
        ResultKind::NonFinite | ResultKind::Json | ResultKind::Repr => r.value.clone(),
    }
}

/// Legacy execute answer: `{"$id":"1","properties":{"$id":"2","status":"Success"|"Failure",...}}`.
pub(crate) fn legacy_execution(r: &RunResult, container_type: ContainerType) -> Value {
    let result = result_value(r, (2024, 2, 2), false);
    let mut properties = json!({
        "$id": "2",
        "status": if r.succeeded { "Success" } else { "Failure" },
        "stdout": r.stdout,
        "stderr": r.stderr,
        "result": result,
        "executionTimeInMilliseconds": milliseconds(r.duration_ms),
    });
    // The NodeLTS tutorial's answer names the value `executionResult`; Python clients read `result`.
    if container_type == ContainerType::NodeLts
        && let Some(obj) = properties.as_object_mut()
    {
        let value = obj.get("result").cloned().unwrap_or(Value::Null);
        obj.insert("executionResult".into(), value);
    }
    json!({"$id": "1", "properties": properties})
}

/// Current execution resource (`SessionCodeExecutionResource`) of an api-version.
pub(crate) fn current_execution(
    id: &str,
    identifier: &str,
    meta: RecordMeta,
    version: (u16, u8, u8),
    state: &ExecutionState,
) -> Value {
    let mut body = json!({"id": id, "identifier": identifier});
    let Some(obj) = body.as_object_mut() else { return body };
    if meta.execution_type {
        obj.insert("executionType".into(), json!(if meta.asynchronous { "Asynchronous" } else { "Synchronous" }));
    }
    match state {
        ExecutionState::Running => {
            obj.insert("status".into(), json!("Running"));
        }
        ExecutionState::Done(r) => {
            let mut result = json!({"stdout": r.stdout, "stderr": r.stderr});
            let status = match r.exit_code {
                // Shell commands: the exit code is the status, as a string; there is no executionResult.
                Some(code) => json!(code.to_string()),
                // A shell command that never reported one (it ran past its limit and its kernel was replaced).
                None if r.shell => json!("-1"),
                None => {
                    if let Some(fields) = result.as_object_mut() {
                        fields.insert("executionResult".into(), result_value(r, version, meta.jupyter));
                    }
                    json!(if r.succeeded { "Succeeded" } else { "Failed" })
                }
            };
            if let Some(fields) = result.as_object_mut() {
                fields.insert("executionTimeInMilliseconds".into(), json!(milliseconds(r.duration_ms)));
            }
            obj.insert("status".into(), status);
            obj.insert("result".into(), result);
            if let Some((code, message)) = &r.error {
                // An Azure.Core ErrorResponse: the error object nests once more.
                obj.insert("error".into(), json!({"error": {"code": code, "message": message}}));
            }
        }
    }
    body
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

/// Current file resource (`SessionResourceFile`). `listed` is the directory a listing was asked for: list
/// entries (2025-10-02-preview) name their directory relative to it; upload and metadata answers (`None`)
/// name none, as in the service's examples.
pub(crate) fn current_file(entry: &Entry, q: &Query, listed: Option<&str>) -> Value {
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
            obj.insert("contentType".into(), json!("application/octet-stream"));
            obj.insert("sizeInBytes".into(), json!(4096));
        }
        if let (Some(listed), true) = (listed, q.has_directory_field()) {
            let relative = entry.directory.strip_prefix(listed).unwrap_or(&entry.directory).trim_start_matches('/');
            obj.insert("directory".into(), json!(relative));
        }
    }
    v
}

/// A file list in the family's shape.
pub(crate) fn file_list(entries: &[Entry], q: &Query, listed: &str) -> Value {
    match q.family() {
        Family::Legacy => {
            let files: Vec<Value> =
                entries.iter().filter(|e| !e.is_dir).enumerate().map(|(n, e)| legacy_file(e, n)).collect();
            json!({"$id": "1", "value": files})
        }
        Family::Current => {
            json!({"value": entries.iter().map(|e| current_file(e, q, Some(listed))).collect::<Vec<_>>(), "nextLink": null})
        }
    }
}

/// A session resource (`GET session`, `listSessions`).
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

/// A session as custom-container pools' `.management` calls show it (`SessionView`: `expiresAt`).
pub(crate) fn session_view(s: &Session, cooldown: std::time::Duration) -> Value {
    let last = s.last_accessed_at();
    json!({
        "identifier": s.identifier,
        "etag": s.etag,
        "expiresAt": timestamp(last + cooldown),
        "createdAt": timestamp(s.created_at),
        "lastAccessedAt": timestamp(last),
    })
}

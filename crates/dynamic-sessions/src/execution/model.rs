//! What an execution returns, read leniently from either wire family.

use std::fmt;
use std::time::Duration;

use base64::Engine as _;
use serde_json::Value;

use crate::error::Error;
use crate::wire;

/// The state of an execution. Both families' spellings map to the same variants
/// (`Success`/`Succeeded`, `Failure`/`Failed`), case-insensitively.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum ExecutionStatus {
    /// Queued (asynchronous executions).
    NotStarted,
    /// Still running (asynchronous executions).
    Running,
    /// The code ran to completion.
    Succeeded,
    /// The code raised an exception, timed out, or could not run; see `stderr`.
    Failed,
    /// The execution was cancelled.
    Canceled,
    /// A status this client does not know.
    Other(String),
}

impl ExecutionStatus {
    /// Reads a wire status.
    pub fn parse(s: &str) -> Self {
        match s.trim().to_ascii_lowercase().as_str() {
            "notstarted" | "not_started" | "queued" => ExecutionStatus::NotStarted,
            "running" | "inprogress" => ExecutionStatus::Running,
            "succeeded" | "success" => ExecutionStatus::Succeeded,
            "failed" | "failure" | "error" => ExecutionStatus::Failed,
            "canceled" | "cancelled" => ExecutionStatus::Canceled,
            _ => ExecutionStatus::Other(s.to_owned()),
        }
    }

    /// Whether the execution has finished (successfully or not).
    pub fn is_terminal(&self) -> bool {
        !matches!(self, ExecutionStatus::NotStarted | ExecutionStatus::Running)
    }
}

impl fmt::Display for ExecutionStatus {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            ExecutionStatus::NotStarted => "NotStarted",
            ExecutionStatus::Running => "Running",
            ExecutionStatus::Succeeded => "Succeeded",
            ExecutionStatus::Failed => "Failed",
            ExecutionStatus::Canceled => "Canceled",
            ExecutionStatus::Other(s) => s,
        })
    }
}

/// An image the code produced (a matplotlib figure), as the service sends it.
#[derive(Clone, PartialEq, Eq)]
#[non_exhaustive]
pub struct Image {
    /// The image format, e.g. `png`.
    pub format: String,
    /// The image, base64-encoded.
    pub base64_data: String,
}

impl Image {
    /// The decoded image bytes.
    ///
    /// # Errors
    /// [`Error::Decode`] when `base64_data` is not valid base64.
    pub fn decode(&self) -> Result<Vec<u8>, Error> {
        base64::engine::general_purpose::STANDARD.decode(self.base64_data.trim()).map_err(|e| Error::Decode {
            operation: "image",
            message: format!("image data is not valid base64: {e}"),
            body_snippet: self.base64_data.chars().take(64).collect(),
        })
    }

    /// The MIME type (`image/png`, `image/svg+xml`, ...).
    pub fn mime_type(&self) -> String {
        match self.format.to_ascii_lowercase().as_str() {
            "svg" => "image/svg+xml".to_owned(),
            "jpg" => "image/jpeg".to_owned(),
            other => format!("image/{other}"),
        }
    }

    fn from_json(v: &Value) -> Option<Image> {
        let is_image = wire::string(v, &["type"]).is_some_and(|t| t.eq_ignore_ascii_case("image"));
        let data = wire::string(v, &["base64_data", "base64Data", "data"])?;
        is_image.then(|| Image {
            format: wire::string(v, &["format"]).unwrap_or_else(|| "png".to_owned()),
            base64_data: data,
        })
    }
}

impl fmt::Debug for Image {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Image").field("format", &self.format).field("base64_len", &self.base64_data.len()).finish()
    }
}

/// The `error` object of a current-family execution resource.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub struct ExecutionError {
    /// Error code, e.g. `Timeout`.
    pub code: Option<String>,
    /// Error message.
    pub message: Option<String>,
}

/// The outcome of running code. An exception (Python's, JavaScript's) is a *successful call* whose status
/// is [`ExecutionStatus::Failed`], with the traceback or stack in `stderr`; check [`Execution::is_success`].
#[derive(Debug, Clone, PartialEq)]
#[non_exhaustive]
pub struct Execution {
    /// The execution id (current family), for polling and support.
    pub id: Option<String>,
    /// The status.
    pub status: ExecutionStatus,
    /// Captured standard output.
    pub stdout: String,
    /// Captured standard error (the traceback on failure).
    pub stderr: String,
    /// The value of the last expression, with its JSON type (`42`, `"text"`, `{"a": 1}`), or `None` when
    /// there was none (the service sends `null` or `""`). Image results are in [`Execution::images`].
    pub result: Option<Value>,
    /// Images the code produced.
    pub images: Vec<Image>,
    /// Execution time reported by the service.
    pub duration: Option<Duration>,
    /// The service's error object, when it sent one.
    pub error: Option<ExecutionError>,
    /// The most characters of stdout and of stderr the service returns for this execution: the
    /// `outputStreamsMaxLength` that was sent, or the service's default of 4,096 on 2025-10-02-preview and
    /// later. `None` when the api-version has no such limit. See [`Execution::output_may_be_truncated`].
    pub output_limit: Option<usize>,
}

impl Execution {
    /// Whether the code ran to completion without an exception.
    pub fn is_success(&self) -> bool {
        self.status == ExecutionStatus::Succeeded
    }

    /// Whether stdout or stderr may have been cut at [`Execution::output_limit`]. The service cuts without a
    /// word (no marker, the status unchanged), so a stream that reaches the limit is reported as possibly
    /// cut; raise the limit with [`ExecuteBuilder::output_streams_max_length`](super::ExecuteBuilder::output_streams_max_length)
    /// or write large output to a file in `/mnt/data`.
    pub fn output_may_be_truncated(&self) -> bool {
        // The limit is documented in characters; a measured Shell pool cut at bytes. Either reaches it first
        // through the byte length, so that is the conservative test.
        self.output_limit.is_some_and(|limit| self.stdout.len() >= limit || self.stderr.len() >= limit)
    }

    /// Reads an execution from either family's JSON:
    ///
    /// * legacy: `{"$id":"1","properties":{"status":"Success","stdout":..,"stderr":..,"result":..,"executionTimeInMilliseconds":..}}`
    ///   (also without `properties`, and with `executionResult` instead of `result`);
    /// * current: `{"id":..,"status":"Succeeded","result":{"stdout":..,"stderr":..,"executionResult":..,"executionTimeInMilliseconds":..}}`.
    pub fn from_json(v: &Value) -> Execution {
        let props = wire::properties(v);
        let nested = props.get("result").filter(|r| {
            r.as_object().is_some_and(|o| {
                ["stdout", "stderr", "executionResult", "executionTimeInMilliseconds"]
                    .iter()
                    .any(|k| o.contains_key(*k))
            })
        });
        let (container, value) = match nested {
            Some(result) => (result, result.get("executionResult")),
            None => (props, wire::field(props, &["result", "executionResult"])),
        };
        let text =
            |name: &str| wire::string(container, &[name]).or_else(|| wire::string(props, &[name])).unwrap_or_default();
        let (result, images) = split_images(value);
        let millis = wire::float(container, &["executionTimeInMilliseconds"])
            .or_else(|| wire::float(props, &["executionTimeInMilliseconds"]));
        let error = wire::field(props, &["error"]).filter(|e| e.is_object()).map(|e| {
            // The schema nests it: `error` is an Azure.Core ErrorResponse, `{"error": {"code", "message"}}`.
            // A flat `{"code", "message"}` is read too.
            let inner = wire::field(e, &["error"]).filter(|inner| inner.is_object()).unwrap_or(e);
            ExecutionError {
                code: wire::string(inner, &["code", "name"]).or_else(|| wire::string(e, &["code", "name"])),
                message: wire::string(inner, &["message"]).or_else(|| wire::string(e, &["message"])),
            }
        });
        Execution {
            // An empty id (the service's own example sends `"id": ""`) is no id: the `operation-id` header has it.
            id: wire::string(props, &["id", "operationId"]).filter(|id| !id.is_empty()),
            status: ExecutionStatus::parse(&wire::string(props, &["status"]).unwrap_or_default()),
            stdout: text("stdout"),
            stderr: text("stderr"),
            result,
            images,
            duration: millis.filter(|m| m.is_finite() && *m >= 0.0).map(|m| Duration::from_secs_f64(m / 1000.0)),
            error,
            output_limit: None,
        }
    }
}

/// Moves image objects out of the result value; `null` and `""` mean "no result".
fn split_images(value: Option<&Value>) -> (Option<Value>, Vec<Image>) {
    match value {
        None | Some(Value::Null) => (None, Vec::new()),
        Some(Value::String(s)) if s.is_empty() => (None, Vec::new()),
        Some(v) => {
            if let Some(image) = Image::from_json(v) {
                return (None, vec![image]);
            }
            if let Some(items) = v.as_array().filter(|a| !a.is_empty()) {
                let images: Vec<Image> = items.iter().filter_map(Image::from_json).collect();
                if images.len() == items.len() {
                    return (None, images);
                }
            }
            (Some(v.clone()), Vec::new())
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn status_spellings() {
        assert_eq!(ExecutionStatus::parse("Success"), ExecutionStatus::Succeeded);
        assert_eq!(ExecutionStatus::parse("succeeded"), ExecutionStatus::Succeeded);
        assert_eq!(ExecutionStatus::parse("Failure"), ExecutionStatus::Failed);
        assert_eq!(ExecutionStatus::parse("FAILED"), ExecutionStatus::Failed);
        assert_eq!(ExecutionStatus::parse("NotStarted"), ExecutionStatus::NotStarted);
        assert_eq!(ExecutionStatus::parse("Weird"), ExecutionStatus::Other("Weird".into()));
        assert!(!ExecutionStatus::Running.is_terminal());
    }

    #[test]
    fn result_types_survive() {
        for (value, expected) in [
            (json!(4), Some(json!(4))),
            (json!(2.5), Some(json!(2.5))),
            (json!("nan"), Some(json!("nan"))),
            (json!({"a": [1, 2]}), Some(json!({"a": [1, 2]}))),
            (json!(""), None),
            (json!(null), None),
            (json!(true), Some(json!(true))),
        ] {
            let v = json!({"id": "e", "status": "Succeeded", "result": {"stdout": "", "stderr": "", "executionResult": value}});
            assert_eq!(Execution::from_json(&v).result, expected);
            let legacy = json!({"properties": {"status": "Success", "stdout": "", "stderr": "", "result": value}});
            assert_eq!(Execution::from_json(&legacy).result, expected);
        }
    }

    #[test]
    fn image_results_become_images() {
        let v = json!({"properties": {"status": "Success", "stdout": "", "stderr": "",
            "result": {"type": "image", "format": "png", "base64_data": "iVBORw0KGgo="}}});
        let e = Execution::from_json(&v);
        assert_eq!(e.result, None);
        assert_eq!(e.images.len(), 1);
        assert_eq!(e.images[0].decode().ok().map(|b| b.len()), Some(8));
        assert_eq!(e.images[0].mime_type(), "image/png");
        assert!(!format!("{:?}", e.images[0]).contains("iVBOR"));
    }

    #[test]
    fn nested_errors_and_empty_ids() {
        let v = json!({"id": "", "status": "Failed", "error": {"error": {"code": "ExecutionTimeout", "message": "too slow"}}});
        let e = Execution::from_json(&v);
        assert_eq!(e.id, None);
        let error = e.error.unwrap_or(ExecutionError { code: None, message: None });
        assert_eq!((error.code.as_deref(), error.message.as_deref()), (Some("ExecutionTimeout"), Some("too slow")));
        let flat = Execution::from_json(&json!({"status": "Failed", "error": {"code": "KernelDied", "message": "m"}}));
        assert_eq!(flat.error.and_then(|e| e.code).as_deref(), Some("KernelDied"));
    }

    #[test]
    fn image_result_without_stream_fields_is_not_mistaken_for_current_layout() {
        let v = json!({"status": "Succeeded", "stdout": "x", "result": {"type": "image", "format": "png", "base64_data": "AA=="}});
        let e = Execution::from_json(&v);
        assert_eq!(e.stdout, "x");
        assert_eq!(e.images.len(), 1);
    }
}

//! What each tool call of a turn did, recorded by the tools as they run, for the turn's events.
//!
//! rig reports a tool result by call id, but a tool body does not learn its call id; the tools record each
//! invocation under the tool's name and canonical arguments (or the arguments as sent, when they did not
//! parse and nothing ran), and the turn takes the first record that matches each call (calls with equal
//! arguments take their records in order).

use std::sync::{Arc, Mutex};

use serde_json::{Map, Value};

use crate::invoke::ToolInvocation;
use crate::tools::canonical_arguments;
use crate::turn::policy::{CallSteering, Demand, RunSettings};

/// The most records kept (a turn takes them as its results arrive).
const MAX_RECORDS: usize = 256;

#[derive(Debug)]
struct Record {
    name: String,
    arguments: Value,
    invocation: ToolInvocation,
}

/// Shared by a turn's tools (which record) and the turn (which takes); it also steers the turn's model calls
/// from what the calls did ([`CallSteering`]).
#[derive(Debug, Clone, Default)]
pub(crate) struct StepSink {
    records: Arc<Mutex<Vec<Record>>>,
    steering: Arc<Mutex<CallSteering>>,
}

impl StepSink {
    /// Records one invocation of `name` with `arguments` (the parsed arguments, serialised back).
    pub(crate) fn record(&self, name: &str, arguments: Value, invocation: &ToolInvocation) {
        if let Ok(mut steering) = self.steering.lock() {
            steering.record(name, &arguments, invocation);
        }
        if let Ok(mut records) = self.records.lock() {
            if records.len() >= MAX_RECORDS {
                records.remove(0);
            }
            records.push(Record { name: name.to_owned(), arguments, invocation: invocation.clone() });
        }
    }

    /// Notes how a call that ran outside the framework went (a call the model wrote as text).
    pub(crate) fn note_outcome(&self, failed: bool) {
        if let Ok(mut steering) = self.steering.lock() {
            steering.note_outcome(failed);
        }
    }

    /// Whether the last call failed and the turn's forced retries are used up.
    pub(crate) fn retries_used_up(&self) -> bool {
        self.steering.lock().map(|steering| steering.retries_used_up()).unwrap_or(false)
    }

    /// Whether the model's last call was exactly the code that had just failed.
    pub(crate) fn stuck(&self) -> bool {
        self.steering.lock().map(|steering| steering.stuck()).unwrap_or(false)
    }

    /// What a model call of a run under `settings` may do (`first`: the run's first call).
    pub(crate) fn demand(&self, settings: RunSettings, first: bool) -> Demand {
        self.steering.lock().map(|mut steering| steering.demand(settings, first)).unwrap_or(Demand::Free)
    }

    /// When `name` with `arguments` is exactly the last code that failed: that failure's error line.
    pub(crate) fn repeats_last_failure(&self, name: &str, arguments: &Value) -> Option<String> {
        self.steering.lock().ok()?.repeats_last_failure(name, arguments)
    }

    /// The record of a call of `name` with the model's `arguments`.
    pub(crate) fn take(&self, name: &str, arguments: &Map<String, Value>) -> Option<ToolInvocation> {
        let key = canonical_arguments(name, arguments).unwrap_or_else(|| Value::Object(arguments.clone()));
        let mut records = self.records.lock().ok()?;
        let at = records.iter().position(|r| r.name == name && r.arguments == key)?;
        Some(records.remove(at).invocation)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::turn::StepOutcome;
    use serde_json::json;

    fn invocation(text: &str) -> ToolInvocation {
        ToolInvocation::from_error(&crate::ToolError::NotFound(text.into()))
    }

    #[test]
    fn calls_take_their_own_records_in_order() {
        let sink = StepSink::default();
        let args = |code: &str| json!({"code": code}).as_object().cloned().unwrap_or_default();
        sink.record("run_python", json!({"code": "a"}), &invocation("first a"));
        sink.record("run_python", json!({"code": "b"}), &invocation("b"));
        sink.record("run_python", json!({"code": "a"}), &invocation("second a"));
        assert_eq!(sink.take("run_python", &args("b")).map(|i| i.model_text), Some("b".into()));
        assert_eq!(sink.take("run_python", &args("a")).map(|i| i.model_text), Some("first a".into()));
        assert_eq!(sink.take("run_python", &args("a")).map(|i| i.outcome), Some(StepOutcome::Failed));
        assert!(sink.take("run_python", &args("a")).is_none(), "every record was taken");
        let unusable = json!({"pth": "a.csv"});
        sink.record("read_file", unusable.clone(), &invocation("rejected"));
        let taken = sink.take("read_file", &unusable.as_object().cloned().unwrap_or_default());
        assert_eq!(taken.map(|i| i.model_text), Some("rejected".into()), "arguments that did not parse, as sent");
    }
}

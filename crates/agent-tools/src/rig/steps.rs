//! What each tool call of a turn did, recorded by the tools as they run, for the turn's events.
//!
//! rig reports a tool result by call id, but a tool body does not learn its call id; the tools record each
//! invocation under the tool's name and canonical arguments, and the turn takes the first record that
//! matches each call (calls with equal arguments take their records in order). A call with no record never
//! reached its tool: its arguments were rejected.

use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};

use serde_json::{Map, Value};

use crate::invoke::{ToolInvocation, canonical_arguments};

/// The most records kept (a turn takes them as its results arrive).
const MAX_RECORDS: usize = 256;

#[derive(Debug)]
struct Record {
    name: String,
    arguments: Value,
    invocation: ToolInvocation,
}

/// Shared by a turn's tools (which record) and the turn (which takes).
#[derive(Debug, Clone, Default)]
pub(crate) struct StepSink {
    records: Arc<Mutex<Vec<Record>>>,
    /// Whether the last call failed or was rejected.
    last_failed: Arc<AtomicBool>,
    /// Retries forced after failures in this turn.
    forced_retries: Arc<AtomicUsize>,
}

impl StepSink {
    /// Records one invocation of `name` with `arguments` (the parsed arguments, serialised back).
    pub(crate) fn record(&self, name: &str, arguments: Value, invocation: &ToolInvocation) {
        self.note_outcome(invocation.outcome != crate::turn::StepOutcome::Ran);
        if let Ok(mut records) = self.records.lock() {
            if records.len() >= MAX_RECORDS {
                records.remove(0);
            }
            records.push(Record { name: name.to_owned(), arguments, invocation: invocation.clone() });
        }
    }

    /// Notes how the last call went (the turn's own calls of text-written calls too).
    pub(crate) fn note_outcome(&self, failed: bool) {
        self.last_failed.store(failed, Ordering::Release);
    }

    /// Whether the last call failed, and a retry may still be forced (at most `max` a turn); counts it.
    pub(crate) fn take_forced_retry(&self, max: usize) -> bool {
        self.last_failed.load(Ordering::Acquire)
            && self
                .forced_retries
                .fetch_update(Ordering::AcqRel, Ordering::Acquire, |n| (n < max).then_some(n + 1))
                .is_ok()
    }

    /// The record of a call of `name` with the model's `arguments`, if its tool ran.
    pub(crate) fn take(&self, name: &str, arguments: &Map<String, Value>) -> Option<ToolInvocation> {
        let key = canonical_arguments(name, arguments)?;
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
        assert!(sink.take("run_python", &args("a")).is_none(), "no record: the arguments were rejected");
    }
}

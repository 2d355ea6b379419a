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
    /// Whether a successful run made or changed files since the last file was sent to the user.
    unsent_files: Arc<AtomicBool>,
    /// Whether a hand-over was already forced in this turn (it is forced at most once).
    hand_over_forced: Arc<AtomicBool>,
    /// The last code run that failed, as `(tool, canonical arguments, the error's last line)`, until a run
    /// succeeds.
    last_failure: Arc<Mutex<Option<(String, Value, String)>>>,
}

impl StepSink {
    /// Records one invocation of `name` with `arguments` (the parsed arguments, serialised back).
    pub(crate) fn record(&self, name: &str, arguments: Value, invocation: &ToolInvocation) {
        self.note_outcome(invocation.outcome != crate::turn::StepOutcome::Ran);
        let ran = invocation.outcome == crate::turn::StepOutcome::Ran;
        if name == crate::tools::names::SEND_FILE {
            self.unsent_files.store(false, Ordering::Release);
        } else if ran && invocation.report.as_ref().is_some_and(|r| !r.files_changed.is_empty()) {
            self.unsent_files.store(true, Ordering::Release);
        }
        if name == crate::tools::names::RESET_SESSION
            && let Ok(mut last) = self.last_failure.lock()
        {
            // A fresh session: code that failed in the old one may work now.
            *last = None;
        }
        if let Some(report) = &invocation.report
            && let Ok(mut last) = self.last_failure.lock()
        {
            *last = match invocation.outcome {
                crate::turn::StepOutcome::Failed => {
                    let error = report.stderr.lines().rev().find(|l| !l.trim().is_empty()).unwrap_or_default();
                    Some((name.to_owned(), arguments.clone(), error.trim().to_owned()))
                }
                _ => None,
            };
        }
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

    /// When `name` with `arguments` is exactly the last code that failed: that failure's error line.
    pub(crate) fn repeats_last_failure(&self, name: &str, arguments: &Value) -> Option<String> {
        let last = self.last_failure.lock().ok()?;
        let (tool, args, error) = last.as_ref()?;
        (tool == name && args == arguments).then(|| error.clone())
    }

    /// Whether a successful run made or changed files that were not sent to the user since, and no
    /// hand-over was forced yet in this turn; counts it.
    pub(crate) fn take_forced_hand_over(&self) -> bool {
        self.unsent_files.load(Ordering::Acquire) && !self.hand_over_forced.swap(true, Ordering::AcqRel)
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

    #[test]
    fn a_hand_over_is_forced_once_after_a_successful_run_made_files() {
        let made = |outcome| {
            let mut i = invocation("made");
            i.outcome = outcome;
            i.report = Some(crate::RunReport {
                status: "Succeeded".into(),
                stdout: String::new(),
                stderr: String::new(),
                result: None,
                exit_code: None,
                images: 0,
                files_changed: vec![crate::ChangedFile { path: "a.csv".into(), change: "new", size: Some(3) }],
                notes: Vec::new(),
            });
            i
        };
        let sink = StepSink::default();
        sink.record("run_python", json!({"code": "a"}), &made(StepOutcome::Failed));
        assert!(!sink.take_forced_hand_over(), "a failed run hands nothing over");
        sink.record("send_file_to_user", json!({"path": "a.csv"}), &invocation("sent"));
        sink.record("run_python", json!({"code": "b"}), &made(StepOutcome::Ran));
        sink.record("list_files", json!({}), &invocation("listed"));
        assert!(sink.take_forced_hand_over(), "a call that changes no file changes nothing");
        assert!(!sink.take_forced_hand_over(), "once a turn");
        let fresh = StepSink::default();
        fresh.record("run_python", json!({"code": "b"}), &made(StepOutcome::Ran));
        fresh.record("send_file_to_user", json!({"path": "a.csv"}), &invocation("sent"));
        assert!(!fresh.take_forced_hand_over(), "sent already");
    }

    #[test]
    fn the_last_failed_code_is_known_until_a_run_succeeds() {
        let sink = StepSink::default();
        let run = |outcome, stderr: &str| {
            let mut i = invocation("ran");
            i.outcome = outcome;
            i.report = Some(crate::RunReport {
                status: if outcome == StepOutcome::Ran { "Succeeded" } else { "Failed" }.into(),
                stdout: String::new(),
                stderr: stderr.into(),
                result: None,
                exit_code: None,
                images: 0,
                files_changed: Vec::new(),
                notes: Vec::new(),
            });
            i
        };
        let code = json!({"code": "math.sqroot(2)"});
        sink.record("run_python", code.clone(), &run(StepOutcome::Failed, "Traceback\nAttributeError: no sqroot\n\n"));
        assert_eq!(sink.repeats_last_failure("run_python", &code).as_deref(), Some("AttributeError: no sqroot"));
        assert_eq!(sink.repeats_last_failure("run_python", &json!({"code": "math.sqrt(2)"})), None);
        assert_eq!(sink.repeats_last_failure("run_shell", &code), None);
        sink.record("run_python", json!({"code": "1"}), &run(StepOutcome::Ran, ""));
        assert_eq!(sink.repeats_last_failure("run_python", &code), None, "a success clears it");
        sink.record("run_python", code.clone(), &run(StepOutcome::Failed, "ZeroDivisionError"));
        sink.record("reset_session", json!({}), &invocation("reset"));
        assert_eq!(sink.repeats_last_failure("run_python", &code), None, "so does a fresh session");
    }
}

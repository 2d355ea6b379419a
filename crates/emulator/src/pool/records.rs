//! A session's recorded executions, for `GET executions/{id}`: bounded in number and in bytes, oldest first
//! out.

use std::collections::{HashMap, VecDeque};

use crate::kernel::protocol::RunResult;

/// Execution records kept per session, at most ...
const KEPT_EXECUTIONS: usize = 256;
/// ... and at most this many bytes of them (outputs, results, images).
const KEPT_EXECUTION_BYTES: usize = 32 << 20;
/// What a record of an execution still running weighs.
const RUNNING_WEIGHT: usize = 256;

/// The state of an execution.
#[derive(Debug, Clone)]
pub(crate) enum ExecutionState {
    Running,
    Done(Box<RunResult>),
}

/// How a recorded execution was asked for, so that `GET executions/{id}` answers in the same shape.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct RecordMeta {
    pub(crate) asynchronous: bool,
    /// Whether the answer names an `executionType` (not for `execCommandAndArgs`, as in the service's example).
    pub(crate) execution_type: bool,
    /// Whether the result is rendered in Jupyter's format.
    pub(crate) jupyter: bool,
}

/// A recorded execution, for `GET executions/{id}`.
#[derive(Debug, Clone)]
pub(crate) struct ExecutionRecord {
    pub(crate) meta: RecordMeta,
    pub(crate) state: ExecutionState,
}

/// Recorded executions, oldest first, bounded in number and bytes.
#[derive(Debug, Default)]
pub(crate) struct Records {
    by_id: HashMap<String, ExecutionRecord>,
    order: VecDeque<(String, usize)>,
    bytes: usize,
}

impl Records {
    /// Records (or updates) an execution's state; the oldest records go when there are more than 256 or they
    /// hold more than 32 MiB.
    pub(crate) fn record(&mut self, id: &str, meta: RecordMeta, state: ExecutionState) {
        let weight = match &state {
            ExecutionState::Done(r) => r.weight(),
            ExecutionState::Running => RUNNING_WEIGHT,
        };
        if self.by_id.insert(id.to_owned(), ExecutionRecord { meta, state }).is_some() {
            if let Some(entry) = self.order.iter_mut().find(|(rid, _)| rid == id) {
                let previous = entry.1;
                entry.1 = weight;
                self.bytes = self.bytes.saturating_sub(previous) + weight;
            }
        } else {
            self.order.push_back((id.to_owned(), weight));
            self.bytes += weight;
        }
        while self.order.len() > KEPT_EXECUTIONS || (self.bytes > KEPT_EXECUTION_BYTES && self.order.len() > 1) {
            let Some((old, bytes)) = self.order.pop_front() else { break };
            self.by_id.remove(&old);
            self.bytes = self.bytes.saturating_sub(bytes);
        }
    }

    /// A recorded execution.
    pub(crate) fn get(&self, id: &str) -> Option<ExecutionRecord> {
        self.by_id.get(id).cloned()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn done(stdout_bytes: usize) -> ExecutionState {
        let mut result = RunResult::failure(String::new(), String::new(), 0.0, "X", String::new());
        result.stdout = "x".repeat(stdout_bytes);
        ExecutionState::Done(Box::new(result))
    }

    #[test]
    fn records_are_bounded_in_number_and_bytes_oldest_first() {
        let meta = RecordMeta { asynchronous: false, execution_type: true, jupyter: false };
        let mut records = Records::default();
        for i in 0..KEPT_EXECUTIONS + 10 {
            records.record(&i.to_string(), meta, done(1));
        }
        assert!(records.get("0").is_none() && records.get("9").is_none());
        assert!(records.get("10").is_some() && records.get(&(KEPT_EXECUTIONS + 9).to_string()).is_some());
        records.record("big", meta, done(KEPT_EXECUTION_BYTES));
        assert!(records.get("big").is_some(), "the newest stays even when it alone is over the bytes");
        assert!(records.get(&(KEPT_EXECUTIONS + 9).to_string()).is_none());
        records.record("big", meta, ExecutionState::Running);
        assert!(matches!(records.get("big").map(|r| r.state), Some(ExecutionState::Running)));
    }
}

//! What `/proc` says about processes, where no namespace or cgroup keeps count: how many tasks a uid runs
//! (for the Landlock tier's process ceiling as an ordinary user), and which processes belong to a session
//! (a kernel that leads its own session: the Landlock tier refuses `setsid`, so its processes cannot leave).
//!
//! `/proc/<pid>/stat` carries the process name, which session code chooses (`prctl(PR_SET_NAME)`): it is
//! parsed as untrusted input, from the last `)` on.

use std::time::{Duration, Instant};

/// The state and session id in a `/proc/<pid>/stat` line: `pid (comm) state ppid pgrp session ...`.
pub(crate) fn parse_stat(text: &str) -> Option<(char, i32)> {
    let (_, rest) = text.rsplit_once(')')?;
    let mut fields = rest.split_ascii_whitespace();
    let state = fields.next()?.chars().next()?;
    let _ppid = fields.next()?;
    let _pgrp = fields.next()?;
    let session = fields.next()?.parse().ok()?;
    Some((state, session))
}

/// The real uid and the number of threads in a `/proc/<pid>/status` text.
pub(crate) fn parse_status(text: &str) -> Option<(u32, u64)> {
    let mut uid = None;
    let mut threads = None;
    for line in text.lines() {
        if let Some(rest) = line.strip_prefix("Uid:") {
            uid = rest.split_ascii_whitespace().next().and_then(|v| v.parse().ok());
        } else if let Some(rest) = line.strip_prefix("Threads:") {
            threads = rest.trim().parse().ok();
        }
    }
    Some((uid?, threads?))
}

fn pids() -> impl Iterator<Item = u32> {
    std::fs::read_dir("/proc")
        .into_iter()
        .flatten()
        .flatten()
        .filter_map(|entry| entry.file_name().to_str().and_then(|name| name.parse().ok()))
}

/// How many tasks (threads count, as `RLIMIT_NPROC` counts them) run with real uid `uid` now; `None` when
/// `/proc` cannot be read.
pub(crate) fn tasks_of(uid: u32) -> Option<u64> {
    std::fs::metadata("/proc/self/status").ok()?;
    let total = pids()
        .filter_map(|pid| std::fs::read_to_string(format!("/proc/{pid}/status")).ok())
        .filter_map(|text| parse_status(&text))
        .filter(|(owner, _)| *owner == uid)
        .map(|(_, threads)| threads)
        .sum();
    Some(total)
}

/// The live (not zombie) processes of session `sid`.
fn members(sid: i32) -> Vec<i32> {
    pids()
        .filter_map(|pid| {
            let text = std::fs::read_to_string(format!("/proc/{pid}/stat")).ok()?;
            let (state, session) = parse_stat(&text)?;
            (session == sid && state != 'Z').then_some(i32::try_from(pid).ok()?)
        })
        .collect()
}

/// Kills every process of the session `sid` leads, until none is left (a process may fork while the others
/// are being killed) or `limit` has passed. Blocking: `/proc` is read.
///
/// Only call it while the leader is alive or an unreaped zombie: then its pid, and so the session id, cannot
/// belong to anyone else.
pub(crate) fn kill_session(sid: u32, limit: Duration) {
    let Ok(sid) = i32::try_from(sid) else { return };
    let deadline = Instant::now() + limit;
    loop {
        let found = members(sid);
        if found.is_empty() || Instant::now() >= deadline {
            return;
        }
        for pid in found {
            if let Some(pid) = rustix::process::Pid::from_raw(pid) {
                let _ = rustix::process::kill_process(pid, rustix::process::Signal::KILL);
            }
        }
        std::thread::sleep(Duration::from_millis(5));
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    #[test]
    fn reads_the_state_and_session_after_the_last_parenthesis() {
        assert_eq!(parse_stat("42 (python3) S 1 42 42 0 -1 4194560"), Some(('S', 42)));
        // A name chosen to mislead: spaces and parentheses of its own.
        assert_eq!(parse_stat("7 (a) R 1 2 3) Z 9 9 99 0"), Some(('Z', 99)));
        assert_eq!(parse_stat("7 (x) S 1"), None);
        assert_eq!(parse_stat("no parenthesis"), None);
    }

    #[test]
    fn reads_the_real_uid_and_thread_count() {
        let status = "Name:\tpython3\nUid:\t1001\t1001\t1001\t1001\nGid:\t1001\nThreads:\t5\n";
        assert_eq!(parse_status(status), Some((1001, 5)));
        assert_eq!(parse_status("Name:\tx\n"), None);
    }

    #[test]
    fn counts_this_process_among_its_uids_tasks() {
        let uid = rustix::process::getuid().as_raw();
        assert!(tasks_of(uid).is_some_and(|n| n >= 1));
    }

    proptest! {
        #[test]
        fn never_panics_on_any_stat_or_status_text(text in ".{0,200}") {
            let _ = parse_stat(&text);
            let _ = parse_status(&text);
        }

        #[test]
        fn any_process_name_leaves_the_fields_after_it_intact(name in "[^\u{0}]{0,16}", sid in 1i32..i32::MAX) {
            let line = format!("12 ({name}) S 1 12 {sid} 0 -1 4194560 100 0 0 0");
            prop_assert_eq!(parse_stat(&line), Some(('S', sid)));
        }
    }
}

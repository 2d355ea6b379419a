//! What `/proc` says about processes where no namespace or cgroup keeps count: how many tasks a uid runs,
//! for the Landlock tier's process ceiling as an ordinary user.
//!
//! `/proc/<pid>/status` carries the process name, which session code chooses (`prctl(PR_SET_NAME)`; the
//! kernel escapes newlines in it): it is parsed as untrusted input.

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

/// The ids of the processes `/proc` lists now.
pub(crate) fn pids() -> impl Iterator<Item = u32> {
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

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

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
        fn never_panics_on_any_status_text(text in ".{0,300}") {
            let _ = parse_status(&text);
        }

        #[test]
        fn any_escaped_process_name_leaves_the_fields_after_it_intact(
            name in "[^\u{0}\n]{0,16}",
            uid in 0u32..u32::MAX,
            threads in 1u64..100_000,
        ) {
            let text = format!("Name:\t{name}\nUmask:\t0022\nState:\tS (sleeping)\nUid:\t{uid}\t{uid}\t{uid}\t{uid}\nThreads:\t{threads}\n");
            prop_assert_eq!(parse_status(&text), Some((uid, threads)));
        }
    }
}

//! What an interpreter says about files: which ones a run made or changed, and a missing one in words.

use std::collections::HashMap;

use time::OffsetDateTime;

use crate::error::ToolError;
use crate::report::ChangedFile;

/// The files of a session by path: size and modification time.
pub(super) type Snapshot = HashMap<String, (Option<u64>, Option<OffsetDateTime>)>;

/// A "not found" worded for a person and a model ("there is no file named report.txt in /mnt/data"),
/// whatever the service said; other errors as they are.
pub(crate) fn missing(error: dynamic_sessions::Error, path: &str, kind: &str) -> ToolError {
    match ToolError::from(error) {
        ToolError::NotFound(_) => ToolError::NotFound(missing_message(path, kind)),
        other => other,
    }
}

/// "there is no {kind} named {name} in {directory}; list_files shows what is there".
pub(crate) fn missing_message(path: &str, kind: &str) -> String {
    let relative = path.trim().trim_start_matches("/mnt/data").trim_matches('/');
    let (directory, name) = match relative.rsplit_once('/') {
        Some((dir, name)) => (format!("/mnt/data/{dir}"), name),
        None => ("/mnt/data".to_owned(), relative),
    };
    if name.is_empty() {
        return format!("there is no {kind} {directory}; list_files shows what is there");
    }
    format!("there is no {kind} named {name} in {directory}; list_files shows what is there")
}

/// The files of `after` that are new or changed since `before`, by path.
pub(super) fn diff(before: &Snapshot, after: &Snapshot) -> Vec<ChangedFile> {
    let mut changed: Vec<ChangedFile> = after
        .iter()
        .filter_map(|(path, (size, modified))| match before.get(path) {
            None => Some(ChangedFile { path: path.clone(), change: "new", size: *size }),
            Some((old_size, old_modified)) if old_size != size || old_modified != modified => {
                Some(ChangedFile { path: path.clone(), change: "modified", size: *size })
            }
            Some(_) => None,
        })
        .collect();
    changed.sort_by(|a, b| a.path.cmp(&b.path));
    changed
}

/// `1.2 KB`, `3.4 MB`, ...
pub(crate) fn human_size(bytes: u64) -> String {
    match bytes {
        b if b < 1024 => format!("{b} bytes"),
        b if b < 1024 * 1024 => format!("{:.1} KB", b as f64 / 1024.0),
        b => format!("{:.1} MB", b as f64 / (1024.0 * 1024.0)),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn diff_reports_new_and_modified_files() {
        let t = OffsetDateTime::UNIX_EPOCH;
        let before: Snapshot = [("a.csv".into(), (Some(1), Some(t))), ("b.csv".into(), (Some(2), Some(t)))].into();
        let after: Snapshot = [
            ("a.csv".into(), (Some(1), Some(t))),
            ("b.csv".into(), (Some(3), Some(t))),
            ("out/c.png".into(), (Some(9), Some(t))),
        ]
        .into();
        let changed = diff(&before, &after);
        assert_eq!(
            changed,
            vec![
                ChangedFile { path: "b.csv".into(), change: "modified", size: Some(3) },
                ChangedFile { path: "out/c.png".into(), change: "new", size: Some(9) },
            ]
        );
        assert_eq!(human_size(1536), "1.5 KB");
    }

    #[test]
    fn missing_files_are_named_for_a_person() {
        assert_eq!(
            missing_message("report.txt", "file"),
            "there is no file named report.txt in /mnt/data; list_files shows what is there"
        );
        assert_eq!(
            missing_message("/mnt/data/out/report.txt", "file"),
            "there is no file named report.txt in /mnt/data/out; list_files shows what is there"
        );
        assert_eq!(
            missing_message("/mnt/data/out/", "directory"),
            "there is no directory named out in /mnt/data; list_files shows what is there"
        );
    }
}

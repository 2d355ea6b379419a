//! The Python runtime: offline (or with an impossible package set) the emulator falls back to bare Python and
//! says so instead of failing.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use dynamic_sessions_emulator::config::EmulatorConfig;
use dynamic_sessions_emulator::{prepare_runtime, testing};

#[tokio::test]
async fn a_failed_setup_falls_back_to_bare_python_with_a_clear_note() {
    if let Some(missing) = testing::missing_tools() {
        assert!(!testing::in_ci(), "CI=true but {missing} is missing");
        eprintln!("*** SKIPPING: missing {missing} ***");
        return;
    }
    let dir = tempfile::tempdir().unwrap();
    let config = EmulatorConfig {
        data_dir: dir.path().to_path_buf(),
        packages: vec!["dynamic-sessions-no-such-package-4f2a9c".into()],
        ..EmulatorConfig::default()
    };
    let runtime = prepare_runtime(&config).await.unwrap();
    assert!(runtime.venv.is_none());
    let note = runtime.note.unwrap_or_default();
    assert!(note.contains("could not set up the Python packages") && note.contains("bare Python"), "{note}");
    assert!(!runtime.version.is_empty());
    // Nothing half-built is kept as if it were ready.
    let ready_markers = walk(dir.path()).into_iter().filter(|p| p.ends_with(".dynamic-sessions-ready")).count();
    assert_eq!(ready_markers, 0);
}

fn walk(dir: &std::path::Path) -> Vec<std::path::PathBuf> {
    let mut out = Vec::new();
    if let Ok(entries) = std::fs::read_dir(dir) {
        for entry in entries.flatten() {
            let path = entry.path();
            if path.is_dir() && !path.is_symlink() {
                out.extend(walk(&path));
            }
            out.push(path);
        }
    }
    out
}

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
    let runtime = prepare_runtime(&config).await.unwrap().python;
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

/// A Python installation without `ensurepip` (as Debian's and Ubuntu's are without `python3-venv`): the
/// system interpreter's binary next to a copy of its standard library minus `ensurepip`.
fn python_without_ensurepip(dir: &std::path::Path) -> Option<std::path::PathBuf> {
    let version = std::process::Command::new("/usr/bin/python3")
        .args(["-I", "-c", "import sys; print('%d.%d' % sys.version_info[:2]); print(sys.executable)"])
        .output()
        .ok()?;
    let text = String::from_utf8(version.stdout).ok()?;
    let mut lines = text.lines();
    let (short, executable) = (lines.next()?.to_owned(), lines.next()?.to_owned());
    let stdlib = std::path::PathBuf::from(format!("/usr/lib/python{short}"));
    stdlib.join("os.py").exists().then_some(())?;
    let prefix = dir.join("python");
    let bin = prefix.join("bin");
    std::fs::create_dir_all(&bin).unwrap();
    let python = bin.join(format!("python{short}"));
    std::fs::copy(std::fs::canonicalize(&executable).unwrap(), &python).unwrap();
    copy_tree(&stdlib, &prefix.join("lib").join(format!("python{short}")));
    Some(python)
}

fn copy_tree(from: &std::path::Path, to: &std::path::Path) {
    std::fs::create_dir_all(to).unwrap();
    for entry in std::fs::read_dir(from).unwrap().flatten() {
        let name = entry.file_name();
        let skip = ["ensurepip", "test", "dist-packages", "site-packages", "__pycache__", "idlelib", "tkinter"];
        if skip.iter().any(|s| name == *s) {
            continue;
        }
        let (source, target) = (entry.path(), to.join(&name));
        let kind = entry.file_type().unwrap();
        if kind.is_dir() {
            copy_tree(&source, &target);
        } else if kind.is_symlink() {
            std::os::unix::fs::symlink(std::fs::read_link(&source).unwrap(), &target).unwrap();
        } else {
            std::fs::copy(&source, &target).unwrap();
        }
    }
}

#[tokio::test]
async fn a_python_without_ensurepip_still_gets_its_packages() {
    if let Some(missing) = testing::missing_tools() {
        assert!(!testing::in_ci(), "CI=true but {missing} is missing");
        eprintln!("*** SKIPPING: missing {missing} ***");
        return;
    }
    let dir = tempfile::tempdir().unwrap();
    // Sessions run as other users: the interpreter must be readable by them.
    std::fs::set_permissions(dir.path(), std::os::unix::fs::PermissionsExt::from_mode(0o755)).unwrap();
    let Some(python) = python_without_ensurepip(dir.path()) else {
        assert!(!testing::in_ci(), "CI=true but /usr/bin/python3 has no standard library under /usr/lib");
        eprintln!("*** SKIPPING: /usr/bin/python3 has no standard library under /usr/lib to copy ***");
        return;
    };
    let check = std::process::Command::new(&python).args(["-I", "-c", "import ensurepip"]).output().unwrap();
    assert!(!check.status.success(), "the copy must lack ensurepip");
    let config = EmulatorConfig {
        data_dir: dir.path().join("data"),
        runtime_dir: Some(dir.path().join("runtime")),
        python: Some(python),
        packages: vec!["six".into()],
        ..EmulatorConfig::default()
    };
    let runtime = prepare_runtime(&config).await.unwrap().python;
    assert!(runtime.note.is_none(), "{:?}", runtime.note);
    assert!(runtime.venv.is_some());
    let names: Vec<&str> = runtime.packages.iter().map(|p| p.name.as_str()).collect();
    assert!(names.contains(&"six") && names.contains(&"pip"), "{names:?}");
}

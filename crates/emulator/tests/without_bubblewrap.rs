//! The emulator binary on a machine without bubblewrap (it is hidden from `PATH`): where the kernel allows
//! unprivileged user namespaces it makes the namespaces itself, and sessions still get a network and a pid
//! namespace of their own.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use std::process::Stdio;
use std::time::Duration;

use dynamic_sessions_emulator::testing;
use serde_json::{Value, json};

mod common;
use binary::{TOKEN, call, read_until_listening};
use common::binary;

#[tokio::test]
async fn without_bubblewrap_sessions_still_get_their_own_namespaces() {
    if let Some(missing) = testing::missing_tools() {
        assert!(!testing::in_ci(), "CI=true but {missing} is missing");
        eprintln!("\n*** SKIPPING: missing {missing} ***\n");
        return;
    }
    let data = tempfile::tempdir().unwrap();
    // A PATH with the usual tools but no bubblewrap.
    let bin = tempfile::tempdir().unwrap();
    for tool in ["true", "sh", "bash"] {
        let _ = std::os::unix::fs::symlink(format!("/usr/bin/{tool}"), bin.path().join(tool));
    }
    let mut child = tokio::process::Command::new(env!("CARGO_BIN_EXE_dynamic-sessions-emulator"))
        .args(["--bind", "127.0.0.1:0", "--ready-sessions", "1", "--data-dir"])
        .arg(data.path())
        .arg("--runtime-dir")
        .arg(testing::shared_runtime_dir())
        .env_clear()
        .env("PATH", bin.path())
        .env("NO_COLOR", "1")
        .env("DYNAMIC_SESSIONS_TOKEN", TOKEN)
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .kill_on_drop(true)
        .spawn()
        .unwrap();
    let (log, port) = read_until_listening(&mut child, Duration::from_secs(300)).await;
    let Some(port) = port else {
        if log.contains("unprivileged user namespaces") && !testing::in_ci() {
            eprintln!("\n*** SKIPPING: this kernel does not allow user namespaces: {log} ***\n");
            return;
        }
        panic!("the emulator did not start without bubblewrap:\n{log}");
    };

    let health = call(port, "GET", "/health", None).await;
    assert_eq!(health["sandbox"]["tier"], json!("namespaces"), "{health}");
    let code = "import json, os\nprint(json.dumps({\n\
                'interfaces': sorted(l.split(':')[0].strip() for l in open('/proc/net/dev').readlines()[2:]),\n\
                'pid': os.getpid(), 'pids': sorted(int(p) for p in os.listdir('/proc') if p.isdigit()),\n\
                'uid': os.getuid()}))";
    let body = json!({"codeInputType": "inline", "executionType": "synchronous", "code": code});
    let run = call(port, "POST", "/executions?api-version=2025-10-02-preview&identifier=no-bwrap", Some(&body)).await;
    let stdout = run["result"]["stdout"].as_str().unwrap_or_else(|| panic!("{run}"));
    let seen: Value = serde_json::from_str(stdout.trim()).unwrap();
    assert_eq!(seen["interfaces"], json!(["lo"]), "its own network namespace: {seen}");
    assert!(seen["pids"].as_array().unwrap().iter().all(|p| p.as_u64().unwrap() < 10), "its own pid namespace: {seen}");
    assert_eq!(seen["uid"], json!(65534));
    // An emulator that dies without cleaning up (SIGKILL) takes its template and every session with it.
    let marker = data.path().join("kernel").join("template.py").display().to_string();
    let ours = || -> Vec<String> {
        std::fs::read_dir("/proc")
            .unwrap()
            .flatten()
            .filter_map(|e| std::fs::read(e.path().join("cmdline")).ok().map(|c| (e.file_name(), c)))
            .filter(|(_, c)| String::from_utf8_lossy(c).contains(&marker))
            .map(|(pid, _)| pid.to_string_lossy().into_owned())
            .collect()
    };
    assert!(ours().len() >= 3, "the template and a session are running: {:?}", ours());
    child.start_kill().unwrap();
    let _ = child.wait().await;
    let deadline = std::time::Instant::now() + Duration::from_secs(10);
    while !ours().is_empty() && std::time::Instant::now() < deadline {
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    assert_eq!(ours(), Vec::<String>::new(), "processes outlived the emulator");
}

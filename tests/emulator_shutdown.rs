//! A clean shutdown leaves no kernel process, cgroup, mount or session directory behind.
//! (One test in its own binary, so no other emulator's processes are running meanwhile.)
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

mod common;

use std::path::Path;

use common::{new_id, start};

fn session_processes() -> Vec<String> {
    dynamic_sessions_emulator::testing::session_processes()
        .into_iter()
        .map(|(pid, uid)| format!("{pid} uid {uid}"))
        .collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn shutdown_removes_every_trace() {
    let Some(h) = start(|_| {}).await else { return };
    let client = h.client();
    for _ in 0..3 {
        let session = client.session(new_id());
        let run = session
            .execute("import subprocess, os\nsubprocess.Popen(['sleep', '1000'])\nif os.fork() == 0:\n    import time\n    time.sleep(1000)\n'started'")
            .await
            .unwrap();
        assert!(run.is_success(), "{}", run.stderr);
        session.files().upload("f.txt", "x").await.unwrap();
    }
    assert!(!session_processes().is_empty(), "sessions are running as their own uids");
    let data_dir = h.data_dir().display().to_string();
    let mounts_before = std::fs::read_to_string("/proc/self/mounts").unwrap();
    assert!(mounts_before.lines().any(|l| l.contains(&data_dir)), "each session's /mnt/data is a tmpfs");
    let sessions_dir = h.data_dir().join("sessions");
    h.stop().await;
    let leftover: Vec<_> = std::fs::read_dir(&sessions_dir).map(|d| d.flatten().collect()).unwrap_or_default();
    assert!(leftover.is_empty(), "session directories left: {leftover:?}");
    assert!(session_processes().is_empty(), "left behind: {:?}", session_processes());
    let mounts = std::fs::read_to_string("/proc/self/mounts").unwrap();
    let left: Vec<&str> = mounts.lines().filter(|l| l.contains(&data_dir)).collect();
    assert!(left.is_empty(), "session tmpfs still mounted: {left:?}");
    for controller in ["pids", "memory", "cpu"] {
        let base = Path::new("/sys/fs/cgroup").join(controller).join("dynamic-sessions-emulator");
        if base.is_dir() {
            let mine = format!("{}-", std::process::id());
            let children: Vec<_> = std::fs::read_dir(&base)
                .unwrap()
                .flatten()
                .filter(|e| e.path().is_dir() && e.file_name().to_string_lossy().starts_with(&mine))
                .collect();
            assert!(children.is_empty(), "cgroups left in {}: {children:?}", base.display());
        }
    }
}

//! A clean shutdown leaves no kernel process, cgroup, mount or session directory behind.
//!
//! It looks only at its own instance's traces (its session uids and cgroups, from the emulator's
//! footprint), so other emulators running on the machine at the same time cannot make it fail.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

mod common;

use common::{new_id, start};

fn session_processes(uids: &std::ops::Range<u32>) -> Vec<String> {
    dynamic_sessions_emulator::testing::session_processes(uids.clone())
        .into_iter()
        .map(|(pid, uid)| format!("{pid} uid {uid}"))
        .collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn shutdown_removes_every_trace() {
    let Some(h) = start(|_| {}).await else { return };
    let footprint = h.emulator.emulator.footprint().clone();
    let uids = footprint.session_uids.clone().expect("as root each session has its own uid");
    let sandbox = h.emulator.emulator.sandbox();
    assert_eq!(footprint.cgroup_dirs.is_empty(), sandbox.cgroups == "none", "{footprint:?} {sandbox:?}");
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
    assert!(!session_processes(&uids).is_empty(), "sessions are running as their own uids");
    let data_dir = h.data_dir().display().to_string();
    // The namespace tier mounts sessions' /mnt/data in its template's mount namespace; the others on the host.
    let mounts_of = |pid: &str| std::fs::read_to_string(format!("/proc/{pid}/mounts")).unwrap_or_default();
    let session_mounts = match footprint.template_pid {
        Some(pid) => mounts_of(&pid.to_string()).lines().filter(|l| l.contains(" /sessions/")).count(),
        None => mounts_of("self").lines().filter(|l| l.contains(&data_dir)).count(),
    };
    assert!(session_mounts >= 3, "each session's /mnt/data is a tmpfs: {session_mounts} mounts");
    let sessions_dir = h.data_dir().join("sessions");
    h.stop().await;
    let leftover: Vec<_> = std::fs::read_dir(&sessions_dir).map(|d| d.flatten().collect()).unwrap_or_default();
    assert!(leftover.is_empty(), "session directories left: {leftover:?}");
    assert!(session_processes(&uids).is_empty(), "left behind: {:?}", session_processes(&uids));
    let mounts = std::fs::read_to_string("/proc/self/mounts").unwrap();
    let left: Vec<&str> = mounts.lines().filter(|l| l.contains(&data_dir)).collect();
    assert!(left.is_empty(), "session tmpfs still mounted: {left:?}");
    if let Some(pid) = footprint.template_pid {
        let cmdline = std::fs::read(format!("/proc/{pid}/cmdline")).unwrap_or_default();
        assert!(!String::from_utf8_lossy(&cmdline).contains("template.py"), "the session template is still running");
    }
    for dir in &footprint.cgroup_dirs {
        assert!(!dir.exists(), "cgroup left behind: {}", dir.display());
    }
}

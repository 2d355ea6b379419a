//! The emulator binary as an ordinary user on a host where no namespace can be made (what a container
//! without user namespaces, or a kernel that forbids them, gives): the only tier left is Landlock, which
//! cannot hold a session's files to a total size. `--sandbox auto` refuses it and says what to do; asked for
//! by name, it starts, runs code, and says in `/health` what it lacks.
//!
//! The host is made that way for the emulator alone: it runs in a user namespace of its own (as uid 65534
//! when the test runs as root) whose `user.max_user_namespaces` is 0, so neither the emulator nor bubblewrap
//! can make another one. Nothing else on the machine changes.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use std::ffi::CString;
use std::os::unix::fs::PermissionsExt;
use std::path::Path;
use std::process::Stdio;
use std::time::Duration;

use dynamic_sessions_emulator::config::SandboxMode;
use dynamic_sessions_emulator::testing;
use rustix::fs::{Mode, OFlags};
use rustix::process::{Gid, Uid};
use serde_json::json;
use tokio::process::{Child, Command};

mod common;
use binary::{TOKEN, call, read_until_listening, spawn_confined};
use common::binary;

/// The unprivileged user a root test run becomes (`nobody`).
const NOBODY: u32 = 65534;

/// Files a child writes to enter its own user namespace, prepared before `fork` (no allocation after it).
struct Confinement {
    uid: u32,
    gid: u32,
    writes: Vec<(CString, Vec<u8>)>,
}

impl Confinement {
    /// For a child that stays `uid`/`gid` (dropping from root first if the test runs as root).
    fn new(uid: u32, gid: u32) -> Confinement {
        let file = |p: &str| CString::new(p).unwrap();
        Confinement {
            uid,
            gid,
            writes: vec![
                (file("/proc/self/uid_map"), format!("{uid} {uid} 1").into_bytes()),
                (file("/proc/self/setgroups"), b"deny".to_vec()),
                (file("/proc/self/gid_map"), format!("{gid} {gid} 1").into_bytes()),
                // Per user namespace: no namespace of any kind can be made below this one.
                (file("/proc/sys/user/max_user_namespaces"), b"0".to_vec()),
            ],
        }
    }

    /// Runs in the forked child: become the user, enter a user namespace of its own, forbid new ones.
    fn enter(&self) -> std::io::Result<()> {
        if rustix::process::geteuid().is_root() {
            rustix::thread::set_thread_groups(&[])?;
            let gid = Gid::from_raw(self.gid);
            rustix::thread::set_thread_res_gid(gid, gid, gid)?;
            let uid = Uid::from_raw(self.uid);
            rustix::thread::set_thread_res_uid(uid, uid, uid)?;
            // A changed uid makes the process undumpable, which hands its /proc files to root.
            rustix::process::set_dumpable_behavior(rustix::process::DumpableBehavior::Dumpable)?;
        }
        // SAFETY: the forked child is single-threaded, and a user namespace shares nothing it could break.
        unsafe { rustix::thread::unshare_unsafe(rustix::thread::UnshareFlags::NEWUSER)? };
        for (path, content) in &self.writes {
            let fd = rustix::fs::open(path.as_c_str(), OFlags::WRONLY | OFlags::CLOEXEC, Mode::empty())?;
            rustix::io::write(&fd, content)?;
        }
        Ok(())
    }
}

/// The emulator binary (a copy in `dir`, which the confined user can reach wherever the checkout is), confined,
/// with `sandbox` in its environment (as `DS_EMULATOR_SANDBOX`), its data in `dir` too; `None` (after a loud
/// notice) where this host cannot confine it, which fails under CI.
fn spawn(dir: &Path, sandbox: &str) -> Option<Child> {
    let (uid, gid) = confined_user();
    let binary = dir.join("dynamic-sessions-emulator");
    std::fs::copy(env!("CARGO_BIN_EXE_dynamic-sessions-emulator"), &binary).unwrap();
    std::fs::set_permissions(&binary, std::fs::Permissions::from_mode(0o755)).unwrap();
    let data = dir.join("data");
    std::fs::create_dir(&data).unwrap();
    std::os::unix::fs::chown(&data, Some(uid), Some(gid)).unwrap();
    let confinement = Confinement::new(uid, gid);
    let mut command = Command::new(&binary);
    command
        .args(["--bind", "127.0.0.1:0", "--ready-sessions", "0", "--no-setup", "--data-dir"])
        .arg(&data)
        .env_clear()
        .env("PATH", "/usr/local/bin:/usr/bin:/bin")
        .env("NO_COLOR", "1")
        .env("DYNAMIC_SESSIONS_TOKEN", TOKEN)
        .env(SandboxMode::ENV, sandbox)
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .kill_on_drop(true);
    // SAFETY: `enter` makes raw system calls only and allocates nothing (its buffers were made before fork).
    unsafe { command.pre_exec(move || confinement.enter()) };
    spawn_confined(&mut command, &format!("as uid {uid} in a user namespace of its own"))
}

/// The ordinary user the emulator runs as: this one, or `nobody` when the test runs as root.
fn confined_user() -> (u32, u32) {
    let (uid, gid) = (rustix::process::geteuid(), rustix::process::getegid());
    if uid.is_root() { (NOBODY, NOBODY) } else { (uid.as_raw(), gid.as_raw()) }
}

/// A directory for the emulator's copy and its data, reachable by the confined user; `None` (after a loud
/// notice) where a test cannot run here: no system Python, or a kernel without Landlock (both fail under CI).
fn workdir() -> Option<tempfile::TempDir> {
    let missing = testing::missing_tools().or_else(|| {
        // SAFETY: landlock_create_ruleset(NULL, 0, LANDLOCK_CREATE_RULESET_VERSION) only returns a number.
        let abi = unsafe { libc::syscall(libc::SYS_landlock_create_ruleset, std::ptr::null::<u8>(), 0usize, 1u32) };
        (abi < 1).then(|| "a kernel with Landlock (Linux 5.13+, landlock in lsm=)".to_owned())
    });
    if let Some(missing) = missing {
        assert!(!testing::in_ci(), "CI=true but {missing} is missing");
        eprintln!("\n*** SKIPPING: missing {missing} ***\n");
        return None;
    }
    let dir = tempfile::tempdir().unwrap();
    std::fs::set_permissions(dir.path(), std::fs::Permissions::from_mode(0o755)).unwrap();
    Some(dir)
}

#[tokio::test]
async fn auto_refuses_the_landlock_tier_for_an_ordinary_user_and_says_what_to_do() {
    let Some(dir) = workdir() else { return };
    let Some(mut child) = spawn(dir.path(), "auto") else { return };
    let (log, listening) = read_until_listening(&mut child, Duration::from_secs(120)).await;
    assert!(listening.is_none(), "the emulator started in the Landlock tier by itself:\n{log}");
    let status = tokio::time::timeout(Duration::from_secs(30), child.wait()).await.unwrap().unwrap();
    assert!(!status.success(), "{log}");
    assert!(log.contains("as an ordinary user, no sandbox that holds a session to the limits root gets"), "{log}");
    assert!(log.contains("namespaces: ") && log.contains("bubblewrap: "), "says why, tier by tier: {log}");
    assert!(log.contains("apt-get install bubblewrap") && log.contains("--sandbox landlock"), "says how: {log}");
    assert!(log.contains("not their total size"), "says what choosing Landlock costs: {log}");
}

#[tokio::test]
async fn the_landlock_tier_asked_for_by_name_starts_runs_code_and_says_what_it_lacks() {
    let Some(dir) = workdir() else { return };
    let Some(mut child) = spawn(dir.path(), "landlock") else { return };
    let (startup, port) = read_until_listening(&mut child, Duration::from_secs(120)).await;
    let Some(port) = port else { panic!("the Landlock tier did not start:\n{startup}") };
    assert!(startup.contains("cannot hold a session's /mnt/data"), "the start-up log warns: {startup}");

    let health = call(port, "GET", "/health", None).await;
    assert_eq!(health["sandbox"]["tier"], json!("landlock"), "{health}");
    assert_eq!(health["sandbox"]["disk_quota"], json!(false), "{health}");
    let warnings = health["sandbox"]["warnings"].to_string();
    assert!(warnings.contains("total size"), "/health warns: {health}");

    let code = "import os, sys\nprint(os.getuid(), sys.version_info[0])";
    let body = json!({"codeInputType": "inline", "executionType": "synchronous", "code": code});
    let run = call(port, "POST", "/executions?api-version=2025-10-02-preview&identifier=landlock", Some(&body)).await;
    let stdout = run["result"]["stdout"].as_str().unwrap_or_else(|| panic!("{run}"));
    let (uid, _) = confined_user();
    assert_eq!(stdout.trim(), format!("{uid} 3"), "{run}");
    child.start_kill().unwrap();
    let _ = child.wait().await;
}

//! The emulator binary as a uid 0 that is not root in full: root in a container that was not given
//! `CAP_SYS_ADMIN` (Docker's default), and uid 0 of a user namespace (`unshare -r`). Its sandbox cannot work
//! there (it used to fail with a bare "Operation not permitted"), so it refuses to start and says why and
//! what to do; `--insecure-no-sandbox` still starts.
//!
//! Each case is made for the emulator alone, in the forked child before it execs: `CAP_SYS_ADMIN` dropped
//! from the bounding set (so root's exec does not get it), or a user namespace of its own mapping uid 0 to
//! uid 0 alone. It needs a root test run (CI is one); elsewhere it skips, saying so.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use std::ffi::CString;
use std::process::Stdio;
use std::time::Duration;

use dynamic_sessions_emulator::testing;
use rustix::fs::{Mode, OFlags};
use tokio::process::{Child, Command};

mod common;
use binary::{TOKEN, read_until_listening, spawn_confined};
use common::binary;

/// How the child is made less than root.
#[derive(Clone, Copy)]
enum Limit {
    /// Without `CAP_SYS_ADMIN`, as in a container.
    NoSysAdmin,
    /// Uid 0 of a user namespace whose map holds uid 0 alone.
    UserNamespace,
}

/// The emulator binary as root made less by `limit`, with its data in `dir`; `None` (after a loud notice)
/// when the test does not run as root, which fails under CI.
fn spawn(dir: &std::path::Path, limit: Limit, extra: &[&str]) -> Option<Child> {
    if !rustix::process::geteuid().is_root() {
        assert!(!testing::in_ci(), "CI=true but the test does not run as root");
        eprintln!("\n*** SKIPPING: limiting root needs a root test run ***\n");
        return None;
    }
    let mut command = Command::new(env!("CARGO_BIN_EXE_dynamic-sessions-emulator"));
    command
        .args(["--bind", "127.0.0.1:0", "--ready-sessions", "0", "--no-setup", "--data-dir"])
        .arg(dir)
        .args(extra)
        .env_clear()
        .env("PATH", "/usr/local/bin:/usr/bin:/bin")
        .env("NO_COLOR", "1")
        .env("DYNAMIC_SESSIONS_TOKEN", TOKEN)
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .kill_on_drop(true);
    // Made before fork: the child allocates nothing.
    let file = |p: &str| CString::new(p).unwrap();
    let writes = [
        (file("/proc/self/uid_map"), b"0 0 1".to_vec()),
        (file("/proc/self/setgroups"), b"deny".to_vec()),
        (file("/proc/self/gid_map"), b"0 0 1".to_vec()),
    ];
    let limit_child = move || -> std::io::Result<()> {
        match limit {
            Limit::NoSysAdmin => {
                rustix::thread::remove_capability_from_bounding_set(rustix::thread::CapabilitySet::SYS_ADMIN)?;
            }
            Limit::UserNamespace => {
                // SAFETY: the forked child is single-threaded, and a user namespace shares nothing it could break.
                unsafe { rustix::thread::unshare_unsafe(rustix::thread::UnshareFlags::NEWUSER)? };
                for (path, content) in &writes {
                    let fd = rustix::fs::open(path.as_c_str(), OFlags::WRONLY | OFlags::CLOEXEC, Mode::empty())?;
                    rustix::io::write(&fd, content)?;
                }
            }
        }
        Ok(())
    };
    // SAFETY: `limit_child` makes raw system calls only and allocates nothing.
    unsafe { command.pre_exec(limit_child) };
    // Root in a container may be unable to drop a capability or to make a user namespace itself.
    spawn_confined(&mut command, "as a limited root")
}

/// Starts the emulator limited so: it must refuse, saying `why` and what to do (`how`).
async fn refuses(limit: Limit, why: &str, how: &[&str]) {
    let dir = tempfile::tempdir().unwrap();
    let Some(mut child) = spawn(dir.path(), limit, &[]) else { return };
    let (log, listening) = read_until_listening(&mut child, Duration::from_secs(120)).await;
    assert!(listening.is_none(), "the emulator started as a limited root:\n{log}");
    let status = tokio::time::timeout(Duration::from_secs(30), child.wait()).await.unwrap().unwrap();
    assert!(!status.success(), "{log}");
    assert!(log.contains("runs as uid 0 but not as root in full") && log.contains(why), "says why: {log}");
    for step in how {
        assert!(log.contains(step), "says how ({step}): {log}");
    }
    assert!(log.contains("--insecure-no-sandbox"), "names the way out where a container is the boundary: {log}");
}

#[tokio::test]
async fn root_without_cap_sys_admin_refuses_to_start_and_says_what_to_do() {
    refuses(Limit::NoSysAdmin, "root without CAP_SYS_ADMIN,", &["--privileged", "--user 1000"]).await;
}

#[tokio::test]
async fn uid_0_of_a_user_namespace_refuses_to_start_and_says_what_to_do() {
    refuses(Limit::UserNamespace, "uid 0 of a user namespace (uid_map: 0 0 1)", &["as an ordinary user"]).await;
}

#[tokio::test]
async fn without_the_sandbox_a_limited_root_starts() {
    if testing::missing_tools().is_some() {
        assert!(!testing::in_ci(), "CI=true but {:?}", testing::missing_tools());
        eprintln!("\n*** SKIPPING: {:?} ***\n", testing::missing_tools());
        return;
    }
    let dir = tempfile::tempdir().unwrap();
    let Some(mut child) = spawn(dir.path(), Limit::NoSysAdmin, &["--insecure-no-sandbox"]) else { return };
    let (log, listening) = read_until_listening(&mut child, Duration::from_secs(120)).await;
    assert!(listening.is_some(), "the emulator did not start without its sandbox:\n{log}");
    child.start_kill().unwrap();
    let _ = child.wait().await;
}

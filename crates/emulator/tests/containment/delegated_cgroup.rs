//! An emulator in a delegated cgroup v2 subtree shares it with whatever else its process started.
//!
//! A v2 cgroup that holds processes cannot hand controllers to its children, so the emulator moves its
//! process into a leaf of the delegated cgroup. Processes it forked before (another thread's probes, a host
//! application's helpers) would keep the cgroup busy: the emulator takes them along. A process it did not
//! start makes it refuse cgroups, and the reason names that process. CI once failed on the first case
//! (another test's start-up child was still in the cgroup), so both are set up here on purpose: each in a
//! fresh cgroup of the delegated subtree, with a fresh copy of this test binary as the emulator's process.
//!
//! Runs where the tests run as an ordinary user in a delegated cgroup v2 subtree: the delegated run of
//! `scripts/containment-cgroup-v2.sh`. Elsewhere it says why it does not apply.

use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};

use super::*;

use dynamic_sessions_emulator::testing::DELEGATED_CGROUP_LEAF;

/// Set for the copy of this binary that runs `inner_emulator_in_a_fresh_delegated_cgroup`: the cgroup it runs
/// in.
const INNER_CGROUP: &str = "DS_TEST_INNER_CGROUP";
/// Set with `INNER_CGROUP`: what the inner test sets up and must find (see the test).
const INNER_EXPECT: &str = "DS_TEST_INNER_EXPECT";
/// How long the inner test may take (it starts one emulator; the virtual machine emulates its CPU).
const INNER_DEADLINE: Duration = Duration::from_secs(300);
/// The tier the test's emulators use: cgroups do not depend on the tier, and this one starts no template.
const TIER: SandboxMode = SandboxMode::Landlock;

/// The delegated v2 cgroup this process runs in (the parent of the emulator's leaf, once it moved there), or
/// why this test does not apply here.
fn delegated_v2_cgroup() -> Result<PathBuf, &'static str> {
    if !Path::new("/sys/fs/cgroup/cgroup.controllers").exists() {
        return Err("the host's cgroups are v1");
    }
    if as_root() {
        return Err("root's emulator cgroups are at the top of the hierarchy, not in a delegated one");
    }
    if !expect_cgroups() {
        return Err("this run is not in a delegated cgroup (DS_TEST_DELEGATED_CGROUP is not 1)");
    }
    let own = std::fs::read_to_string("/proc/self/cgroup").map_err(|_| "/proc/self/cgroup is unreadable")?;
    let path = own.lines().find_map(|l| l.strip_prefix("0::")).ok_or("no cgroup v2 path")?;
    let path = path.strip_suffix(&format!("/{DELEGATED_CGROUP_LEAF}")).unwrap_or(path);
    Ok(Path::new("/sys/fs/cgroup").join(path.trim_start_matches('/')))
}

/// The v2 cgroup a process is in (its path from the root).
fn cgroup_of(pid: u32) -> String {
    let text = std::fs::read_to_string(format!("/proc/{pid}/cgroup")).unwrap();
    text.lines().find_map(|l| l.strip_prefix("0::")).unwrap().to_owned()
}

/// A fresh cgroup in the delegated one, removed (with what the emulator made in it) when dropped.
struct FreshCgroup(PathBuf);

impl FreshCgroup {
    /// Creates `ds-test-<name>-<pid>` in `delegated`.
    fn new(delegated: &Path, name: &str) -> FreshCgroup {
        let dir = delegated.join(format!("ds-test-{name}-{}", std::process::id()));
        std::fs::create_dir(&dir).unwrap_or_else(|e| panic!("cannot create {}: {e}", dir.display()));
        FreshCgroup(dir)
    }

    /// Its path from the hierarchy's root, as `/proc/<pid>/cgroup` names it.
    fn path(&self) -> String {
        format!("/{}", self.0.strip_prefix("/sys/fs/cgroup").unwrap().display())
    }

    /// Runs `inner_emulator_in_a_fresh_delegated_cgroup` in a copy of this binary that moves into this cgroup
    /// before it starts, and returns its output; it must pass within `INNER_DEADLINE`.
    fn run_inner(&self, expect: &str) -> String {
        let binary = std::env::current_exe().unwrap();
        // Output to a file, not pipes: nothing the inner test leaves behind can hold the reading open.
        let log = tempfile::NamedTempFile::new().unwrap();
        let mut inner = Command::new("/bin/sh")
            .args(["-c", "echo 0 > \"$1\" && shift && exec \"$@\"", "sh"])
            .arg(self.0.join("cgroup.procs"))
            .arg(&binary)
            .args(["--exact", "delegated_cgroup::inner_emulator_in_a_fresh_delegated_cgroup", "--ignored"])
            .args(["--nocapture", "--test-threads=1"])
            .env(INNER_CGROUP, &self.0)
            .env(INNER_EXPECT, expect)
            .stdin(Stdio::null())
            .stdout(log.reopen().unwrap())
            .stderr(log.reopen().unwrap())
            .spawn()
            .unwrap();
        let started = Instant::now();
        let status = loop {
            if let Some(status) = inner.try_wait().unwrap() {
                break Some(status);
            }
            if started.elapsed() > INNER_DEADLINE {
                let _ = std::fs::write(self.0.join("cgroup.kill"), "1");
                let _ = inner.kill();
                let _ = inner.wait();
                break None;
            }
            std::thread::sleep(Duration::from_millis(50));
        };
        let text = std::fs::read_to_string(log.path()).unwrap();
        let Some(status) = status else {
            panic!("the emulator's process in {} did not finish in {INNER_DEADLINE:?}:\n{text}", self.path())
        };
        assert!(status.success(), "the emulator's process in {} failed ({status}):\n{text}", self.path());
        assert!(text.contains("1 passed"), "the inner test did not run:\n{text}");
        text
    }
}

impl Drop for FreshCgroup {
    fn drop(&mut self) {
        let _ = std::fs::write(self.0.join("cgroup.kill"), "1");
        // The deepest first: the emulator's leaf and instance directories, then the cgroup itself.
        for _ in 0..100 {
            let mut dirs: Vec<PathBuf> = walk_dirs(&self.0);
            dirs.sort_by_key(|d| std::cmp::Reverse(d.components().count()));
            if dirs.into_iter().all(|d| std::fs::remove_dir(&d).is_ok()) {
                return;
            }
            std::thread::sleep(Duration::from_millis(50));
        }
        eprintln!("warning: could not remove {}", self.0.display());
    }
}

/// `dir` and every directory under it.
fn walk_dirs(dir: &Path) -> Vec<PathBuf> {
    let mut found = vec![dir.to_path_buf()];
    if let Ok(entries) = std::fs::read_dir(dir) {
        for entry in entries.flatten() {
            if entry.file_type().is_ok_and(|t| t.is_dir()) {
                found.extend(walk_dirs(&entry.path()));
            }
        }
    }
    found
}

/// A process that lives until killed (or until its cgroup is). It holds none of the test's pipes: the outer
/// test reads the inner one's output to its end, which must not wait for a sleep left behind by a failure.
fn sleeper(command: &str) -> Child {
    Command::new("/bin/sh")
        .args(["-c", command])
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .unwrap()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn in_a_delegated_cgroup_v2_the_emulator_takes_its_children_along_and_names_strangers() {
    let _processes = sharing_processes().await;
    // The delegated run of scripts/containment-cgroup-v2.sh must run it; elsewhere it may not apply.
    let must = std::env::var("DS_TEST_CGROUP_VERSION").is_ok_and(|v| v == "v2")
        && std::env::var("DS_TEST_DELEGATED_CGROUP").is_ok_and(|v| v == "1");
    let delegated = match delegated_v2_cgroup() {
        Ok(dir) => dir,
        Err(why) => {
            assert!(!must, "this run is the delegated cgroup v2 run, yet: {why}");
            eprintln!("SKIPPED: the delegated cgroup v2 test does not apply here: {why}");
            return;
        }
    };
    // An emulator of this process makes sure the delegated cgroup hands its controllers down (moving this
    // process into its leaf, if no other test's emulator did yet), so that fresh cgroups under it have them.
    let Some(h) = contained(TIER).await else {
        assert!(!must, "the delegated cgroup v2 run has no {TIER:?} tier");
        eprintln!("SKIPPED: the delegated cgroup v2 test needs the {TIER:?} tier");
        return;
    };
    let sandbox = h.emulator.emulator.sandbox().clone();
    h.stop().await;
    assert_eq!(sandbox.cgroups, "v2", "{:?}", sandbox.cgroups_unavailable);

    // 1. Its own children in the cgroup: taken along into the leaf, and the emulator gets cgroups.
    let fresh = FreshCgroup::new(&delegated, "children");
    let out = tokio::task::spawn_blocking(move || fresh.run_inner("children")).await.unwrap();
    assert!(out.contains("children moved into the leaf"), "{out}");

    // 2. A process it did not start in the cgroup: no cgroups, the reason names it, and nothing moved.
    let fresh = FreshCgroup::new(&delegated, "stranger");
    let mut stranger = sleeper("exec sleep 300");
    std::fs::write(fresh.0.join("cgroup.procs"), stranger.id().to_string()).unwrap();
    let pid = stranger.id();
    // Named by its command in the refusal: wait until the shell has become the sleep.
    let started = Instant::now();
    while std::fs::read_to_string(format!("/proc/{pid}/comm")).unwrap().trim() != "sleep" {
        assert!(started.elapsed() < Duration::from_secs(30), "the stranger did not exec sleep");
        std::thread::sleep(Duration::from_millis(5));
    }
    let out = tokio::task::spawn_blocking(move || {
        let out = fresh.run_inner(&format!("stranger {pid}"));
        assert_eq!(cgroup_of(pid), fresh.path(), "the stranger stayed where it was");
        // Gone before its cgroup is removed (which does not rely on cgroup.kill then).
        let _ = stranger.kill();
        let _ = stranger.wait();
        drop(fresh);
        out
    })
    .await
    .unwrap();
    assert!(out.contains("the stranger is named"), "{out}");
}

/// Run by the test above in a fresh process placed in a fresh delegated cgroup (`INNER_CGROUP`); ignored
/// otherwise. `INNER_EXPECT` is `children` (this process starts two, then an emulator, which must take them
/// along) or `stranger <pid>` (a process this one did not start shares the cgroup).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
#[ignore = "run by in_a_delegated_cgroup_v2_the_emulator_takes_its_children_along_and_names_strangers"]
async fn inner_emulator_in_a_fresh_delegated_cgroup() {
    let (Ok(cgroup), Ok(expect)) = (std::env::var(INNER_CGROUP), std::env::var(INNER_EXPECT)) else {
        eprintln!("SKIPPED: only run by the delegated cgroup v2 test, which sets {INNER_CGROUP}");
        return;
    };
    let path = format!("/{}", Path::new(&cgroup).strip_prefix("/sys/fs/cgroup").unwrap().display());
    let me = std::process::id();
    assert_eq!(cgroup_of(me), path, "started in the fresh cgroup");
    let mut child = sleeper("exec sleep 300");
    // A grandchild: the shell's own sleep.
    let mut shell = sleeper("sleep 300 & wait");
    let grandchild = || {
        std::fs::read_to_string(format!("/proc/{}/task/{}/children", shell.id(), shell.id()))
            .ok()
            .and_then(|c| c.split_whitespace().next().and_then(|p| p.parse::<u32>().ok()))
    };
    let started = Instant::now();
    while grandchild().is_none() {
        assert!(started.elapsed() < Duration::from_secs(30), "the shell did not start its sleep");
        std::thread::sleep(Duration::from_millis(20));
    }
    let grandchild = grandchild().unwrap();

    let h = contained(TIER).await.expect("the tier the outer test used");
    let sandbox = h.emulator.emulator.sandbox().clone();
    if expect == "children" {
        assert_eq!(sandbox.cgroups, "v2", "{:?}", sandbox.cgroups_unavailable);
        let leaf = format!("{path}/{DELEGATED_CGROUP_LEAF}");
        for pid in [me, child.id(), shell.id(), grandchild] {
            assert_eq!(cgroup_of(pid), leaf, "process {pid}");
        }
        println!("children moved into the leaf");
    } else {
        let stranger = expect.strip_prefix("stranger ").unwrap();
        let why = sandbox.cgroups_unavailable.clone().unwrap_or_default();
        assert_eq!(sandbox.cgroups, "none", "{why}");
        assert!(why.contains(&format!("{stranger} (sleep)")) && why.contains("did not start"), "{why}");
        for pid in [me, child.id(), shell.id(), grandchild] {
            assert_eq!(cgroup_of(pid), path, "process {pid} was not moved");
        }
        println!("the stranger is named: {why}");
    }
    h.stop().await;
    for process in [&mut child, &mut shell] {
        let _ = process.kill();
        let _ = process.wait();
    }
    let _ = Command::new("kill").args(["-KILL", &grandchild.to_string()]).status();
}

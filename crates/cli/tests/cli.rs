//! `dyns` as a person and a script use it: the binary against a real emulator, every command, `--json` parsed,
//! exit codes, stdin, a timeout, large files streamed with flat memory, the REPL through a pseudo-terminal; and
//! its error messages against the service's error answers (wiremock).
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use std::path::Path;
use std::process::Stdio;
use std::time::Duration;

use dynamic_sessions_emulator::testing::TestEmulator;
use serde_json::Value;
use tokio::io::AsyncWriteExt;

const DYNS: &str = env!("CARGO_BIN_EXE_dyns");

/// The output of one `dyns` run.
struct Ran {
    code: i32,
    stdout: String,
    stderr: String,
}

impl Ran {
    fn json(&self) -> Value {
        serde_json::from_str(self.stdout.trim())
            .unwrap_or_else(|e| panic!("not JSON ({e}): {:?} {:?}", self.stdout, self.stderr))
    }
}

/// `dyns ARGS` for the pool at `endpoint`, in an environment of its own, its output captured.
fn command(endpoint: &str, token: &str, args: &[&str], stdin: bool) -> tokio::process::Command {
    let mut command = tokio::process::Command::new(DYNS);
    command
        .args(args)
        .env_clear()
        .env("PATH", "/usr/bin:/bin")
        .env("POOL_MANAGEMENT_ENDPOINT", endpoint)
        .env("DYNAMIC_SESSIONS_TOKEN", token)
        .stdin(if stdin { Stdio::piped() } else { Stdio::null() })
        .stdout(Stdio::piped())
        .stderr(Stdio::piped());
    command
}

async fn dyns(endpoint: &str, token: &str, args: &[&str], stdin: Option<&[u8]>) -> Ran {
    let mut child = command(endpoint, token, args, stdin.is_some()).spawn().unwrap();
    if let (Some(input), Some(mut pipe)) = (stdin, child.stdin.take()) {
        pipe.write_all(input).await.unwrap();
    }
    let output = tokio::time::timeout(Duration::from_secs(240), child.wait_with_output()).await.unwrap().unwrap();
    Ran {
        code: output.status.code().unwrap_or(-1),
        stdout: String::from_utf8_lossy(&output.stdout).into_owned(),
        stderr: String::from_utf8_lossy(&output.stderr).into_owned(),
    }
}

async fn emulator() -> Option<TestEmulator> {
    TestEmulator::start(|c| c.limits.disk_bytes = 512 << 20).await.unwrap_or_else(|e| panic!("{e}"))
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_command_works_against_the_emulator() {
    let Some(emu) = emulator().await else { return };
    let (url, token) = (emu.url(), emu.token().to_owned());
    let run = |args: Vec<&'static str>| {
        let (url, token) = (url.clone(), token.clone());
        async move { dyns(&url, &token, &args, None).await }
    };
    // exec: an argument, stdin, a file; text and JSON; exit codes.
    let ran = run(vec!["exec", "-s", "cli-test-1", "x = 41; print('hi'); x + 1"]).await;
    assert_eq!((ran.code, ran.stdout.as_str()), (0, "hi\n42\n"), "{}", ran.stderr);
    let ran = dyns(&url, &token, &["exec", "-s", "cli-test-1", "-"], Some(b"print(x * 2)")).await;
    assert_eq!(ran.stdout, "82\n", "stdin, and the session's state: {}", ran.stderr);
    let dir = tempfile::tempdir().unwrap();
    let script = dir.path().join("cell.py");
    std::fs::write(&script, "import math\nmath.factorial(5)").unwrap();
    let ran =
        dyns(&url, &token, &["--json", "exec", "-s", "cli-test-1", "--file", script.to_str().unwrap()], None).await;
    let doc = ran.json();
    assert_eq!(
        (doc["status"].as_str(), &doc["result"], &doc["exitCode"]),
        (Some("Succeeded"), &Value::from(120), &Value::from(0))
    );
    let ran = run(vec!["exec", "-s", "cli-test-1", "1/0"]).await;
    assert_eq!(ran.code, 1);
    assert!(ran.stderr.contains("ZeroDivisionError"), "{}", ran.stderr);
    let ran = run(vec!["--json", "exec", "-s", "cli-test-1", "-t", "1", "import time; time.sleep(10)"]).await;
    assert_eq!(ran.code, 124, "a time limit is 124, as timeout(1) says it");
    assert!(ran.json()["stderr"].as_str().unwrap().contains("timed out after 1 seconds"));
    // A chart is saved as a file.
    let ran = dyns(
        &url,
        &token,
        &[
            "--json",
            "exec",
            "-s",
            "cli-test-1",
            "--out-dir",
            dir.path().to_str().unwrap(),
            "import matplotlib.pyplot as plt; plt.plot([1, 2])",
        ],
        None,
    )
    .await;
    let image = ran.json()["images"][0].as_str().unwrap().to_owned();
    assert!(std::fs::read(&image).unwrap().starts_with(b"\x89PNG"), "{image}");
    // A new session when none is given: its id is said on stderr.
    let ran = run(vec!["exec", "1 + 1"]).await;
    assert!(ran.stderr.starts_with("session "), "{}", ran.stderr);

    // shell: the exit code passes through; an argument list; stdin.
    let ran = run(vec!["shell", "-s", "cli-test-1", "echo out; echo err >&2; exit 3"]).await;
    assert_eq!((ran.code, ran.stdout.as_str(), ran.stderr.as_str()), (3, "out\n", "err\n"));
    let ran = run(vec!["--json", "shell", "-s", "cli-test-1", "--exec", "--", "printf", "%s|", "a b", "-c"]).await;
    assert_eq!(ran.json()["stdout"], "a b|-c|");
    let ran = dyns(&url, &token, &["shell", "-s", "cli-test-1", "--stdin", "tr", "a-z", "A-Z"], Some(b"piped")).await;
    assert_eq!(ran.stdout, "PIPED");

    // files: put, ls, get, rm, and a missing file.
    let local = dir.path().join("data.csv");
    std::fs::write(&local, "a,b\n1,2\n").unwrap();
    let ran = dyns(
        &url,
        &token,
        &["--json", "files", "put", "-s", "cli-test-1", local.to_str().unwrap(), "in/data.csv"],
        None,
    )
    .await;
    assert_eq!(ran.json()["file"]["path"], "in/data.csv", "{}", ran.stdout);
    let ran = run(vec!["--json", "files", "ls", "-s", "cli-test-1", "--recursive"]).await;
    let paths: Vec<String> =
        ran.json()["files"].as_array().unwrap().iter().map(|f| f["path"].as_str().unwrap().to_owned()).collect();
    assert!(paths.contains(&"in/data.csv".to_owned()), "{paths:?}");
    let back = dir.path().join("back.csv");
    let ran =
        dyns(&url, &token, &["files", "get", "-s", "cli-test-1", "in/data.csv", back.to_str().unwrap()], None).await;
    assert_eq!(ran.code, 0, "{}", ran.stderr);
    assert_eq!(std::fs::read_to_string(&back).unwrap(), "a,b\n1,2\n");
    let ran = run(vec!["files", "get", "-s", "cli-test-1", "in/data.csv", "-"]).await;
    assert_eq!(ran.stdout, "a,b\n1,2\n", "to stdout");
    assert_eq!(run(vec!["files", "rm", "-s", "cli-test-1", "in/data.csv"]).await.code, 0);
    let ran = run(vec!["files", "get", "-s", "cli-test-1", "in/data.csv"]).await;
    assert_eq!(ran.code, 4, "{}", ran.stderr);
    assert!(ran.stderr.contains("no file or directory named"), "{}", ran.stderr);

    // sessions and the pool.
    let ran = run(vec!["--json", "sessions", "ls"]).await;
    assert!(ran.json()["sessions"].as_array().unwrap().iter().any(|s| s["identifier"] == "cli-test-1"));
    let ran = run(vec!["--json", "sessions", "show", "cli-test-1"]).await;
    assert!(ran.json()["expiresAt"].is_string(), "{}", ran.stdout);
    assert_eq!(run(vec!["sessions", "stop", "cli-test-1"]).await.code, 0);
    assert_eq!(run(vec!["sessions", "rm", "cli-test-1"]).await.code, 0);
    assert_eq!(run(vec!["sessions", "show", "cli-test-1"]).await.code, 4);
    let ran = run(vec!["--json", "pool", "info"]).await;
    assert_eq!(ran.json()["kind"], "PythonLTS");
    assert!(ran.json()["packages"].as_array().unwrap().iter().any(|p| p["name"] == "pandas"));
    let ran = run(vec!["completions", "bash"]).await;
    assert!(ran.stdout.contains("dyns") && ran.stdout.contains("complete"), "a bash completion script");
    emu.stop().await;
}

/// Runs `dyns` and samples its peak memory (VmHWM) until it exits: (what it printed, the peak in MiB).
async fn peak_memory(endpoint: &str, token: &str, args: &[&str]) -> (Ran, u64) {
    let mut child = command(endpoint, token, args, false).spawn().unwrap();
    let pid = child.id().unwrap();
    let mut peak_kb = 0u64;
    let status = loop {
        if let Ok(status) = std::fs::read_to_string(format!("/proc/{pid}/status")) {
            let hwm = status
                .lines()
                .find_map(|l| l.strip_prefix("VmHWM:"))
                .and_then(|v| v.split_whitespace().next()?.parse().ok());
            peak_kb = peak_kb.max(hwm.unwrap_or(0));
        }
        if let Some(status) = child.try_wait().unwrap() {
            break status;
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    };
    let output = child.wait_with_output().await.unwrap();
    let ran = Ran {
        code: status.code().unwrap_or(-1),
        stdout: String::from_utf8_lossy(&output.stdout).into_owned(),
        stderr: String::from_utf8_lossy(&output.stderr).into_owned(),
    };
    (ran, peak_kb / 1024)
}

fn sha256_file(path: &Path) -> String {
    let out = std::process::Command::new("sha256sum").arg(path).output().unwrap();
    String::from_utf8_lossy(&out.stdout).split_whitespace().next().unwrap_or_default().to_owned()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn large_files_stream_byte_exact_with_flat_memory() {
    let Some(emu) = emulator().await else { return };
    let (url, token) = (emu.url(), emu.token().to_owned());
    let dir = tempfile::tempdir().unwrap();
    // The service takes files up to 128 MiB: 120 MiB goes up and comes back byte for byte.
    let big = dir.path().join("big.bin");
    let chunk: Vec<u8> = (0..(1 << 20)).map(|i: u32| (i.wrapping_mul(2_654_435_761) >> 24) as u8).collect();
    {
        use std::io::Write;
        let mut file = std::fs::File::create(&big).unwrap();
        for n in 0..120u32 {
            let mut block = chunk.clone();
            block[0] = n as u8;
            file.write_all(&block).unwrap();
        }
    }
    let (ran, peak) = peak_memory(&url, &token, &["files", "put", "-s", "cli-big-1", big.to_str().unwrap()]).await;
    assert_eq!(ran.code, 0, "{}", ran.stderr);
    assert!(peak < 64, "uploading 120 MiB took {peak} MiB");
    let back = dir.path().join("back.bin");
    let (ran, peak) =
        peak_memory(&url, &token, &["files", "get", "-s", "cli-big-1", "big.bin", back.to_str().unwrap()]).await;
    assert_eq!(ran.code, 0, "{}", ran.stderr);
    assert!(peak < 64, "downloading 120 MiB took {peak} MiB");
    assert_eq!(sha256_file(&back), sha256_file(&big), "byte-exact");
    // 200 MB: more than a pool accepts in one upload (said before anything is sent), and a download of a file
    // the session made, byte-exact.
    let huge = dir.path().join("huge.bin");
    std::fs::File::create(&huge).unwrap().set_len(200_000_000).unwrap();
    let ran = dyns(&url, &token, &["files", "put", "-s", "cli-big-1", huge.to_str().unwrap()], None).await;
    assert_eq!(ran.code, 2, "{}", ran.stderr);
    assert!(ran.stderr.contains("at most 134217728 bytes (128 MiB)"), "{}", ran.stderr);
    let make = "import hashlib, os\nh = hashlib.sha256()\nwith open('/mnt/data/made.bin', 'wb') as f:\n    for i in range(200):\n        b = os.urandom(1000000)\n        h.update(b)\n        f.write(b)\nh.hexdigest()";
    let ran = dyns(&url, &token, &["--json", "exec", "-s", "cli-big-1", make], None).await;
    let digest = ran.json()["result"].as_str().unwrap().to_owned();
    let made = dir.path().join("made.bin");
    let (ran, peak) =
        peak_memory(&url, &token, &["files", "get", "-s", "cli-big-1", "made.bin", made.to_str().unwrap()]).await;
    assert_eq!(ran.code, 0, "{}", ran.stderr);
    assert!(peak < 64, "downloading 200 MB took {peak} MiB");
    assert_eq!(sha256_file(&made), digest, "byte-exact");
    emu.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_repl_keeps_state_interrupts_and_saves_charts_in_a_terminal() {
    let Some(emu) = emulator().await else { return };
    let dir = tempfile::tempdir().unwrap();
    let driver = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/repl_driver.py");
    let output = tokio::process::Command::new("/usr/bin/python3")
        .arg(&driver)
        .arg(DYNS)
        .arg(dir.path())
        .env_clear()
        .env("PATH", "/usr/bin:/bin")
        .env("HOME", dir.path())
        .env("TERM", "xterm")
        .env("POOL_MANAGEMENT_ENDPOINT", emu.url())
        .env("DYNAMIC_SESSIONS_TOKEN", emu.token())
        .output()
        .await
        .unwrap();
    let report: Value = serde_json::from_slice(&output.stdout).unwrap_or_else(|e| {
        panic!("{e}: {}\n{}", String::from_utf8_lossy(&output.stdout), String::from_utf8_lossy(&output.stderr))
    });
    for (check, ok) in report["checks"].as_object().unwrap() {
        assert_eq!(ok, &Value::Bool(true), "{check}:\n{}", report["transcript"].as_str().unwrap_or_default());
    }
    assert!(std::fs::read_dir(dir.path()).unwrap().flatten().any(|e| e.path().extension().is_some_and(|x| x == "png")));
    assert!(dir.path().join(".local/share/dyns/history").exists(), "the history is kept");
    emu.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn errors_say_what_to_do() {
    use wiremock::matchers::any;
    use wiremock::{Mock, MockServer, ResponseTemplate};
    // The service's error shape (the swagger's ErrorResponse: {"error": {"code", "message"}}).
    let error = |status: u16, code: &str, message: &str| {
        ResponseTemplate::new(status).set_body_json(serde_json::json!({"error": {"code": code, "message": message}}))
    };
    for (status, code, message, expect) in [
        (
            403,
            "Forbidden",
            "The principal does not have the required permissions.",
            "Azure ContainerApps Session Executor",
        ),
        (401, "Unauthorized", "Token audience is invalid.", "https://dynamicsessions.io"),
        (404, "SessionPoolFull", "The session pool is full.", "dyns sessions rm"),
    ] {
        let server = MockServer::start().await;
        Mock::given(any()).respond_with(error(status, code, message)).mount(&server).await;
        let ran = dyns(&server.uri(), "t", &["exec", "-s", "cli-err-1", "1"], None).await;
        assert_eq!(ran.code, 3, "{status}: {}", ran.stderr);
        assert!(ran.stderr.contains(expect) && ran.stderr.contains(message), "{status}: {}", ran.stderr);
    }
    // Nothing listening: said, with how to start an emulator.
    let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let closed = format!("http://{}", listener.local_addr().unwrap());
    drop(listener);
    let ran = dyns(&closed, "t", &["exec", "-s", "cli-err-1", "1"], None).await;
    assert_eq!(ran.code, 3);
    assert!(ran.stderr.contains("could not be reached"), "{}", ran.stderr);
    // No endpoint at all.
    let ran = dyns("", "t", &["exec", "1"], None).await;
    assert_eq!(ran.code, 2);
    assert!(ran.stderr.contains("POOL_MANAGEMENT_ENDPOINT"), "{}", ran.stderr);
}

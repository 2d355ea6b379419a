//! Instruction counts of the paths users pay for on every call, under callgrind (gungraun): they repeat
//! exactly for the same binary and input, whatever else the machine does, so CI can guard them
//! (`scripts/instructions-guard.sh` compares them with `benches/instructions.baseline.json`).
//!
//! Everything a benchmark measures runs on one thread, a `current_thread` tokio runtime: the client and the
//! loopback server it talks to, or the emulator and the small raw HTTP client that drives it. Callgrind then
//! counts all of the work, and the counts do not depend on how threads were scheduled. The session kernel
//! (Python) is another process and is not counted: the emulator's rows are its own work around the kernel's
//! round trip (request parsing, routing, the pool lookup, the kernel exchange, the JSON answer).
//!
//! Run with `scripts/instructions-guard.sh` (it installs the runner, `gungraun-runner` 0.20.0), or, with
//! the runner on `PATH`, `cargo bench -p dynamic-sessions-benches --bench instructions`.

// The benchmark functions are generated into a module of the macro's; doc comments are not allowed on them.
#![allow(missing_docs)]

use std::hint::black_box;
use std::time::Duration;

use dynamic_sessions::{ApiVersion, Auth, Execution, RemoteFile, RetryPolicy, Session, SessionId, SessionPoolClient};
use dynamic_sessions_agent_tools::{OutputBudget, ReportFormat, RunReport};
use dynamic_sessions_benches::{CURRENT_EXECUTE, LEGACY_EXECUTE, file_list, image_execute, stub_server};
use dynamic_sessions_emulator::RunningEmulator;
use dynamic_sessions_emulator::testing;
use gungraun::prelude::*;
use gungraun::{Callgrind, LibraryBenchmarkConfig};
use serde_json::Value;
use tokio::io::{AsyncBufReadExt, AsyncReadExt, AsyncWriteExt, BufReader};
use tokio::net::{TcpListener, TcpStream};

/// Round trips per measured call: enough that per-run noise (a `Date` header re-rendered when the second
/// changes) is a small fraction.
const ROUNDS: usize = 10;

/// Gives up loudly: a benchmark that cannot set itself up must not report a count.
fn fail(what: &str, error: impl std::fmt::Display) -> ! {
    eprintln!("instruction benchmark setup failed: {what}: {error}");
    std::process::exit(2)
}

fn current_thread() -> tokio::runtime::Runtime {
    tokio::runtime::Builder::new_current_thread().enable_all().build().unwrap_or_else(|e| fail("tokio runtime", e))
}

// ---------------------------------------------------------------------------------------------------------
// The client against a canned loopback server.

/// A client session talking to [`stub_server`] on the same thread, its connection already open.
struct ClientHarness {
    rt: tokio::runtime::Runtime,
    session: Session,
}

fn client_harness(body: &'static str, version: ApiVersion) -> ClientHarness {
    let rt = current_thread();
    let session = rt.block_on(async {
        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap_or_else(|e| fail("bind", e));
        let addr = listener.local_addr().unwrap_or_else(|e| fail("local address", e));
        tokio::spawn(stub_server(listener, body));
        let client =
            SessionPoolClient::builder(format!("http://{addr}/subscriptions/s/resourceGroups/g/sessionPools/p"))
                .auth(Auth::bearer("benchmark-token"))
                .api_version(version)
                .retry_policy(RetryPolicy::none())
                .build()
                .unwrap_or_else(|e| fail("client", e));
        let session = client.session(SessionId::random());
        // The first call opens the connection; the measured ones reuse it, as a client in use does.
        session.execute("1+1").send().await.unwrap_or_else(|e| fail("warm-up execute", e));
        session
    });
    ClientHarness { rt, session }
}

fn legacy_client() -> ClientHarness {
    client_harness(LEGACY_EXECUTE, ApiVersion::legacy())
}

fn current_client() -> ClientHarness {
    client_harness(CURRENT_EXECUTE, ApiVersion::latest())
}

fn execute_rounds(harness: &ClientHarness) -> usize {
    harness.rt.block_on(async {
        let mut ok = 0;
        for _ in 0..ROUNDS {
            if let Ok(run) = harness.session.execute(black_box("print('hello')\n1+1")).send().await {
                ok += usize::from(run.is_success());
            }
        }
        ok
    })
}

/// Fails the run when a measured round did not succeed: its count would not be the path's.
fn all_rounds_succeeded(succeeded: usize) {
    if succeeded != ROUNDS {
        fail("a measured round", format!("{succeeded} of {ROUNDS} rounds succeeded"));
    }
}

// The client builds an execute request, sends it on its kept-alive connection and parses the answer: the
// legacy family (`code/execute`, wrapped body).
#[library_benchmark]
#[bench::legacy(setup = legacy_client, teardown = all_rounds_succeeded)]
fn client_execute_legacy(harness: ClientHarness) -> usize {
    black_box(execute_rounds(&harness))
}

// The same with the current family (`executions`, flat body).
#[library_benchmark]
#[bench::current(setup = current_client, teardown = all_rounds_succeeded)]
fn client_execute_current(harness: ClientHarness) -> usize {
    black_box(execute_rounds(&harness))
}

// Parsing a file list of 100 entries.
#[library_benchmark]
#[bench::hundred(setup = file_list, args = (100))]
fn client_parse_file_list(body: String) -> usize {
    let value: Value = serde_json::from_str(black_box(&body)).unwrap_or_default();
    black_box(RemoteFile::list_from_json(&value).len())
}

// Parsing an execution whose result is a chart (44 KB of base64).
#[library_benchmark]
#[bench::chart(setup = image_execute)]
fn client_parse_image_result(body: String) -> usize {
    let value: Value = serde_json::from_str(black_box(&body)).unwrap_or_default();
    black_box(Execution::from_json(&value).images.len())
}

library_benchmark_group!(
    name = client,
    benchmarks = [client_execute_legacy, client_execute_current, client_parse_file_list, client_parse_image_result]
);

// ---------------------------------------------------------------------------------------------------------
// The emulator, driven by a raw HTTP/1.1 client on the same thread.

/// A kept-alive HTTP/1.1 connection that sends prepared requests and reads whole answers: as little client
/// work as possible, so the count is the emulator's.
struct RawConnection {
    stream: BufReader<TcpStream>,
}

impl RawConnection {
    async fn open(addr: std::net::SocketAddr) -> RawConnection {
        let stream = TcpStream::connect(addr).await.unwrap_or_else(|e| fail("connect", e));
        RawConnection { stream: BufReader::new(stream) }
    }

    /// Sends `request` and returns the status code and body of the answer.
    async fn exchange(&mut self, request: &[u8]) -> (u16, Vec<u8>) {
        if self.stream.get_mut().write_all(request).await.is_err() {
            return (0, Vec::new());
        }
        let mut status = 0;
        let mut length = 0usize;
        loop {
            let mut line = String::new();
            if self.stream.read_line(&mut line).await.unwrap_or(0) == 0 {
                return (0, Vec::new());
            }
            if line == "\r\n" {
                break;
            }
            if let Some(code) = line.strip_prefix("HTTP/1.1 ") {
                status = code.get(..3).and_then(|c| c.parse().ok()).unwrap_or(0);
            } else if let Some(v) = line.to_ascii_lowercase().strip_prefix("content-length:") {
                length = v.trim().parse().unwrap_or(0);
            }
        }
        let mut body = vec![0u8; length];
        if self.stream.read_exact(&mut body).await.is_err() {
            return (0, Vec::new());
        }
        (status, body)
    }
}

/// A running emulator on this thread with one warm session, and the requests the benchmark sends it.
struct EmulatorHarness {
    rt: tokio::runtime::Runtime,
    emulator: Option<RunningEmulator>,
    connection: RawConnection,
    request: Vec<u8>,
    _dir: tempfile::TempDir,
}

/// Starts an emulator (bare Python, no ready pool, so nothing but the measured requests runs) and warms a
/// session with one `request`.
fn emulator_harness(request: impl FnOnce(&str, &str) -> Vec<u8>) -> EmulatorHarness {
    let rt = current_thread();
    let dir = tempfile::tempdir().unwrap_or_else(|e| fail("temporary directory", e));
    let (emulator, connection, request) = rt.block_on(async {
        let mut config = testing::config(dir.path());
        config.setup_runtime = false;
        config.ready_sessions = 0;
        config.max_sessions = 4;
        let emulator = RunningEmulator::start(config).await.unwrap_or_else(|e| fail("emulator", e));
        let request = request(&emulator.addr().to_string(), emulator.token());
        let mut connection = RawConnection::open(emulator.addr()).await;
        let (status, body) = connection.exchange(&request).await;
        if status != 200 {
            fail("warm-up request", format!("HTTP {status}: {}", String::from_utf8_lossy(&body)));
        }
        (emulator, connection, request)
    });
    EmulatorHarness { rt, emulator: Some(emulator), connection, request, _dir: dir }
}

/// `POST code/execute` of `1+1` (the legacy family, as most clients send it).
fn execute_request(host: &str, token: &str) -> Vec<u8> {
    let body = r#"{"properties":{"codeInputType":"inline","executionType":"synchronous","code":"1+1"}}"#;
    format!(
        "POST /code/execute?api-version=2024-02-02-preview&identifier=bench-session HTTP/1.1\r\nHost: {host}\r\n\
         Authorization: Bearer {token}\r\nContent-Type: application/json\r\nContent-Length: {}\r\n\r\n{body}",
        body.len()
    )
    .into_bytes()
}

/// `POST files` of a 64 KiB file (multipart, the current family).
fn upload_request(host: &str, token: &str) -> Vec<u8> {
    let boundary = "----bench-boundary-7MA4YWxkTrZu0gW";
    let mut body = format!(
        "--{boundary}\r\nContent-Disposition: form-data; name=\"file\"; filename=\"data.csv\"\r\n\
         Content-Type: application/octet-stream\r\n\r\n"
    )
    .into_bytes();
    body.extend((0..64 * 1024).map(|i| b"0123456789,\n"[i % 12]));
    body.extend(format!("\r\n--{boundary}--\r\n").into_bytes());
    let mut request = format!(
        "POST /files?api-version=2025-02-02-preview&identifier=bench-session HTTP/1.1\r\nHost: {host}\r\n\
         Authorization: Bearer {token}\r\nContent-Type: multipart/form-data; boundary={boundary}\r\n\
         Content-Length: {}\r\n\r\n",
        body.len()
    )
    .into_bytes();
    request.extend(body);
    request
}

fn warm_execute() -> EmulatorHarness {
    emulator_harness(execute_request)
}

fn warm_upload() -> EmulatorHarness {
    emulator_harness(upload_request)
}

fn exchange_rounds(harness: &mut EmulatorHarness) -> usize {
    let EmulatorHarness { rt, connection, request, .. } = harness;
    rt.block_on(async {
        let mut ok = 0;
        for _ in 0..ROUNDS {
            ok += usize::from(connection.exchange(black_box(request)).await.0 == 200);
        }
        ok
    })
}

fn stop_emulator((mut harness, succeeded): (EmulatorHarness, usize)) {
    all_rounds_succeeded(succeeded);
    if let Some(emulator) = harness.emulator.take() {
        harness.rt.block_on(async {
            let _ = tokio::time::timeout(Duration::from_secs(60), emulator.shutdown()).await;
        });
    }
}

// A warm `1+1` in an existing session: request parsing, routing, the pool lookup, the kernel exchange and
// the JSON answer (the kernel's own work is in another process).
#[library_benchmark]
#[bench::one_plus_one(setup = warm_execute, teardown = stop_emulator)]
fn emulator_warm_execute(mut harness: EmulatorHarness) -> (EmulatorHarness, usize) {
    let succeeded = black_box(exchange_rounds(&mut harness));
    (harness, succeeded)
}

// A 64 KiB upload into an existing session (the file system calls run on tokio's blocking threads and are
// not counted; the multipart parsing and the answer are).
#[library_benchmark]
#[bench::kib64(setup = warm_upload, teardown = stop_emulator)]
fn emulator_upload(mut harness: EmulatorHarness) -> (EmulatorHarness, usize) {
    let succeeded = black_box(exchange_rounds(&mut harness));
    (harness, succeeded)
}

library_benchmark_group!(name = emulator, benchmarks = [emulator_warm_execute, emulator_upload]);

// ---------------------------------------------------------------------------------------------------------
// The agent tools: a run turned into what the model reads.

fn failed_run() -> Execution {
    let stdout: String = (0..200).map(|i| format!("row {i}: {}\n", i * 7)).collect();
    let body = serde_json::json!({
        "id": "exec-1", "identifier": "s", "executionType": "Synchronous", "status": "Failed",
        "result": {
            "stdout": stdout,
            "stderr": "Traceback (most recent call last):\n  Cell In[3], line 4\n    df.groupby('region')['sales'].mean()\nKeyError: 'region'\n",
            "executionResult": "", "executionTimeInMilliseconds": 12
        }
    });
    Execution::from_json(&body)
}

// A failed run with 200 lines of output turned into the model's report, as prose and as JSON.
#[library_benchmark]
#[bench::failed(setup = failed_run)]
fn agent_tools_report(execution: Execution) -> usize {
    let report = RunReport::new(black_box(&execution), OutputBudget::default(), Vec::new());
    black_box(report.render(ReportFormat::Prose).len() + report.render(ReportFormat::Json).len())
}

library_benchmark_group!(name = agent_tools, benchmarks = [agent_tools_report]);

main!(
    // The sessions' kernels are other processes: count this one only. The environment is kept (the emulator
    // needs PATH to find Python).
    config = LibraryBenchmarkConfig::default()
        .env_clear(false)
        .tool(Callgrind::with_args(["--trace-children=no"]));
    library_benchmark_groups = client, emulator, agent_tools
);

//! The Rust client against LangChain's `SessionsPythonREPLTool`, on one canned loopback server, in one run:
//! the same request (`1+1`, the legacy api-version LangChain uses), the same answer, each after a warm-up, in
//! alternating rounds so that the machine's drift touches both alike. Prints calls per second and the median
//! and p90 of a call, per client and round.
//!
//! Needs the pinned Python clients (`DS_PYTHON_CLIENTS_VENV`, as `.ci/run` installs them); without them it says
//! so and stops. Run with `cargo bench -p dynamic-sessions-benches --bench versus_langchain`.

use std::path::PathBuf;
use std::time::{Duration, Instant};

use dynamic_sessions::{ApiVersion, Auth, RetryPolicy, SessionId, SessionPoolClient};
use dynamic_sessions_benches::{LEGACY_EXECUTE, spread, stub_server};

/// Calls per client and round.
const CALLS: usize = 2000;
const ROUNDS: usize = 3;

/// Times `CALLS` executions with LangChain's tool; prints the per-call seconds as one JSON list.
const LANGCHAIN: &str = r#"
import json, os, sys, time, warnings
warnings.filterwarnings("ignore")
from langchain_azure_dynamic_sessions import SessionsPythonREPLTool
tool = SessionsPythonREPLTool(pool_management_endpoint=os.environ["POOL_ENDPOINT"], access_token_provider=lambda: "t")
for _ in range(50):
    tool.execute("1+1")
samples = []
for _ in range(int(os.environ["CALLS"])):
    started = time.perf_counter()
    tool.execute("1+1")
    samples.append(time.perf_counter() - started)
print(json.dumps(samples))
"#;

fn python() -> Option<PathBuf> {
    let venv = PathBuf::from(std::env::var_os("DS_PYTHON_CLIENTS_VENV")?);
    let python = venv.join("bin/python");
    python.exists().then_some(python)
}

/// The stub server on a thread of its own, answering every execute at once.
fn start_stub() -> Option<std::net::SocketAddr> {
    let listener = std::net::TcpListener::bind("127.0.0.1:0").ok()?;
    listener.set_nonblocking(true).ok()?;
    let addr = listener.local_addr().ok()?;
    std::thread::spawn(move || {
        let Ok(rt) = tokio::runtime::Builder::new_current_thread().enable_all().build() else { return };
        rt.block_on(async move {
            if let Ok(listener) = tokio::net::TcpListener::from_std(listener) {
                stub_server(listener, LEGACY_EXECUTE).await;
            }
        });
    });
    Some(addr)
}

fn langchain_round(python: &PathBuf, endpoint: &str) -> Option<Vec<Duration>> {
    let output = std::process::Command::new(python)
        .args(["-c", LANGCHAIN])
        .env("POOL_ENDPOINT", endpoint)
        .env("CALLS", CALLS.to_string())
        .output()
        .ok()?;
    if !output.status.success() {
        eprintln!("LangChain round failed: {}", String::from_utf8_lossy(&output.stderr));
        return None;
    }
    let seconds: Vec<f64> = serde_json::from_slice(&output.stdout).ok()?;
    Some(seconds.into_iter().map(Duration::from_secs_f64).collect())
}

fn rust_round(rt: &tokio::runtime::Runtime, endpoint: &str) -> Option<Vec<Duration>> {
    let client = SessionPoolClient::builder(endpoint)
        .auth(Auth::bearer("t"))
        .api_version(ApiVersion::legacy())
        .retry_policy(RetryPolicy::none())
        .build()
        .ok()?;
    let session = client.session(SessionId::random());
    rt.block_on(async {
        for _ in 0..50 {
            session.execute("1+1").send().await.ok()?;
        }
        let mut samples = Vec::with_capacity(CALLS);
        for _ in 0..CALLS {
            let started = Instant::now();
            session.execute("1+1").send().await.ok()?;
            samples.push(started.elapsed());
        }
        Some(samples)
    })
}

fn report(client: &str, round: usize, samples: Option<Vec<Duration>>) -> Option<f64> {
    let samples = samples?;
    let total: Duration = samples.iter().sum();
    let per_second = samples.len() as f64 / total.as_secs_f64();
    let (n, median, p90) = spread(samples)?;
    println!("| {client} | {round} | {per_second:.0} | {median:.3} ms | {p90:.3} ms | {n} |");
    Some(per_second)
}

fn main() {
    let Some(python) = python() else {
        eprintln!(
            "*** SKIPPING the LangChain comparison: set DS_PYTHON_CLIENTS_VENV to a virtual environment with \
             crates/emulator/tests/python_clients/requirements.txt installed (.ci/run makes target/python-clients-venv) ***"
        );
        return;
    };
    let Some(addr) = start_stub() else {
        eprintln!("cannot start the stub server");
        return;
    };
    let Ok(rt) = tokio::runtime::Builder::new_current_thread().enable_all().build() else { return };
    let endpoint = format!("http://{addr}/subscriptions/s/resourceGroups/g/sessionPools/p");
    println!("| client | round | calls/s | median | p90 | n |\n|---|---|---:|---:|---:|---:|");
    let (mut rust, mut langchain) = (Vec::new(), Vec::new());
    for round in 1..=ROUNDS {
        rust.extend(report("dynamic-sessions (Rust)", round, rust_round(&rt, &endpoint)));
        langchain.extend(report("LangChain SessionsPythonREPLTool", round, langchain_round(&python, &endpoint)));
    }
    let mean = |v: &[f64]| v.iter().sum::<f64>() / v.len().max(1) as f64;
    if !rust.is_empty() && !langchain.is_empty() {
        println!("\nthe Rust client made {:.1}x the calls per second of LangChain's", mean(&rust) / mean(&langchain));
    }
}

//! Emulator performance on this machine, through real HTTP and the dynamic-sessions client:
//!
//! * warm `1+1` execute round trip (criterion; target: median under 1 ms);
//! * first execute on a new identifier, with a ready pool (target: median under 50 ms) and without one
//!   (target: under 150 ms for a bare kernel);
//! * idle memory per session, PSS of every process of the session (target: under 15 MB without pre-imports);
//! * 100 concurrent sessions, each executing and uploading, served without error.
//!
//! Needs bubblewrap and root (as CI has). Run with `cargo bench --bench emulator`.

use std::time::{Duration, Instant};

use criterion::Criterion;
use dynamic_sessions::{Auth, RetryPolicy, SessionId, SessionPoolClient};
use dynamic_sessions_emulator::config::EmulatorConfig;
use dynamic_sessions_emulator::{RunningEmulator, testing};

fn runtime() -> tokio::runtime::Runtime {
    match tokio::runtime::Builder::new_multi_thread().worker_threads(2).enable_all().build() {
        Ok(rt) => rt,
        Err(e) => {
            eprintln!("cannot build a tokio runtime: {e}");
            std::process::exit(1);
        }
    }
}

async fn emulator(
    dir: &std::path::Path,
    tweak: impl FnOnce(&mut EmulatorConfig),
) -> Option<(RunningEmulator, SessionPoolClient)> {
    let mut config = testing::config(dir);
    config.max_sessions = 150;
    tweak(&mut config);
    let emulator = match RunningEmulator::start(config).await {
        Ok(e) => e,
        Err(e) => {
            eprintln!("emulator did not start: {e}");
            return None;
        }
    };
    let client = SessionPoolClient::builder(emulator.url())
        .auth(Auth::bearer(emulator.token()))
        .retry_policy(RetryPolicy::none())
        .build()
        .ok()?;
    Some((emulator, client))
}

fn stats(label: &str, mut samples: Vec<Duration>) {
    samples.sort();
    let ms = |d: Duration| d.as_secs_f64() * 1000.0;
    let pick = |q: f64| samples[((samples.len() - 1) as f64 * q).round() as usize];
    println!(
        "{label}: n={} median {:.2} ms, p90 {:.2} ms, min {:.2} ms, max {:.2} ms",
        samples.len(),
        ms(pick(0.5)),
        ms(pick(0.9)),
        ms(samples[0]),
        ms(samples[samples.len() - 1])
    );
}

async fn ready_count(client: &reqwest::Client, url: &str) -> u64 {
    let health: serde_json::Value = match client.get(format!("{url}/health")).send().await {
        Ok(r) => r.json().await.unwrap_or_default(),
        Err(_) => return 0,
    };
    health["readySessions"].as_u64().unwrap_or(0)
}

/// Sum of PSS (kB) of processes running as the emulator's session uids, and their number.
fn session_pss_kb(emulator: &RunningEmulator) -> (u64, usize) {
    let Some(uids) = emulator.footprint().session_uids.clone() else { return (0, 0) };
    let processes = testing::session_processes(uids);
    let total = processes
        .iter()
        .filter_map(|(pid, _)| std::fs::read_to_string(format!("/proc/{pid}/smaps_rollup")).ok())
        .filter_map(|rollup| {
            rollup.lines().find_map(|l| l.strip_prefix("Pss:"))?.split_whitespace().next()?.parse::<u64>().ok()
        })
        .sum();
    (total, processes.len())
}

fn warm_round_trip(c: &mut Criterion, rt: &tokio::runtime::Runtime, client: &SessionPoolClient) {
    let session = client.session(SessionId::random());
    if rt.block_on(session.execute("1+1").send()).is_err() {
        eprintln!("warm-up execution failed");
        return;
    }
    let mut group = c.benchmark_group("emulator");
    group.measurement_time(Duration::from_secs(8));
    group.bench_function("execute_1_plus_1_warm", |b| {
        b.to_async(rt).iter(|| async { session.execute("1+1").await.map(|e| e.result) })
    });
    group.finish();
}

async fn first_execute(client: &SessionPoolClient, url: &str, wait_for_ready: u64, rounds: usize) -> Vec<Duration> {
    let http = reqwest::Client::new();
    let mut samples = Vec::new();
    for _ in 0..rounds {
        let deadline = Instant::now() + Duration::from_secs(30);
        while wait_for_ready > 0 && ready_count(&http, url).await < wait_for_ready && Instant::now() < deadline {
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
        let session = client.session(SessionId::random());
        let started = Instant::now();
        match session.execute("1+1").await {
            Ok(run) if run.is_success() => samples.push(started.elapsed()),
            other => eprintln!("first execute failed: {other:?}"),
        }
        let _ = session.delete().await;
    }
    samples
}

async fn concurrent(client: &SessionPoolClient, sessions: usize) -> (usize, Duration) {
    let started = Instant::now();
    let tasks: Vec<_> = (0..sessions)
        .map(|i| {
            let session = client.session(SessionId::random());
            tokio::spawn(async move {
                let run = session.execute(format!("sum(range({i}))")).timeout(Duration::from_secs(120)).send().await?;
                let expected = serde_json::json!((0..i as u64).sum::<u64>());
                let uploaded = session.files().upload("data.txt", format!("session {i}")).await?;
                let ok = run.is_success()
                    && run.result == Some(expected)
                    && uploaded.size == Some(format!("session {i}").len() as u64);
                Ok::<bool, dynamic_sessions::Error>(ok)
            })
        })
        .collect();
    let mut failures = 0;
    for task in tasks {
        match task.await {
            Ok(Ok(true)) => {}
            other => {
                failures += 1;
                eprintln!("session failed: {other:?}");
            }
        }
    }
    (failures, started.elapsed())
}

fn main() {
    if let Some(missing) = testing::missing_tools() {
        eprintln!("*** SKIPPING the emulator benchmark: missing {missing} ***");
        return;
    }
    let rt = runtime();
    let Ok(dir) = tempfile::tempdir() else { return };
    let mut criterion = Criterion::default().configure_from_args();

    // Warm round trip and first execute with a ready pool of 4.
    let Some((emu, client)) = rt.block_on(emulator(dir.path(), |c| c.ready_sessions = 4)) else { return };
    println!("sandbox: {:?}", emu.sandbox());
    warm_round_trip(&mut criterion, &rt, &client);
    let with_pool = rt.block_on(first_execute(&client, &emu.url(), 4, 25));
    rt.block_on(emu.shutdown());

    // First execute without a ready pool: a kernel is started on demand.
    let Some((emu, client)) = rt.block_on(emulator(dir.path(), |c| c.ready_sessions = 0)) else { return };
    let cold = rt.block_on(first_execute(&client, &emu.url(), 0, 25));

    // Idle memory per session.
    let idle_sessions = 20;
    let ids: Vec<SessionId> = (0..idle_sessions).map(|_| SessionId::random()).collect();
    for id in &ids {
        let _ = rt.block_on(client.session(id.clone()).execute("1").send());
    }
    std::thread::sleep(Duration::from_millis(500));
    let (pss_kb, processes) = session_pss_kb(&emu);
    for id in &ids {
        let _ = rt.block_on(client.session(id.clone()).delete());
    }
    rt.block_on(emu.shutdown());

    // 100 concurrent sessions.
    let Some((emu, client)) = rt.block_on(emulator(dir.path(), |c| c.ready_sessions = 2)) else { return };
    let (failures, took) = rt.block_on(concurrent(&client, 100));
    rt.block_on(emu.shutdown());

    criterion.final_summary();
    println!("\n== emulator benchmark summary ==");
    stats("first execute on a new identifier, ready pool", with_pool);
    stats("first execute on a new identifier, no ready pool (bare kernel)", cold);
    println!(
        "idle memory: {:.1} MB PSS per session ({idle_sessions} sessions, {processes} processes incl. bubblewrap)",
        pss_kb as f64 / 1024.0 / idle_sessions as f64
    );
    println!("100 concurrent sessions (execute + upload each): {failures} failures, {:.2} s", took.as_secs_f64());
}

//! Emulator performance on this machine, through real HTTP and the dynamic-sessions client. Prints one line
//! per row of the README's table (median and p90, never a best run):
//!
//! * the first `import pandas as pd; pd.DataFrame(...).describe()` in a new session: on a ready-pool hit, and
//!   over 100 new sessions in a row (the pool drained);
//! * the first matplotlib chart (a PNG result) in a new session;
//! * `1+1` on a new identifier: on a pool hit, and over 100 new sessions in a row;
//! * for each first run on a pool hit, how it compares with the same code run again in that session (warm);
//! * a NodeLTS pool: the first `1+1` on a pool hit, and the memory of an idle JavaScript session;
//! * a warm `1+1` round trip (criterion);
//! * the unique memory (USS) and PSS of an idle preloaded session;
//! * 1,000 idle preloaded sessions (`DS_BENCH_IDLE_SESSIONS` to change): all answer `1+1`; the memory they take
//!   from the machine (the drop of `MemAvailable`) and the sum of their PSS;
//! * 100 concurrent sessions, each executing and uploading.
//!
//! Memory rows need root (each session then runs as its own uid, which is how its processes are found).
//! Run with `cargo bench --bench emulator`.

use std::collections::BTreeMap;
use std::time::{Duration, Instant};

use criterion::Criterion;
use dynamic_sessions::{Auth, RetryPolicy, SessionId, SessionPoolClient};
use dynamic_sessions_benches::spread;
use dynamic_sessions_emulator::config::{ContainerType, DEFAULT_POOL, EmulatorConfig, PoolSpec};
use dynamic_sessions_emulator::{RunningEmulator, testing};
use futures_util::StreamExt;

/// The ready pool (the emulator's default).
const READY: usize = 2;
const DESCRIBE: &str = "import pandas as pd; pd.DataFrame({'a': range(100)}).describe()";
const CHART: &str =
    "import matplotlib.pyplot as plt\nplt.plot([1, 2, 3], [2, 1, 3])\nplt.title('first chart')\nplt.show()";

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

fn row(what: &str, samples: Vec<Duration>, target: &str) -> String {
    match spread(samples) {
        Some((n, median, p90)) if median < 1.0 => {
            format!("| {what} | median {median:.3} ms, p90 {p90:.3} ms (n={n}) | {target} |")
        }
        Some((n, median, p90)) => format!("| {what} | median {median:.1} ms, p90 {p90:.1} ms (n={n}) | {target} |"),
        None => format!("| {what} | no successful sample | {target} |"),
    }
}

async fn ready_count(http: &reqwest::Client, emulator: &RunningEmulator) -> u64 {
    let request = http.get(format!("{}/health", emulator.url())).bearer_auth(emulator.token());
    let health: serde_json::Value = match request.send().await {
        Ok(r) => r.json().await.unwrap_or_default(),
        Err(_) => return 0,
    };
    // The default pool's (the first listed); an emulator of one pool has only it.
    health["pools"][0]["readySessions"].as_u64().unwrap_or(0)
}

/// The first execution of `code` in new sessions, and the same code again right after in each (warm).
#[derive(Default)]
struct FirstRuns {
    first: Vec<Duration>,
    again: Vec<Duration>,
}

impl FirstRuns {
    /// The row of the first runs, and the row of how they compare with the warm ones (`at_most` times).
    fn rows(self, what: &str, target: &str, at_most: f64) -> [String; 2] {
        let medians = spread(self.first.clone()).zip(spread(self.again.clone()));
        let ratio = match medians {
            Some(((_, first, _), (_, again, _))) if again > 0.0 => format!(
                "| {what}: first over warm (same code, same session, run again) | {:.2}x ({first:.1} over {again:.2} ms) | <= {at_most}x |",
                first / again
            ),
            _ => format!("| {what}: first over warm | not measured | <= {at_most}x |"),
        };
        [row(what, self.first, target), ratio]
    }
}

/// The first execution of `code` in `rounds` new sessions of `client`'s pool, then the same code again in each.
/// With `pool_hit`, each waits until the ready pool is full again, as it is when a user comes to an idle
/// emulator (a pool hit); without, they follow each other at once (the pool drains, and sessions are made on
/// demand).
async fn first_runs(
    emulator: &RunningEmulator,
    client: &SessionPoolClient,
    code: &str,
    rounds: usize,
    pool_hit: bool,
    images: usize,
) -> FirstRuns {
    let http = reqwest::Client::new();
    let mut runs = FirstRuns::default();
    let mut made = Vec::new();
    for _ in 0..rounds {
        let deadline = Instant::now() + Duration::from_secs(30);
        while pool_hit && ready_count(&http, emulator).await < READY as u64 && Instant::now() < deadline {
            tokio::time::sleep(Duration::from_millis(10)).await;
        }
        let session = client.session(SessionId::random());
        for (n, samples) in [&mut runs.first, &mut runs.again].into_iter().enumerate() {
            // The warm run waits, as the first did, for the ready pool's refill (a fork and a kernel start
            // competing for the CPU), so that the two compare the session's own costs.
            let deadline = Instant::now() + Duration::from_secs(30);
            while n == 1 && pool_hit && ready_count(&http, emulator).await < READY as u64 && Instant::now() < deadline {
                tokio::time::sleep(Duration::from_millis(10)).await;
            }
            let started = Instant::now();
            match session.execute(code).await {
                Ok(run) if run.is_success() && run.images.len() == images => samples.push(started.elapsed()),
                other => eprintln!("execution failed: {other:?}"),
            }
        }
        made.push(session);
    }
    for session in made {
        let _ = session.delete().await;
    }
    runs
}

/// The session kernel on its own: `kernel.py` run by the system Python as a plain child process, spoken to
/// over its pipes with the emulator's protocol. What a warm execution costs without the emulator around it.
struct BareKernel {
    child: std::process::Child,
    input: std::process::ChildStdin,
    output: std::io::BufReader<std::process::ChildStdout>,
    _dir: tempfile::TempDir,
    next: u64,
}

impl BareKernel {
    fn start() -> Option<BareKernel> {
        use std::io::BufRead;
        let dir = tempfile::tempdir().ok()?;
        let kernel = dir.path().join("kernel.py");
        std::fs::write(&kernel, testing::PYTHON_KERNEL_SOURCE).ok()?;
        let mut child = std::process::Command::new("/usr/bin/python3")
            .args(["-I", "-X", "frozen_modules=on"])
            .arg(&kernel)
            .current_dir(dir.path())
            .env_clear()
            .env("LANG", "C.UTF-8")
            .stdin(std::process::Stdio::piped())
            .stdout(std::process::Stdio::piped())
            .stderr(std::process::Stdio::null())
            .spawn()
            .ok()?;
        let input = child.stdin.take()?;
        let mut output = std::io::BufReader::new(child.stdout.take()?);
        let mut ready = String::new();
        output.read_line(&mut ready).ok()?;
        ready.contains("\"ready\"").then_some(BareKernel { child, input, output, _dir: dir, next: 0 })
    }

    /// One `1+1` round trip: the request line out, the result line back.
    fn one_plus_one(&mut self) -> Option<Duration> {
        use std::io::{BufRead, Write};
        self.next += 1;
        let started = Instant::now();
        writeln!(self.input, r#"{{"op":"exec","id":"{}","code":"1+1"}}"#, self.next).ok()?;
        let mut line = String::new();
        self.output.read_line(&mut line).ok()?;
        let elapsed = started.elapsed();
        line.contains(r#""result": 2"#).then_some(elapsed)
    }
}

impl Drop for BareKernel {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// A warm `1+1` through HTTP (the client, the emulator, the kernel) and the bare kernel's round trip,
/// measured in alternating blocks of one run so that the machine's drift touches both alike. Returns the
/// (HTTP, bare) samples.
fn warm_round_trips(
    c: &mut Criterion,
    rt: &tokio::runtime::Runtime,
    client: &SessionPoolClient,
) -> Option<(Vec<Duration>, Vec<Duration>)> {
    let session = client.session(SessionId::random());
    if rt.block_on(session.execute("1+1").send()).is_err() {
        eprintln!("warm-up execution failed");
        return None;
    }
    let Some(mut bare) = BareKernel::start() else {
        eprintln!("the bare kernel did not start");
        return None;
    };
    let mut group = c.benchmark_group("emulator");
    group.measurement_time(Duration::from_secs(8));
    group.bench_function("execute_1_plus_1_warm", |b| {
        b.to_async(rt).iter(|| async { session.execute("1+1").await.map(|e| e.result) })
    });
    group.finish();
    let (mut http, mut kernel) = (Vec::new(), Vec::new());
    for _ in 0..10 {
        kernel.extend((0..50).filter_map(|_| bare.one_plus_one()));
        http.extend((0..50).filter_map(|_| {
            let started = Instant::now();
            rt.block_on(session.execute("1+1").send()).ok().map(|_| started.elapsed())
        }));
    }
    Some((http, kernel))
}

/// `(USS, PSS)` in kB of every session's processes, per session (as root: grouped by session uid).
fn memory_per_session(emulator: &RunningEmulator) -> Vec<(u64, u64)> {
    let Some(uids) = emulator.footprint().session_uids.clone() else { return Vec::new() };
    let mut per_uid: BTreeMap<u32, (u64, u64)> = BTreeMap::new();
    for (pid, uid) in testing::session_processes(uids) {
        let Ok(rollup) = std::fs::read_to_string(format!("/proc/{pid}/smaps_rollup")) else { continue };
        let field = |name: &str| -> u64 {
            rollup
                .lines()
                .find_map(|l| l.strip_prefix(name))
                .and_then(|v| v.split_whitespace().next()?.parse().ok())
                .unwrap_or(0)
        };
        let entry = per_uid.entry(uid).or_default();
        entry.0 += field("Private_Clean:") + field("Private_Dirty:");
        entry.1 += field("Pss:");
    }
    per_uid.into_values().collect()
}

fn mem_available_kb() -> u64 {
    std::fs::read_to_string("/proc/meminfo")
        .ok()
        .and_then(|m| m.lines().find_map(|l| l.strip_prefix("MemAvailable:"))?.split_whitespace().next()?.parse().ok())
        .unwrap_or(0)
}

fn kb_spread(mut values: Vec<u64>) -> String {
    if values.is_empty() {
        return "not measured (needs root)".into();
    }
    values.sort_unstable();
    let pick = |q: f64| values[((values.len() - 1) as f64 * q).round() as usize] as f64 / 1024.0;
    format!("median {:.1} MB, p90 {:.1} MB (n={})", pick(0.5), pick(0.9), values.len())
}

/// Starts `count` sessions (8 at a time), then asks each for `1+1` again. Returns how many answered both
/// times, the time it took, and the machine's memory they took (kB, from `MemAvailable`).
async fn idle_sessions(emulator: &RunningEmulator, client: &SessionPoolClient, count: usize) -> (usize, Duration, u64) {
    let before = mem_available_kb();
    let started = Instant::now();
    let ids: Vec<SessionId> = (0..count).map(|_| SessionId::random()).collect();
    let run_all = |ids: Vec<SessionId>| {
        futures_util::stream::iter(ids.into_iter().map(|id| {
            let session = client.session(id);
            async move {
                let run = session.execute("1+1").timeout(Duration::from_secs(120)).send().await;
                run.is_ok_and(|r| r.result == Some(serde_json::json!(2)))
            }
        }))
        .buffer_unordered(8)
        .collect::<Vec<bool>>()
    };
    let first = run_all(ids.clone()).await;
    let took = started.elapsed();
    tokio::time::sleep(Duration::from_secs(2)).await;
    let taken = before.saturating_sub(mem_available_kb());
    let second = run_all(ids.clone()).await;
    let answered = first.iter().zip(&second).filter(|(a, b)| **a && **b).count();
    let pss: u64 = memory_per_session(emulator).iter().map(|(_, pss)| pss).sum();
    println!("({count} idle sessions: PSS of their processes {:.2} GB)", pss as f64 / 1024.0 / 1024.0);
    futures_util::stream::iter(ids.into_iter().map(|id| async move { client.session(id).delete().await }))
        .buffer_unordered(8)
        .collect::<Vec<_>>()
        .await;
    (answered, took, taken)
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
                let _ = session.delete().await;
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

/// Whether the section `name` runs: all do, unless `DS_BENCH_ONLY` lists some (comma-separated: `warm`,
/// `first`, `memory`, `node`, `idle`, `concurrent`).
fn wanted(name: &str) -> bool {
    match std::env::var("DS_BENCH_ONLY") {
        Ok(only) if !only.trim().is_empty() => only.split(',').any(|s| s.trim() == name),
        _ => true,
    }
}

fn main() {
    if let Some(missing) = testing::missing_tools() {
        eprintln!("*** SKIPPING the emulator benchmark: missing {missing} ***");
        return;
    }
    let idle_count: usize = std::env::var("DS_BENCH_IDLE_SESSIONS").ok().and_then(|v| v.parse().ok()).unwrap_or(1000);
    let rt = runtime();
    let Ok(dir) = tempfile::tempdir() else { return };
    let mut criterion = Criterion::default().configure_from_args();
    let mut rows = Vec::new();

    if wanted("warm") || wanted("first") || wanted("memory") {
        let Some((emu, client)) = rt.block_on(emulator(dir.path(), |c| c.ready_sessions = READY)) else { return };
        let sandbox = emu.sandbox();
        println!("sandbox: tier {:?}, cgroups {}, preloaded {:?}", sandbox.tier, sandbox.cgroups, sandbox.preloaded);
        if wanted("warm") {
            rows.extend(warm_rows(warm_round_trips(&mut criterion, &rt, &client)));
        }
        if wanted("first") {
            let describe = rt.block_on(first_runs(&emu, &client, DESCRIBE, 50, true, 0));
            rows.extend(describe.rows("first `describe()` in a new session, ready-pool hit", "<= 20 ms median", 2.0));
            let chart = rt.block_on(first_runs(&emu, &client, CHART, 50, true, 1));
            rows.extend(chart.rows("first matplotlib chart (PNG) in a new session, pool hit", "<= 20 ms median", 2.0));
            let one = rt.block_on(first_runs(&emu, &client, "1+1", 50, true, 0));
            rows.extend(one.rows("`1+1` on a new identifier, ready-pool hit", "<= 3 ms median", 2.0));
            // 100 new sessions in a row: the ready pool drains, and sessions are made on demand.
            rows.push(row(
                "first `describe()`, 100 new sessions in a row",
                rt.block_on(first_runs(&emu, &client, DESCRIBE, 100, false, 0)).first,
                "<= 100 ms p90",
            ));
            rows.push(row(
                "`1+1` on a new identifier, 100 new sessions in a row",
                rt.block_on(first_runs(&emu, &client, "1+1", 100, false, 0)).first,
                "<= 50 ms p90",
            ));
        }
        if wanted("memory") {
            // Idle memory: 50 sessions that ran `1+1`.
            let ids: Vec<SessionId> = (0..50).map(|_| SessionId::random()).collect();
            for id in &ids {
                let _ = rt.block_on(client.session(id.clone()).execute("1+1").send());
            }
            std::thread::sleep(Duration::from_secs(1));
            let memory = memory_per_session(&emu);
            for id in &ids {
                let _ = rt.block_on(client.session(id.clone()).delete());
            }
            let uss = memory.iter().map(|(uss, _)| *uss).collect();
            let pss = memory.iter().map(|(_, pss)| *pss).collect();
            rows.push(format!(
                "| unique memory (USS) of an idle preloaded session | {} | <= 7.6 MB median |",
                kb_spread(uss)
            ));
            rows.push(format!("| PSS of an idle preloaded session | {} | |", kb_spread(pss)));
        }
        rt.block_on(emu.shutdown());
    }

    if wanted("node") {
        // A NodeLTS pool (its own emulator, so that the Python rows' memory is Python sessions' only).
        let node = |c: &mut EmulatorConfig| {
            c.ready_sessions = READY;
            c.pools = vec![PoolSpec { name: DEFAULT_POOL.into(), container_type: ContainerType::NodeLts }];
        };
        if let Some((emu, client)) = rt.block_on(emulator(dir.path(), node)) {
            let first = rt.block_on(first_runs(&emu, &client, "1+1", 50, true, 0));
            rows.extend(first.rows("NodeLTS: `1+1` on a new identifier, ready-pool hit", "<= 10 ms median", 2.0));
            let ids: Vec<SessionId> = (0..20).map(|_| SessionId::random()).collect();
            for id in &ids {
                let _ = rt.block_on(client.session(id.clone()).execute("1+1").send());
            }
            std::thread::sleep(Duration::from_secs(1));
            let uss = memory_per_session(&emu).iter().map(|(uss, _)| *uss).collect();
            rows.push(format!("| NodeLTS: unique memory (USS) of an idle session | {} | |", kb_spread(uss)));
            rt.block_on(emu.shutdown());
        }
    }

    if wanted("idle") {
        let idle = rt
            .block_on(emulator(dir.path(), |c| {
                c.max_sessions = idle_count + 10;
                c.ready_sessions = 2;
            }))
            .map(|(emu, client)| {
                let result = rt.block_on(idle_sessions(&emu, &client, idle_count));
                rt.block_on(emu.shutdown());
                result
            });
        rows.push(match idle {
            Some((answered, took, taken_kb)) => format!(
                "| {idle_count} idle preloaded sessions | {answered} answered `1+1` twice; started in {:.1} s; took {:.2} GB of the machine's memory | all answer, <= 15 GB |",
                took.as_secs_f64(),
                taken_kb as f64 / 1024.0 / 1024.0
            ),
            None => format!("| {idle_count} idle preloaded sessions | the emulator did not start | |"),
        });
    }

    if wanted("concurrent") {
        let Some((emu, client)) = rt.block_on(emulator(dir.path(), |c| c.ready_sessions = 2)) else { return };
        let (failures, took) = rt.block_on(concurrent(&client, 100));
        rt.block_on(emu.shutdown());
        rows.push(format!(
            "| 100 concurrent sessions (execute + upload each) | {failures} failures, {:.2} s | no errors |",
            took.as_secs_f64()
        ));
    }

    criterion.final_summary();
    println!("\n== emulator benchmark ==");
    println!("| what | result | target |\n|---|---|---|");
    for row in rows {
        println!("{row}");
    }
}

/// The warm rows: through HTTP, the bare kernel, and how many kernel round trips one HTTP execution costs.
fn warm_rows(samples: Option<(Vec<Duration>, Vec<Duration>)>) -> Vec<String> {
    let Some((http, bare)) = samples else {
        return vec!["| warm `1+1` through HTTP | failed | |".to_owned()];
    };
    let ratio = match (spread(http.clone()), spread(bare.clone())) {
        (Some((_, h, _)), Some((_, b, _))) if b > 0.0 => format!("{:.2}x the bare kernel's median", h / b),
        _ => "no ratio".to_owned(),
    };
    vec![
        row("warm `1+1` through HTTP (client, emulator, kernel)", http, "<= 2x the bare kernel"),
        row("the bare kernel's `1+1` round trip (same run, interleaved)", bare, ""),
        format!("| warm `1+1` through HTTP over the bare kernel | {ratio} | <= 2x |"),
    ]
}

//! The dynamic-sessions client against a real emulator: every route of both families, end to end.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

mod common;

use std::time::Duration;

use common::{new_id, start};
use dynamic_sessions::{ApiVersion, Auth, Error, ExecutionStatus, SessionPoolClient};
use serde_json::json;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn state_results_and_tracebacks_in_both_families() {
    let Some(h) = start(|_| {}).await else { return };
    let id = new_id();
    let current = h.client().session(id.clone());
    let legacy = h.client_for(ApiVersion::V2024_02_02_PREVIEW).session(id.clone());

    let run = current.execute("x = 20\nprint('hello')\nx + 22").await.unwrap();
    assert_eq!(run.status, ExecutionStatus::Succeeded);
    assert_eq!(run.stdout, "hello\n");
    assert_eq!(run.result, Some(json!(42)));
    assert!(run.id.is_some());

    // The same session through the legacy family sees the same state.
    let run = legacy.execute("x * 2").await.unwrap();
    assert_eq!(run.result, Some(json!(40)));
    assert_eq!(legacy.execute("float('nan')").await.unwrap().result, Some(json!("nan")));

    for (code, expected) in [
        ("'text'", Some(json!("text"))),
        ("2.5", Some(json!(2.5))),
        ("True", Some(json!(true))),
        ("None", None),
        ("y = 1", None),
        // NaN has no JSON form: 2025-10-02-preview answers null (its published example); older versions "nan".
        ("float('nan')", None),
        ("[1, 2]", Some(json!("[1, 2]"))),
        ("{'a': 1}", Some(json!("{'a': 1}"))),
        ("2**70", Some(json!("1180591620717411303424"))),
    ] {
        let run = current.execute(code).await.unwrap();
        assert_eq!(run.result, expected, "{code}");
    }

    let failed = current.execute("def f():\n    return 1 / 0\nf()").await.unwrap();
    assert_eq!(failed.status, ExecutionStatus::Failed);
    assert!(failed.stderr.contains("ZeroDivisionError: division by zero"), "{}", failed.stderr);
    assert!(failed.stderr.contains("return 1 / 0"), "the traceback shows the source line: {}", failed.stderr);
    assert!(!failed.stderr.contains("kernel.py"), "kernel frames are hidden: {}", failed.stderr);
    // A misspelt name ends with Python's own suggestion, as `python` prints it (3.10 and 3.11 leave it out of
    // the traceback module's text; the kernel adds it).
    for (code, last_line) in [
        (
            "import math\nmath.sqroot(2)",
            "AttributeError: module 'math' has no attribute 'sqroot'. Did you mean: 'sqrt'?",
        ),
        ("prnt(1)", "NameError: name 'prnt' is not defined. Did you mean: 'print'?"),
        (
            "total_sales = 3\ntotal_sale + 1",
            "NameError: name 'total_sale' is not defined. Did you mean: 'total_sales'?",
        ),
        ("xyzzy_plugh", "NameError: name 'xyzzy_plugh' is not defined"),
    ] {
        let failed = current.execute(code).await.unwrap();
        assert_eq!(failed.stderr.trim_end().lines().last(), Some(last_line), "{code}: {}", failed.stderr);
    }
    let failed = legacy.execute("raise ValueError('bad')").await.unwrap();
    assert_eq!(failed.status, ExecutionStatus::Failed);
    assert!(failed.stderr.contains("ValueError: bad"));

    // Output from C code and child processes is captured too.
    let run = current
        .execute("import os\nos.system('echo from-child')\nos.write(2, b'raw-stderr\\n')\nprint('py')")
        .await
        .unwrap();
    assert!(run.stdout.contains("from-child\n") && run.stdout.contains("py\n"), "{}", run.stdout);
    assert_eq!(run.stderr, "raw-stderr\n");
    let run = current.execute("display({'k': 1})\nawait __import__('asyncio').sleep(0)\n'async ok'").await.unwrap();
    assert_eq!((run.stdout.as_str(), run.result), ("{'k': 1}\n", Some(json!("async ok"))));
    // One event loop for the session's life: a queue used in one cell still works in the next.
    current.execute("import asyncio\nq = asyncio.Queue()\nawait q.put(5)").await.unwrap();
    let run = current.execute("await q.get()").await.unwrap();
    assert_eq!(run.result, Some(json!(5)), "{}", run.stderr);
    h.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn matplotlib_figure_is_an_image_result() {
    let Some(h) = start(|_| {}).await else { return };
    let session = h.client().session(new_id());
    let run = session
        .execute("import matplotlib.pyplot as plt\nplt.plot([1, 3, 2])\nplt.title('chart')\nplt.show()\nprint('drawn')")
        .timeout(Duration::from_secs(120))
        .send()
        .await
        .unwrap();
    assert!(run.is_success(), "{}", run.stderr);
    assert_eq!(run.stdout, "drawn\n");
    assert_eq!(run.stderr, "", "matplotlib must be silent (no show() or config-dir warnings)");
    assert_eq!(run.images.len(), 1, "{run:?}");
    let png = run.images[0].decode().unwrap();
    assert_eq!(&png[..8], b"\x89PNG\r\n\x1a\n");
    assert!(png.len() > 1000);
    // A trailing plotting expression (an Axes repr) does not hide the image.
    let run = session.execute("plt.figure()\nplt.bar([1, 2], [3, 4])").await.unwrap();
    assert_eq!((run.images.len(), run.result.clone()), (1, None), "{run:?}");
    // Figures are closed after each execution.
    let run = session.execute("plt.get_fignums()").await.unwrap();
    assert_eq!(run.result, Some(json!("[]")));
    // The legacy family carries the same image as its result object.
    let legacy = h.client_for(ApiVersion::V2024_02_02_PREVIEW).session(session.id().clone());
    let run = legacy.execute("fig = plt.figure()\nplt.bar(['a', 'b'], [1, 2])\nfig").await.unwrap();
    assert_eq!(run.images.len(), 1);
    h.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn asynchronous_execution_is_polled_to_completion() {
    let Some(h) = start(|_| {}).await else { return };
    let session = h.client().session(new_id());
    let run = session
        .execute("import time\ntime.sleep(0.5)\n'slow'")
        .asynchronous()
        .poll_interval(Duration::from_millis(50))
        .send()
        .await
        .unwrap();
    assert_eq!(run.status, ExecutionStatus::Succeeded);
    assert_eq!(run.result, Some(json!("slow")));
    h.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn timeouts_keep_state_when_interruptible_and_say_so_when_not() {
    let Some(h) = start(|_| {}).await else { return };
    let session = h.client().session(new_id());
    session.execute("kept = 'yes'").await.unwrap();

    let run = session
        .execute("import time\nwhile True: time.sleep(0.05)")
        .timeout(Duration::from_secs(1))
        .send()
        .await
        .unwrap();
    assert_eq!(run.status, ExecutionStatus::Failed);
    assert!(run.stderr.contains("timed out after 1 seconds") && run.stderr.contains("intact"), "{}", run.stderr);
    assert_eq!(run.error.as_ref().and_then(|e| e.code.as_deref()), Some("ExecutionTimeout"));
    assert_eq!(session.execute("kept").await.unwrap().result, Some(json!("yes")));

    let stubborn = "import signal\nsignal.signal(signal.SIGINT, signal.SIG_IGN)\nwhile True: pass";
    let run = session.execute(stubborn).timeout(Duration::from_secs(1)).send().await.unwrap();
    assert_eq!(run.status, ExecutionStatus::Failed);
    assert!(run.stderr.contains("state (variables, imports) was lost"), "{}", run.stderr);
    let after = session.execute("kept").await.unwrap();
    assert!(after.stderr.contains("NameError"), "the kernel was restarted: {after:?}");
    assert_eq!(session.execute("1 + 1").await.unwrap().result, Some(json!(2)));
    h.stop().await;
}

fn pattern(len: usize) -> Vec<u8> {
    (0..len).map(|i| (i * 7 % 256) as u8).collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn file_round_trips_in_both_families() {
    let Some(h) = start(|_| {}).await else { return };
    let id = new_id();
    let current = h.client().session(id.clone());
    let legacy = h.client_for(ApiVersion::V2024_02_02_PREVIEW).session(id.clone());
    let binary = pattern(70_000);

    // Current family: upload into a subdirectory, list, metadata, download, delete.
    let up = current.files().upload("reports/data.bin", binary.clone()).await.unwrap();
    assert_eq!((up.path(), up.size), ("reports/data.bin".to_owned(), Some(70_000)));
    let meta = current.files().metadata("reports/data.bin").await.unwrap();
    assert_eq!(meta.size, Some(70_000));
    let top = current.files().list().await.unwrap();
    assert!(top.iter().any(|f| f.name == "reports" && f.is_dir()), "{top:?}");
    let all = current.files().list().recursive(true).await.unwrap();
    assert!(all.iter().any(|f| f.path() == "reports/data.bin"), "{all:?}");
    let inside = current.files().list().path("/mnt/data/reports").await.unwrap();
    assert_eq!(inside.iter().map(|f| f.name.as_str()).collect::<Vec<_>>(), ["data.bin"]);
    let back = current.files().download("reports/data.bin").await.unwrap().bytes().await.unwrap();
    assert_eq!(&back[..], &binary[..]);

    // Python sees the uploaded file and can create new ones.
    let run = current.execute("len(open('/mnt/data/reports/data.bin','rb').read())").await.unwrap();
    assert_eq!(run.result, Some(json!(70_000)));
    current.execute("open('made by python.txt', 'w').write('hi')").await.unwrap();

    // Legacy family: upload with a /mnt/data name, list, download, delete.
    let up = legacy.files().upload("/mnt/data/notes.txt", "some notes").await.unwrap();
    assert_eq!((up.name.as_str(), up.size), ("notes.txt", Some(10)));
    let listed = legacy.files().list().await.unwrap();
    let names: Vec<&str> = listed.iter().map(|f| f.name.as_str()).collect();
    assert!(names.contains(&"notes.txt") && names.contains(&"made by python.txt"), "{names:?}");
    assert!(!names.contains(&"reports"), "the legacy list has files only: {names:?}");
    let text = legacy.files().download("made by python.txt").await.unwrap().bytes().await.unwrap();
    assert_eq!(&text[..], b"hi");
    assert_eq!(legacy.files().metadata("notes.txt").await.unwrap().size, Some(10));
    legacy.files().delete("notes.txt").await.unwrap();
    current.files().delete("reports/data.bin").await.unwrap();
    let err = current.files().download("reports/data.bin").await.unwrap_err();
    assert!(matches!(err, Error::NotFound(_)), "{err:?}");
    let err = legacy.files().download("notes.txt").await.unwrap_err();
    assert!(matches!(err, Error::NotFound(_)), "{err:?}");
    h.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_100_mb_file_round_trips_byte_exact() {
    let Some(h) = start(|_| {}).await else { return };
    let files = h.client().session(new_id()).files();
    let dir = tempfile::tempdir().unwrap();
    let source = dir.path().join("big.bin");
    let data = pattern(100 * 1024 * 1024);
    std::fs::write(&source, &data).unwrap();
    let up = files.upload_file("big.bin", &source).await.unwrap();
    assert_eq!(up.size, Some(data.len() as u64));
    let target = dir.path().join("back.bin");
    let n = files.download("big.bin").await.unwrap().to_file(&target).await.unwrap();
    assert_eq!(n, data.len() as u64);
    assert!(std::fs::read(&target).unwrap() == data, "the downloaded file differs");
    h.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sessions_list_info_delete_and_metadata() {
    let Some(h) = start(|_| {}).await else { return };
    let client = h.client();
    let a = client.session(new_id());
    let b = client.session(new_id());
    a.execute("1").await.unwrap();
    b.files().list().await.unwrap();
    let listed: Vec<String> = client.list_sessions().await.unwrap().into_iter().map(|s| s.identifier).collect();
    assert!(listed.contains(&a.id().to_string()) && listed.contains(&b.id().to_string()), "{listed:?}");
    let info = a.info().await.unwrap();
    assert_eq!(info.identifier, a.id().as_str());
    assert!(info.expire_at > info.last_accessed_at);

    a.execute("secret = 1").await.unwrap();
    a.delete().await.unwrap();
    assert!(matches!(a.info().await, Err(Error::NotFound(_))));
    a.delete().await.unwrap(); // already gone: still Ok
    let fresh = a.execute("secret").await.unwrap();
    assert!(fresh.stderr.contains("NameError"), "a deleted session starts over: {fresh:?}");

    let meta = client.metadata().await.unwrap();
    assert_eq!(meta.runtimes[0].name, "python");
    let packages: Vec<&str> = meta.preinstalled_packages.iter().map(|p| p.name.as_str()).collect();
    for wanted in ["numpy", "pandas", "matplotlib"] {
        assert!(packages.iter().any(|p| p.eq_ignore_ascii_case(wanted)), "{wanted} missing from {packages:?}");
    }
    h.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn idle_sessions_expire_after_the_cooldown() {
    let Some(h) = start(|c| c.cooldown = Duration::from_secs(1)).await else { return };
    let session = h.client().session(new_id());
    session.execute("x = 1").await.unwrap();
    session.files().upload("f.txt", "x").await.unwrap();
    tokio::time::sleep(Duration::from_millis(2500)).await;
    assert!(matches!(session.info().await, Err(Error::NotFound(_))), "expired");
    assert!(session.files().list().await.unwrap().is_empty(), "its files went with it");
    h.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_full_pool_answers_404_for_new_identifiers() {
    let Some(h) = start(|c| {
        c.max_sessions = 2;
        c.ready_sessions = 0;
    })
    .await
    else {
        return;
    };
    let client = h.client();
    let (a, b, c) = (client.session(new_id()), client.session(new_id()), client.session(new_id()));
    a.execute("1").await.unwrap();
    b.execute("1").await.unwrap();
    let err = c.execute("1").await.unwrap_err();
    assert!(matches!(err, Error::PoolFull(_)), "{err:?}");
    assert!(a.execute("2").await.is_ok(), "existing sessions keep working");
    a.delete().await.unwrap();
    assert!(c.execute("1").await.is_ok(), "a freed slot is reused");
    h.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn bearer_token_is_required_when_configured() {
    let Some(h) = start(|c| c.token = Some("emulator-secret".into())).await else { return };
    let anonymous = SessionPoolClient::new(h.emulator.url(), Auth::none()).unwrap().session(new_id());
    assert!(matches!(anonymous.execute("1").await, Err(Error::Unauthorized(_))));
    let wrong = SessionPoolClient::new(h.emulator.url(), Auth::bearer("nope")).unwrap();
    assert!(matches!(wrong.metadata().await, Err(Error::Unauthorized(_))));
    let right = SessionPoolClient::new(h.emulator.url(), Auth::bearer("emulator-secret")).unwrap();
    assert_eq!(right.session(new_id()).execute("6*7").await.unwrap().result, Some(json!(42)));
    let health = reqwest::get(format!("{}/health", h.emulator.url())).await.unwrap();
    assert!(health.status().is_success(), "health needs no token");
    h.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn pool_style_endpoint_paths_work_too() {
    let Some(h) = start(|_| {}).await else { return };
    let endpoint = format!("{}/subscriptions/s/resourceGroups/rg/sessionPools/pool", h.emulator.url());
    let client = SessionPoolClient::new(endpoint, Auth::bearer(h.emulator.token())).unwrap();
    let session = client.session(new_id());
    assert_eq!(session.execute("3*3").await.unwrap().result, Some(json!(9)));
    session.files().upload("a.txt", "a").await.unwrap();
    assert_eq!(&session.files().download("a.txt").await.unwrap().bytes().await.unwrap()[..], b"a");
    h.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn code_whose_client_went_away_is_interrupted_and_the_state_kept() {
    let Some(h) = start(|_| {}).await else { return };
    let id = new_id();
    let session = h.client().session(id.clone());
    session.execute("kept = 'still here'").await.unwrap();
    // A client that stops waiting after a second (a chat whose user pressed Stop): its request is dropped.
    let long = session.execute("import time\nfor _ in range(600):\n    time.sleep(0.1)").send();
    let gone = tokio::time::timeout(Duration::from_secs(1), long).await;
    assert!(gone.is_err(), "the client gave up before the cell finished: {gone:?}");
    // Without the interrupt the next execution would wait a minute for the sleeping cell.
    let started = std::time::Instant::now();
    let next = session.execute("kept").timeout(Duration::from_secs(30)).send().await.unwrap();
    assert_eq!(next.result, Some(json!("still here")), "{next:?}");
    assert!(started.elapsed() < Duration::from_secs(10), "the abandoned cell kept running: {:?}", started.elapsed());
    h.stop().await;
}

#[test]
fn the_client_and_the_emulator_agree_on_the_service_limits() {
    use dynamic_sessions_emulator::config;
    assert_eq!(dynamic_sessions::MAX_UPLOAD_BYTES, config::MAX_UPLOAD_BYTES, "the upload limit (128 MiB)");
    assert_eq!(dynamic_sessions::MAX_EXECUTION_TIMEOUT, config::MAX_EXECUTION_TIMEOUT, "the execution ceiling (220 s)");
}

//! The emulator behaves like the 2025-10-02 service for what the service's examples and the
//! code-interpreter image's spec describe, driven end to end through the client: output limits, the empty
//! kernel, the Jupyter format, shell commands, `stopSession` and the `.management` calls, files in
//! subdirectories, error shapes, and the bounds on what the emulator keeps.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

mod common;

use std::time::Duration;

use common::{Harness, new_id, start};
use dynamic_sessions::{ApiVersion, Error, ExecutionStatus, JupyterFlag};
use serde_json::json;

async fn emulator() -> Option<Harness> {
    start(|c| c.limits.output_bytes = 256 << 10).await
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn output_is_cut_at_4096_characters_on_2025_10_02_unless_asked_otherwise() {
    let Some(h) = emulator().await else { return };
    let id = new_id();
    let current = h.client().session(id.clone());
    let code = "print('x' * 10000)";
    let run = current.execute(code).await.unwrap();
    assert_eq!(run.stdout.len(), 4096, "the service's default, silently");
    assert!(run.output_may_be_truncated() && run.is_success());
    let run = current.execute(code).output_streams_max_length(20_000).await.unwrap();
    assert_eq!(run.stdout.len(), 10_001);
    assert!(!run.output_may_be_truncated());
    let run = current.execute("import sys\nsys.stderr.write('é' * 5000)").output_streams_max_length(100).await.unwrap();
    assert_eq!(run.stderr.chars().count(), 100, "characters, not bytes");
    for version in [ApiVersion::V2025_02_02_PREVIEW, ApiVersion::V2024_02_02_PREVIEW] {
        let run = h.client_for(version).session(id.clone()).execute(code).await.unwrap();
        assert_eq!(run.stdout.len(), 10_001, "{version}: earlier versions are not cut");
        assert!(!run.output_may_be_truncated());
    }
    let err = h.client_for(ApiVersion::V2025_02_02_PREVIEW).session(id).execute("1").output_streams_max_length(9).await;
    assert!(matches!(err, Err(Error::InvalidInput { .. })), "the option needs 2025-10-02-preview: {err:?}");
    h.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_empty_kernel_has_its_own_state_and_the_same_files() {
    let Some(h) = emulator().await else { return };
    let session = h.client().session(new_id());
    session.execute("x = 41\nopen('/mnt/data/shared.txt', 'w').write('from the default kernel')").await.unwrap();
    let empty = session.execute("'x' in globals()").use_empty_kernel(true).await.unwrap();
    assert_eq!(empty.result, Some(json!(false)), "{empty:?}");
    let read = session.execute("open('/mnt/data/shared.txt').read()").use_empty_kernel(true).await.unwrap();
    assert_eq!(read.result, Some(json!("from the default kernel")));
    session.execute("y = 'empty'").use_empty_kernel(true).await.unwrap();
    assert_eq!(session.execute("x + 1").await.unwrap().result, Some(json!(42)), "the default kernel kept its state");
    assert_eq!(session.execute("y").use_empty_kernel(true).await.unwrap().result, Some(json!("empty")));
    h.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn results_in_the_default_and_the_jupyter_format_match_the_published_examples() {
    let Some(h) = emulator().await else { return };
    let session = h.client().session(new_id());
    // (code, default, Jupyter format): the values of the service's Result_NaN / _None / _StringNaN examples.
    for (code, default, jupyter) in [
        ("a = float('nan');a", None, Some(json!("nan"))),
        ("a = None;a", None, None),
        ("a = \"nan\";a", Some(json!("nan")), Some(json!("'nan'"))),
        ("True", Some(json!(true)), Some(json!("True"))),
        ("6 * 7", Some(json!(42)), Some(json!("42"))),
    ] {
        assert_eq!(session.execute(code).await.unwrap().result, default, "{code}");
        for spelling in [JupyterFlag::ReturnJupyterFormatExecutionResult, JupyterFlag::ReturnJupyterFormat] {
            let run = session.execute(code).jupyter_format_as(true, spelling).await.unwrap();
            assert_eq!(run.result, jupyter, "{code} {spelling:?}");
        }
    }
    // Long containers are shown one item per line, as IPython shows them (AutoGen parses that).
    let listing = session.execute("[('package-%d' % i, '1.0') for i in range(10)]").await.unwrap();
    let text = listing.result.unwrap();
    assert!(text.as_str().unwrap().contains("),\n ("), "{text}");
    h.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn shell_commands_run_in_the_session_with_stdin_exit_codes_and_limits() {
    let Some(h) = emulator().await else { return };
    let session = h.client().session(new_id());
    session.files().upload("uploaded.csv", "a,b\n").await.unwrap();
    session.execute("open('/mnt/data/from_python.txt', 'w').write('py')\nkept = 'state'").await.unwrap();

    let run = session.shell("echo out; echo err >&2; exit 3").await.unwrap();
    assert_eq!((run.exit_code, run.stdout.as_str(), run.stderr.as_str()), (Some(3), "out\n", "err\n"));
    assert_eq!(run.status, ExecutionStatus::Failed);

    // The service's own example: read a line from stdin.
    let run =
        session.shell("read LINE;first_input=\"$LINE\";echo first_input:$first_input").stdin("testinputlineline").await;
    let run = run.unwrap();
    assert_eq!(run.stdout, "first_input:testinputlineline\n");
    assert!(run.is_success());

    // execCommandAndArgs: no shell; the same /mnt/data as Python and uploads.
    let run = session.exec(["ls", "-a"]).await.unwrap();
    for name in ["uploaded.csv", "from_python.txt"] {
        assert!(run.stdout.lines().any(|l| l == name), "{name} in {}", run.stdout);
    }
    let run = session.exec(["sh", "-c", "echo $0", "not; a; shell"]).await.unwrap();
    assert_eq!(run.stdout, "not; a; shell\n", "arguments are passed as they are");
    let missing = session.exec(["no-such-program"]).await.unwrap();
    assert_eq!(missing.exit_code, Some(127));

    // The same limits: no network, and the time limit stops the command, not the session.
    let run = session.shell("tail -n +3 /proc/net/dev | cut -d: -f1 | tr -d ' '").await.unwrap();
    assert_eq!(run.stdout, "lo\n", "only the session's own loopback");
    let started = std::time::Instant::now();
    let run = session.shell("sleep 60").timeout(Duration::from_secs(2)).await.unwrap();
    assert!(started.elapsed() < Duration::from_secs(30), "{:?}", started.elapsed());
    assert_eq!(run.exit_code, Some(-1));
    assert_eq!(session.execute("kept").await.unwrap().result, Some(json!("state")), "Python state survives");

    // Output limits apply to shell output too.
    let run = session.shell("head -c 10000 /dev/zero | tr '\\0' y").await.unwrap();
    assert_eq!(run.stdout.len(), 4096);
    assert!(run.output_may_be_truncated());

    // The legacy family has no shell: refused before sending.
    let legacy = h.client_for(ApiVersion::V2024_02_02_PREVIEW).session(new_id());
    assert!(matches!(legacy.shell("ls").await, Err(Error::InvalidInput { .. })));
    h.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn stop_session_and_the_management_calls() {
    let Some(h) = emulator().await else { return };
    let client = h.client();
    let (a, b) = (client.session(new_id()), client.session(new_id()));
    a.files().upload("a.txt", "a").await.unwrap();
    b.execute("1").await.unwrap();
    let info = client.management().get_session(a.id()).await.unwrap();
    assert_eq!(info.identifier, a.id().as_str());
    assert!(info.expire_at > info.created_at, "{info:?}");
    let listed: Vec<String> =
        client.management().list_sessions().await.unwrap().into_iter().map(|s| s.identifier).collect();
    assert!(listed.contains(&a.id().to_string()) && listed.contains(&b.id().to_string()), "{listed:?}");

    a.stop().await.unwrap();
    assert!(matches!(a.info().await, Err(Error::NotFound(_))), "stopped: gone");
    assert!(matches!(client.management().get_session(a.id()).await, Err(Error::NotFound(_))));
    a.stop().await.unwrap(); // already gone: not an error
    assert!(a.files().list().await.unwrap().is_empty(), "the identifier gets a fresh session, without the files");
    h.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn files_in_subdirectories_have_full_paths_that_work_when_passed_back() {
    let Some(h) = emulator().await else { return };
    let session = h.client().session(new_id());
    let files = session.files();
    let uploaded = files.upload("test-directory/testfile.yaml", "a: 1").await.unwrap();
    assert_eq!(uploaded.path(), "test-directory/testfile.yaml");
    session
        .execute("import os\nos.makedirs('/mnt/data/test-directory/level1/level2')\nopen('/mnt/data/test-directory/level1/level2/deep.txt', 'w').write('deep')")
        .await
        .unwrap();
    let listing = files.list().path("test-directory").recursive(true).await.unwrap();
    let mut paths: Vec<String> = listing.iter().map(|f| f.path()).collect();
    paths.sort();
    assert_eq!(
        paths,
        [
            "test-directory/level1",
            "test-directory/level1/level2",
            "test-directory/level1/level2/deep.txt",
            "test-directory/testfile.yaml"
        ]
    );
    for file in listing.iter().filter(|f| !f.is_dir()) {
        let meta = files.metadata(file.path()).await.unwrap();
        assert_eq!(meta.path(), file.path());
        let bytes = files.download(file.remote_path().unwrap()).await.unwrap().bytes().await.unwrap();
        assert!(!bytes.is_empty());
    }
    files.delete("test-directory/level1/level2/deep.txt").await.unwrap();
    let err = files.download("test-directory/level1/level2/deep.txt").await.unwrap_err();
    let message = err.service_error().and_then(|e| e.message.clone()).unwrap_or_default();
    assert_eq!(message, "There is no file or directory named deep.txt in /mnt/data/test-directory/level1/level2.");
    h.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_figure_comes_back_and_executions_can_be_looked_up() {
    let Some(h) = emulator().await else { return };
    let session = h.client().session(new_id());
    let run = session
        .execute("import matplotlib.pyplot as plt\nplt.figure(); plt.plot([1, 2])\nplt.figure(); plt.bar([1], [2])")
        .operation_id("two-charts")
        .await
        .unwrap();
    assert_eq!(run.images.len(), 2, "both figures");
    assert!(run.images.iter().all(|i| i.decode().unwrap().starts_with(b"\x89PNG")));
    let again = session.execution("two-charts").await.unwrap();
    assert_eq!(again.images.len(), 2);
    let running =
        session.execute("import time\ntime.sleep(0.5)\n'slept'").asynchronous().operation_id("later").await.unwrap();
    assert_eq!(running.result, Some(json!("slept")));
    assert_eq!(session.execution("later").await.unwrap().result, Some(json!("slept")));
    assert!(matches!(session.execution("never").await, Err(Error::NotFound(_))));
    h.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn timeouts_report_the_error_in_the_schema_shape() {
    let Some(h) = emulator().await else { return };
    let session = h.client().session(new_id());
    let run = session.execute("import time\ntime.sleep(30)").timeout(Duration::from_secs(1)).await.unwrap();
    assert_eq!(run.status, ExecutionStatus::Failed);
    let error = run.error.expect("an error object");
    assert_eq!(error.code.as_deref(), Some("ExecutionTimeout"));
    assert!(error.message.unwrap().contains("timed out"));
    h.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn what_the_emulator_keeps_in_memory_is_bounded() {
    let Some(h) = emulator().await else { return };
    let session = h.client().session(new_id());
    // A 50 MB result: cut at the output cap (256 KiB here), with a note.
    let run = session.execute("'x' * (50 << 20)").output_streams_max_length(1 << 20).await.unwrap();
    let result = run.result.unwrap();
    assert_eq!(result.as_str().unwrap().len(), 256 << 10);
    assert!(run.stderr.contains("[result truncated"), "{}", run.stderr);
    // Figures beyond the execution's image budget (8 x 256 KiB here) are dropped, with a note.
    let many = "import matplotlib.pyplot as plt, numpy as np\nfor i in range(12):\n    plt.figure(figsize=(8, 8))\n    plt.imshow(np.random.rand(300, 300))";
    let run = session.execute(many).output_streams_max_length(1 << 20).await.unwrap();
    assert!(run.images.len() < 12 && !run.images.is_empty(), "{} images", run.images.len());
    let total: usize = run.images.iter().map(|i| i.base64_data.len()).sum();
    assert!(total <= 8 * (256 << 10), "{total}");
    assert!(run.stderr.contains("figure(s) not returned"), "{}", run.stderr);
    // Asynchronous executions queued per session are bounded: the ninth waits its turn with 429.
    let http = reqwest::Client::new();
    let url = format!("{}/executions?api-version=2025-10-02-preview&identifier=queue-test", h.emulator.url());
    let body = json!({"code": "import time\ntime.sleep(3)", "executionType": "Asynchronous", "timeoutInSeconds": 30});
    let mut statuses = Vec::new();
    for _ in 0..9 {
        let answer = http.post(&url).bearer_auth(h.emulator.token()).json(&body).send().await.unwrap();
        statuses.push((answer.status().as_u16(), answer.headers().get("retry-after").is_some()));
    }
    assert_eq!(statuses[..8], [(200, false); 8]);
    assert_eq!(statuses[8], (429, true));
    h.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn https_with_the_emulators_own_ca() {
    let Some(h) = start(|c| c.tls = true).await else { return };
    assert!(h.emulator.url().starts_with("https://127.0.0.1:"), "{}", h.emulator.url());
    let session = h.client().session(new_id());
    assert_eq!(session.execute("6 * 7").await.unwrap().result, Some(json!(42)));
    session.files().upload("over-tls.txt", "secret").await.unwrap();
    let run = session.execute("import time\ntime.sleep(0.3)\n1").asynchronous().await.unwrap();
    assert_eq!(run.result, Some(json!(1)), "the Operation-Location it polls is https too");
    // Without the emulator's CA, a client refuses the certificate.
    let untrusting = dynamic_sessions::SessionPoolClient::builder(h.emulator.url())
        .auth(dynamic_sessions::Auth::bearer(h.emulator.token()))
        .retry_policy(dynamic_sessions::RetryPolicy::none())
        .build()
        .unwrap();
    let err = untrusting.session(new_id()).execute("1").await.unwrap_err();
    assert!(matches!(err, Error::Transport { sent: false, .. }), "{err:?}");
    h.stop().await;
}

//! Every pool type the service offers, in one emulator: `NodeLTS` pools run JavaScript like a notebook,
//! `Shell` pools run shell commands only, and each pool answers at `.../sessionPools/{name}` with its own
//! sessions and metadata. The service's tutorials' requests are sent verbatim.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

mod common;

use std::time::Duration;

use common::{Harness, new_id, start};
use dynamic_sessions::{ApiVersion, ExecutionStatus, JupyterFlag, PoolKind};
use dynamic_sessions_emulator::config::{ContainerType, PoolSpec};
use serde_json::{Value, json};

const LEGACY: &str = ApiVersion::V2024_02_02_PREVIEW;
const CURRENT: &str = ApiVersion::V2025_10_02_PREVIEW;

fn pool(name: &str, container_type: ContainerType) -> PoolSpec {
    PoolSpec { name: name.into(), container_type }
}

/// An emulator with a `NodeLTS` pool `js` and a `Shell` pool `sh` beside the default Python pool.
async fn emulator() -> Option<Harness> {
    start(|c| c.pools = vec![pool("js", ContainerType::NodeLts), pool("sh", ContainerType::Shell)]).await
}

/// Sends `body` as JSON to `url` with the emulator's token: (status, body).
async fn post(h: &Harness, url: &str, body: &str) -> (u16, Value) {
    let response = reqwest::Client::new()
        .post(url)
        .bearer_auth(h.emulator.token())
        .header("Content-Type", "application/json")
        .body(body.to_owned())
        .send()
        .await
        .unwrap();
    let status = response.status().as_u16();
    (status, response.json().await.unwrap_or(Value::Null))
}

async fn get(h: &Harness, url: &str) -> Value {
    let response = reqwest::Client::new().get(url).bearer_auth(h.emulator.token()).send().await.unwrap();
    assert!(response.status().is_success(), "{url}: {}", response.status());
    response.json().await.unwrap()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_tutorials_requests_get_the_tutorials_answers() {
    let Some(h) = emulator().await else { return };
    // "Run JavaScript code in a code interpreter session", verbatim.
    let url = format!("{}/code/execute?api-version=2024-02-02-preview&identifier=test", h.pool_url("js"));
    let body = r#"
{
    "properties": {
        "codeInputType": "inline",
        "executionType": "synchronous",
        "code": "console.log(\"hello-world\")"
    }
}"#;
    let (status, answer) = post(&h, &url, body).await;
    assert_eq!(status, 200, "{answer}");
    let properties = &answer["properties"];
    assert_eq!(properties["status"], "Success", "{answer}");
    assert_eq!(properties["stdout"], "hello-world\n");
    assert_eq!(properties["stderr"], "");
    assert_eq!(properties["executionResult"], "");
    assert!(properties["executionTimeInMilliseconds"].is_u64(), "{answer}");

    // "Execute shell commands in a session pool", verbatim.
    let url = format!("{}/executions?api-version=2025-02-02-preview&identifier=test", h.pool_url("sh"));
    let body = r#"{"codeInputType":"inline","executionType":"synchronous","shellCommand":"echo Hello world!","timeoutInSeconds":600}"#;
    let (status, answer) = post(&h, &url, body).await;
    assert_eq!(status, 200, "{answer}");
    assert_eq!(answer["result"]["stdout"], "Hello world!\n", "{answer}");
    assert_eq!(answer["result"]["stderr"], "");
    assert_eq!(answer["identifier"], "test");

    // Code sent to a Shell pool gets the service's answer, naming the pool type.
    for (path, body) in [
        (
            "code/execute?api-version=2024-02-02-preview",
            r#"{"properties":{"codeInputType":"inline","executionType":"synchronous","code":"1+1"}}"#,
        ),
        (
            "executions?api-version=2025-10-02-preview",
            r#"{"codeInputType":"inline","executionType":"synchronous","code":"1+1"}"#,
        ),
    ] {
        let (status, answer) = post(&h, &format!("{}/{path}&identifier=test", h.pool_url("sh")), body).await;
        assert_eq!(status, 400, "{path}: {answer}");
        assert_eq!(answer["error"]["code"], "SessionPropertiesMissing", "{answer}");
        assert!(answer["error"]["message"].as_str().unwrap().contains("Shell pool"), "{answer}");
    }
    h.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn javascript_sessions_are_notebooks_in_both_families() {
    let Some(h) = emulator().await else { return };
    for version in [LEGACY, CURRENT] {
        let session = h.pool_client("js", version).session(new_id());
        let run = |code: &'static str| {
            let session = session.clone();
            async move { session.execute(code).await.unwrap() }
        };
        // Top-level declarations stay, as in a notebook.
        let declared =
            run("let a = 1; const b = 2; function f(x) { return x * 10 } class C { v() { return 'c' } }").await;
        assert!(declared.is_success() && declared.result.is_none(), "{version}: {declared:?}");
        for (code, value) in [
            ("a + b", json!(3)),
            ("f(a)", json!(10)),
            ("new C().v()", json!("c")),
            ("'text'", json!("text")),
            ("a > 0", json!(true)),
            ("({k: [1, 2], s: 'x'})", json!({"k": [1, 2], "s": "x"})),
            ("new Map([[1, 2]])", json!("Map(1) { 1 => 2 }")),
            ("await new Promise((resolve) => setTimeout(() => resolve(7), 10))", json!(7)),
            ("const later = await Promise.resolve(5); later * 2", json!(10)),
            ("later", json!(5)),
            ("$$.async(); setTimeout(() => $$.sendResult('sent'), 10)", json!("sent")),
            ("require('lodash').sum([1, 2, 3])", json!(6)),
        ] {
            let out = run(code).await;
            assert_eq!(out.result, Some(value), "{version} {code}: {out:?}");
            assert!(out.is_success(), "{version} {code}: {out:?}");
        }
        assert_eq!(run("undefined").await.result, None, "{version}: undefined is the service's \"\"");
        // NaN as Python's is shown: its text in the legacy family, no value in the current one (the service's
        // Result_NaN example), its text in the Jupyter format.
        let nan = if version == LEGACY { Some(json!("NaN")) } else { None };
        assert_eq!(run("0 / 0").await.result, nan, "{version}");

        // Output at the descriptor level: console, process streams and child processes.
        let out = run("console.log('out'); console.error('err'); process.stdout.write('raw\\n'); \
             require('child_process').execSync('echo child; echo child-err >&2', { stdio: 'inherit' })")
        .await;
        assert_eq!(out.stdout, "out\nraw\nchild\n", "{version}: {out:?}");
        assert_eq!(out.stderr, "err\nchild-err\n", "{version}: {out:?}");

        // Errors fail the execution with the stack; the state stays.
        let thrown = run("function deep() { throw new Error('boom') }\ndeep()").await;
        assert_eq!(thrown.status, ExecutionStatus::Failed, "{version}: {thrown:?}");
        assert!(thrown.stderr.contains("Error: boom") && thrown.stderr.contains("at deep"), "{}", thrown.stderr);
        assert!(!thrown.stderr.contains("kernel.js"), "the kernel's own frames are hidden: {}", thrown.stderr);
        let rejected = run("Promise.reject(new Error('rejected')); 1").await;
        assert_eq!(rejected.status, ExecutionStatus::Failed, "{version}: {rejected:?}");
        assert!(rejected.stderr.contains("rejected"), "{}", rejected.stderr);
        let awaited = run("await Promise.reject(new TypeError('awaited'))").await;
        assert!(awaited.stderr.contains("TypeError: awaited"), "{}", awaited.stderr);
        let syntax = run("let = = 1").await;
        assert!(syntax.stderr.contains("SyntaxError"), "{}", syntax.stderr);
        assert_eq!(run("a").await.result, Some(json!(1)), "{version}: the state survived the errors");
        assert_eq!(run("const a = 2").await.status, ExecutionStatus::Failed, "re-declaring fails, as in Node's REPL");
    }
    h.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn javascript_files_limits_and_formats_match_pythons() {
    let Some(h) = emulator().await else { return };
    let client = h.pool_client("js", CURRENT);
    let session = client.session(new_id());
    session.files().upload("data.csv", "x,y\n1,2\n3,4\n").await.unwrap();
    let code = "const fs = require('fs');\n\
                const rows = require('papaparse').parse(fs.readFileSync('/mnt/data/data.csv', 'utf8'), { header: true, skipEmptyLines: true }).data;\n\
                fs.writeFileSync('/mnt/data/sum.json', JSON.stringify({ sum: rows.reduce((s, r) => s + Number(r.y), 0) }));\n\
                fs.readdirSync('/mnt/data').sort()";
    let run = session.execute(code).await.unwrap();
    assert_eq!(run.result, Some(json!(["data.csv", "sum.json"])), "{run:?}");
    let written = session.files().download("sum.json").await.unwrap().bytes().await.unwrap();
    assert_eq!(written.as_ref(), br#"{"sum":6}"#);
    // The same files through the legacy family.
    let legacy = h.pool_client("js", LEGACY).session(session.id().clone());
    let names: Vec<String> = legacy.files().list().await.unwrap().into_iter().map(|f| f.name).collect();
    assert!(names.contains(&"sum.json".to_owned()), "{names:?}");

    // The Jupyter format shows values as text; outputStreamsMaxLength cuts streams.
    for (code, text) in [("[1, 'a']", "[ 1, 'a' ]"), ("0 / 0", "NaN"), ("'s'", "'s'")] {
        let shown = session.execute(code).jupyter_format_as(true, JupyterFlag::ReturnJupyterFormat).await.unwrap();
        assert_eq!(shown.result, Some(json!(text)), "{code}: {shown:?}");
    }
    let cut = session.execute("console.log('y'.repeat(10000))").output_streams_max_length(100).await.unwrap();
    assert_eq!(cut.stdout.len(), 100);

    // A time limit interrupts a busy loop and an endless wait, keeping the state.
    session.execute("const kept = 'yes'").await.unwrap();
    for stuck in ["while (true) {}", "await new Promise(() => {})"] {
        let run = session.execute(stuck).timeout(Duration::from_secs(1)).send().await.unwrap();
        assert_eq!(run.status, ExecutionStatus::Failed, "{stuck}");
        assert!(
            run.stderr.contains("timed out after 1 seconds") && run.stderr.contains("intact"),
            "{stuck}: {}",
            run.stderr
        );
        assert_eq!(session.execute("kept").await.unwrap().result, Some(json!("yes")), "{stuck}");
    }
    // Code that cannot be interrupted (blocked in a synchronous child process) costs the state, and says so.
    let stubborn = "require('child_process').execSync('sleep 60')";
    let run = session.execute(stubborn).timeout(Duration::from_secs(1)).send().await.unwrap();
    assert!(run.stderr.contains("was lost"), "{}", run.stderr);
    let after = session.execute("typeof kept").await.unwrap();
    assert_eq!(after.result, Some(json!("undefined")), "a new kernel: {after:?}");
    assert!(session.files().list().await.unwrap().iter().any(|f| f.name == "sum.json"), "the files stay");

    // The empty kernel is a second JavaScript kernel with its own state.
    session.execute("var mine = 1").await.unwrap();
    let empty = session.execute("typeof mine").use_empty_kernel(true).await.unwrap();
    assert_eq!(empty.result, Some(json!("undefined")), "{empty:?}");
    h.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn shell_pools_run_commands_with_exit_codes_stdin_and_the_same_files() {
    let Some(h) = emulator().await else { return };
    let session = h.pool_client("sh", CURRENT).session(new_id());
    // Files through the legacy family, commands through the current one.
    let legacy = h.pool_client("sh", LEGACY).session(session.id().clone());
    legacy.files().upload("in.txt", "three\nlines\nhere\n").await.unwrap();
    let run = session.shell("wc -l < /mnt/data/in.txt; echo oops >&2; exit 3").await.unwrap();
    assert_eq!((run.stdout.trim(), run.stderr.as_str(), run.exit_code), ("3", "oops\n", Some(3)), "{run:?}");
    let run = session.shell("tr a-z A-Z > /mnt/data/out.txt").stdin("piped in").await.unwrap();
    assert!(run.is_success(), "{run:?}");
    let out = legacy.files().download("out.txt").await.unwrap().bytes().await.unwrap();
    assert_eq!(out.as_ref(), b"PIPED IN");
    let run = session.exec(["printf", "%s|", "a b", "c"]).await.unwrap();
    assert_eq!(run.stdout, "a b|c|");
    // State of the shell's files, not of its variables: each command is a fresh bash, as in the service.
    session.shell("export X=1; cd /tmp").await.unwrap();
    let run = session.shell("echo \"[$X]\" $(pwd)").await.unwrap();
    assert_eq!(run.stdout, "[] /mnt/data\n");
    h.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn each_pool_has_its_own_sessions_metadata_and_health_entry() {
    let Some(h) = emulator().await else { return };
    let id = new_id();
    // One identifier in three pools: three sessions that share nothing.
    let python = h.client_for(CURRENT).session(id.clone());
    let js = h.pool_client("js", CURRENT).session(id.clone());
    let shell = h.pool_client("sh", CURRENT).session(id.clone());
    python.files().upload("python.txt", "p").await.unwrap();
    assert_eq!(js.execute("require('fs').readdirSync('/mnt/data')").await.unwrap().result, Some(json!([])));
    assert_eq!(shell.shell("ls /mnt/data").await.unwrap().stdout, "");
    assert_eq!(python.execute("6 * 7").await.unwrap().result, Some(json!(42)));
    // Any subscription and group reach the same pool; an unknown pool name is the default pool.
    let other = format!("{}/subscriptions/x/resourceGroups/y/sessionPools/JS", h.emulator.url());
    let listed = get(&h, &format!("{other}/listSessions?api-version={CURRENT}")).await;
    assert_eq!(listed["sessions"].as_array().unwrap().len(), 1, "{listed}");
    let unknown = h.pool_client("no-such-pool", CURRENT).session(id.clone());
    assert_eq!(unknown.files().list().await.unwrap().len(), 1, "the default pool's session");

    let metadata = |name: &str| format!("{}/metadata?api-version={CURRENT}", h.pool_url(name));
    let node = get(&h, &metadata("js")).await;
    assert_eq!(node["runtimes"][0]["name"], "node", "{node}");
    assert!(node["runtimes"][0]["version"].as_str().unwrap().starts_with(|c: char| c.is_ascii_digit()), "{node}");
    let packages: Vec<&str> =
        node["preInstalledPackages"].as_array().unwrap().iter().filter_map(|p| p["name"].as_str()).collect();
    assert!(packages.contains(&"axios") && packages.contains(&"lodash"), "{packages:?}");
    assert!(node["jupyterKernel"]["description"].as_str().unwrap().contains("javascript"), "{node}");
    let bash = get(&h, &metadata("sh")).await;
    assert_eq!((bash["runtimes"][0]["name"].as_str(), &bash["jupyterKernel"]), (Some("bash"), &Value::Null), "{bash}");
    let python_meta = get(&h, &metadata("default")).await;
    assert_eq!(python_meta["runtimes"][0]["name"], "python", "{python_meta}");

    // The client reads each pool's kind from its metadata.
    for (name, kind) in [("default", PoolKind::Python), ("js", PoolKind::JavaScript), ("sh", PoolKind::Shell)] {
        assert_eq!(h.pool_client(name, CURRENT).metadata().await.unwrap().kind(), kind, "{name}");
    }

    let health = get(&h, &format!("{}/health", h.emulator.url())).await;
    let pools: Vec<(String, String)> = health["pools"]
        .as_array()
        .unwrap()
        .iter()
        .map(|p| (p["name"].as_str().unwrap().to_owned(), p["containerType"].as_str().unwrap().to_owned()))
        .collect();
    let expected =
        [("default", "PythonLTS"), ("js", "NodeLTS"), ("sh", "Shell")].map(|(n, t)| (n.to_owned(), t.to_owned()));
    assert_eq!(pools, expected);
    assert!(
        health["pools"].as_array().unwrap().iter().all(|p| p["tier"].is_string() && p["sessions"] == json!(1)),
        "{health}"
    );
    h.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn without_nodejs_the_nodelts_pool_refuses_clearly_and_the_others_work() {
    let Some(h) = start(|c| {
        c.pools = vec![pool("js", ContainerType::NodeLts)];
        c.node = Some("/nonexistent/bin/node".into());
    })
    .await
    else {
        return;
    };
    let url = format!("{}/executions?api-version={CURRENT}&identifier=a", h.pool_url("js"));
    let (status, answer) = post(&h, &url, r#"{"code": "1 + 1"}"#).await;
    assert_eq!(status, 503, "{answer}");
    let message = answer["error"]["message"].as_str().unwrap();
    assert!(message.contains("NodeLTS pool 'js'") && message.contains("/nonexistent/bin/node"), "{message}");
    assert_eq!(h.client_for(CURRENT).session(new_id()).execute("1 + 1").await.unwrap().result, Some(json!(2)));
    let health = get(&h, &format!("{}/health", h.emulator.url())).await;
    assert!(health["pools"][1]["unavailable"].as_str().is_some_and(|why| why.contains("Node.js")), "{health}");
    h.stop().await;
}

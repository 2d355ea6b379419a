//! The app in real headless Chromium (Debian's `chromium` and `chromium-driver`), on a real emulator, with a
//! scripted OpenAI-compatible model: upload a CSV, ask for a chart, see the streamed answer, the tool step,
//! the chart and the new files, download a file byte-exact; a second browser sees none of it. The same
//! without a model, through the code cell; two conversations kept across a reload and a restart, and one
//! downloaded as a notebook that nbformat validates. Screenshots go to `target/chat-app-screenshots/`.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use chat_app::{AppConfig, AppState, app};
use dynamic_sessions::{Auth, SessionPoolClient};
use dynamic_sessions_agent_tools::InterpreterOptions;
use dynamic_sessions_agent_tools::rig::ModelConfig;
use dynamic_sessions_emulator::testing::{TestEmulator, in_ci};
use dynamic_sessions_test_support::{Reply, ScriptedModel};
use fantoccini::{Client, ClientBuilder, Locator};
use serde_json::{Value, json};

mod support;

const CHROMIUM: &str = "/usr/bin/chromium";
const CHROMEDRIVER: &str = "/usr/bin/chromedriver";
const SALES_CSV: &str = "month,sales\nJan,10\nFeb,20\nMar,30\n";

/// Whether the browser is installed; under `CI=true` its absence is a failure, elsewhere a loud skip.
fn browser_available() -> bool {
    if Path::new(CHROMIUM).exists() && Path::new(CHROMEDRIVER).exists() {
        return true;
    }
    assert!(
        !in_ci(),
        "CI=true but chromium/chromium-driver are not installed (apt-get install chromium chromium-driver)"
    );
    eprintln!(
        "\n*** SKIPPING browser test: install chromium and chromium-driver (apt-get install chromium chromium-driver) ***\n"
    );
    false
}

fn screenshots_dir() -> PathBuf {
    let dir = Path::new(env!("CARGO_TARGET_TMPDIR")).join("..").join("chat-app-screenshots");
    std::fs::create_dir_all(&dir).unwrap();
    dir
}

struct Driver {
    _process: tokio::process::Child,
    url: String,
}

async fn start_driver() -> Driver {
    let port = std::net::TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap().port();
    let process = tokio::process::Command::new(CHROMEDRIVER)
        .arg(format!("--port={port}"))
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::null())
        .kill_on_drop(true)
        .spawn()
        .unwrap();
    for _ in 0..100 {
        if tokio::net::TcpStream::connect(("127.0.0.1", port)).await.is_ok() {
            break;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    Driver { _process: process, url: format!("http://127.0.0.1:{port}") }
}

/// A new browser with its own profile (so its own cookies) and download directory.
async fn browser(driver: &Driver, profile: &Path, downloads: &Path) -> Client {
    let capabilities = json!({
        "browserName": "chrome",
        "goog:chromeOptions": {
            "binary": CHROMIUM,
            "args": [
                "--headless=new", "--no-sandbox", "--disable-gpu", "--disable-dev-shm-usage", "--no-first-run",
                "--disable-background-networking", "--disable-component-update", "--disable-sync",
                "--window-size=1400,1000", format!("--user-data-dir={}", profile.display()),
            ],
            "prefs": {"download.default_directory": downloads.display().to_string(), "download.prompt_for_download": false},
        }
    });
    let capabilities = capabilities.as_object().unwrap().clone();
    ClientBuilder::rustls().unwrap().capabilities(capabilities).connect(&driver.url).await.unwrap()
}

async fn serve(state: AppState) -> SocketAddr {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    tokio::spawn(async move { axum::serve(listener, app(state)).await });
    addr
}

async fn state(emulator: &TestEmulator, model: Option<ModelConfig>) -> AppState {
    let store = chat_app::store::Store::in_memory().await.unwrap();
    let client = SessionPoolClient::new(emulator.url(), Auth::bearer(emulator.token())).unwrap();
    let config = AppConfig {
        secret: b"browser-test-secret-0123456789abcdef".to_vec(),
        model,
        max_upload_bytes: 128 << 20,
        secure_cookies: false,
        interpreter: InterpreterOptions::default(),
        turn: Default::default(),
    };
    AppState::new(client, config, store).unwrap()
}

/// Polls a JavaScript expression until it is truthy.
async fn wait_js(client: &Client, expression: &str, what: &str) -> Value {
    let deadline = Instant::now() + Duration::from_secs(90);
    loop {
        let value = client.execute(&format!("return ({expression});"), vec![]).await.unwrap();
        let truthy = match &value {
            Value::Null | Value::Bool(false) => false,
            Value::String(s) => !s.is_empty(),
            Value::Array(a) => !a.is_empty(),
            _ => true,
        };
        if truthy {
            return value;
        }
        if Instant::now() >= deadline {
            // What the page showed, to tell a slow step from a wrong one.
            let page = client
                .execute("return (document.getElementById('messages') || {}).innerText || '';", vec![])
                .await
                .unwrap_or(Value::Null);
            let shown: String = page.as_str().unwrap_or_default().chars().rev().take(600).collect();
            let shown: String = shown.chars().rev().collect();
            panic!("timed out waiting for {what}; the page ends with: {shown:?}");
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

/// Waits until some session of `emulator` has the file `marker` in `/mnt/data` (the code got that far).
async fn code_started(emulator: &TestEmulator, marker: &str) {
    let pool = SessionPoolClient::new(emulator.url(), Auth::bearer(emulator.token())).unwrap();
    let deadline = Instant::now() + Duration::from_secs(90);
    loop {
        for info in pool.list_sessions().await.unwrap() {
            let session = pool.session(info.identifier.parse().unwrap());
            if session.files().list().await.is_ok_and(|files| files.iter().any(|f| f.path() == marker)) {
                return;
            }
        }
        assert!(Instant::now() < deadline, "the code never wrote /mnt/data/{marker}");
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

async fn screenshot(client: &Client, name: &str) {
    let png = client.screenshot().await.unwrap();
    std::fs::write(screenshots_dir().join(format!("{name}.png")), png).unwrap();
}

fn file_rows_js() -> &'static str {
    "Array.from(document.querySelectorAll('#file-table tbody tr')).map(r => r.dataset.path + (r.classList.contains('artifact') ? '*' : ''))"
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn chat_with_a_chart_upload_download_and_isolation() {
    if !browser_available() {
        return;
    }
    let Some(emulator) = TestEmulator::start(|_| {}).await.unwrap_or_else(|e| panic!("{e}")) else { return };
    let code = "import pandas as pd\nimport matplotlib.pyplot as plt\ndf = pd.read_csv('/mnt/data/sales.csv')\n\
                df.plot(x='month', y='sales', kind='bar', legend=False)\nplt.title('Sales by month')\n\
                plt.savefig('/mnt/data/sales_chart.png')\ndf.describe().to_csv('/mnt/data/summary.csv')\n\
                print('total', df['sales'].sum())";
    let model = ScriptedModel::start(vec![
        Reply::ToolCalls(vec![("call_1", "run_python", json!({"code": code}).to_string())]),
        Reply::ToolCalls(vec![(
            "call_2",
            "send_file_to_user",
            json!({"path": "summary.csv", "description": "summary statistics"}).to_string(),
        )]),
        Reply::Text("Here is the **chart** of your sales. The total is 60. <script>window.pwned = true</script>"),
    ])
    .await;
    let config = ModelConfig::OpenAi {
        api_key: Some("sk-test".into()),
        model: "gpt-4o".into(),
        base_url: Some(model.base_url()),
    };
    let addr = serve(state(&emulator, Some(config)).await).await;
    let url = format!("http://{addr}/");
    let driver = start_driver().await;
    let tmp = tempfile::tempdir().unwrap();
    let (profile_a, downloads_a, profile_b) = (tmp.path().join("a"), tmp.path().join("dl-a"), tmp.path().join("b"));
    for d in [&profile_a, &downloads_a, &profile_b] {
        std::fs::create_dir_all(d).unwrap();
    }
    let csv = tmp.path().join("sales.csv");
    std::fs::write(&csv, SALES_CSV).unwrap();

    let a = browser(&driver, &profile_a, &downloads_a).await;
    a.goto(&url).await.unwrap();
    a.find(Locator::Id("file-input")).await.unwrap().send_keys(&csv.display().to_string()).await.unwrap();
    a.find(Locator::Id("upload")).await.unwrap().click().await.unwrap();
    wait_js(&a, "document.querySelector('#file-table tr[data-path=\"sales.csv\"]')", "the uploaded file in the panel")
        .await;
    a.find(Locator::Id("prompt")).await.unwrap().send_keys("Plot my sales by month").await.unwrap();
    a.find(Locator::Id("send")).await.unwrap().click().await.unwrap();

    let answer = wait_js(&a, "Array.from(document.querySelectorAll('.msg.assistant .bubble:not(.streaming)')).map(b => b.innerHTML).join('')", "the answer").await;
    let answer = answer.as_str().unwrap();
    assert!(answer.contains("<strong>chart</strong>") && answer.contains("The total is 60."), "{answer}");
    assert!(!answer.contains("<script"), "model output is sanitised: {answer}");
    assert_eq!(a.execute("return window.pwned === undefined;", vec![]).await.unwrap(), json!(true));
    assert_eq!(model.script.bodies()[0]["stream"], json!(true), "the answer was streamed");
    let step_code =
        a.execute("return document.querySelector('.tool-step pre.code').textContent;", vec![]).await.unwrap();
    assert!(step_code.as_str().unwrap().contains("read_csv"), "{step_code}");
    let stdout =
        a.execute("return document.querySelector('.tool-step.ok pre.output').textContent;", vec![]).await.unwrap();
    assert_eq!(stdout, json!("total 60\n"));
    // The steps say what happened, and the answer comes after them, in the order things happened.
    let titles = a
        .execute("return Array.from(document.querySelectorAll('.msg.assistant .tool-step summary .title')).map(t => t.textContent);", vec![])
        .await
        .unwrap();
    assert_eq!(titles, json!(["Ran Python", "Shared a file"]));
    let order = a
        .execute(
            "const kids = Array.from(document.querySelector('.msg.assistant').children);              return kids.map(k => k.classList.contains('tool-step') ? 'step' : k.classList.contains('bubble') ? 'answer' : 'other');",
            vec![],
        )
        .await
        .unwrap();
    let order: Vec<String> = serde_json::from_value(order).unwrap();
    let first_answer = order.iter().position(|k| k == "answer").unwrap();
    let last_step = order.iter().rposition(|k| k == "step").unwrap();
    assert!(last_step < first_answer, "the answer is below the steps: {order:?}");
    let chart = a.execute("const i = document.querySelector('.tool-step img.chart'); return i && i.naturalWidth > 50 ? i.src.slice(0, 22) : null;", vec![]).await.unwrap();
    assert_eq!(chart, json!("data:image/png;base64,"), "the chart is shown inline");
    let rows = wait_js(&a, &format!("(() => {{ const r = {}; return r.includes('summary.csv*') && r.includes('sales_chart.png') ? r : null; }})()", file_rows_js()), "the new files in the panel").await;
    assert!(rows.as_array().unwrap().contains(&json!("sales_chart.png")), "{rows}");
    screenshot(&a, "chat-with-chart").await;

    // Download the new chart through the page's link and compare it with the session's copy.
    a.find(Locator::Css("#file-table tr[data-path=\"sales_chart.png\"] a.download"))
        .await
        .unwrap()
        .click()
        .await
        .unwrap();
    let downloaded = downloads_a.join("sales_chart.png");
    let deadline = Instant::now() + Duration::from_secs(30);
    while !(downloaded.exists() && std::fs::metadata(&downloaded).map(|m| m.len() > 0).unwrap_or(false)) {
        assert!(Instant::now() < deadline, "the download did not arrive in {}", downloads_a.display());
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    tokio::time::sleep(Duration::from_millis(300)).await;
    let pool = SessionPoolClient::new(emulator.url(), Auth::bearer(emulator.token())).unwrap();
    let sessions = pool.list_sessions().await.unwrap();
    assert_eq!(sessions.len(), 1, "browser A's session is the only one");
    let id = dynamic_sessions::SessionId::new(sessions[0].identifier.clone()).unwrap();
    let original = pool.session(id).files().download("sales_chart.png").await.unwrap().bytes().await.unwrap();
    assert!(original.starts_with(b"\x89PNG"));
    assert_eq!(std::fs::read(&downloaded).unwrap(), original.to_vec(), "byte-exact download");

    // A second browser has its own identity and sees none of it.
    let b = browser(&driver, &profile_b, &tmp.path().join("dl-b")).await;
    b.goto(&url).await.unwrap();
    wait_js(&b, "!document.getElementById('no-files').hidden", "B's empty file panel").await;
    assert_eq!(b.execute(&format!("return {};", file_rows_js()), vec![]).await.unwrap(), json!([]));
    assert_eq!(
        b.execute("return document.querySelectorAll('#messages .msg').length;", vec![]).await.unwrap(),
        json!(0)
    );
    screenshot(&b, "second-browser-isolated").await;

    // A reload of A shows both sides of the conversation again.
    a.goto(&url).await.unwrap();
    let reloaded = wait_js(&a, "document.querySelectorAll('.msg.user').length && document.querySelector('.msg.assistant .bubble') ? document.body.innerText : null", "the history after a reload").await;
    assert!(
        reloaded.as_str().unwrap().contains("Plot my sales by month")
            && reloaded.as_str().unwrap().contains("The total is 60.")
    );

    a.close().await.unwrap();
    b.close().await.unwrap();
    emulator.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn without_a_model_the_code_cell_runs_python() {
    if !browser_available() {
        return;
    }
    let Some(emulator) = TestEmulator::start(|_| {}).await.unwrap_or_else(|e| panic!("{e}")) else { return };
    let addr = serve(state(&emulator, None).await).await;
    let driver = start_driver().await;
    let tmp = tempfile::tempdir().unwrap();
    let client = browser(&driver, &tmp.path().join("p"), &tmp.path().join("d")).await;
    client.goto(&format!("http://{addr}/")).await.unwrap();
    let notice = client.find(Locator::Id("no-model-notice")).await.unwrap();
    assert!(notice.is_displayed().await.unwrap(), "the page says plainly that no model is configured");
    assert!(!client.find(Locator::Id("chat-form")).await.unwrap().is_displayed().await.unwrap());
    let code = "import matplotlib.pyplot as plt\nplt.plot([1, 2, 3])\nopen('/mnt/data/cell.txt', 'w').write('from the cell')\nprint('cell ran')";
    client.execute("document.getElementById('code').value = arguments[0];", vec![json!(code)]).await.unwrap();
    client.find(Locator::Id("run")).await.unwrap().click().await.unwrap();
    wait_js(&client, "document.querySelector('.msg.cell .tool-step.ok img.chart')", "the cell's result and chart")
        .await;
    let stdout =
        client.execute("return document.querySelector('.msg.cell pre.output').textContent;", vec![]).await.unwrap();
    assert_eq!(stdout, json!("cell ran\n"));
    wait_js(&client, "document.querySelector('#file-table tr[data-path=\"cell.txt\"]')", "the new file in the panel")
        .await;
    screenshot(&client, "code-cell-without-model").await;
    client.close().await.unwrap();
    emulator.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn stop_ends_the_turn_and_interrupts_the_code() {
    if !browser_available() {
        return;
    }
    let Some(emulator) = TestEmulator::start(|_| {}).await.unwrap_or_else(|e| panic!("{e}")) else { return };
    let model = ScriptedModel::start(vec![
        Reply::ToolCalls(vec![(
            "call_1",
            "run_python",
            json!({"code": "kept = 7\nopen('/mnt/data/started', 'w').close()\nimport time\ntime.sleep(120)"})
                .to_string(),
        )]),
        Reply::Text("never shown"),
    ])
    .await;
    let config = ModelConfig::OpenAi { api_key: None, model: "local".into(), base_url: Some(model.base_url()) };
    let addr = serve(state(&emulator, Some(config)).await).await;
    let driver = start_driver().await;
    let tmp = tempfile::tempdir().unwrap();
    let client = browser(&driver, &tmp.path().join("p"), &tmp.path().join("d")).await;
    client.goto(&format!("http://{addr}/")).await.unwrap();
    client.find(Locator::Id("prompt")).await.unwrap().send_keys("Sleep for two minutes").await.unwrap();
    client.find(Locator::Id("send")).await.unwrap().click().await.unwrap();
    wait_js(&client, "document.querySelector('.tool-step.running')", "the running step").await;
    // The step shows as soon as the call is made; Stop must come once the code really runs (`kept` is set),
    // or there would be no state to keep.
    code_started(&emulator, "started").await;
    let stop = client.find(Locator::Id("stop")).await.unwrap();
    assert!(stop.is_displayed().await.unwrap(), "Stop is offered while the answer runs");
    let started = Instant::now();
    stop.click().await.unwrap();
    let note =
        wait_js(&client, "(document.querySelector('.msg.assistant .stopped') || {}).textContent", "the stop note")
            .await;
    assert!(note.as_str().unwrap().contains("Stopped"), "{note}");
    assert!(started.elapsed() < Duration::from_secs(20), "{:?}", started.elapsed());
    wait_js(
        &client,
        "document.getElementById('stop').hidden && !document.getElementById('send').disabled",
        "the form back",
    )
    .await;
    // The code was interrupted and the session kept its state: the code cell answers at once.
    client
        .execute(
            "document.getElementById('code-cell').open = true; document.getElementById('code').value = 'print(kept)';",
            vec![],
        )
        .await
        .unwrap();
    let started = Instant::now();
    client.find(Locator::Id("run")).await.unwrap().click().await.unwrap();
    let out = wait_js(
        &client,
        "(document.querySelector('.msg.cell .tool-step.ok pre.output') || {}).textContent",
        "the cell's output",
    )
    .await;
    assert_eq!(out, json!("7\n"));
    assert!(
        started.elapsed() < Duration::from_secs(20),
        "the sleeping code kept the session busy: {:?}",
        started.elapsed()
    );
    assert_eq!(model.script.bodies().len(), 1, "the model was not called again");
    screenshot(&client, "stopped-turn").await;
    client.close().await.unwrap();
    emulator.stop().await;
}

/// The titles in the conversation list, in order; the current one starred.
const CONVERSATIONS_JS: &str = "Array.from(document.querySelectorAll('#conversation-list li')).map(li => \
     (li.querySelector('button.open') || {}).textContent + (li.classList.contains('current') ? '*' : ''))";

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn two_conversations_survive_a_reload_and_a_restart_and_download_as_a_notebook() {
    if !browser_available() {
        return;
    }
    let Some(emulator) = TestEmulator::start(|_| {}).await.unwrap_or_else(|e| panic!("{e}")) else { return };
    // The app as its own process (a restart is a new process on the same data directory and address).
    let data = tempfile::tempdir().unwrap();
    let env = vec![
        ("CHAT_APP_DATA_DIR", data.path().display().to_string()),
        ("POOL_MANAGEMENT_ENDPOINT", emulator.url()),
        ("DYNAMIC_SESSIONS_TOKEN", emulator.token().to_owned()),
    ];
    let server = support::app::start(&env).await;
    let addr = server.base.trim_start_matches("http://").to_owned();
    let driver = start_driver().await;
    let tmp = tempfile::tempdir().unwrap();
    let downloads = tmp.path().join("d");
    let client = browser(&driver, &tmp.path().join("p"), &downloads).await;
    let url = format!("http://{addr}/");
    client.goto(&url).await.unwrap();
    let run = async |code: &str, cells: usize| {
        client.execute("document.getElementById('code').value = arguments[0];", vec![json!(code)]).await.unwrap();
        client.find(Locator::Id("run")).await.unwrap().click().await.unwrap();
        let done = format!("document.querySelectorAll('.msg.cell .tool-step.ok').length === {cells}");
        wait_js(&client, &done, "the cell's result").await;
    };

    // The first conversation: a chart.
    let chart = "import matplotlib.pyplot as plt\nplt.plot([3, 1, 2])\nplt.show()\nprint('first conversation')";
    run(chart, 1).await;
    wait_js(&client, "document.querySelector('.msg.cell img.chart')", "the chart").await;
    // A second one, with a session of its own.
    client.find(Locator::Id("new-session")).await.unwrap().click().await.unwrap();
    wait_js(&client, "document.querySelectorAll('#messages .msg').length === 0", "an empty conversation").await;
    wait_js(&client, &format!("{CONVERSATIONS_JS}.length === 2"), "two conversations listed").await;
    run("print('second conversation')\nprint(len(__import__('os').listdir('/mnt/data')))", 1).await;
    // Rename it.
    client.find(Locator::Css("#conversation-list li.current button.rename")).await.unwrap().click().await.unwrap();
    client
        .execute(
            "const f = document.querySelector('#conversation-list form.rename'); f.querySelector('input').value = 'Second talk'; f.requestSubmit();",
            vec![],
        )
        .await
        .unwrap();
    let listed = wait_js(
        &client,
        &format!("{CONVERSATIONS_JS}.includes('Second talk*') && {CONVERSATIONS_JS}"),
        "the new title",
    )
    .await;
    assert_eq!(listed, json!(["Second talk*", "New conversation"]));
    // Switch back to the first: its chart is there.
    client.find(Locator::Css("#conversation-list li:not(.current) button.open")).await.unwrap().click().await.unwrap();
    wait_js(
        &client,
        "document.querySelector('.msg.cell img.chart') && document.body.innerText.includes('first conversation')",
        "the first conversation again",
    )
    .await;
    screenshot(&client, "two-conversations").await;

    // A reload shows the same conversation; so does a restart of the server (a new store on the same file).
    client.refresh().await.unwrap();
    wait_js(&client, "document.querySelector('.msg.cell img.chart')", "the first conversation after a reload").await;
    server.kill().await;
    let mut env = env;
    env.push(("CHAT_APP_BIND", addr.clone()));
    let server = support::app::start(&env).await;
    client.refresh().await.unwrap();
    wait_js(
        &client,
        "document.querySelector('.msg.cell img.chart') && document.body.innerText.includes('first conversation')",
        "the first conversation after a restart",
    )
    .await;
    let listed = wait_js(
        &client,
        &format!("{CONVERSATIONS_JS}.length === 2 && {CONVERSATIONS_JS}"),
        "both conversations after a restart",
    )
    .await;
    assert_eq!(listed, json!(["Second talk", "New conversation*"]), "the most recently used first");
    client.find(Locator::Css("#conversation-list li:not(.current) button.open")).await.unwrap().click().await.unwrap();
    wait_js(
        &client,
        "document.body.innerText.includes('second conversation')",
        "the second conversation after a restart",
    )
    .await;

    // The first conversation, downloaded as a notebook: nbformat validates it; it holds the code and the chart.
    client.find(Locator::Css("#conversation-list li:not(.current) button.open")).await.unwrap().click().await.unwrap();
    wait_js(&client, "document.querySelector('.msg.cell img.chart')", "the first conversation").await;
    client.find(Locator::Id("export-notebook")).await.unwrap().click().await.unwrap();
    let notebook = downloads.join("New-conversation.ipynb");
    let deadline = Instant::now() + Duration::from_secs(30);
    while !notebook.exists() {
        assert!(
            Instant::now() < deadline,
            "no notebook in {}: {:?}",
            downloads.display(),
            std::fs::read_dir(&downloads).map(|d| d.count())
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    tokio::time::sleep(Duration::from_millis(300)).await;
    let parsed: Value = serde_json::from_slice(&std::fs::read(&notebook).unwrap()).unwrap();
    assert_eq!(parsed["cells"][0]["source"], chart.replace("\\n", "\n"));
    if let Some(python) = support::python_with_nbformat() {
        let check = "import sys, nbformat\nnb = nbformat.read(sys.argv[1], as_version=4)\nnbformat.validate(nb)\n\
                     png = [o for c in nb.cells for o in c.get('outputs', []) if 'image/png' in o.get('data', {})]\n\
                     code = [c.source for c in nb.cells if c.cell_type == 'code']\n\
                     assert any('plt.plot([3, 1, 2])' in s for s in code), code\nprint(len(png))";
        let out = std::process::Command::new(python).args(["-c", check]).arg(&notebook).output().unwrap();
        assert!(out.status.success(), "nbformat refused it: {}", String::from_utf8_lossy(&out.stderr));
        assert_eq!(String::from_utf8_lossy(&out.stdout).trim(), "1", "the chart is an image/png output");
    }
    client.close().await.unwrap();
    server.kill().await;
    emulator.stop().await;
}

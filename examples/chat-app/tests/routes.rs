//! Every route through the router (`oneshot`), with a real emulator behind it: identity and CSRF rules,
//! cross-site requests, uploads (several files, binary, oversized, hostile names), downloads, deletes,
//! isolation between browsers, the code cell, sessions, health.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use axum::Router;
use axum::body::Body;
use axum::http::{Request, StatusCode, header};
use chat_app::{AppConfig, AppState, app};
use dynamic_sessions::{Auth, SessionPoolClient};
use dynamic_sessions_agent_tools::InterpreterOptions;
use dynamic_sessions_emulator::testing::TestEmulator;
use http_body_util::BodyExt;
use serde_json::{Value, json};
use tower::ServiceExt;

mod support;

const HOST: &str = "127.0.0.1:8000";

async fn setup(max_upload: u64) -> Option<(Router, TestEmulator)> {
    let emulator = TestEmulator::start(|_| {}).await.unwrap_or_else(|e| panic!("{e}"))?;
    let client = SessionPoolClient::new(emulator.url(), Auth::bearer(emulator.token())).unwrap();
    let config = AppConfig {
        secret: b"a-test-secret-that-is-long-enough!!".to_vec(),
        model: None,
        max_upload_bytes: max_upload,
        secure_cookies: false,
        interpreter: InterpreterOptions::default(),
        turn: Default::default(),
    };
    Some((app(AppState::new(client, config, chat_app::store::Store::in_memory().await.unwrap()).unwrap()), emulator))
}

/// A browser: its cookie and CSRF token, from loading the page.
struct Browser {
    cookie: String,
    csrf: String,
}

async fn send(app: &Router, request: Request<Body>) -> (StatusCode, axum::http::HeaderMap, Vec<u8>) {
    let response = app.clone().oneshot(request).await.unwrap();
    let status = response.status();
    let headers = response.headers().clone();
    (status, headers, response.into_body().collect().await.unwrap().to_bytes().to_vec())
}

fn json_of(body: &[u8]) -> Value {
    serde_json::from_slice(body).unwrap_or(Value::Null)
}

async fn open_page(app: &Router) -> Browser {
    let (status, headers, body) =
        send(app, Request::get("/").header(header::HOST, HOST).body(Body::empty()).unwrap()).await;
    assert_eq!(status, StatusCode::OK);
    let set_cookie = headers.get(header::SET_COOKIE).unwrap().to_str().unwrap().to_owned();
    assert!(set_cookie.contains("HttpOnly") && set_cookie.contains("SameSite=Strict"), "{set_cookie}");
    assert!(headers.get(header::CONTENT_SECURITY_POLICY).unwrap().to_str().unwrap().contains("script-src 'self'"));
    let page = String::from_utf8(body).unwrap();
    let csrf = page.split("name=\"csrf-token\" content=\"").nth(1).unwrap().split('"').next().unwrap().to_owned();
    Browser { cookie: set_cookie.split(';').next().unwrap().to_owned(), csrf }
}

impl Browser {
    fn get(&self, uri: &str) -> Request<Body> {
        Request::get(uri).header(header::HOST, HOST).header(header::COOKIE, &self.cookie).body(Body::empty()).unwrap()
    }
    fn post_json(&self, uri: &str, body: Value) -> Request<Body> {
        Request::post(uri)
            .header(header::HOST, HOST)
            .header(header::COOKIE, &self.cookie)
            .header("x-csrf-token", &self.csrf)
            .header(header::CONTENT_TYPE, "application/json")
            .body(Body::from(body.to_string()))
            .unwrap()
    }
    fn upload(&self, files: &[(&str, &[u8])]) -> Request<Body> {
        let mut body = Vec::new();
        for (name, content) in files {
            body.extend_from_slice(format!("--B\r\nContent-Disposition: form-data; name=\"files\"; filename=\"{name}\"\r\nContent-Type: application/octet-stream\r\n\r\n").as_bytes());
            body.extend_from_slice(content);
            body.extend_from_slice(b"\r\n");
        }
        body.extend_from_slice(b"--B--\r\n");
        Request::post("/api/files")
            .header(header::HOST, HOST)
            .header(header::COOKIE, &self.cookie)
            .header("x-csrf-token", &self.csrf)
            .header(header::CONTENT_TYPE, "multipart/form-data; boundary=B")
            .header(header::CONTENT_LENGTH, body.len())
            .body(Body::from(body))
            .unwrap()
    }
    /// A request about conversation `id` (the header the page sends).
    fn about(&self, mut request: Request<Body>, id: &str) -> Request<Body> {
        request.headers_mut().insert("x-conversation", id.parse().unwrap());
        request
    }
    fn send_json(&self, method: &str, uri: &str, body: Value) -> Request<Body> {
        let mut request = self.post_json(uri, body);
        *request.method_mut() = method.parse().unwrap();
        request
    }
    async fn files(&self, app: &Router) -> Vec<String> {
        let (status, _, body) = send(app, self.get("/api/files")).await;
        assert_eq!(status, StatusCode::OK);
        json_of(&body)["files"].as_array().unwrap().iter().map(|f| f["path"].as_str().unwrap().to_owned()).collect()
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn identity_csrf_and_cross_site_rules() {
    let Some((app, emulator)) = setup(1 << 20).await else { return };
    let browser = open_page(&app).await;
    // Same cookie again: no new identity.
    let (_, headers, _) = send(&app, browser.get("/")).await;
    assert!(headers.get(header::SET_COOKIE).is_none());

    // No cookie, or a forged one: 401 on the API.
    let (status, _, body) = send(&app, Request::get("/api/files").body(Body::empty()).unwrap()).await;
    assert_eq!(status, StatusCode::UNAUTHORIZED);
    assert!(json_of(&body)["error"].as_str().unwrap().contains("Reload the page"));
    let forged = Request::get("/api/files")
        .header(header::COOKIE, "dsc_identity=".to_owned() + &"a".repeat(64) + ".0000")
        .body(Body::empty())
        .unwrap();
    assert_eq!(send(&app, forged).await.0, StatusCode::UNAUTHORIZED);

    // State changes need the CSRF token...
    let mut no_token = browser.post_json("/api/run", json!({"code": "1"}));
    no_token.headers_mut().remove("x-csrf-token");
    assert_eq!(send(&app, no_token).await.0, StatusCode::FORBIDDEN);
    let mut wrong = browser.post_json("/api/run", json!({"code": "1"}));
    wrong.headers_mut().insert("x-csrf-token", "0".repeat(40).parse().unwrap());
    assert_eq!(send(&app, wrong).await.0, StatusCode::FORBIDDEN);
    // ... and the token of another browser does not work.
    let other = open_page(&app).await;
    let mut swapped = browser.post_json("/api/run", json!({"code": "1"}));
    swapped.headers_mut().insert("x-csrf-token", other.csrf.parse().unwrap());
    assert_eq!(send(&app, swapped).await.0, StatusCode::FORBIDDEN);
    // Cross-site POSTs are refused even with a valid token.
    let mut cross = browser.post_json("/api/session/new", json!({}));
    cross.headers_mut().insert(header::ORIGIN, "https://evil.example".parse().unwrap());
    assert_eq!(send(&app, cross).await.0, StatusCode::FORBIDDEN);
    let mut cross = browser.post_json("/api/session/new", json!({}));
    cross.headers_mut().insert("sec-fetch-site", "cross-site".parse().unwrap());
    assert_eq!(send(&app, cross).await.0, StatusCode::FORBIDDEN);
    let mut same = browser.post_json("/api/run", json!({"code": "40 + 2"}));
    same.headers_mut().insert(header::ORIGIN, format!("http://{HOST}").parse().unwrap());
    same.headers_mut().insert("sec-fetch-site", "same-origin".parse().unwrap());
    let (status, _, body) = send(&app, same).await;
    assert_eq!(status, StatusCode::OK, "{}", String::from_utf8_lossy(&body));
    assert_eq!(json_of(&body)["report"]["result"], 42);
    emulator.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn uploads_downloads_and_isolation() {
    let Some((app, emulator)) = setup(64 * 1024).await else { return };
    let alice = open_page(&app).await;
    let bob = open_page(&app).await;
    let binary: Vec<u8> = (0..=255u8).cycle().take(10_000).collect();
    let (status, _, body) = send(&app, alice.upload(&[("data.csv", b"x,y\n1,2\n"), ("blob.bin", &binary)])).await;
    assert_eq!(status, StatusCode::OK, "{}", String::from_utf8_lossy(&body));
    let mut files = alice.files(&app).await;
    files.sort();
    assert_eq!(files, ["blob.bin", "data.csv"]);
    assert!(bob.files(&app).await.is_empty(), "another browser sees none of it");
    let (status, _, _) = send(&app, bob.get("/api/files/download?path=data.csv")).await;
    assert_eq!(status, StatusCode::NOT_FOUND, "nor can it download it");

    let (status, headers, body) = send(&app, alice.get("/api/files/download?path=blob.bin")).await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(body, binary, "byte-exact");
    assert_eq!(headers.get(header::CONTENT_TYPE).unwrap(), "application/octet-stream");
    assert!(
        headers
            .get(header::CONTENT_DISPOSITION)
            .unwrap()
            .to_str()
            .unwrap()
            .starts_with("attachment; filename=\"blob.bin\"")
    );

    for hostile in ["../escape.txt", "/etc/passwd", "a/../../b", ""] {
        let (status, _, body) = send(&app, alice.upload(&[(hostile, b"x")])).await;
        assert_eq!(status, StatusCode::BAD_REQUEST, "{hostile:?}: {}", String::from_utf8_lossy(&body));
    }
    let (status, _, body) = send(&app, alice.upload(&[("big.bin", &vec![0u8; 100 * 1024])])).await;
    assert_eq!(status, StatusCode::PAYLOAD_TOO_LARGE);
    assert!(json_of(&body)["error"].as_str().unwrap().contains("upload limit"));
    let mut files = alice.files(&app).await;
    files.sort();
    assert_eq!(files, ["blob.bin", "data.csv"], "neither hostile nor oversized uploads left anything");

    let delete = Request::delete("/api/files?path=blob.bin")
        .header(header::HOST, HOST)
        .header(header::COOKIE, &alice.cookie)
        .header("x-csrf-token", &alice.csrf)
        .body(Body::empty())
        .unwrap();
    assert_eq!(send(&app, delete).await.0, StatusCode::NO_CONTENT);
    assert_eq!(alice.files(&app).await, ["data.csv"]);
    let (status, _, _) = send(&app, alice.get("/api/files/download?path=..%2Fetc%2Fpasswd")).await;
    assert_eq!(status, StatusCode::BAD_REQUEST);
    emulator.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn code_cell_history_new_session_and_health() {
    let Some((app, emulator)) = setup(1 << 20).await else { return };
    let browser = open_page(&app).await;
    let (status, _, body) = send(&app, browser.post_json("/api/chat", json!({"message": "hi"}))).await;
    assert_eq!(status, StatusCode::CONFLICT, "no model: no chat");
    assert!(json_of(&body)["error"].as_str().unwrap().contains("code cell"));

    let (_, _, body) =
        send(&app, browser.post_json("/api/run", json!({"code": "x = 5\nopen('out.txt', 'w').write('o')\nx * 2"})))
            .await;
    let result = json_of(&body);
    assert_eq!(result["report"]["result"], 10);
    assert_eq!(result["report"]["files_changed"][0]["path"], "out.txt");
    let (_, _, body) = send(&app, browser.post_json("/api/run", json!({"code": "1/0"}))).await;
    assert_eq!(json_of(&body)["report"]["status"], "Failed");
    let (status, _, body) = send(&app, browser.post_json("/api/run", json!({"code": "  "}))).await;
    assert_eq!(status, StatusCode::BAD_REQUEST, "{}", String::from_utf8_lossy(&body));

    let (_, _, body) = send(&app, browser.get("/api/history")).await;
    let events = json_of(&body)["events"].as_array().unwrap().len();
    assert_eq!(events, 4, "two cells, each a call and a result");

    let (status, _, _) = send(&app, browser.post_json("/api/session/new", json!({}))).await;
    assert_eq!(status, StatusCode::OK);
    assert!(browser.files(&app).await.is_empty(), "the old session's files are gone");
    let (_, _, body) = send(&app, browser.post_json("/api/run", json!({"code": "x"}))).await;
    assert!(json_of(&body)["report"]["stderr"].as_str().unwrap().contains("NameError"), "fresh state");
    let (_, _, body) = send(&app, browser.get("/api/history")).await;
    assert_eq!(json_of(&body)["events"].as_array().unwrap().len(), 2);

    assert_eq!(send(&app, Request::get("/healthz").body(Body::empty()).unwrap()).await.0, StatusCode::OK);
    assert_eq!(send(&app, Request::get("/readyz").body(Body::empty()).unwrap()).await.0, StatusCode::OK);
    let (status, _, body) = send(&app, Request::get("/nope").body(Body::empty()).unwrap()).await;
    assert_eq!((status, json_of(&body)["error"].is_string()), (StatusCode::NOT_FOUND, true));
    let (_, headers, body) = send(&app, Request::get("/static/app.js").body(Body::empty()).unwrap()).await;
    assert!(headers.get(header::CONTENT_TYPE).unwrap().to_str().unwrap().starts_with("text/javascript"));
    assert!(String::from_utf8(body).unwrap().contains("X-CSRF-Token"));
    emulator.stop().await;
}

#[tokio::test]
async fn readiness_fails_when_the_pool_is_unreachable() {
    let port = std::net::TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap().port();
    let client = SessionPoolClient::builder(format!("http://127.0.0.1:{port}"))
        .retry_policy(dynamic_sessions::RetryPolicy::none())
        .build()
        .unwrap();
    let config = AppConfig {
        secret: vec![7; 40],
        model: None,
        max_upload_bytes: 1024,
        secure_cookies: true,
        interpreter: InterpreterOptions::default(),
        turn: Default::default(),
    };
    let app = app(AppState::new(client, config, chat_app::store::Store::in_memory().await.unwrap()).unwrap());
    assert_eq!(
        send(&app, Request::get("/readyz").body(Body::empty()).unwrap()).await.0,
        StatusCode::SERVICE_UNAVAILABLE
    );
    let (_, headers, _) = send(&app, Request::get("/").body(Body::empty()).unwrap()).await;
    assert!(headers.get(header::SET_COOKIE).unwrap().to_str().unwrap().contains("; Secure"));
}

/// The app on `emulator`'s pool with the scripted model at `model_url`, its conversations in `store`.
fn app_with_model(emulator: &TestEmulator, model_url: String, store: chat_app::store::Store) -> Router {
    use dynamic_sessions_agent_tools::rig::ModelConfig;
    let client = SessionPoolClient::new(emulator.url(), Auth::bearer(emulator.token())).unwrap();
    let config = AppConfig {
        secret: b"a-test-secret-that-is-long-enough!!".to_vec(),
        model: Some(ModelConfig::OpenAi { api_key: None, model: "scripted".into(), base_url: Some(model_url) }),
        max_upload_bytes: 1 << 20,
        secure_cookies: false,
        interpreter: InterpreterOptions::default(),
        turn: Default::default(),
    };
    app(AppState::new(client, config, store).unwrap())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_closed_page_ends_its_turn_and_the_code_stops() {
    use dynamic_sessions_test_support::{Reply, ScriptedModel};
    let Some(emulator) = TestEmulator::start(|_| {}).await.unwrap_or_else(|e| panic!("{e}")) else { return };
    let model = ScriptedModel::start(vec![
        Reply::ToolCalls(vec![(
            "call_1",
            "run_python",
            json!({"code": "kept = 3\nimport time\ntime.sleep(120)"}).to_string(),
        )]),
        Reply::Text("never read"),
    ])
    .await;
    let app = app_with_model(&emulator, model.base_url(), chat_app::store::Store::in_memory().await.unwrap());
    let browser = open_page(&app).await;
    let response = app.clone().oneshot(browser.post_json("/api/chat", json!({"message": "sleep"}))).await.unwrap();
    assert_eq!(response.status(), StatusCode::OK);
    let mut body = response.into_body();
    let mut seen = String::new();
    while !seen.contains("\"tool_call\"") {
        let frame = body.frame().await.unwrap().unwrap();
        if let Some(data) = frame.data_ref() {
            seen.push_str(&String::from_utf8_lossy(data));
        }
    }
    tokio::time::sleep(std::time::Duration::from_millis(500)).await;
    drop(body); // the page closes
    let started = std::time::Instant::now();
    let (_, _, out) = send(&app, browser.post_json("/api/run", json!({"code": "kept"}))).await;
    assert_eq!(json_of(&out)["report"]["result"], 3, "{}", String::from_utf8_lossy(&out));
    assert!(started.elapsed() < std::time::Duration::from_secs(20), "the turn kept running: {:?}", started.elapsed());
    assert_eq!(model.script.bodies().len(), 1);
    emulator.stop().await;
}

/// The app on a pool of `container_type` (the emulator's default pool), its kind read from the pool as the
/// app's `main` reads it.
async fn setup_pool(
    container_type: dynamic_sessions_emulator::config::ContainerType,
) -> Option<(Router, TestEmulator)> {
    use dynamic_sessions_emulator::config::{DEFAULT_POOL, PoolSpec};
    let pools = vec![PoolSpec { name: DEFAULT_POOL.into(), container_type }];
    let emulator = TestEmulator::start(|c| c.pools = pools).await.unwrap_or_else(|e| panic!("{e}"))?;
    let client = SessionPoolClient::new(emulator.url(), Auth::bearer(emulator.token())).unwrap();
    let pool = dynamic_sessions_agent_tools::pool_kind(&client).await;
    let config = AppConfig {
        secret: b"a-test-secret-that-is-long-enough!!".to_vec(),
        model: None,
        max_upload_bytes: 1 << 20,
        secure_cookies: false,
        interpreter: InterpreterOptions { pool, ..InterpreterOptions::default() },
        turn: Default::default(),
    };
    Some((app(AppState::new(client, config, chat_app::store::Store::in_memory().await.unwrap()).unwrap()), emulator))
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_code_cell_follows_the_pools_language() {
    use dynamic_sessions_emulator::config::ContainerType;
    for (container_type, language, tool, code, check) in [
        (ContainerType::NodeLts, "JavaScript", "run_javascript", "const n = [1, 2, 3]; n.length", json!(3)),
        (ContainerType::Shell, "shell commands", "run_shell", "echo $((40 + 2))", json!("42\n")),
    ] {
        let Some((app, emulator)) = setup_pool(container_type).await else { return };
        let (_, _, body) = send(&app, Request::get("/").header(header::HOST, HOST).body(Body::empty()).unwrap()).await;
        let page = String::from_utf8(body).unwrap();
        assert!(page.contains(&format!("<summary>Run {language} directly</summary>")), "{language}");
        assert!(page.contains(&format!("<meta name=\"code-tool\" content=\"{tool}\">")), "{tool}");
        let browser = open_page(&app).await;
        let (status, _, body) = send(&app, browser.post_json("/api/run", json!({"code": code}))).await;
        assert_eq!(status, StatusCode::OK, "{}", String::from_utf8_lossy(&body));
        let event = json_of(&body);
        assert_eq!(
            (event["type"].as_str(), event["name"].as_str(), event["outcome"].as_str()),
            (Some("tool_result"), Some(tool), Some("ran")),
            "{event}"
        );
        let shown = if tool == "run_shell" { &event["report"]["stdout"] } else { &event["report"]["result"] };
        assert_eq!(shown, &check, "{event}");
        emulator.stop().await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_conversation_downloads_as_a_valid_notebook_and_as_markdown() {
    let Some((app, emulator)) = setup(1 << 20).await else { return };
    let browser = open_page(&app).await;
    let chart = "import matplotlib.pyplot as plt\nplt.plot([1, 4, 9])\nplt.show()\nprint('drawn')";
    let (_, _, body) = send(&app, browser.post_json("/api/run", json!({"code": chart}))).await;
    assert_eq!(json_of(&body)["images"].as_array().map(Vec::len), Some(1), "{}", String::from_utf8_lossy(&body));
    send(&app, browser.post_json("/api/run", json!({"code": "6 * 7"}))).await;
    send(&app, browser.post_json("/api/run", json!({"code": "1/0"}))).await;

    let (status, headers, body) = send(&app, browser.get("/api/conversation.ipynb")).await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(
        headers[header::CONTENT_DISPOSITION],
        "attachment; filename=\"New-conversation.ipynb\"",
        "named after the title"
    );
    let notebook = json_of(&body);
    let cells = notebook["cells"].as_array().unwrap();
    assert_eq!(cells.len(), 3, "three code cells: {notebook}");
    assert_eq!(cells[0]["source"], chart);
    let outputs = cells[0]["outputs"].as_array().unwrap();
    let types: Vec<&str> = outputs.iter().map(|o| o["output_type"].as_str().unwrap()).collect();
    assert_eq!(types, ["stream", "display_data"], "{outputs:?}");
    assert_eq!(cells[1]["outputs"][0]["output_type"], "execute_result");
    assert_eq!(cells[1]["outputs"][0]["data"]["text/plain"], "42");
    assert!(cells[2]["outputs"][0]["text"].as_str().unwrap().contains("ZeroDivisionError"));

    if let Some(python) = support::python_with_nbformat() {
        let file = tempfile::NamedTempFile::new().unwrap();
        std::fs::write(file.path(), &body).unwrap();
        // The file as written, before nbformat's reader repairs anything (missing or duplicate cell ids), then
        // as nbformat reads it.
        let check = "import sys, json, nbformat\nfrom nbformat.validator import iter_validate\n\
                     raw = json.load(open(sys.argv[1]))\n\
                     errors = [e.message for e in iter_validate(raw)]\n\
                     assert not errors, errors\n\
                     ids = [c['id'] for c in raw['cells']]\n\
                     assert len(ids) == len(set(ids)), ids\n\
                     nb = nbformat.read(sys.argv[1], as_version=4)\nnbformat.validate(nb)\n\
                     png = [o for c in nb.cells for o in c.get('outputs', []) if 'image/png' in o.get('data', {})]\n\
                     print(len(nb.cells), len(png))";
        let out = std::process::Command::new(python).args(["-c", check]).arg(file.path()).output().unwrap();
        assert!(out.status.success(), "nbformat refused it: {}", String::from_utf8_lossy(&out.stderr));
        assert_eq!(String::from_utf8_lossy(&out.stdout).trim(), "3 1", "three cells, one chart");
    }

    let (status, headers, body) = send(&app, browser.get("/api/conversation.md")).await;
    assert_eq!(status, StatusCode::OK);
    assert!(headers[header::CONTENT_TYPE].to_str().unwrap().starts_with("text/markdown"));
    let text = String::from_utf8(body).unwrap();
    assert!(
        text.contains("```python\nimport matplotlib.pyplot as plt")
            && text.contains("![A chart the code drew](data:image/png;base64,")
    );
    assert!(text.contains("Output:\n\n```text\ndrawn\n```") && text.contains("ZeroDivisionError"), "{text}");

    // Another browser's download holds none of it.
    let other = open_page(&app).await;
    let (_, _, body) = send(&app, other.get("/api/conversation.ipynb")).await;
    assert_eq!(json_of(&body)["cells"], json!([]));
    emulator.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn conversations_are_listed_renamed_and_deleted_by_their_owner_only() {
    let Some((app, emulator)) = setup(1 << 20).await else { return };
    let alice = open_page(&app).await;
    let (status, _, body) = send(&app, alice.get("/api/conversations")).await;
    assert_eq!((status, json_of(&body)["conversations"].clone()), (StatusCode::OK, json!([])), "none before use");
    let (_, _, body) = send(&app, alice.post_json("/api/run", json!({"code": "open('a.txt', 'w').write('a')"}))).await;
    assert_eq!(json_of(&body)["outcome"], "ran");
    let first = json_of(&send(&app, alice.get("/api/conversations")).await.2)["conversations"][0]["id"]
        .as_str()
        .unwrap()
        .to_owned();
    let (status, _, body) = send(&app, alice.post_json("/api/conversations", json!({}))).await;
    assert_eq!(status, StatusCode::CREATED);
    let second = json_of(&body)["id"].as_str().unwrap().to_owned();
    assert!(alice.files(&app).await.is_empty(), "the newest conversation has a session of its own");
    let (_, _, body) = send(&app, alice.about(alice.get("/api/files"), &first)).await;
    assert_eq!(json_of(&body)["files"][0]["name"], "a.txt", "the first keeps its files");

    // Titles: trimmed to one line; empty or oversized ones refused, nothing changed.
    let rename =
        |id: &str, title: Value| alice.send_json("PATCH", &format!("/api/conversations/{id}"), json!({"title": title}));
    let (status, _, body) = send(&app, rename(&second, json!("  Quarterly\nreport "))).await;
    assert_eq!((status, json_of(&body)["title"].clone()), (StatusCode::OK, json!("Quarterly report")));
    for bad in [json!("   "), json!("x".repeat(201))] {
        let (status, _, body) = send(&app, rename(&second, bad)).await;
        assert_eq!(status, StatusCode::BAD_REQUEST, "{}", String::from_utf8_lossy(&body));
        assert!(json_of(&body)["error"].as_str().unwrap().contains("title"));
    }
    let (status, _, _) = send(&app, alice.post_json("/api/run", json!({"code": "x".repeat(50_001)}))).await;
    assert_eq!(status, StatusCode::BAD_REQUEST, "an oversized cell");
    let (_, _, body) = send(&app, alice.get("/api/conversations")).await;
    let titles: Vec<Value> =
        json_of(&body)["conversations"].as_array().unwrap().iter().map(|c| c["title"].clone()).collect();
    assert_eq!(titles, [json!("Quarterly report"), json!("New conversation")], "the most recently used first");

    // Bob can reach none of it, whatever id he names.
    let bob = open_page(&app).await;
    for request in [
        bob.about(bob.get("/api/history"), &first),
        bob.about(bob.get("/api/files"), &first),
        bob.get(&format!("/api/conversation.ipynb?conversation={first}")),
        bob.about(bob.post_json("/api/run", json!({"code": "1"})), &first),
        bob.about(bob.post_json("/api/chat/stop", json!({})), &first),
        bob.send_json("PATCH", &format!("/api/conversations/{first}"), json!({"title": "mine"})),
        bob.send_json("DELETE", &format!("/api/conversations/{first}"), json!({})),
        bob.about(bob.get("/api/history"), "../../etc/passwd"),
    ] {
        let uri = request.uri().clone();
        let (status, _, body) = send(&app, request).await;
        assert_eq!(status, StatusCode::NOT_FOUND, "{uri}: {}", String::from_utf8_lossy(&body));
    }
    let (_, _, body) = send(&app, alice.about(alice.get("/api/history"), &first)).await;
    assert_eq!(json_of(&body)["events"].as_array().unwrap().len(), 2, "alice's conversation is untouched");

    // Deleting a conversation deletes its session (its files) and its rows.
    let sessions_before = emulator_sessions(&emulator).await;
    let (status, _, _) = send(&app, alice.send_json("DELETE", &format!("/api/conversations/{first}"), json!({}))).await;
    assert_eq!(status, StatusCode::NO_CONTENT);
    assert_eq!(emulator_sessions(&emulator).await, sessions_before - 1, "its pool session is gone");
    let (status, _, _) = send(&app, alice.about(alice.get("/api/history"), &first)).await;
    assert_eq!(status, StatusCode::NOT_FOUND);
    let (_, _, body) = send(&app, alice.get("/api/conversations")).await;
    assert_eq!(json_of(&body)["conversations"].as_array().unwrap().len(), 1);
    emulator.stop().await;
}

async fn emulator_sessions(emulator: &TestEmulator) -> usize {
    let pool = SessionPoolClient::new(emulator.url(), Auth::bearer(emulator.token())).unwrap();
    pool.list_sessions().await.unwrap().len()
}

/// A conversation whose session expired while the app was down: after the restart, the next turn says its
/// files are gone (the session as last seen was kept with the conversation) and goes on in a new session.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_expired_session_is_noticed_after_a_restart() {
    use dynamic_sessions_test_support::{Reply, ScriptedModel};
    let Some(emulator) = TestEmulator::start(|_| {}).await.unwrap_or_else(|e| panic!("{e}")) else { return };
    let model = ScriptedModel::start(vec![Reply::Text("Upload it again, please.")]).await;
    let data = tempfile::tempdir().unwrap();
    let started = async || {
        let store = chat_app::store::Store::sqlite_in(data.path()).unwrap();
        store.prepare().await.unwrap();
        app_with_model(&emulator, model.base_url(), store)
    };
    let before = started().await;
    let browser = open_page(&before).await;
    send(&before, browser.post_json("/api/run", json!({"code": "open('data.csv', 'w').write('1')"}))).await;
    drop(before);
    // While the app is down, the pool forgets the session (its cooldown ran out).
    let pool = SessionPoolClient::new(emulator.url(), Auth::bearer(emulator.token())).unwrap();
    for info in pool.list_sessions().await.unwrap() {
        pool.session(info.identifier.parse().unwrap()).delete().await.unwrap();
    }
    let after = started().await;
    let response =
        after.clone().oneshot(browser.post_json("/api/chat", json!({"message": "sum data.csv"}))).await.unwrap();
    let text = String::from_utf8(response.into_body().collect().await.unwrap().to_bytes().to_vec()).unwrap();
    assert!(text.contains("\"notice\"") && text.contains("files (your uploads included) are gone"), "{text}");
    assert!(text.contains("Upload it again"), "{text}");

    // Again, and this time the next thing run is a code cell: its answer carries the notice, for the page.
    drop(after);
    for info in pool.list_sessions().await.unwrap() {
        pool.session(info.identifier.parse().unwrap()).delete().await.unwrap();
    }
    let again = started().await;
    let (status, _, body) = send(&again, browser.post_json("/api/run", json!({"code": "print(1)"}))).await;
    assert_eq!(status, StatusCode::OK);
    let result = json_of(&body);
    assert!(result["notice"].as_str().unwrap_or_default().contains("files are gone"), "{result}");
    assert_eq!(result["report"]["stdout"], "1\n");
    let (_, _, body) = send(&again, browser.post_json("/api/run", json!({"code": "print(2)"}))).await;
    assert!(json_of(&body).get("notice").is_none(), "said once");
    emulator.stop().await;
}

/// Text the model wrote before a step stays on the page; the stored conversation keeps it too, so a reload
/// (or a restart) shows what the page showed.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn text_before_a_step_is_kept_as_the_page_showed_it() {
    use dynamic_sessions_test_support::{Reply, ScriptedModel};
    let Some(emulator) = TestEmulator::start(|_| {}).await.unwrap_or_else(|e| panic!("{e}")) else { return };
    let model = ScriptedModel::start(vec![
        Reply::TextThenToolCalls(
            "Let me add them up first.",
            vec![("call_1", "run_python", json!({"code": "print(2 + 3)"}).to_string())],
        ),
        Reply::Text("The sum is 5."),
    ])
    .await;
    let app = app_with_model(&emulator, model.base_url(), chat_app::store::Store::in_memory().await.unwrap());
    let browser = open_page(&app).await;
    let response = app.clone().oneshot(browser.post_json("/api/chat", json!({"message": "2 + 3?"}))).await.unwrap();
    let streamed = String::from_utf8(response.into_body().collect().await.unwrap().to_bytes().to_vec()).unwrap();
    assert!(streamed.contains("\"delta\":\"Let \""), "{streamed}");
    let (_, _, body) = send(&app, browser.get("/api/history")).await;
    let events = json_of(&body)["events"].clone();
    let kinds: Vec<&str> = events.as_array().unwrap().iter().map(|e| e["type"].as_str().unwrap()).collect();
    assert_eq!(kinds, ["user", "narration", "tool_call", "tool_result", "assistant"], "{events}");
    assert_eq!(events[1]["text"], "Let me add them up first.");
    emulator.stop().await;
}

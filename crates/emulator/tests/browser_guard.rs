//! A web page open in the developer's browser cannot use the emulator: the requests such a page can make
//! (simple cross-site POSTs, DNS rebinding, foreign origins, an uploaded page served back) are refused before
//! any code runs, and an embedded emulator requires a token nobody outside the process knows.
//!
//! The emulator here runs as the command line starts it by default: on loopback, **without** a token.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

mod common;

use dynamic_sessions_emulator::testing;
use reqwest::StatusCode;
use reqwest::header::{CONTENT_TYPE, HOST, ORIGIN};
use serde_json::{Value, json};

/// An emulator started like `dynamic-sessions-emulator` with its defaults (no token), on a free port.
struct Unprotected {
    url: String,
    port: u16,
    stop: tokio::sync::oneshot::Sender<()>,
    task: tokio::task::JoinHandle<()>,
    _dir: tempfile::TempDir,
}

async fn unprotected() -> Option<Unprotected> {
    if let Some(missing) = testing::missing_tools() {
        assert!(!testing::in_ci(), "CI=true but the emulator cannot run: missing {missing}");
        eprintln!("\n*** SKIPPING browser tests: missing {missing} ***\n");
        return None;
    }
    let dir = tempfile::tempdir().unwrap();
    let mut config = testing::config(dir.path());
    config.token = None;
    config.ready_sessions = 0;
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let port = listener.local_addr().unwrap().port();
    let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
    let task = tokio::spawn(async move {
        dynamic_sessions_emulator::run(listener, config, async {
            let _ = stopped.await;
        })
        .await
        .unwrap();
    });
    let url = format!("http://127.0.0.1:{port}");
    for _ in 0..600 {
        if reqwest::get(format!("{url}/health")).await.is_ok_and(|r| r.status().is_success()) {
            return Some(Unprotected { url, port, stop, task, _dir: dir });
        }
        tokio::time::sleep(std::time::Duration::from_millis(100)).await;
    }
    panic!("the emulator did not come up");
}

const Q: &str = "api-version=2025-10-02-preview&identifier=victim";
/// Code an attacker would like to run: it leaves a mark if it ever runs.
const PAYLOAD: &str = r#"{"code": "open('/mnt/data/pwned', 'w').write('x')", "executionType": "Synchronous"}"#;

impl Unprotected {
    fn executions(&self) -> String {
        format!("{}/executions?{Q}", self.url)
    }

    /// Whether the attacker's code ever ran (asked the way a legitimate program asks).
    async fn pwned(&self) -> bool {
        let listing: Value =
            reqwest::get(format!("{}/files?{Q}", self.url)).await.unwrap().json().await.unwrap_or(Value::Null);
        listing["value"].as_array().is_some_and(|files| files.iter().any(|f| f["name"] == "pwned"))
    }

    async fn stop(self) {
        let _ = self.stop.send(());
        let _ = self.task.await;
    }
}

async fn refused(response: reqwest::Response, status: StatusCode, code: &str) {
    assert_eq!(response.status(), status);
    let body: Value = response.json().await.unwrap();
    assert_eq!(body["error"]["code"], code, "{body}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn requests_a_web_page_can_make_are_refused_without_running_code() {
    let Some(emu) = unprotected().await else { return };
    let http = reqwest::Client::new();

    // 1. A "simple" cross-site request (text/plain, no preflight), as a modern browser sends it.
    let answer = http
        .post(emu.executions())
        .header(CONTENT_TYPE, "text/plain")
        .header(ORIGIN, "http://evil.example")
        .header("sec-fetch-site", "cross-site")
        .header("sec-fetch-mode", "no-cors")
        .body(PAYLOAD)
        .send()
        .await
        .unwrap();
    refused(answer, StatusCode::FORBIDDEN, "CrossSiteRequest").await;

    // 2. The same from a browser that sends neither Origin nor Sec-Fetch-*: a JSON route wants JSON.
    let answer = http.post(emu.executions()).header(CONTENT_TYPE, "text/plain").body(PAYLOAD).send().await.unwrap();
    refused(answer, StatusCode::UNSUPPORTED_MEDIA_TYPE, "UnsupportedMediaType").await;
    let form = http
        .post(emu.executions())
        .header(CONTENT_TYPE, "application/x-www-form-urlencoded")
        .body(PAYLOAD)
        .send()
        .await
        .unwrap();
    refused(form, StatusCode::UNSUPPORTED_MEDIA_TYPE, "UnsupportedMediaType").await;

    // 3. A foreign Origin, even with a JSON body (a page that got past CORS somehow).
    let answer = http
        .post(emu.executions())
        .header(CONTENT_TYPE, "application/json")
        .header(ORIGIN, "http://evil.example")
        .body(PAYLOAD)
        .send()
        .await
        .unwrap();
    refused(answer, StatusCode::FORBIDDEN, "ForeignOrigin").await;
    // Another local origin is another origin too (a page from a dev server on another port).
    let answer = http
        .post(emu.executions())
        .header(CONTENT_TYPE, "application/json")
        .header(ORIGIN, "http://localhost:3000")
        .header("sec-fetch-site", "same-site")
        .body(PAYLOAD)
        .send()
        .await
        .unwrap();
    refused(answer, StatusCode::FORBIDDEN, "CrossSiteRequest").await;

    // 4. DNS rebinding: attacker.example resolves to 127.0.0.1; its Host gives it away, for every route.
    for path in [format!("/executions?{Q}"), format!("/listSessions?{Q}"), format!("/files?{Q}"), "/health".into()] {
        let answer = http
            .request(
                if path.starts_with("/executions") { reqwest::Method::POST } else { reqwest::Method::GET },
                format!("{}{path}", emu.url),
            )
            .header(HOST, format!("attacker.example:{}", emu.port))
            .header(CONTENT_TYPE, "application/json")
            .body(PAYLOAD)
            .send()
            .await
            .unwrap();
        refused(answer, StatusCode::FORBIDDEN, "ForeignHost").await;
    }

    assert!(!emu.pwned().await, "none of it ran code");

    // The programs people use are not affected: a JSON request with the real Host runs.
    let ok = http.post(emu.executions()).json(&json!({"code": "6 * 7"})).send().await.unwrap();
    assert_eq!(ok.status(), StatusCode::OK);
    let ok =
        http.get(format!("{}/listSessions?api-version=2025-10-02-preview", emu.url)).header(HOST, "localhost").send();
    assert_eq!(ok.await.unwrap().status(), StatusCode::OK);
    emu.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_uploaded_page_is_never_rendered_on_the_emulators_origin() {
    let Some(emu) = unprotected().await else { return };
    let http = reqwest::Client::new();
    let page = "<html><script>fetch('/executions?api-version=2025-10-02-preview&identifier=x')</script></html>";
    let part = reqwest::multipart::Part::bytes(page.as_bytes().to_vec()).file_name("evil.html");
    let upload =
        http.post(format!("{}/files?{Q}", emu.url)).multipart(reqwest::multipart::Form::new().part("file", part));
    assert_eq!(upload.send().await.unwrap().status(), StatusCode::OK);
    for path in [format!("/files/evil.html/content?{Q}"), format!("/files/content/evil.html?{Q}")] {
        let answer = http.get(format!("{}{path}", emu.url)).send().await.unwrap();
        assert_eq!(answer.status(), StatusCode::OK);
        let header = |name: &str| answer.headers().get(name).and_then(|v| v.to_str().ok()).unwrap_or("").to_owned();
        assert!(header("content-disposition").starts_with("attachment"), "{}", header("content-disposition"));
        assert_eq!(header("x-content-type-options"), "nosniff");
        assert_eq!(header("content-security-policy"), "sandbox");
        assert_eq!(answer.text().await.unwrap(), page, "the bytes themselves are untouched");
    }
    emu.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_embedded_emulator_needs_its_random_token() {
    let Some(h) = common::start(|_| {}).await else { return };
    let url = h.emulator.url();
    let http = reqwest::Client::new();
    let anonymous = http.post(format!("{url}/executions?{Q}")).json(&json!({"code": "open('/mnt/data/pwned','w')"}));
    refused(anonymous.send().await.unwrap(), StatusCode::UNAUTHORIZED, "Unauthorized").await;
    let guessed = http.get(format!("{url}/files?{Q}")).bearer_auth("dse-00000000000000000000000000000000");
    refused(guessed.send().await.unwrap(), StatusCode::UNAUTHORIZED, "Unauthorized").await;
    let token = h.emulator.emulator.token().to_owned();
    assert!(token.len() >= 64, "a random token of 256 bits: {} characters", token.len());
    let files: Value =
        http.get(format!("{url}/files?{Q}")).bearer_auth(&token).send().await.unwrap().json().await.unwrap();
    assert_eq!(files["value"], json!([]), "the token works, and nothing ran before");
    h.stop().await;
}

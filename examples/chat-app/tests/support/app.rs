//! The chat app as its own process (the release binary's code, built for the test), and a browser-like
//! client of it: a cookie, a CSRF token, the conversation it shows.
#![allow(dead_code, clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use std::process::Stdio;
use std::time::{Duration, Instant};

use serde_json::Value;
use tokio::io::{AsyncBufReadExt, BufReader};
use tokio::process::{Child, Command};

/// A running app process.
pub struct AppProcess {
    pub child: Child,
    pub base: String,
}

/// Starts the app with `env` (and nothing of the test's environment that could pick a model or a pool), and
/// waits until it listens and `/readyz` answers.
pub async fn start(env: &[(&str, String)]) -> AppProcess {
    let app = start_listening(env).await;
    app.wait_ready().await;
    app
}

/// The app's command with `env`, and nothing of the test's environment that could pick a model or a pool.
pub fn command(env: &[(&str, String)]) -> Command {
    let mut command = Command::new(env!("CARGO_BIN_EXE_chat-app"));
    command.env_clear();
    for name in ["PATH", "HOME", "CI", "DS_SANDBOX"] {
        if let Ok(value) = std::env::var(name) {
            command.env(name, value);
        }
    }
    command
        .env("CHAT_APP_BIND", "127.0.0.1:0")
        .env("CHAT_APP_LOG_FORMAT", "json")
        .env("RUST_LOG", "chat_app=info")
        .envs(env.iter().map(|(k, v)| (*k, v.as_str())))
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .kill_on_drop(true);
    command
}

/// Starts the app and waits until it listens (ready or not).
pub async fn start_listening(env: &[(&str, String)]) -> AppProcess {
    let mut command = command(env);
    command.stderr(Stdio::inherit());
    let mut child = command.spawn().unwrap();
    let mut lines = BufReader::new(child.stdout.take().unwrap()).lines();
    let address = tokio::time::timeout(Duration::from_secs(60), async {
        while let Some(line) = lines.next_line().await.unwrap() {
            let parsed: Value = serde_json::from_str(&line).unwrap_or(Value::Null);
            if let Some(address) = parsed["fields"]["address"].as_str() {
                return address.to_owned();
            }
        }
        panic!("the app exited before it listened");
    })
    .await
    .expect("the app did not listen within a minute");
    // Keep reading its log, so it never blocks on a full pipe.
    tokio::spawn(async move { while let Ok(Some(_)) = lines.next_line().await {} });
    AppProcess { child, base: format!("http://{address}") }
}

impl AppProcess {
    /// Waits until `/readyz` answers 200.
    pub async fn wait_ready(&self) {
        let started = Instant::now();
        loop {
            if let Ok(r) = reqwest::get(format!("{}/readyz", self.base)).await
                && r.status() == 200
            {
                return;
            }
            assert!(started.elapsed() < Duration::from_secs(60), "{} never became ready", self.base);
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
    }

    /// SIGKILL: no shutdown, no goodbye.
    pub async fn kill(mut self) {
        self.child.kill().await.unwrap();
    }
}

/// A browser: its cookie and CSRF token, from loading the page of `base`.
#[derive(Clone)]
pub struct Visitor {
    pub cookie: String,
    pub csrf: String,
    pub http: reqwest::Client,
}

impl Visitor {
    pub async fn open(base: &str) -> Visitor {
        let http = reqwest::Client::new();
        let response = http.get(format!("{base}/")).send().await.unwrap();
        let cookie = response.headers()["set-cookie"].to_str().unwrap().split(';').next().unwrap().to_owned();
        let page = response.text().await.unwrap();
        let csrf = page.split("name=\"csrf-token\" content=\"").nth(1).unwrap().split('"').next().unwrap().to_owned();
        Visitor { cookie, csrf, http }
    }

    fn request(&self, method: reqwest::Method, url: String, conversation: Option<&str>) -> reqwest::RequestBuilder {
        let host = url.split("//").nth(1).unwrap().split('/').next().unwrap().to_owned();
        let mut request = self
            .http
            .request(method, url)
            .header("cookie", &self.cookie)
            .header("x-csrf-token", &self.csrf)
            .header("origin", format!("http://{host}"));
        if let Some(id) = conversation {
            request = request.header("x-conversation", id);
        }
        request
    }

    /// A JSON request; the status and the answer.
    pub async fn call(
        &self,
        method: reqwest::Method,
        base: &str,
        path: &str,
        conversation: Option<&str>,
        body: Option<Value>,
    ) -> (u16, Value) {
        let mut request = self.request(method, format!("{base}{path}"), conversation);
        if let Some(body) = body {
            request = request.json(&body);
        }
        let response = request.send().await.unwrap();
        let status = response.status().as_u16();
        (status, response.json().await.unwrap_or(Value::Null))
    }

    /// `POST /api/files` with one file; the status.
    pub async fn upload(&self, base: &str, conversation: &str, name: &str, content: &[u8]) -> u16 {
        let part = reqwest::multipart::Part::bytes(content.to_vec()).file_name(name.to_owned());
        let form = reqwest::multipart::Form::new().part("files", part);
        let request = self.request(reqwest::Method::POST, format!("{base}/api/files"), Some(conversation));
        request.multipart(form).send().await.unwrap().status().as_u16()
    }

    /// The paths of the conversation's files.
    pub async fn files(&self, base: &str, conversation: &str) -> Vec<String> {
        let (status, body) = self.call(reqwest::Method::GET, base, "/api/files", Some(conversation), None).await;
        assert_eq!(status, 200, "{body}");
        body["files"].as_array().unwrap().iter().map(|f| f["path"].as_str().unwrap().to_owned()).collect()
    }

    /// The `type` of every event in the conversation's history.
    pub async fn kinds(&self, base: &str, conversation: &str) -> Vec<String> {
        let (status, body) = self.call(reqwest::Method::GET, base, "/api/history", Some(conversation), None).await;
        assert_eq!(status, 200, "{body}");
        body["events"].as_array().unwrap().iter().map(|e| e["type"].as_str().unwrap().to_owned()).collect()
    }

    /// `POST /api/chat`: the event stream, as it comes.
    pub async fn chat(&self, base: &str, conversation: &str, message: &str) -> reqwest::Response {
        let response = self
            .request(reqwest::Method::POST, format!("{base}/api/chat"), Some(conversation))
            .json(&serde_json::json!({"message": message}))
            .send()
            .await
            .unwrap();
        assert_eq!(response.status(), 200, "{:?}", response.text().await);
        response
    }
}

/// Reads server-sent events from `response` until `until` says stop (or the stream ends); every event read.
pub async fn read_events(response: &mut reqwest::Response, mut until: impl FnMut(&Value) -> bool) -> Vec<Value> {
    let mut buffer = String::new();
    let mut events = Vec::new();
    while let Some(chunk) = tokio::time::timeout(Duration::from_secs(120), response.chunk()).await.unwrap().unwrap() {
        buffer.push_str(&String::from_utf8_lossy(&chunk));
        while let Some(end) = buffer.find("\n\n") {
            let block: String = buffer.drain(..end + 2).collect();
            for line in block.lines() {
                if let Some(data) = line.strip_prefix("data:") {
                    let event: Value = serde_json::from_str(data.trim()).unwrap();
                    let stop = until(&event);
                    events.push(event);
                    if stop {
                        return events;
                    }
                }
            }
        }
    }
    events
}

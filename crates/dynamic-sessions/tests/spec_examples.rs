//! Replays the service's own published examples (Azure/azure-rest-api-specs, copied verbatim into
//! `fixtures/spec`, provenance in `fixtures/spec/SOURCES.md`) through the client.
//!
//! For every example of a documented operation: a wiremock server accepts exactly the request the example
//! shows (method, route, query, `operation-id` header, JSON body) and answers exactly its response (status,
//! headers, body); the client's call must send that request and read the answer into the right values.
//! Examples under draft operation names, and the variant copies, have no request the client would send; their
//! answers go through the same readers.
//!
//! Deliberate differences from the examples' requests, each checked below:
//! * `ListSessions_Get` examples carry `offset=0&limit=100`, which the swagger does not have (it has `skip`):
//!   the client sends neither on the first page.
//! * A `path` of `/` (the top of `/mnt/data`) is optional; the client leaves it out.
//! * The 2024-10-02-preview `session`, `listSessions` and `metadata` examples come from an older hand-written
//!   copy; that version's generated swagger has none of these routes (they were added in 2025-02-02-preview),
//!   so a client of 2024-10-02-preview sends them with `2025-10-02-preview`, as it does against the service.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

mod common;

use std::path::{Path, PathBuf};
use std::time::Duration;

use common::POOL_PATH;
use dynamic_sessions::{
    ApiVersion, Auth, Error, Execution, ExecutionStatus, JupyterFlag, RemoteFile, RetryPolicy, SessionId, SessionInfo,
    SessionPoolClient, ShellExecution,
};
use serde_json::Value;
use wiremock::matchers::{body_json, header, method, path, query_param, query_param_is_missing};
use wiremock::{Mock, MockBuilder, MockServer, ResponseTemplate};

const VERSIONS: [&str; 3] = ["2024-10-02-preview", "2025-02-02-preview", "2025-10-02-preview"];

fn spec_dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/spec")
}

/// One example file.
struct Example {
    file: String,
    version: &'static str,
    json: Value,
}

impl Example {
    fn param(&self, name: &str) -> Option<&Value> {
        self.json["parameters"].get(name)
    }

    fn param_str(&self, name: &str) -> Option<String> {
        self.param(name).and_then(Value::as_str).map(str::to_owned)
    }

    /// The example's single response: status, headers, body.
    fn response(&self) -> (u16, Value, Value) {
        let responses = self.json["responses"].as_object().unwrap();
        assert_eq!(responses.len(), 1, "{}: one response", self.file);
        let (status, response) = responses.iter().next().unwrap();
        (status.parse().unwrap(), response["headers"].clone(), response["body"].clone())
    }

    fn template(&self) -> ResponseTemplate {
        let (status, headers, body) = self.response();
        let mut template = ResponseTemplate::new(status);
        for (name, value) in headers.as_object().into_iter().flatten() {
            template = template.insert_header(name.as_str(), value.as_str().unwrap());
        }
        match body {
            Value::Null => template,
            Value::String(text) => template.set_body_raw(text, "text/plain"),
            other => template.set_body_json(other),
        }
    }

    fn body(&self) -> Value {
        self.response().2
    }
}

fn examples_in(dir: &Path, version: &'static str) -> Vec<Example> {
    let mut files: Vec<PathBuf> = std::fs::read_dir(dir)
        .unwrap()
        .flatten()
        .map(|e| e.path())
        .filter(|p| p.extension().is_some_and(|e| e == "json") && !p.ends_with("openapi.json"))
        .collect();
    files.sort();
    files
        .into_iter()
        .map(|p| Example {
            file: p.strip_prefix(spec_dir()).unwrap().display().to_string(),
            version,
            json: serde_json::from_str(&std::fs::read_to_string(&p).unwrap()).unwrap(),
        })
        .collect()
}

fn primary(version: &'static str) -> Vec<Example> {
    examples_in(&spec_dir().join(version), version)
}

fn variants(version: &'static str) -> Vec<Example> {
    let dir = spec_dir().join(version).join("variants");
    let Ok(folders) = std::fs::read_dir(&dir) else { return Vec::new() };
    folders.flatten().flat_map(|f| examples_in(&f.path(), version)).collect()
}

/// A client of the example's api-version and a mock for the example's request, answered by its response.
struct Replay {
    server: MockServer,
    client: SessionPoolClient,
}

impl Replay {
    async fn new(example: &Example) -> Replay {
        let server = MockServer::start().await;
        let client = SessionPoolClient::builder(format!("{}{POOL_PATH}", server.uri()))
            .api_version(ApiVersion::new(example.version).unwrap())
            .auth(Auth::bearer("test-token"))
            .retry_policy(RetryPolicy::none())
            .build()
            .unwrap();
        Replay { server, client }
    }

    /// `method route` with the example's `api-version` and (when it has one) `identifier`.
    fn request(&self, example: &Example, verb: &str, route: &str) -> MockBuilder {
        let management = ["session", "listSessions", "metadata"].contains(&route);
        let version = ApiVersion::new(example.version).unwrap();
        let sent = if management && !version.has_session_management() {
            ApiVersion::V2025_10_02_PREVIEW
        } else {
            example.version
        };
        let builder = Mock::given(method(verb))
            .and(path(format!("{POOL_PATH}/{route}")))
            .and(query_param("api-version", sent))
            .and(header("authorization", "Bearer test-token"));
        match example.param_str("identifier") {
            Some(id) => builder.and(query_param("identifier", id)),
            None => builder.and(query_param_is_missing("identifier")),
        }
    }

    async fn expect(&self, mock: MockBuilder, example: &Example) {
        mock.respond_with(example.template()).expect(1).named(example.file.clone()).mount(&self.server).await;
    }

    fn session(&self, example: &Example) -> dynamic_sessions::Session {
        self.client.session(SessionId::new(example.param_str("identifier").unwrap()).unwrap())
    }

    /// The `path` query parameter as the client sends it: absent for the top of `/mnt/data`.
    fn with_path(mock: MockBuilder, example: &Example) -> MockBuilder {
        match example.param_str("path").filter(|p| p != "/") {
            Some(dir) => mock.and(query_param("path", dir)),
            None => mock.and(query_param_is_missing("path")),
        }
    }

    /// `name` under the example's `path`, as a remote path.
    fn remote(example: &Example, name: &str) -> String {
        match example.param_str("path").filter(|p| p != "/") {
            Some(dir) => format!("{dir}/{name}"),
            None => name.to_owned(),
        }
    }
}

/// The execution result as the client reports it: `""` and null are "no result".
fn expected_result(body: &Value) -> Option<Value> {
    match &body["result"]["executionResult"] {
        Value::Null => None,
        Value::String(s) if s.is_empty() => None,
        other => Some(other.clone()),
    }
}

fn check_execution(example: &Example, execution: &Execution, body: &Value) {
    let header_id = example.response().1["operation-id"].as_str().map(str::to_owned);
    let body_id = body["id"].as_str().filter(|id| !id.is_empty()).map(str::to_owned);
    assert_eq!(execution.id, body_id.or(header_id), "{}: id", example.file);
    assert_eq!(execution.status, ExecutionStatus::parse(body["status"].as_str().unwrap()), "{}", example.file);
    assert_eq!(execution.stdout, body["result"]["stdout"].as_str().unwrap_or(""), "{}", example.file);
    assert_eq!(execution.stderr, body["result"]["stderr"].as_str().unwrap_or(""), "{}", example.file);
    assert_eq!(execution.result, expected_result(body), "{}: result", example.file);
    let millis = body["result"]["executionTimeInMilliseconds"].as_u64();
    assert_eq!(execution.duration, millis.map(Duration::from_millis), "{}", example.file);
}

async fn replay_execute(example: &Example) {
    let replay = Replay::new(example).await;
    let request = example.param("codeExecutionRequest").unwrap().clone();
    let mut mock = replay.request(example, "POST", "executions").and(body_json(&request));
    if let Some(id) = example.param_str("operation-id") {
        mock = mock.and(header("operation-id", id.as_str()));
    }
    replay.expect(mock, example).await;
    let session = replay.session(example);
    let seconds = Duration::from_secs(request["timeoutInSeconds"].as_u64().unwrap());
    let body = example.body();
    if request.get("shellCommand").is_some() || request.get("execCommandAndArgs").is_some() {
        let mut shell = match request.get("shellCommand").and_then(Value::as_str) {
            Some(line) => session.shell(line),
            None => session
                .exec(request["execCommandAndArgs"].as_array().unwrap().iter().map(|a| a.as_str().unwrap().to_owned())),
        };
        shell = shell.timeout(seconds);
        if let Some(stdin) = request["stdin"].as_str() {
            shell = shell.stdin(stdin);
        }
        if let Some(max) = request["outputStreamsMaxLength"].as_u64() {
            shell = shell.output_streams_max_length(max as u32);
        }
        let ran: ShellExecution = shell.await.unwrap();
        assert_eq!(ran.exit_code, Some(0), "{}: the exit code is the status {:?}", example.file, body["status"]);
        assert!(ran.is_success());
        assert_eq!(ran.stdout, body["result"]["stdout"].as_str().unwrap(), "{}", example.file);
        assert_eq!(ran.id.as_deref(), Some("testExecutionId"));
        return;
    }
    let mut run = session.execute(request["code"].as_str().unwrap()).timeout(seconds);
    if request["executionType"] == "Asynchronous" {
        run = run.asynchronous().poll_interval(Duration::from_millis(10));
        if body["status"] == "Running" {
            // The execution is still running: the client polls it; the service's own "completed" example answers.
            let completed = primary(example.version)
                .into_iter()
                .find(|e| e.json["operationId"] == "CodeExecution_Get" && e.body()["status"] == "Succeeded")
                .unwrap();
            replay.expect(replay.request(example, "GET", "executions/testExecutionId"), &completed).await;
        }
    }
    if let Some(id) = example.param_str("operation-id") {
        run = run.operation_id(id);
    }
    if let Some(max) = request["outputStreamsMaxLength"].as_u64() {
        run = run.output_streams_max_length(max as u32);
    }
    if let Some(empty) = request["useEmptyKernel"].as_bool() {
        run = run.use_empty_kernel(empty);
    }
    if let Some(jupyter) = request["returnJupyterFormatExecutionResult"].as_bool() {
        run = run.jupyter_format(jupyter);
    }
    if let Some(jupyter) = request["returnJupyterFormat"].as_bool() {
        run = run.jupyter_format_as(jupyter, JupyterFlag::ReturnJupyterFormat);
    }
    let execution = run.await.unwrap_or_else(|e| panic!("{}: {e:?}", example.file));
    if body["status"] == "Running" {
        assert_eq!(execution.status, ExecutionStatus::Succeeded, "{}: polled to completion", example.file);
        assert_eq!(execution.stdout, "63/n");
    } else {
        check_execution(example, &execution, &body);
    }
    let limit = request["outputStreamsMaxLength"].as_u64().map(|n| n as usize);
    let default = ApiVersion::new(example.version).unwrap().has_execution_options().then_some(4096);
    assert_eq!(execution.output_limit, limit.or(default), "{}", example.file);
}

async fn replay(example: &Example) {
    let operation = example.json["operationId"].as_str().unwrap();
    let replay = Replay::new(example).await;
    let body = example.body();
    match operation {
        "CodeExecution_Execute" => replay_execute(example).await,
        "CodeExecution_Get" => {
            let id = example.param_str("executionId").unwrap();
            replay.expect(replay.request(example, "GET", &format!("executions/{id}")), example).await;
            let execution = replay.session(example).execution(&id).await.unwrap();
            check_execution(example, &execution, &body);
        }
        "SessionResourceFiles_List" => {
            let recursive = example.param("recursive").and_then(Value::as_bool).unwrap_or(false);
            let mut mock = Replay::with_path(replay.request(example, "GET", "files"), example);
            mock = if recursive {
                mock.and(query_param("recursive", "true"))
            } else {
                mock.and(query_param_is_missing("recursive"))
            };
            replay.expect(mock, example).await;
            let mut listing = replay.session(example).files().list().recursive(recursive);
            if let Some(dir) = example.param_str("path") {
                listing = listing.path(dir);
            }
            let files = listing.await.unwrap();
            let base = example.param_str("path").filter(|p| p != "/");
            let expected: Vec<String> = body["value"]
                .as_array()
                .unwrap()
                .iter()
                .map(|entry| {
                    [
                        base.as_deref().unwrap_or(""),
                        entry["directory"].as_str().unwrap_or(""),
                        entry["name"].as_str().unwrap(),
                    ]
                    .iter()
                    .filter(|s| !s.is_empty())
                    .copied()
                    .collect::<Vec<_>>()
                    .join("/")
                })
                .collect();
            let paths: Vec<String> = files.iter().map(RemoteFile::path).collect();
            assert_eq!(paths, expected, "{}: every path is under the listed directory", example.file);
            for (file, entry) in files.iter().zip(body["value"].as_array().unwrap()) {
                assert_eq!(file.is_dir(), entry["type"].as_str().unwrap().eq_ignore_ascii_case("directory"));
                assert_eq!(file.size, entry["sizeInBytes"].as_u64());
                // A returned path is a valid path to pass back.
                assert_eq!(file.remote_path().unwrap().as_str(), file.path());
            }
        }
        "SessionResourceFiles_Upload" => {
            let content = example.param_str("file").unwrap();
            let mock = Replay::with_path(replay.request(example, "POST", "files"), example)
                .and(common::multipart_contains(Box::leak(content.clone().into_boxed_str())));
            replay.expect(mock, example).await;
            let name = body["name"].as_str().unwrap();
            let uploaded = replay
                .session(example)
                .files()
                .upload(Replay::remote(example, name), content.into_bytes())
                .await
                .unwrap();
            assert_eq!(uploaded.path(), Replay::remote(example, name), "{}: the directory it went to", example.file);
            assert_eq!(uploaded.size, body["sizeInBytes"].as_u64());
            assert_eq!(uploaded.content_type.as_deref(), body["contentType"].as_str());
        }
        "SessionResourceFiles_Get" => {
            let name = example.param_str("name").unwrap();
            let mock = Replay::with_path(replay.request(example, "GET", &format!("files/{name}")), example);
            replay.expect(mock, example).await;
            let file = replay.session(example).files().metadata(Replay::remote(example, &name)).await.unwrap();
            assert_eq!(file.path(), Replay::remote(example, body["name"].as_str().unwrap()), "{}", example.file);
            assert_eq!(file.size, body["sizeInBytes"].as_u64());
        }
        "SessionResourceFiles_Delete" => {
            let name = example.param_str("name").unwrap();
            let mock = Replay::with_path(replay.request(example, "DELETE", &format!("files/{name}")), example);
            replay.expect(mock, example).await;
            replay.session(example).files().delete(Replay::remote(example, &name)).await.unwrap();
        }
        "SessionResourceFiles_GetContent" => {
            let name = example.param_str("name").unwrap();
            let mock = Replay::with_path(replay.request(example, "GET", &format!("files/{name}/content")), example);
            replay.expect(mock, example).await;
            let bytes = replay.session(example).files().download(Replay::remote(example, &name)).await.unwrap();
            assert_eq!(bytes.bytes().await.unwrap().as_ref(), body.as_str().unwrap().as_bytes());
        }
        "SessionManagement_Get" => {
            replay.expect(replay.request(example, "GET", "session"), example).await;
            let info = replay.session(example).info().await.unwrap();
            check_session(&info, &body);
        }
        "SessionManagement_Delete" => {
            replay.expect(replay.request(example, "DELETE", "session"), example).await;
            replay.session(example).delete().await.unwrap();
        }
        "ListSessions_Get" => {
            let mock = replay
                .request(example, "GET", "listSessions")
                .and(query_param_is_missing("offset"))
                .and(query_param_is_missing("limit"));
            replay.expect(mock, example).await;
            let sessions = replay.client.list_sessions().await.unwrap();
            assert_eq!(sessions.len(), body["sessions"].as_array().unwrap().len());
            check_session(&sessions[0], &body["sessions"][0]);
        }
        "SessionPoolMetadata_Get" => {
            replay.expect(replay.request(example, "GET", "metadata"), example).await;
            let metadata = replay.client.metadata().await.unwrap();
            assert_eq!(metadata.runtimes[0].name, body["runtimes"][0]["name"].as_str().unwrap());
            assert_eq!(
                metadata.preinstalled_packages[0].version.as_deref(),
                body["preInstalledPackages"][0]["version"].as_str()
            );
            assert_eq!(
                metadata.jupyter_kernel.as_ref().map(|k| k.name.as_str()),
                body["jupyterKernel"]["name"].as_str()
            );
            assert!(metadata.created_at.is_some() && metadata.last_updated_at.is_some());
            // The service's example describes a NodeLTS pool (node, axios, IJavascript).
            assert_eq!(metadata.kind(), dynamic_sessions::PoolKind::JavaScript);
            assert_eq!(metadata.kind().container_type(), Some("NodeLTS"));
        }
        "SessionPoolManagement_StopSession" => {
            replay.expect(replay.request(example, "POST", ".management/stopSession"), example).await;
            replay.session(example).stop().await.unwrap();
        }
        other => panic!("{}: no replay for operation {other}", example.file),
    }
    replay.server.verify().await;
}

fn check_session(info: &SessionInfo, body: &Value) {
    assert_eq!(info.identifier, body["identifier"].as_str().unwrap());
    assert_eq!(info.etag.as_deref(), body["etag"].as_str());
    assert!(info.created_at.is_some() && info.last_accessed_at.is_some() && info.expire_at.is_some(), "{info:?}");
}

/// Draft operation names (an older hand-written copy of the spec) and variant copies: every answer, read by
/// the same readers.
fn read_draft_or_variant(example: &Example) {
    for response in example.json["responses"].as_object().unwrap().values() {
        read_answer(example, &response["body"]);
    }
}

fn read_answer(example: &Example, body: &Value) {
    let body = body.clone();
    let operation = example.json["operationId"].as_str().unwrap();
    if operation.starts_with("CodeExecution") {
        let execution = Execution::from_json(&body);
        assert!(
            matches!(
                execution.status,
                ExecutionStatus::Succeeded | ExecutionStatus::Running | ExecutionStatus::Other(_)
            ),
            "{}: {:?}",
            example.file,
            execution.status
        );
        if execution.status == ExecutionStatus::Succeeded && body["result"]["stdout"].is_string() {
            assert_eq!(execution.stdout, body["result"]["stdout"].as_str().unwrap(), "{}", example.file);
        }
        if body["status"] == "0" {
            assert_eq!(ShellExecution::from_json(&body).exit_code, Some(0), "{}", example.file);
        }
    } else if operation.starts_with("SessionResourceFiles") && body.is_object() {
        let base = example.param_str("path");
        let files = RemoteFile::list_from_json_in(&body, base.as_deref());
        assert!(!files.is_empty(), "{}: names at least one file", example.file);
        for file in files {
            assert!(!file.name.contains('/') && file.remote_path().is_ok(), "{}: {file:?}", example.file);
        }
    } else if operation.contains("Session") && body.get("identifier").is_some() {
        check_session(&SessionInfo::from_json(&body), &body);
    }
}

#[tokio::test]
async fn every_published_example_replays_through_the_client() {
    let mut replayed = 0;
    let mut read = 0;
    for version in VERSIONS {
        for example in primary(version) {
            let current = [
                "CodeExecution_Execute",
                "CodeExecution_Get",
                "SessionResourceFiles_List",
                "SessionResourceFiles_Upload",
                "SessionResourceFiles_Get",
                "SessionResourceFiles_Delete",
                "SessionResourceFiles_GetContent",
                "SessionManagement_Get",
                "SessionManagement_Delete",
                "ListSessions_Get",
                "SessionPoolMetadata_Get",
                "SessionPoolManagement_StopSession",
            ];
            if current.contains(&example.json["operationId"].as_str().unwrap()) {
                replay(&example).await;
                replayed += 1;
            } else {
                read_draft_or_variant(&example);
                read += 1;
            }
        }
        for example in variants(version) {
            read_draft_or_variant(&example);
            read += 1;
        }
    }
    // 84 example files in all: every one was used (see fixtures/spec/SOURCES.md).
    assert_eq!(replayed + read, 84, "replayed {replayed}, read {read}");
    assert!(replayed >= 45, "replayed {replayed}");
}

#[tokio::test]
async fn a_404_without_a_word_about_capacity_is_not_a_full_pool() {
    let server = MockServer::start().await;
    Mock::given(method("POST")).respond_with(ResponseTemplate::new(404)).mount(&server).await;
    let client = common::client(&server, common::CURRENT);
    let err = client.session(common::session_id()).execute("1").await.unwrap_err();
    assert!(matches!(err, Error::NotFound(_)), "{err:?}");
    assert!(!err.is_retryable(), "a wrong route is not retried");
    assert!(err.to_string().contains("check the pool management endpoint"), "{err}");
}

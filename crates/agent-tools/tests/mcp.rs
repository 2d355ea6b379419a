//! The `dynamic-sessions-mcp` binary over stdio, driven by rmcp's own client, against a real emulator.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

mod common;

use base64::Engine as _;
use common::emulator;
use rmcp::ServiceExt;
use rmcp::model::{CallToolRequestParams, CallToolResult, ContentBlock, ResourceContents};
use rmcp::transport::{ConfigureCommandExt, TokioChildProcess};
use serde_json::{Value, json};

fn text(result: &CallToolResult) -> String {
    result
        .content
        .iter()
        .filter_map(|c| match c {
            ContentBlock::Text(t) => Some(t.text.clone()),
            _ => None,
        })
        .collect::<Vec<_>>()
        .join("\n")
}

fn args(value: Value) -> serde_json::Map<String, Value> {
    value.as_object().cloned().unwrap()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_mcp_client_lists_and_calls_every_tool() {
    let Some(emu) = emulator().await else { return };
    let command = tokio::process::Command::new(env!("CARGO_BIN_EXE_dynamic-sessions-mcp")).configure(|c| {
        c.arg("--endpoint").arg(emu.url()).env("DYNAMIC_SESSIONS_TOKEN", emu.token());
    });
    let client = ().serve(TokioChildProcess::new(command).unwrap()).await.unwrap();
    let call = |name: &'static str, arguments: Value| {
        let request = CallToolRequestParams::new(name).with_arguments(args(arguments));
        let peer = client.peer().clone();
        async move { peer.call_tool(request).await.unwrap() }
    };

    let mut names: Vec<String> =
        client.list_all_tools().await.unwrap().into_iter().map(|t| t.name.to_string()).collect();
    names.sort();
    assert_eq!(
        names,
        ["download_file", "list_files", "read_file", "reset_session", "run_python", "send_file_to_user", "upload_file"]
    );

    let up = call("upload_file", json!({"path": "data/in.csv", "content": "a,b\n1,2\n"})).await;
    assert_ne!(up.is_error, Some(true), "{}", text(&up));
    let png = base64::engine::general_purpose::STANDARD.encode(b"\x89PNG\r\n\x1a\n-binary");
    let up = call("upload_file", json!({"path": "logo.png", "content_base64": png})).await;
    assert_ne!(up.is_error, Some(true), "{}", text(&up));

    let run = call(
        "run_python",
        json!({"code": "import csv\nrows = list(csv.reader(open('/mnt/data/data/in.csv')))\nprint(rows)\nlen(rows)"}),
    )
    .await;
    assert_ne!(run.is_error, Some(true), "{}", text(&run));
    // The model reads sentences; programs read the structured report.
    assert!(
        text(&run).starts_with("The code ran successfully. It printed:\n[['a', 'b'], ['1', '2']]"),
        "{}",
        text(&run)
    );
    let report = run.structured_content.clone().unwrap();
    assert_eq!(report["stdout"], "[['a', 'b'], ['1', '2']]\n");
    assert_eq!(report["result"], 2);

    let chart =
        call("run_python", json!({"code": "import matplotlib.pyplot as plt\nplt.plot([3, 1, 2])\nplt.show()"})).await;
    let images: Vec<&str> = chart
        .content
        .iter()
        .filter_map(|c| match c {
            ContentBlock::Image(i) => Some(i.mime_type.as_str()),
            _ => None,
        })
        .collect();
    assert_eq!(images, ["image/png"], "{}", text(&chart));

    let failed = call("run_python", json!({"code": "undefined_name"})).await;
    assert_eq!(failed.is_error, Some(true));
    assert!(text(&failed).contains("NameError"));

    let listed = call("list_files", json!({"recursive": true})).await;
    let listing = text(&listed);
    assert!(listing.contains("data/in.csv") && listing.contains("logo.png"), "{listing}");

    let head = call("read_file", json!({"path": "data/in.csv", "max_bytes": 4})).await;
    assert!(text(&head).starts_with("a,b\n") && text(&head).contains("showing the first 4 bytes"), "{}", text(&head));

    let down = call("download_file", json!({"path": "logo.png"})).await;
    let blob = down.content.iter().find_map(|c| match c {
        ContentBlock::Resource(r) => match &r.resource {
            ResourceContents::BlobResourceContents { blob, .. } => Some(blob.clone()),
            _ => None,
        },
        _ => None,
    });
    assert_eq!(
        blob.map(|b| base64::engine::general_purpose::STANDARD.decode(b).unwrap()),
        Some(b"\x89PNG\r\n\x1a\n-binary".to_vec())
    );

    let sent = call("send_file_to_user", json!({"path": "data/in.csv", "description": "input"})).await;
    assert!(text(&sent).contains("will be offered to the user"), "{}", text(&sent));
    assert!(sent.content.iter().any(|c| matches!(c, ContentBlock::Resource(r) if matches!(&r.resource, ResourceContents::TextResourceContents { text, .. } if text == "a,b\n1,2\n"))));

    let missing = call("download_file", json!({"path": "nope.txt"})).await;
    assert_eq!(missing.is_error, Some(true));

    let reset = call("reset_session", json!({})).await;
    assert!(text(&reset).contains("reset"));
    let after = call("list_files", json!({})).await;
    assert_eq!(text(&after), "[]", "the reset session has no files");

    client.cancel().await.unwrap();
    emu.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn streamable_http_gives_each_client_its_own_session() {
    use rmcp::transport::StreamableHttpClientTransport;
    let Some(emu) = emulator().await else { return };
    let port = std::net::TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap().port();
    let mut server = tokio::process::Command::new(env!("CARGO_BIN_EXE_dynamic-sessions-mcp"))
        .args(["--transport", "http", "--bind", &format!("127.0.0.1:{port}"), "--endpoint", &emu.url()])
        .env("DYNAMIC_SESSIONS_TOKEN", emu.token())
        .kill_on_drop(true)
        .spawn()
        .unwrap();
    let url = format!("http://127.0.0.1:{port}/mcp");
    for _ in 0..100 {
        if tokio::net::TcpStream::connect(("127.0.0.1", port)).await.is_ok() {
            break;
        }
        tokio::time::sleep(std::time::Duration::from_millis(50)).await;
    }
    let a = ().serve(StreamableHttpClientTransport::from_uri(url.clone())).await.unwrap();
    let b = ().serve(StreamableHttpClientTransport::from_uri(url)).await.unwrap();
    assert_eq!(a.list_all_tools().await.unwrap().len(), 7);
    let upload =
        CallToolRequestParams::new("upload_file").with_arguments(args(json!({"path": "mine.txt", "content": "a's"})));
    assert_ne!(a.call_tool(upload).await.unwrap().is_error, Some(true));
    let run = CallToolRequestParams::new("run_python")
        .with_arguments(args(json!({"code": "import os\nos.listdir('/mnt/data')"})));
    let seen_by_a: Value = a.call_tool(run.clone()).await.unwrap().structured_content.unwrap();
    let seen_by_b: Value = b.call_tool(run).await.unwrap().structured_content.unwrap();
    assert_eq!(seen_by_a["result"], "['mine.txt']");
    assert_eq!(seen_by_b["result"], "[]", "the second connection has its own session");

    // A web page cannot reach it: DNS rebinding (a foreign Host) and cross-site requests are refused.
    let initialize = json!({"jsonrpc": "2.0", "id": 1, "method": "initialize", "params": {
        "protocolVersion": "2025-06-18", "capabilities": {}, "clientInfo": {"name": "page", "version": "1"}}});
    let http = reqwest::Client::new();
    let post = |extra: &[(&'static str, String)]| {
        let mut request = http
            .post(format!("http://127.0.0.1:{port}/mcp"))
            .header("accept", "application/json, text/event-stream")
            .json(&initialize);
        for (name, value) in extra {
            request = request.header(*name, value);
        }
        request.send()
    };
    for extra in [
        vec![("host", format!("attacker.example:{port}"))],
        vec![("origin", "http://evil.example".to_owned())],
        vec![("sec-fetch-site", "cross-site".to_owned())],
    ] {
        let answer = post(&extra).await.unwrap();
        assert_eq!(answer.status(), reqwest::StatusCode::FORBIDDEN, "{extra:?}");
    }
    assert!(post(&[]).await.unwrap().status().is_success(), "a program's request still works");

    // Closing an MCP session deletes its pool session (the page's `initialize` above made none: no tool ran).
    let pool = common::client(&emu);
    let live = || async { pool.list_sessions().await.unwrap().len() };
    assert_eq!(live().await, 2, "a's and b's sessions");
    let _ = a.cancel().await;
    let mut left = live().await;
    for _ in 0..100 {
        if left == 1 {
            break;
        }
        tokio::time::sleep(std::time::Duration::from_millis(50)).await;
        left = live().await;
    }
    assert_eq!(left, 1, "a's session is deleted when a closes its MCP session");
    let _ = b.cancel().await;
    let _ = server.kill().await;
    emu.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn run_shell_is_offered_only_with_the_flag() {
    let Some(emu) = emulator().await else { return };
    let command = tokio::process::Command::new(env!("CARGO_BIN_EXE_dynamic-sessions-mcp")).configure(|c| {
        c.args(["--shell", "--endpoint"]).arg(emu.url()).env("DYNAMIC_SESSIONS_TOKEN", emu.token());
    });
    let client = ().serve(TokioChildProcess::new(command).unwrap()).await.unwrap();
    let names: Vec<String> = client.list_all_tools().await.unwrap().into_iter().map(|t| t.name.to_string()).collect();
    assert!(names.iter().any(|n| n == "run_shell"), "{names:?}");
    let python = CallToolRequestParams::new("run_python")
        .with_arguments(args(json!({"code": "open('/mnt/data/made.txt', 'w').write('x')"})));
    client.call_tool(python).await.unwrap();
    let shell = CallToolRequestParams::new("run_shell")
        .with_arguments(args(json!({"command": "ls /mnt/data; read X; echo got:$X; exit 2", "stdin": "in"})));
    let result = client.call_tool(shell).await.unwrap();
    assert_eq!(result.is_error, Some(true), "a non-zero exit is reported as an error result");
    assert!(text(&result).starts_with("The command failed with exit code 2."), "{}", text(&result));
    let report: Value = result.structured_content.clone().unwrap();
    assert_eq!(report["exit_code"], 2);
    assert_eq!(report["stdout"], "made.txt\ngot:in\n", "{report}");
    let _ = client.cancel().await;
    emu.stop().await;
}

//! The tools follow the pool: `run_javascript` in a NodeLTS pool, `run_shell` as the main tool of a Shell
//! pool, read from the pool's metadata, for the interpreter, a guided turn and the MCP server.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

mod common;

use dynamic_sessions::{Auth, SessionId, SessionPoolClient};
use dynamic_sessions_agent_tools::turn::StepOutcome;
use dynamic_sessions_agent_tools::{CodeInterpreter, InterpreterOptions, PoolKind, pool_kind, tool_names};
use dynamic_sessions_emulator::config::{ContainerType, PoolSpec};
use dynamic_sessions_emulator::testing::TestEmulator;
use serde_json::{Value, json};

async fn emulator() -> Option<TestEmulator> {
    let pools = vec![
        PoolSpec { name: "js".into(), container_type: ContainerType::NodeLts },
        PoolSpec { name: "sh".into(), container_type: ContainerType::Shell },
    ];
    TestEmulator::start(|c| c.pools = pools).await.unwrap_or_else(|e| panic!("{e}"))
}

fn pool_url(emu: &TestEmulator, name: &str) -> String {
    format!("{}/subscriptions/s/resourceGroups/g/sessionPools/{name}", emu.url())
}

fn client(emu: &TestEmulator, pool: &str) -> SessionPoolClient {
    SessionPoolClient::new(pool_url(emu, pool), Auth::bearer(emu.token())).unwrap()
}

/// An interpreter on a new session of `pool`, its kind read from the pool.
async fn interpreter(emu: &TestEmulator, pool: &str) -> CodeInterpreter {
    let client = client(emu, pool);
    let options = InterpreterOptions { pool: pool_kind(&client).await, ..InterpreterOptions::default() };
    CodeInterpreter::with_options(client.session(SessionId::random()), options)
}

fn args(value: Value) -> serde_json::Map<String, Value> {
    value.as_object().cloned().unwrap()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn each_pool_gets_its_own_code_tool() {
    let Some(emu) = emulator().await else { return };
    let files = ["list_files", "read_file", "send_file_to_user", "reset_session"];
    for (pool, kind, main) in [
        ("default", PoolKind::Python, "run_python"),
        ("js", PoolKind::JavaScript, "run_javascript"),
        ("sh", PoolKind::Shell, "run_shell"),
    ] {
        let interpreter = interpreter(&emu, pool).await;
        assert_eq!(interpreter.options().pool, kind, "{pool}");
        let expected: Vec<&str> = std::iter::once(main).chain(files).collect();
        assert_eq!(tool_names(&interpreter), expected, "{pool}");
    }

    let js = interpreter(&emu, "js").await;
    let code = "const fs = require('fs'); fs.writeFileSync('/mnt/data/out.json', JSON.stringify({ n: 42 })); \
                console.log('wrote'); require('lodash').range(3)";
    let ran = js.invoke("run_javascript", &args(json!({"code": format!("```javascript\n{code}\n```")}))).await;
    assert_eq!(ran.outcome, StepOutcome::Ran, "{}", ran.model_text);
    let report = ran.report.unwrap();
    assert_eq!((report.stdout.as_str(), report.result.clone()), ("wrote\n", Some(json!([0, 1, 2]))));
    assert_eq!(report.files_changed.iter().map(|f| f.path.as_str()).collect::<Vec<_>>(), ["out.json"]);
    let failed = js.invoke("run_javascript", &args(json!({"code": "undefinedName + 1"}))).await;
    assert_eq!(failed.outcome, StepOutcome::Failed);
    assert!(failed.model_text.contains("ReferenceError"), "{}", failed.model_text);
    let python = js.invoke("run_python", &args(json!({"code": "1"}))).await;
    assert_eq!(python.outcome, StepOutcome::Rejected);
    assert!(
        python.model_text.contains("run_javascript"),
        "the model is told which tools there are: {}",
        python.model_text
    );
    assert!(js.run_python("1").await.is_err(), "a NodeLTS pool does not run Python");

    let shell = interpreter(&emu, "sh").await;
    let ran = shell
        .invoke("run_shell", &args(json!({"command": "echo a,b > /mnt/data/t.csv; wc -c < /mnt/data/t.csv"})))
        .await;
    assert_eq!(ran.outcome, StepOutcome::Ran, "{}", ran.model_text);
    assert_eq!(ran.report.unwrap().stdout, "4\n");
    let read = shell.invoke("read_file", &args(json!({"path": "t.csv"}))).await;
    assert!(read.model_text.contains("a,b"), "{}", read.model_text);
    emu.stop().await;
}

#[cfg(feature = "rig")]
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_guided_turn_in_a_javascript_pool_calls_run_javascript_with_a_javascript_preamble() {
    use dynamic_sessions_agent_tools::rig::{ChatAgent, History};
    use dynamic_sessions_agent_tools::turn::{ToolChoicePolicy, TurnEvent, TurnOptions};
    use dynamic_sessions_test_support::{Reply, ScriptedModel};

    let Some(emu) = emulator().await else { return };
    let server = ScriptedModel::start(vec![
        Reply::ToolCalls(vec![(
            "call_1",
            "run_javascript",
            json!({"code": "[1, 2, 3].map((x) => x * 2)"}).to_string(),
        )]),
        Reply::Text("Doubled: 2, 4, 6."),
    ])
    .await;
    let options = TurnOptions { tool_choice: ToolChoicePolicy::Guided, ..TurnOptions::default() };
    let agent = ChatAgent::new(&common::local_model(&server), interpreter(&emu, "js").await, options).unwrap();
    let events = common::run_turn(&agent, &mut History::new(), "Double 1, 2 and 3").await;
    let result = events.iter().find_map(|e| match e {
        TurnEvent::ToolResult(r) => Some(r.clone()),
        _ => None,
    });
    let report = result.and_then(|r| r.report).unwrap_or_else(|| panic!("{events:?}"));
    assert_eq!(report.result, Some(json!([2, 4, 6])));
    assert!(matches!(events.last(), Some(TurnEvent::Done { answer }) if answer == "Doubled: 2, 4, 6."));
    let first = &server.script.bodies()[0];
    // The first call must call a tool, and is offered run_javascript alone.
    assert_eq!(first["tool_choice"], "required", "{first}");
    let offered: Vec<&str> =
        first["tools"].as_array().unwrap().iter().filter_map(|t| t["function"]["name"].as_str()).collect();
    assert_eq!(offered, ["run_javascript"]);
    let system = first["messages"][0]["content"].to_string();
    assert!(system.contains("JavaScript") && system.contains("run_javascript"), "{system}");
    emu.stop().await;
}

#[cfg(feature = "mcp")]
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_mcp_server_offers_the_pools_tool() {
    use rmcp::ServiceExt;
    use rmcp::model::CallToolRequestParams;
    use rmcp::transport::{ConfigureCommandExt, TokioChildProcess};

    let Some(emu) = emulator().await else { return };
    for (pool, main, code) in
        [("js", "run_javascript", json!({"code": "6 * 7"})), ("sh", "run_shell", json!({"command": "echo $((6 * 7))"}))]
    {
        let command = tokio::process::Command::new(env!("CARGO_BIN_EXE_dynamic-sessions-mcp")).configure(|c| {
            c.arg("--endpoint").arg(pool_url(&emu, pool)).env("DYNAMIC_SESSIONS_TOKEN", emu.token());
        });
        let client = ().serve(TokioChildProcess::new(command).unwrap()).await.unwrap();
        let names: Vec<String> =
            client.list_all_tools().await.unwrap().into_iter().map(|t| t.name.to_string()).collect();
        assert!(names.iter().any(|n| n == main) && !names.iter().any(|n| n == "run_python"), "{pool}: {names:?}");
        let info = client.peer_info().and_then(|i| i.instructions.clone()).unwrap_or_default();
        assert!(info.contains(main), "{pool}: {info}");
        let result = client.call_tool(CallToolRequestParams::new(main).with_arguments(args(code))).await.unwrap();
        let report = result.structured_content.clone().unwrap();
        let shown = if pool == "js" { report["result"].clone() } else { report["stdout"].clone() };
        assert!(shown == json!(42) || shown == json!("42\n"), "{pool}: {report}");
        let _ = client.cancel().await;
    }
    emu.stop().await;
}

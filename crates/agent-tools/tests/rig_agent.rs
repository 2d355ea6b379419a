//! A real rig agent, driven by a scripted OpenAI-compatible server, running its tools against a real emulator.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

mod common;

use common::{call, emulator, interpreter};
use dynamic_sessions_agent_tools::rig::{ModelConfig, agent_builder};
use dynamic_sessions_agent_tools::{Artifact, CodeInterpreter};
use dynamic_sessions_test_support::{Reply, ScriptedModel, image_urls, tool_messages};
use futures_util::StreamExt;
use rig_agent::agent::MultiTurnStreamItem;
use rig_core::streaming::{Item, StreamEvent};
use serde_json::json;

async fn model_server(replies: Vec<Reply>) -> ScriptedModel {
    ScriptedModel::start(replies).await
}

fn model(server: &ScriptedModel) -> ModelConfig {
    ModelConfig::OpenAi { api_key: Some("sk-test".into()), model: "gpt-4o".into(), base_url: Some(server.base_url()) }
}

async fn run_agent(server: &ScriptedModel, interpreter: &CodeInterpreter, prompt: &str) -> String {
    let agent = agent_builder(model(server).completion_model().unwrap(), interpreter).build();
    agent.prompt(prompt).await.unwrap().output()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn tool_results_reach_the_model_honestly() {
    let Some(emu) = emulator().await else { return };
    let interpreter = interpreter(&emu);
    let big = "print('x' * 20000)\nprint('END')";
    let server = model_server(vec![
        Reply::ToolCalls(vec![(
            "call_1",
            "run_python",
            call("```python\nvalue = 6 * 7\nprint('hello from python')\nvalue\n```"),
        )]),
        Reply::ToolCalls(vec![("call_2", "run_python", call("1 / 0"))]),
        Reply::ToolCalls(vec![("call_3", "run_python", call(big))]),
        Reply::Text("Done: the value is 42."),
    ])
    .await;
    let answer = run_agent(&server, &interpreter, "Compute 6*7 in Python.").await;
    assert_eq!(answer, "Done: the value is 42.");
    let bodies = server.script.bodies();
    assert_eq!(bodies.len(), 4);
    let tools = bodies[0]["tools"].as_array().unwrap();
    let names: Vec<&str> = tools.iter().map(|t| t["function"]["name"].as_str().unwrap()).collect();
    assert_eq!(names.len(), 5, "{names:?}");
    for name in ["run_python", "list_files", "read_file", "send_file_to_user", "reset_session"] {
        assert!(names.contains(&name), "{name} not advertised: {names:?}");
    }

    // The model reads plain sentences ending with what to do next (small models answer from them).
    let first = &tool_messages(&bodies[1])[0];
    assert_eq!(
        first,
        "The code ran successfully. It printed:\nhello from python\nThe value of its last expression is:\n42\nNow \
         answer the user's question in plain words, quoting values exactly as printed (do not call the tool again \
         unless something is missing)."
    );

    let second = &tool_messages(&bodies[2])[1];
    assert!(second.starts_with("The code failed.\nThe error:\n"), "a failure is a failure: {second}");
    assert!(second.contains("ZeroDivisionError") && second.ends_with("tell the user what went wrong."), "{second}");

    let third = &tool_messages(&bodies[3])[2];
    assert!(third.len() < 9000, "bounded: {}", third.len());
    assert!(third.contains("END\n") || third.contains("END\nNote"), "the end kept: {third}");
    assert!(third.contains("Note: stdout was truncated"), "{third}");
    emu.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_chart_reaches_the_model_as_an_image_and_the_app_as_an_artifact() {
    let Some(emu) = emulator().await else { return };
    let interpreter = interpreter(&emu);
    let chart = "import matplotlib.pyplot as plt\nplt.plot([1, 4, 9])\nplt.savefig('/mnt/data/chart.png')\nplt.show()";
    let server = model_server(vec![
        Reply::ToolCalls(vec![("call_1", "run_python", call(chart))]),
        Reply::ToolCalls(vec![(
            "call_2",
            "send_file_to_user",
            json!({"path": "chart.png", "description": "the chart"}).to_string(),
        )]),
        Reply::Text("Here is your chart."),
    ])
    .await;
    let answer = run_agent(&server, &interpreter, "Plot squares.").await;
    assert_eq!(answer, "Here is your chart.");
    let bodies = server.script.bodies();
    assert!(!image_urls(&bodies[1]).is_empty(), "the chart is sent to the model as an image part: {}", bodies[1]);
    // The tool message is the report, then rig's note that the image follows in a user message.
    let message = &tool_messages(&bodies[1])[0];
    assert!(message.contains("It drew 1 image, attached"), "{message}");
    assert!(message.contains("New file: /mnt/data/chart.png"), "{message}");
    assert!(tool_messages(&bodies[2])[1].contains("will be offered to the user"), "{:?}", tool_messages(&bodies[2]));
    let artifacts = interpreter.take_artifacts();
    assert!(
        artifacts
            .iter()
            .any(|a| matches!(a, Artifact::Image { format, data } if format == "png" && data.starts_with(b"\x89PNG")))
    );
    assert!(artifacts.iter().any(
        |a| matches!(a, Artifact::File { path, description: Some(d), .. } if path == "chart.png" && d == "the chart")
    ));
    emu.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn malformed_arguments_are_reported_and_the_model_recovers() {
    let Some(emu) = emulator().await else { return };
    let interpreter = interpreter(&emu);
    let server = model_server(vec![
        Reply::ToolCalls(vec![("call_1", "run_python", r#"{"source": "print(1)"}"#.to_owned())]),
        Reply::ToolCalls(vec![("call_2", "run_python", "{not json".to_owned())]),
        Reply::ToolCalls(vec![("call_3", "read_file", json!({"path": "missing.txt"}).to_string())]),
        Reply::ToolCalls(vec![("call_4", "run_python", call("print('recovered')"))]),
        Reply::Text("Recovered."),
    ])
    .await;
    let answer = run_agent(&server, &interpreter, "Print something.").await;
    assert_eq!(answer, "Recovered.");
    let bodies = server.script.bodies();
    let results = tool_messages(&bodies[4]);
    assert!(results[0].contains("code"), "the model is told what is wrong: {}", results[0]);
    assert!(results[1].contains("JSON") && results[1].contains("again"), "{}", results[1]);
    assert!(
        results[2].contains("missing.txt") || results[2].contains("not found") || results[2].contains("does not exist"),
        "{}",
        results[2]
    );
    assert!(results[3].contains("recovered"), "{}", results[3]);
    emu.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn streaming_runs_tools_and_streams_the_answer() {
    let Some(emu) = emulator().await else { return };
    let interpreter = interpreter(&emu);
    let server = model_server(vec![
        Reply::ToolCalls(vec![("call_1", "run_python", call("print(sum(range(10)))"))]),
        Reply::Text("The sum is 45."),
    ])
    .await;
    let agent = agent_builder(model(&server).completion_model().unwrap(), &interpreter).build();
    let mut stream = agent.prompt("Sum 0..9").stream();
    let (mut tool_results, mut text, mut final_text) = (Vec::new(), String::new(), None);
    while let Some(item) = stream.next().await {
        match item.unwrap() {
            MultiTurnStreamItem::ToolResult { tool_result } => tool_results.push(tool_result),
            MultiTurnStreamItem::FinalResponse(response) => final_text = Some(response.output()),
            MultiTurnStreamItem::StreamAssistantItem(Item::Event(StreamEvent::Text { text: delta, .. })) => {
                text.push_str(&delta);
            }
            _ => {}
        }
    }
    assert_eq!(final_text.as_deref(), Some("The sum is 45."));
    assert_eq!(text, "The sum is 45.", "the answer arrives as text deltas, in order, with nothing else mixed in");
    assert_eq!(tool_results.len(), 1);
    let rendered = format!("{:?}", tool_results[0]);
    assert!(rendered.contains("45"), "{rendered}");
    let bodies = server.script.bodies();
    assert_eq!(bodies[0]["stream"], true);
    assert!(tool_messages(&bodies[1])[0].starts_with("The code ran successfully. It printed:\n45\n"));
    emu.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn streaming_reports_failures_images_and_bad_arguments_too() {
    let Some(emu) = emulator().await else { return };
    let interpreter = interpreter(&emu);
    let server = model_server(vec![
        Reply::ToolCalls(vec![("call_1", "run_python", r#"{"cod": 1}"#.to_owned())]),
        Reply::ToolCalls(vec![("call_2", "run_python", call("raise ValueError('bad input')"))]),
        Reply::ToolCalls(vec![(
            "call_3",
            "run_python",
            call("import matplotlib.pyplot as plt\nplt.bar([1, 2], [3, 4])"),
        )]),
        Reply::Text("Handled."),
    ])
    .await;
    let agent = agent_builder(model(&server).completion_model().unwrap(), &interpreter).build();
    let mut stream = agent.prompt("Try things").stream();
    let mut results = Vec::new();
    let mut final_text = None;
    while let Some(item) = stream.next().await {
        match item.unwrap() {
            MultiTurnStreamItem::ToolResult { tool_result } => results.push(tool_result),
            MultiTurnStreamItem::FinalResponse(response) => final_text = Some(response.output()),
            _ => {}
        }
    }
    assert_eq!(final_text.as_deref(), Some("Handled."));
    assert_eq!(results.len(), 3);
    assert!(results[0].is_error, "malformed arguments are an error result the model sees");
    let bodies = server.script.bodies();
    assert!(bodies.iter().all(|b| b["stream"] == true));
    let messages = tool_messages(&bodies[3]);
    assert!(messages[0].contains("code"), "{}", messages[0]);
    assert!(
        messages[1].starts_with("The code failed.") && messages[1].contains("ValueError: bad input"),
        "{}",
        messages[1]
    );
    assert!(!image_urls(&bodies[3]).is_empty(), "the chart reaches the model as an image part when streaming too");
    emu.stop().await;
}

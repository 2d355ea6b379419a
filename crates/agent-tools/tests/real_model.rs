//! The MCP server with a real model: Qwen2.5-Coder-0.5B-Instruct served by llama.cpp on loopback
//! (installed by `.ci/run`). A minimal MCP host: the server's tools go to the model as OpenAI functions,
//! the model's call goes to the server, its result back to the model. "What is 2**100? Use Python." must
//! make a real `run_python` call whose result is in the tool result and the answer.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

mod common;

use common::emulator;
use dynamic_sessions_test_support::LocalModel;
use rmcp::ServiceExt;
use rmcp::model::{CallToolRequestParams, ContentBlock};
use rmcp::transport::{ConfigureCommandExt, TokioChildProcess};
use serde_json::{Value, json};

const ANSWER: &str = "1267650600228229401496703205376";

async fn complete(base_url: &str, body: Value) -> Value {
    let response =
        reqwest::Client::new().post(format!("{base_url}/chat/completions")).json(&body).send().await.unwrap();
    assert!(response.status().is_success(), "{}", response.text().await.unwrap_or_default());
    response.json().await.unwrap()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_real_model_runs_python_through_the_mcp_server() {
    let Some(model) = LocalModel::start().await.unwrap_or_else(|e| panic!("{e}")) else { return };
    let Some(emu) = emulator().await else { return };
    let command = tokio::process::Command::new(env!("CARGO_BIN_EXE_dynamic-sessions-mcp")).configure(|c| {
        c.arg("--endpoint").arg(emu.url()).env("DYNAMIC_SESSIONS_TOKEN", emu.token());
    });
    let mcp = ().serve(TokioChildProcess::new(command).unwrap()).await.unwrap();
    let tools: Vec<Value> = mcp
        .list_all_tools()
        .await
        .unwrap()
        .into_iter()
        .filter(|t| t.name == "run_python")
        .map(|t| {
            json!({"type": "function", "function": {
                "name": t.name, "description": t.description, "parameters": Value::Object((*t.input_schema).clone())}})
        })
        .collect();
    assert_eq!(tools.len(), 1);
    let mut messages = vec![json!({"role": "user", "content": "What is 2**100? Use Python."})];
    // The first call must use the tool (the agent's guided policy for small local models).
    let first = complete(
        &model.base_url,
        json!({"model": "qwen", "messages": messages, "tools": tools, "tool_choice": "required", "temperature": 0, "max_tokens": 512}),
    )
    .await;
    let message = first["choices"][0]["message"].clone();
    let call = message["tool_calls"][0].clone();
    assert_eq!(call["function"]["name"], "run_python", "a real call: {message}");
    let arguments: Value = serde_json::from_str(call["function"]["arguments"].as_str().unwrap()).unwrap();
    let result = mcp
        .call_tool(CallToolRequestParams::new("run_python").with_arguments(arguments.as_object().cloned().unwrap()))
        .await
        .unwrap();
    assert_ne!(result.is_error, Some(true), "{result:?}");
    let text: String = result
        .content
        .iter()
        .filter_map(|c| match c {
            ContentBlock::Text(t) => Some(t.text.clone()),
            _ => None,
        })
        .collect();
    assert!(text.contains(ANSWER), "the tool result has the value: {text}");
    assert!(result.structured_content.unwrap().to_string().contains(ANSWER));
    messages.push(json!({"role": "assistant", "content": "", "tool_calls": [call]}));
    messages.push(json!({"role": "tool", "tool_call_id": call["id"], "content": text}));
    // The answer: the tool result in the conversation, no tool definitions (small models then answer in
    // words instead of repeating the call).
    let second =
        complete(&model.base_url, json!({"model": "qwen", "messages": messages, "temperature": 0, "max_tokens": 256}))
            .await;
    let answer = second["choices"][0]["message"]["content"].as_str().unwrap_or_default().replace(',', "");
    assert!(answer.contains(ANSWER), "the answer has the result: {answer}");
    let _ = mcp.cancel().await;
    emu.stop().await;
}

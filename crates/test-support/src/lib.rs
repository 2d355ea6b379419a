//! Test helpers shared by the workspace: a scripted OpenAI-compatible chat-completions server that answers
//! each request with the next reply of a script (as JSON, or as an SSE stream when the request asks for one)
//! and records every request body for assertions; and [`LocalModel`], a real small model on loopback.

mod local_model;

pub use local_model::LocalModel;

use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};

use serde_json::{Value, json};
use wiremock::matchers::{method, path};
use wiremock::{Mock, MockServer, Request, Respond, ResponseTemplate};

/// One scripted model reply.
#[derive(Debug, Clone)]
pub enum Reply {
    /// Calls tools: (call id, tool name, raw JSON arguments string).
    ToolCalls(Vec<(&'static str, &'static str, String)>),
    /// Answers with text.
    Text(&'static str),
    /// Fails with this HTTP status and JSON body (as a server does, e.g. llama.cpp when the context is full).
    Error(u16, &'static str),
    /// Answers with text after a delay (a slow model).
    SlowText(std::time::Duration, &'static str),
    /// Writes some text, then calls tools, in one reply (a model that says what it is about to do).
    TextThenToolCalls(&'static str, Vec<(&'static str, &'static str, String)>),
}

/// Replies with the script in order, as JSON or as an SSE stream when the request asks for one.
#[derive(Debug)]
pub struct Script {
    replies: Vec<Reply>,
    next: AtomicUsize,
    bodies: Mutex<Vec<Value>>,
}

impl Script {
    /// A script of replies, answered in order.
    pub fn new(replies: Vec<Reply>) -> Self {
        Script { replies, next: AtomicUsize::new(0), bodies: Mutex::new(Vec::new()) }
    }

    /// The request bodies received so far.
    pub fn bodies(&self) -> Vec<Value> {
        self.bodies.lock().map(|b| b.clone()).unwrap_or_default()
    }
}

/// A running scripted model at `{uri}/v1/chat/completions`.
#[derive(Debug)]
pub struct ScriptedModel {
    /// The mock server.
    pub server: MockServer,
    /// The script, with the recorded request bodies.
    pub script: Arc<Script>,
}

impl ScriptedModel {
    /// Starts a server answering `POST /v1/chat/completions` with `replies`.
    pub async fn start(replies: Vec<Reply>) -> ScriptedModel {
        Self::start_at("/v1/chat/completions", replies).await
    }

    /// Starts a server answering `POST {route}` with `replies`.
    pub async fn start_at(route: &str, replies: Vec<Reply>) -> ScriptedModel {
        let server = MockServer::start().await;
        let script = Arc::new(Script::new(replies));
        Mock::given(method("POST")).and(path(route)).respond_with(Shared(script.clone())).mount(&server).await;
        ScriptedModel { server, script }
    }

    /// The OpenAI base URL (`{uri}/v1`).
    pub fn base_url(&self) -> String {
        format!("{}/v1", self.server.uri())
    }
}

struct Shared(Arc<Script>);

impl Respond for Shared {
    fn respond(&self, request: &Request) -> ResponseTemplate {
        self.0.respond(request)
    }
}

fn completion(reply: &Reply) -> Value {
    let (message, finish) = match reply {
        Reply::ToolCalls(calls) => (
            json!({"role": "assistant", "content": null, "tool_calls": calls.iter().map(|(id, name, args)| json!({
                "id": id, "type": "function", "function": {"name": name, "arguments": args}
            })).collect::<Vec<_>>()}),
            "tool_calls",
        ),
        Reply::TextThenToolCalls(text, calls) => (
            json!({"role": "assistant", "content": text, "tool_calls": calls.iter().map(|(id, name, args)| json!({
                "id": id, "type": "function", "function": {"name": name, "arguments": args}
            })).collect::<Vec<_>>()}),
            "tool_calls",
        ),
        Reply::Text(text) | Reply::SlowText(_, text) => (json!({"role": "assistant", "content": text}), "stop"),
        Reply::Error(..) => (Value::Null, "stop"),
    };
    json!({
        "id": "chatcmpl-test", "object": "chat.completion", "created": 1_700_000_000, "model": "gpt-4o",
        "choices": [{"index": 0, "message": message, "finish_reason": finish}],
        "usage": {"prompt_tokens": 10, "completion_tokens": 5, "total_tokens": 15}
    })
}

fn chunk(delta: Value, finish: Option<&str>) -> String {
    let body = json!({
        "id": "chatcmpl-test", "object": "chat.completion.chunk", "created": 1_700_000_000, "model": "gpt-4o",
        "choices": [{"index": 0, "delta": delta, "finish_reason": finish}]
    });
    format!("data: {body}\n\n")
}

fn stream(reply: &Reply) -> String {
    let mut out = String::new();
    if let Reply::TextThenToolCalls(text, calls) = reply {
        out.push_str(&chunk(json!({"role": "assistant", "content": ""}), None));
        for word in text.split_inclusive(' ') {
            out.push_str(&chunk(json!({"content": word}), None));
        }
        let calls = Reply::ToolCalls(calls.clone());
        let rest = stream(&calls);
        out.push_str(&rest);
        return out;
    }
    match reply {
        Reply::ToolCalls(calls) => {
            for (i, (id, name, args)) in calls.iter().enumerate() {
                out.push_str(&chunk(
                    json!({"role": "assistant", "tool_calls": [{"index": i, "id": id, "type": "function",
                    "function": {"name": name, "arguments": ""}}]}),
                    None,
                ));
                // Arguments arrive in pieces, as real servers send them.
                let (a, b) = args.split_at(args.len() / 2);
                for part in [a, b] {
                    out.push_str(&chunk(json!({"tool_calls": [{"index": i, "function": {"arguments": part}}]}), None));
                }
            }
            out.push_str(&chunk(json!({}), Some("tool_calls")));
        }
        Reply::Error(..) | Reply::TextThenToolCalls(..) => {}
        Reply::Text(text) | Reply::SlowText(_, text) => {
            out.push_str(&chunk(json!({"role": "assistant", "content": ""}), None));
            for word in text.split_inclusive(' ') {
                out.push_str(&chunk(json!({"content": word}), None));
            }
            out.push_str(&chunk(json!({}), Some("stop")));
        }
    }
    out.push_str("data: [DONE]\n\n");
    out
}

impl Respond for Script {
    fn respond(&self, request: &Request) -> ResponseTemplate {
        let body: Value = serde_json::from_slice(&request.body).unwrap_or(Value::Null);
        let streaming = body["stream"].as_bool().unwrap_or(false);
        if let Ok(mut bodies) = self.bodies.lock() {
            bodies.push(body);
        }
        let n = self.next.fetch_add(1, Ordering::SeqCst);
        let Some(reply) = self.replies.get(n) else {
            return ResponseTemplate::new(500).set_body_string(format!("the script has no reply #{n}"));
        };
        let delay = match reply {
            Reply::Error(status, body) => {
                return ResponseTemplate::new(*status).set_body_raw(body.as_bytes().to_vec(), "application/json");
            }
            Reply::SlowText(delay, _) => *delay,
            _ => std::time::Duration::ZERO,
        };
        let response = if streaming {
            ResponseTemplate::new(200).set_body_raw(stream(reply), "text/event-stream")
        } else {
            ResponseTemplate::new(200).set_body_json(completion(reply))
        };
        response.set_delay(delay)
    }
}

/// The assistant messages of a request body that call tools: (tool name, arguments JSON text) of each call.
pub fn assistant_calls(body: &Value) -> Vec<(String, String)> {
    body["messages"]
        .as_array()
        .into_iter()
        .flatten()
        .filter(|m| m["role"] == "assistant")
        .filter_map(|m| m["tool_calls"].as_array())
        .flatten()
        .map(|c| {
            let arguments = match &c["function"]["arguments"] {
                Value::String(s) => s.clone(),
                other => other.to_string(),
            };
            (c["function"]["name"].as_str().unwrap_or_default().to_owned(), arguments)
        })
        .collect()
}

/// The tool messages (role `tool`) of a request body, with their text.
pub fn tool_messages(body: &Value) -> Vec<String> {
    messages_of(body, "tool")
}

/// The user messages of a request body, with their text (the text parts of multi-part content, joined).
pub fn user_messages(body: &Value) -> Vec<String> {
    messages_of(body, "user")
}

/// The messages of `role` in a request body, with their text: a string as it is, the text parts of
/// multi-part content joined, anything else as JSON.
fn messages_of(body: &Value, role: &str) -> Vec<String> {
    body["messages"]
        .as_array()
        .into_iter()
        .flatten()
        .filter(|m| m["role"] == role)
        .map(|m| match &m["content"] {
            Value::String(s) => s.clone(),
            Value::Array(parts) => parts.iter().filter_map(|p| p["text"].as_str()).collect(),
            other => other.to_string(),
        })
        .collect()
}

/// The image parts (`{"type":"image_url","image_url":{"url":"data:image/png;base64,..."}}`) of the request's
/// user messages.
pub fn image_urls(body: &Value) -> Vec<String> {
    body["messages"]
        .as_array()
        .into_iter()
        .flatten()
        .filter(|m| m["role"] == "user")
        .filter_map(|m| m["content"].as_array())
        .flatten()
        .filter(|part| part["type"] == "image_url")
        .filter_map(|part| part["image_url"]["url"].as_str())
        .filter(|url| url.starts_with("data:image/png;base64,iVBOR"))
        .map(str::to_owned)
        .collect()
}

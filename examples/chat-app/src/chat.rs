//! The chat (an agent turn streamed as server-sent events) and the code cell (Python run directly).

use std::convert::Infallible;
use std::sync::Arc;
use std::time::Duration;

use axum::Json;
use axum::extract::State;
use axum::response::sse::{Event, KeepAlive, Sse};
use base64::Engine as _;
use dynamic_sessions_agent_tools::rig::agent_builder;
use dynamic_sessions_agent_tools::{Artifact, CodeInterpreter};
use futures_util::{Stream, StreamExt};
use rig_agent::agent::MultiTurnStreamItem;
use rig_core::streaming::{Item, StreamEvent};
use serde::Deserialize;
use serde_json::{Value, json};
use tokio::sync::mpsc;

use crate::conversations::Conversation;
use crate::error::AppError;
use crate::identity::Visitor;
use crate::{AppState, render};

/// The longest message or cell accepted.
const MAX_INPUT_CHARS: usize = 50_000;

/// A chat message.
#[derive(Debug, Deserialize)]
pub struct ChatRequest {
    message: String,
}

/// A code cell.
#[derive(Debug, Deserialize)]
pub struct RunRequest {
    code: String,
}

fn check_input(text: &str, what: &str) -> Result<(), AppError> {
    if text.trim().is_empty() {
        return Err(AppError::bad_request(format!("The {what} is empty.")));
    }
    if text.chars().count() > MAX_INPUT_CHARS {
        return Err(AppError::bad_request(format!("The {what} is longer than {MAX_INPUT_CHARS} characters.")));
    }
    Ok(())
}

/// Images and handed-over files the interpreter collected, as page events.
fn artifact_events(conversation: &Conversation, interpreter: &CodeInterpreter) -> (Vec<String>, Vec<Value>) {
    let mut images = Vec::new();
    let mut files = Vec::new();
    for artifact in interpreter.take_artifacts() {
        match artifact {
            Artifact::Image { format, data } => {
                let mime =
                    if format.eq_ignore_ascii_case("svg") { "svg+xml".to_owned() } else { format.to_ascii_lowercase() };
                images.push(format!(
                    "data:image/{mime};base64,{}",
                    base64::engine::general_purpose::STANDARD.encode(data)
                ));
            }
            Artifact::File { path, size, description } => {
                conversation.add_artifact(path.clone());
                files.push(json!({"type": "artifact", "path": path, "size": size, "description": description}));
            }
            _ => {}
        }
    }
    (images, files)
}

/// `POST /api/chat`: runs one agent turn and streams it: text deltas, each tool call with its code, each tool
/// result with its output and images, files handed over, then the final answer as sanitised HTML.
pub async fn chat(
    State(state): State<AppState>,
    visitor: Visitor,
    Json(request): Json<ChatRequest>,
) -> Result<Sse<impl Stream<Item = Result<Event, Infallible>>>, AppError> {
    let model = state.model().ok_or_else(|| {
        AppError::new(
            axum::http::StatusCode::CONFLICT,
            "No language model is configured, so there is no chat. Use the code cell to run Python directly.",
        )
    })?;
    check_input(&request.message, "message")?;
    let completion =
        model.completion_model().map_err(|e| AppError::new(axum::http::StatusCode::BAD_GATEWAY, e.to_string()))?;
    let conversation = state.conversations().get(&visitor.id);
    let (tx, rx) = mpsc::channel::<Value>(256);
    tokio::spawn(run_turn(conversation, completion, request.message, tx));
    let stream = tokio_stream_from(rx).map(|value| Ok(Event::default().data(value.to_string())));
    Ok(Sse::new(stream).keep_alive(KeepAlive::new().interval(Duration::from_secs(15))))
}

fn tokio_stream_from(mut rx: mpsc::Receiver<Value>) -> impl Stream<Item = Value> {
    futures_util::stream::poll_fn(move |cx| rx.poll_recv(cx))
}

async fn run_turn(
    conversation: Arc<Conversation>,
    model: rig_core::DynModel<rig_core::operation::Completion>,
    message: String,
    tx: mpsc::Sender<Value>,
) {
    let mut chat = conversation.chat.lock().await;
    let interpreter = conversation.interpreter();
    let agent = agent_builder(model, &interpreter).build();
    let send = |value: Value| {
        let tx = tx.clone();
        async move {
            let _ = tx.send(value).await;
        }
    };
    chat.log.push(json!({"type": "user", "text": message}));
    let mut stream = agent.prompt(message.as_str()).history(chat.history.clone()).stream();
    let mut final_text = None;
    while let Some(item) = stream.next().await {
        match item {
            Ok(MultiTurnStreamItem::StreamAssistantItem(Item::Event(StreamEvent::Text { text, .. }))) => {
                send(json!({"type": "text", "delta": text})).await;
            }
            Ok(MultiTurnStreamItem::ToolCall { tool_call }) => {
                let args = &tool_call.function.arguments;
                let event = json!({
                    "type": "tool_call",
                    "id": serde_json::to_value(&tool_call.id).unwrap_or(Value::Null),
                    "name": tool_call.function.name.to_string(),
                    "code": args.get("code").and_then(Value::as_str),
                    "args": args,
                });
                chat.log.push(event.clone());
                send(event).await;
            }
            Ok(MultiTurnStreamItem::ToolResult { tool_result }) => {
                let text: String =
                    tool_result.content.iter().filter_map(|c| c.as_text()).collect::<Vec<_>>().join("\n");
                let report = serde_json::Deserializer::from_str(&text).into_iter::<Value>().next().and_then(Result::ok);
                let (images, files) = artifact_events(&conversation, &interpreter);
                let event = json!({
                    "type": "tool_result",
                    "id": serde_json::to_value(&tool_result.call).unwrap_or(Value::Null),
                    "name": tool_result.name.to_string(),
                    "is_error": tool_result.is_error,
                    "report": report,
                    "text": text,
                    "images": images,
                });
                chat.log.push(event.clone());
                send(event).await;
                for file in files {
                    chat.log.push(file.clone());
                    send(file).await;
                }
                send(json!({"type": "files"})).await;
            }
            Ok(MultiTurnStreamItem::FinalResponse(response)) => {
                final_text = Some(response.output());
                chat.history.extend(response.messages.iter().cloned());
            }
            Ok(_) => {}
            Err(e) => {
                tracing::warn!(error = %e, "agent turn failed");
                let event = json!({"type": "error", "message": format!("The model call failed: {e}")});
                chat.log.push(event.clone());
                send(event).await;
                return;
            }
        }
    }
    let html = render::markdown(final_text.as_deref().unwrap_or(""));
    let event = json!({"type": "done", "html": html});
    chat.log.push(json!({"type": "assistant", "html": html}));
    send(event).await;
}

/// `POST /api/run`: runs a code cell directly in the session (no model needed).
pub async fn run(
    State(state): State<AppState>,
    visitor: Visitor,
    Json(request): Json<RunRequest>,
) -> Result<Json<Value>, AppError> {
    check_input(&request.code, "code")?;
    let conversation = state.conversations().get(&visitor.id);
    let interpreter = conversation.interpreter();
    let outcome = match interpreter.run_python(&request.code).await {
        Ok(outcome) => outcome,
        Err(e) => return Err(AppError::bad_request(e.to_string())),
    };
    let (images, _) = artifact_events(&conversation, &interpreter);
    let report = serde_json::to_value(&outcome.report).unwrap_or(Value::Null);
    let call = json!({"type": "tool_call", "name": "run_python", "code": request.code, "cell": true});
    let result = json!({"type": "tool_result", "name": "run_python", "is_error": !outcome.execution.is_success(), "report": report, "images": images});
    let mut chat = conversation.chat.lock().await;
    chat.log.push(call);
    chat.log.push(result.clone());
    Ok(Json(result))
}

/// `GET /api/history`: what the page shows, for re-rendering after a reload.
pub async fn history(State(state): State<AppState>, visitor: Visitor) -> Json<Value> {
    let conversation = state.conversations().get(&visitor.id);
    let chat = conversation.chat.lock().await;
    Json(json!({"events": chat.log, "model": state.model().map(|m| m.describe())}))
}

/// `POST /api/session/new`: releases the session and starts over.
pub async fn new_session(State(state): State<AppState>, visitor: Visitor) -> Json<Value> {
    state.conversations().reset(&visitor.id).await;
    Json(json!({"ok": true}))
}

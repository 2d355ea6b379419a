//! The chat (an agent turn streamed as server-sent events) and the code cell (Python run directly).

use std::convert::Infallible;
use std::sync::Arc;
use std::time::Duration;

use axum::Json;
use axum::extract::State;
use axum::response::sse::{Event, KeepAlive, Sse};
use base64::Engine as _;
use dynamic_sessions_agent_tools::Artifact;
use dynamic_sessions_agent_tools::rig::ChatAgent;
use dynamic_sessions_agent_tools::turn::TurnEvent;
use futures_util::{Stream, StreamExt};
use serde::Deserialize;
use serde_json::{Value, json};
use tokio::sync::mpsc;

use crate::conversations::{ChatState, Conversation};
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

/// An image as a `data:` URL the page can show.
fn data_url(format: &str, data: &[u8]) -> String {
    let mime = if format.eq_ignore_ascii_case("svg") { "svg+xml".to_owned() } else { format.to_ascii_lowercase() };
    format!("data:image/{mime};base64,{}", base64::engine::general_purpose::STANDARD.encode(data))
}

/// Artifacts as page events: images as `data:` URLs (shown in their step), files handed over as `artifact`
/// events (remembered, so the file list marks them).
fn artifact_events(conversation: &Conversation, artifacts: Vec<Artifact>) -> (Vec<String>, Vec<Value>) {
    let mut images = Vec::new();
    let mut files = Vec::new();
    for artifact in artifacts {
        match artifact {
            Artifact::Image { format, data } => images.push(data_url(&format, &data)),
            Artifact::File { path, size, description } => {
                conversation.add_artifact(path.clone());
                files.push(json!({"type": "artifact", "path": path, "size": size, "description": description}));
            }
            _ => {}
        }
    }
    (images, files)
}

/// `POST /api/chat`: runs one agent turn and streams it as server-sent events, in order: text deltas, "writing
/// code" while a call's arguments stream, each tool call with its code, each result with what happened
/// (ran, failed, rejected), its report and images, files handed over, notices, then the answer as sanitised
/// HTML or a plain-language error. A closed page or `POST /api/chat/stop` ends the turn.
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
    let conversation = state.conversations().get(&visitor.id);
    let agent = ChatAgent::new(model, conversation.interpreter(), state.turn_options().clone())
        .map_err(|e| AppError::new(axum::http::StatusCode::BAD_GATEWAY, e.to_string()))?;
    let (tx, rx) = mpsc::channel::<Value>(256);
    tokio::spawn(run_turn(conversation, agent, request.message, tx));
    let stream = tokio_stream_from(rx).map(|value| Ok(Event::default().data(value.to_string())));
    Ok(Sse::new(stream).keep_alive(KeepAlive::new().interval(Duration::from_secs(15))))
}

fn tokio_stream_from(mut rx: mpsc::Receiver<Value>) -> impl Stream<Item = Value> {
    futures_util::stream::poll_fn(move |cx| rx.poll_recv(cx))
}

/// The page event for one turn event (and the log entries it leaves for a reload).
fn page_events(conversation: &Conversation, event: TurnEvent) -> Vec<Value> {
    match event {
        TurnEvent::Text(delta) => vec![json!({"type": "text", "delta": delta})],
        TurnEvent::TextWithdrawn => vec![json!({"type": "text_withdrawn"})],
        TurnEvent::ToolCallStarted { name } => vec![json!({"type": "writing_code", "name": name})],
        TurnEvent::ToolCall(call) => vec![json!({
            "type": "tool_call",
            "id": call.id,
            "name": call.name,
            "code": call.code(),
            "args": call.arguments,
            "as_text": call.written_as_text,
        })],
        TurnEvent::ToolResult(result) => {
            let (images, files) = artifact_events(conversation, result.artifacts);
            let mut events = vec![json!({
                "type": "tool_result",
                "id": result.id,
                "name": result.name,
                "outcome": result.outcome,
                "report": result.report,
                "text": result.text,
                "images": images,
            })];
            events.extend(files);
            events.push(json!({"type": "files"}));
            events
        }
        TurnEvent::Notice(message) => vec![json!({"type": "notice", "message": message}), json!({"type": "files"})],
        TurnEvent::Done { answer } => vec![json!({"type": "done", "html": render::markdown(&answer)})],
        TurnEvent::Failed(failure) => {
            vec![json!({"type": "error", "kind": failure.kind, "message": failure.message})]
        }
        _ => Vec::new(),
    }
}

/// Whether an event goes into the log a reload replays (text deltas do not: the answer does).
fn logged(event: &Value) -> Option<Value> {
    match event["type"].as_str()? {
        "text" | "text_withdrawn" | "writing_code" | "files" => None,
        "done" => Some(json!({"type": "assistant", "html": event["html"]})),
        _ => Some(event.clone()),
    }
}

async fn run_turn(conversation: Arc<Conversation>, agent: ChatAgent, message: String, tx: mpsc::Sender<Value>) {
    let mut chat = conversation.chat.lock().await;
    let mut stop = conversation.arm_stop();
    chat.log.push(json!({"type": "user", "text": message}));
    let ChatState { history, log } = &mut *chat;
    let mut turn = Box::pin(agent.turn(history, message));
    let ended = loop {
        let event = tokio::select! {
            event = turn.next() => event,
            Ok(()) = &mut stop => break Some("Stopped. The session keeps its variables and files."),
            () = tx.closed() => {
                // The page is gone: stop the turn (dropping it cancels the model call and the execution).
                tracing::info!("the page closed: its turn is stopped");
                break None;
            }
        };
        let Some(event) = event else { break None };
        for value in page_events(&conversation, event) {
            if let Some(entry) = logged(&value) {
                log.push(entry);
            }
            if tx.send(value).await.is_err() {
                break;
            }
        }
        if tx.is_closed() {
            break None;
        }
    };
    drop(turn);
    conversation.disarm_stop();
    if let Some(note) = ended {
        let event = json!({"type": "stopped", "message": note});
        log.push(event.clone());
        let _ = tx.send(event).await;
    }
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
    let _ = interpreter.take_artifacts();
    let images: Vec<String> =
        outcome.images.iter().filter_map(|i| i.decode().ok().map(|data| data_url(&i.format, &data))).collect();
    let report = serde_json::to_value(&outcome.report).unwrap_or(Value::Null);
    let call = json!({"type": "tool_call", "name": "run_python", "code": request.code, "cell": true});
    let outcome_word = if outcome.execution.is_success() { "ran" } else { "failed" };
    let result = json!({"type": "tool_result", "name": "run_python", "outcome": outcome_word, "report": report, "images": images});
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

/// `POST /api/chat/stop`: stops this browser's running turn (the model call ends, running code is
/// interrupted; the session keeps its state). Nothing happens when no turn runs.
pub async fn stop(State(state): State<AppState>, visitor: Visitor) -> Json<Value> {
    let stopped = state.conversations().get(&visitor.id).stop();
    Json(json!({"stopped": stopped}))
}

/// `POST /api/session/new`: releases the session and starts over.
pub async fn new_session(State(state): State<AppState>, visitor: Visitor) -> Json<Value> {
    state.conversations().reset(&visitor.id).await;
    Json(json!({"ok": true}))
}

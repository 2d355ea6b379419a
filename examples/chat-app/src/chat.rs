//! The chat (an agent turn streamed as server-sent events) and the code cell (code run directly, in the pool's
//! language).

use std::convert::Infallible;
use std::sync::Arc;
use std::time::Duration;

use axum::Json;
use axum::extract::State;
use axum::http::{HeaderValue, header};
use axum::response::sse::{Event, KeepAlive, Sse};
use axum::response::{IntoResponse, Response};
use dynamic_sessions_agent_tools::Tool;
use dynamic_sessions_agent_tools::rig::ChatAgent;
use futures_util::{Stream, StreamExt};
use serde::Deserialize;
use serde_json::{Value, json};
use tokio::sync::mpsc;

use crate::AppState;
use crate::conversations::{ChatState, Conversation};
use crate::error::AppError;
use crate::events::{PageEvent, data_url};
use crate::identity::Visitor;

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
            "No language model is configured, so there is no chat. Use the code cell to run code directly.",
        )
    })?;
    check_input(&request.message, "message")?;
    let conversation = state.conversations().get(&visitor.id);
    let agent = ChatAgent::new(model, conversation.interpreter(), state.turn_options().clone())
        .map_err(|e| AppError::new(axum::http::StatusCode::BAD_GATEWAY, e.to_string()))?;
    let (tx, rx) = mpsc::channel::<PageEvent>(256);
    tokio::spawn(run_turn(conversation, agent, request.message, tx));
    let stream =
        tokio_stream_from(rx).map(|event| Ok(Event::default().data(serde_json::to_string(&event).unwrap_or_default())));
    Ok(Sse::new(stream).keep_alive(KeepAlive::new().interval(Duration::from_secs(15))))
}

fn tokio_stream_from(mut rx: mpsc::Receiver<PageEvent>) -> impl Stream<Item = PageEvent> {
    futures_util::stream::poll_fn(move |cx| rx.poll_recv(cx))
}

async fn run_turn(conversation: Arc<Conversation>, agent: ChatAgent, message: String, tx: mpsc::Sender<PageEvent>) {
    let mut chat = conversation.chat.lock().await;
    let mut stop = conversation.arm_stop();
    chat.log.push(PageEvent::User { text: message.clone() });
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
        for page_event in PageEvent::of_turn(&conversation, event) {
            if let Some(entry) = page_event.logged() {
                log.push(entry);
            }
            if tx.send(page_event).await.is_err() {
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
        let event = PageEvent::Stopped { message: note.to_owned() };
        log.push(event.clone());
        let _ = tx.send(event).await;
    }
}

/// `POST /api/run`: runs a code cell directly in the session (no model needed), in the pool's language
/// (Python, JavaScript, or a shell command line in a Shell pool).
pub async fn run(
    State(state): State<AppState>,
    visitor: Visitor,
    Json(request): Json<RunRequest>,
) -> Result<Json<PageEvent>, AppError> {
    check_input(&request.code, "code")?;
    let conversation = state.conversations().get(&visitor.id);
    let interpreter = conversation.interpreter();
    let tool = Tool::main_for(state.pool());
    let field = if tool == Tool::RunShell { "command" } else { "code" };
    let arguments = serde_json::Map::from_iter([(field.to_owned(), Value::String(request.code.clone()))]);
    let call = tool.parse(&arguments).map_err(AppError::bad_request)?;
    let invocation = interpreter.invoke_call(&call).await.map_err(|e| AppError::bad_request(e.to_string()))?;
    let _ = interpreter.take_artifacts();
    let images: Vec<String> =
        invocation.images.iter().filter_map(|i| i.decode().ok().map(|data| data_url(&i.format, &data))).collect();
    let name = tool.name().to_owned();
    let call = PageEvent::ToolCall {
        id: None,
        name: name.clone(),
        code: Some(request.code),
        args: None,
        as_text: false,
        cell: true,
    };
    let result = PageEvent::ToolResult {
        id: None,
        name,
        outcome: invocation.outcome,
        report: invocation.report.as_ref().and_then(|r| serde_json::to_value(r).ok()),
        text: None,
        images,
        cell: true,
    };
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

/// `GET /api/conversation.ipynb`: the conversation as a Jupyter notebook, to download.
pub async fn export_notebook(State(state): State<AppState>, visitor: Visitor) -> Response {
    let conversation = state.conversations().get(&visitor.id);
    let notebook = crate::export::notebook(&conversation.chat.lock().await.log, state.pool());
    let body = serde_json::to_string_pretty(&notebook).unwrap_or_default();
    download(body, "application/x-ipynb+json", "conversation.ipynb")
}

/// `GET /api/conversation.md`: the conversation as Markdown, to download.
pub async fn export_markdown(State(state): State<AppState>, visitor: Visitor) -> Response {
    let conversation = state.conversations().get(&visitor.id);
    let text = crate::export::markdown(&conversation.chat.lock().await.log);
    download(text, "text/markdown; charset=utf-8", "conversation.md")
}

fn download(body: String, content_type: &'static str, name: &'static str) -> Response {
    let disposition = format!("attachment; filename=\"{name}\"");
    let mut response = ([(header::CONTENT_TYPE, content_type)], body).into_response();
    if let Ok(value) = HeaderValue::from_str(&disposition) {
        response.headers_mut().insert(header::CONTENT_DISPOSITION, value);
    }
    response
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

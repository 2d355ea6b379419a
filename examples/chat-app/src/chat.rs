//! The chat (an agent turn streamed as server-sent events) and the code cell (code run directly, in the pool's
//! language), on the conversation the request names.

use std::convert::Infallible;
use std::time::Duration;

use axum::Json;
use axum::extract::State;
use axum::http::{HeaderValue, StatusCode, header};
use axum::response::sse::{Event, KeepAlive, Sse};
use axum::response::{IntoResponse, Response};
use dynamic_sessions_agent_tools::rig::{ChatAgent, History};
use dynamic_sessions_agent_tools::{SessionCheck, Tool};
use futures_util::{Stream, StreamExt};
use serde::Deserialize;
use serde_json::{Value, json};
use tokio::sync::mpsc;

use crate::AppState;
use crate::current::Current;
use crate::error::AppError;
use crate::events::{PageEvent, data_url};
use crate::identity::Visitor;
use crate::store::{Store, TurnLease};
use crate::turn_runner::{TurnContext, run_turn};

/// What a code cell's conversation is told when its session expired since it was last used.
const EXPIRED: &str = "This conversation's session expired after a while without use: its variables and files are \
                       gone. It goes on in a new session.";

/// The longest message or cell accepted.
pub const MAX_INPUT_CHARS: usize = 50_000;

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
/// HTML or a plain-language error. Every step is stored as it is sent. A closed page or
/// `POST /api/chat/stop` (on any replica) ends the turn; one turn runs at a time per conversation.
pub async fn chat(
    State(state): State<AppState>,
    current: Current,
    Json(request): Json<ChatRequest>,
) -> Result<Sse<impl Stream<Item = Result<Event, Infallible>>>, AppError> {
    let model = state.model().ok_or_else(|| {
        AppError::new(
            StatusCode::CONFLICT,
            "No language model is configured, so there is no chat. Use the code cell to run code directly.",
        )
    })?;
    check_input(&request.message, "message")?;
    let store = state.conversations().store().clone();
    let lease = store.begin_turn(&current.owner, current.id()).await?.ok_or_else(|| {
        AppError::new(
            StatusCode::CONFLICT,
            "An answer is still being written in this conversation. Wait for it, or press Stop.",
        )
    })?;
    let guard = LeaseGuard { store: store.clone(), lease, armed: true };
    let prepared = async {
        let stored = store.history(&current.owner, current.id()).await?;
        let history: History = serde_json::from_str(&stored).unwrap_or_else(|e| {
            tracing::warn!(error = %e, "the stored model history cannot be read; the model starts afresh");
            History::new()
        });
        current.live.remember_session(current.row.session_created.as_deref());
        store.touch_with_message(&current.owner, current.id(), &request.message).await?;
        let agent = ChatAgent::new(model, current.live.interpreter().clone(), state.turn_options().clone())
            .map_err(|e| AppError::new(StatusCode::BAD_GATEWAY, e.to_string()))?;
        Ok::<_, AppError>((history, agent))
    }
    .await;
    let (history, agent) = prepared?;
    let lease = guard.disarm();
    let (tx, rx) = mpsc::channel::<PageEvent>(256);
    let context = TurnContext::new(store, current.owner, current.live, lease, model.describe());
    tokio::spawn(run_turn(context, agent, history, request.message, tx));
    let stream =
        tokio_stream_from(rx).map(|event| Ok(Event::default().data(serde_json::to_string(&event).unwrap_or_default())));
    Ok(Sse::new(stream).keep_alive(KeepAlive::new().interval(Duration::from_secs(15))))
}

/// Gives a turn's lease back when the request ends before its turn starts (an error, or the page went away
/// while it was prepared), instead of leaving it to expire and be marked interrupted.
struct LeaseGuard {
    store: Store,
    lease: TurnLease,
    armed: bool,
}

impl LeaseGuard {
    /// The turn starts: it gives the lease back itself.
    fn disarm(mut self) -> TurnLease {
        self.armed = false;
        self.lease.clone()
    }
}

impl Drop for LeaseGuard {
    fn drop(&mut self) {
        if !self.armed {
            return;
        }
        let (store, lease) = (self.store.clone(), self.lease.clone());
        if let Ok(runtime) = tokio::runtime::Handle::try_current() {
            runtime.spawn(async move {
                if let Err(e) = store.end_turn(&lease).await {
                    tracing::warn!(error = %e, "a lease could not be given back; it expires by itself");
                }
            });
        }
    }
}

fn tokio_stream_from(mut rx: mpsc::Receiver<PageEvent>) -> impl Stream<Item = PageEvent> {
    futures_util::stream::poll_fn(move |cx| rx.poll_recv(cx))
}

/// `POST /api/run`: runs a code cell directly in the session (no model needed), in the pool's language
/// (Python, JavaScript, or a shell command line in a Shell pool). The cell and its result are stored. The answer
/// is the result's event, with a `notice` beside it when the session had expired since it was last used.
pub async fn run(
    State(state): State<AppState>,
    current: Current,
    Json(request): Json<RunRequest>,
) -> Result<Json<Value>, AppError> {
    check_input(&request.code, "code")?;
    let store = state.conversations().store();
    let interpreter = current.live.interpreter();
    current.live.remember_session(current.row.session_created.as_deref());
    let tool = Tool::main_for(state.pool());
    let field = if tool == Tool::RunShell { "command" } else { "code" };
    let arguments = serde_json::Map::from_iter([(field.to_owned(), Value::String(request.code.clone()))]);
    let call = tool.parse(&arguments).map_err(AppError::bad_request)?;
    let check = interpreter.check_session().await;
    let expired = matches!(check, Ok(SessionCheck::Expired));
    if expired {
        let notice = PageEvent::Notice { message: EXPIRED.into() };
        store.append(&current.owner, current.id(), &notice).await?;
    }
    let invocation = interpreter.invoke_call(&call).await.map_err(|e| AppError::bad_request(e.to_string()))?;
    // The session as it is now, when the cell made it (a new or an expired one), so a later expiry is noticed.
    if !matches!(check, Ok(SessionCheck::Alive)) {
        let _ = interpreter.check_session().await;
    }
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
    store.append(&current.owner, current.id(), &call).await?;
    store.append(&current.owner, current.id(), &result).await?;
    store.save_session_seen(&current.owner, current.id(), current.live.session_seen().as_deref()).await?;
    let mut answer = serde_json::to_value(&result).unwrap_or_default();
    if let (true, Some(fields)) = (expired, answer.as_object_mut()) {
        fields.insert("notice".into(), Value::String(EXPIRED.into()));
    }
    Ok(Json(answer))
}

/// `GET /api/history`: what the page shows, for re-rendering after a reload; a turn whose process died is
/// marked interrupted first.
pub async fn history(State(state): State<AppState>, current: Current) -> Result<Json<Value>, AppError> {
    let store = state.conversations().store();
    let interrupted = store.interrupt_if_dead(&current.owner, current.id()).await?;
    let events = store.events(&current.owner, current.id()).await?;
    Ok(Json(json!({
        "events": events,
        "model": state.model().map(|m| m.describe()),
        "conversation": crate::conversation_api::summary(&current.row),
        "running": current.row.running && !interrupted,
    })))
}

/// `GET /api/conversation.ipynb`: the conversation as a Jupyter notebook, to download.
pub async fn export_notebook(State(state): State<AppState>, current: Current) -> Result<Response, AppError> {
    let events = state.conversations().store().events(&current.owner, current.id()).await?;
    let notebook = crate::export::notebook(&events, state.pool());
    let body = serde_json::to_string_pretty(&notebook).unwrap_or_default();
    Ok(download(body, "application/x-ipynb+json", &current.row.title, "ipynb"))
}

/// `GET /api/conversation.md`: the conversation as Markdown, to download.
pub async fn export_markdown(State(state): State<AppState>, current: Current) -> Result<Response, AppError> {
    let events = state.conversations().store().events(&current.owner, current.id()).await?;
    let text = crate::export::markdown(&events);
    Ok(download(text, "text/markdown; charset=utf-8", &current.row.title, "md"))
}

/// An attachment named after the conversation's title (ASCII letters, digits, `-` and `_` only).
fn download(body: String, content_type: &'static str, title: &str, extension: &str) -> Response {
    let stem: String = title
        .chars()
        .map(|c| if c.is_ascii_alphanumeric() || c == '-' || c == '_' { c } else { '-' })
        .collect::<String>()
        .split('-')
        .filter(|part| !part.is_empty())
        .collect::<Vec<_>>()
        .join("-");
    let stem: String = stem.chars().take(60).collect();
    let stem = if stem.is_empty() { "conversation".to_owned() } else { stem };
    let disposition = format!("attachment; filename=\"{stem}.{extension}\"");
    let mut response = ([(header::CONTENT_TYPE, content_type)], body).into_response();
    if let Ok(value) = HeaderValue::from_str(&disposition) {
        response.headers_mut().insert(header::CONTENT_DISPOSITION, value);
    }
    response
}

/// `POST /api/chat/stop`: stops the conversation's running turn, on whichever replica runs it (the model call
/// ends, running code is interrupted; the session keeps its state). Nothing happens when no turn runs.
pub async fn stop(State(state): State<AppState>, current: Current) -> Result<Json<Value>, AppError> {
    let stopped =
        current.live.stop() || state.conversations().store().request_stop(&current.owner, current.id()).await?;
    Ok(Json(json!({"stopped": stopped})))
}

/// `POST /api/session/new`: starts a new conversation (with a new session); the others are kept.
pub async fn new_session(State(state): State<AppState>, visitor: Visitor) -> Result<Json<Value>, AppError> {
    let conversations = state.conversations();
    let row = conversations.store().create(&conversations.owner(&visitor.id)).await?;
    Ok(Json(json!({"ok": true, "conversation": crate::conversation_api::summary(&row)})))
}

//! The list beside the chat: a person's conversations, and new, rename and delete. Every query names the
//! owner, so one person can never see, rename or delete another's conversation.

use axum::Json;
use axum::extract::{Path, State};
use axum::http::StatusCode;
use serde::Deserialize;
use serde_json::{Value, json};
use time::OffsetDateTime;
use time::format_description::well_known::Rfc3339;

use crate::AppState;
use crate::current::no_such_conversation;
use crate::error::AppError;
use crate::identity::Visitor;
use crate::store::{ConversationRow, MAX_TITLE_CHARS};

/// A new title.
#[derive(Debug, Deserialize)]
pub struct RenameRequest {
    title: String,
}

fn time_of(ms: i64) -> Option<String> {
    OffsetDateTime::from_unix_timestamp_nanos(i128::from(ms) * 1_000_000).ok().and_then(|t| t.format(&Rfc3339).ok())
}

/// A conversation as the page lists it.
pub fn summary(row: &ConversationRow) -> Value {
    json!({
        "id": row.id,
        "title": row.title,
        "model": row.model,
        "running": row.running,
        "created": time_of(row.created_at),
        "updated": time_of(row.updated_at),
    })
}

/// `GET /api/conversations`: the visitor's conversations, the most recently used first.
pub async fn list(State(state): State<AppState>, visitor: Visitor) -> Result<Json<Value>, AppError> {
    let conversations = state.conversations();
    let rows = conversations.store().list(&conversations.owner(&visitor.id)).await?;
    Ok(Json(json!({"conversations": rows.iter().map(summary).collect::<Vec<_>>()})))
}

/// `POST /api/conversations`: a new, empty conversation (with its own session).
pub async fn create(State(state): State<AppState>, visitor: Visitor) -> Result<(StatusCode, Json<Value>), AppError> {
    let conversations = state.conversations();
    let row = conversations.store().create(&conversations.owner(&visitor.id)).await?;
    Ok((StatusCode::CREATED, Json(summary(&row))))
}

/// `PATCH /api/conversations/{id}` with `{"title": ...}`: renames it.
pub async fn rename(
    State(state): State<AppState>,
    visitor: Visitor,
    Path(id): Path<String>,
    Json(request): Json<RenameRequest>,
) -> Result<Json<Value>, AppError> {
    let title = request.title.trim();
    if title.is_empty() {
        return Err(AppError::bad_request("The title is empty."));
    }
    if title.chars().count() > MAX_TITLE_CHARS {
        return Err(AppError::bad_request(format!("The title is longer than {MAX_TITLE_CHARS} characters.")));
    }
    let conversations = state.conversations();
    let owner = conversations.owner(&visitor.id);
    if !conversations.store().rename(&owner, &id, title).await? {
        return Err(no_such_conversation());
    }
    let row = conversations.store().find(&owner, &id).await?.ok_or_else(no_such_conversation)?;
    Ok(Json(summary(&row)))
}

/// `DELETE /api/conversations/{id}`: stops its turn, deletes its pool session (variables and files) and its
/// rows.
pub async fn delete(
    State(state): State<AppState>,
    visitor: Visitor,
    Path(id): Path<String>,
) -> Result<StatusCode, AppError> {
    let conversations = state.conversations();
    let store = conversations.store();
    let owner = conversations.owner(&visitor.id);
    store.find(&owner, &id).await?.ok_or_else(no_such_conversation)?;
    let live = conversations.live(&visitor.id, &id);
    if !live.stop() {
        store.request_stop(&owner, &id).await?;
    }
    match live.interpreter().session().delete().await {
        Ok(()) | Err(dynamic_sessions::Error::NotFound(_)) => {}
        Err(e) => tracing::warn!(error = %e, "could not delete the session; it will expire after its cooldown"),
    }
    store.delete(&owner, &id).await?;
    conversations.forget(&id);
    Ok(StatusCode::NO_CONTENT)
}

//! Which conversation a request is about: the `conversation` query parameter or the `X-Conversation` header
//! (the page sends the one it shows), else the owner's most recently used one, made when they have none.
//! A conversation that is not the visitor's is not found, whatever its id.

use std::sync::Arc;

use axum::extract::FromRequestParts;
use axum::http::StatusCode;
use axum::http::request::Parts;

use crate::AppState;
use crate::conversations::Live;
use crate::error::AppError;
use crate::identity::Visitor;
use crate::store::ConversationRow;

/// The header the page names its conversation in.
pub const CONVERSATION_HEADER: &str = "x-conversation";

/// The visitor and the conversation a request is about.
#[derive(Debug, Clone)]
pub struct Current {
    /// Who asks.
    pub visitor: Visitor,
    /// Their conversations' owner in the store.
    pub owner: String,
    /// The conversation, as stored when the request came.
    pub row: ConversationRow,
    /// Its state in this process.
    pub live: Arc<Live>,
}

impl Current {
    /// The conversation's id.
    pub fn id(&self) -> &str {
        &self.row.id
    }
}

/// The conversation id a request names, if any.
fn requested(parts: &Parts) -> Option<String> {
    let from_query = parts.uri.query().and_then(|q| {
        url::form_urlencoded::parse(q.as_bytes()).find(|(k, _)| k == "conversation").map(|(_, v)| v.into_owned())
    });
    from_query
        .or_else(|| parts.headers.get(CONVERSATION_HEADER).and_then(|v| v.to_str().ok()).map(str::to_owned))
        .filter(|id| !id.is_empty())
}

/// Not found, in words.
pub fn no_such_conversation() -> AppError {
    AppError::new(StatusCode::NOT_FOUND, "That conversation does not exist (any more). Pick one in the list.")
}

impl FromRequestParts<AppState> for Current {
    type Rejection = AppError;

    async fn from_request_parts(parts: &mut Parts, state: &AppState) -> Result<Self, AppError> {
        let visitor = Visitor::from_request_parts(parts, state).await?;
        let conversations = state.conversations();
        let store = conversations.store();
        let owner = conversations.owner(&visitor.id);
        let row = match requested(parts) {
            Some(id) => store.find(&owner, &id).await?.ok_or_else(no_such_conversation)?,
            None => match store.latest(&owner).await? {
                Some(row) => row,
                None => store.create(&owner).await?,
            },
        };
        let live = conversations.live(&visitor.id, &row.id);
        Ok(Current { visitor, owner, row, live })
    }
}

//! The original "AI code execution agent" demo as a Rust web app: chat with an agent that writes and runs
//! Python on your uploaded files in an isolated session, sees its charts, and hands you the files it makes.
//!
//! * Each browser gets a random identity in a signed, HttpOnly, SameSite cookie. It has several conversations,
//!   each with its own session (identifier derived with HMAC from the identity and the conversation, never
//!   shown), kept in a database ([`store`]): SQLite by default, PostgreSQL for several replicas.
//! * State-changing requests need the page's CSRF token and a same-origin request.
//! * Model output is untrusted: Markdown is rendered and sanitised on the server; the CSP allows no inline
//!   script, and downloads are always attachments.
//! * Without a model the app still works: a code cell runs Python in the session directly.

#![warn(missing_docs)]

pub mod chat;
pub mod conversation_api;
pub mod conversations;
pub mod current;
pub mod error;
pub mod events;
pub mod export;
pub mod files;
pub mod identity;
pub mod page;
pub mod render;
pub mod setup;
pub mod store;
pub mod turn_runner;

use std::sync::Arc;

use axum::Router;
use axum::extract::{DefaultBodyLimit, Request, State};
use axum::http::{HeaderValue, StatusCode, header};
use axum::middleware::{self, Next};
use axum::response::{IntoResponse, Response};
use axum::routing::{delete, get, patch, post};
use dynamic_sessions::SessionPoolClient;
use dynamic_sessions_agent_tools::rig::ModelConfig;
use dynamic_sessions_agent_tools::turn::TurnOptions;
use dynamic_sessions_agent_tools::{InterpreterOptions, PoolKind, SessionProvider};
use serde_json::json;

use conversations::Conversations;
use store::Store;

/// How the app is set up.
#[derive(Debug, Clone)]
pub struct AppConfig {
    /// Key for cookie signatures, CSRF tokens and session identifiers (32 bytes or more).
    pub secret: Vec<u8>,
    /// The chat model; `None` leaves the code cell only.
    pub model: Option<ModelConfig>,
    /// The largest file a user may upload (at most the service's [`dynamic_sessions::MAX_UPLOAD_BYTES`]).
    pub max_upload_bytes: u64,
    /// Mark the identity cookie `Secure` (behind https).
    pub secure_cookies: bool,
    /// How the interpreter reports to the model, and what the pool runs ([`InterpreterOptions::pool`]).
    pub interpreter: InterpreterOptions,
    /// The bounds and tool-choice policy of every turn.
    pub turn: TurnOptions,
}

#[derive(Debug)]
struct Inner {
    client: SessionPoolClient,
    config: AppConfig,
    secret: Arc<Vec<u8>>,
    conversations: Conversations,
}

/// Shared state of the handlers.
#[derive(Debug, Clone)]
pub struct AppState {
    inner: Arc<Inner>,
}

impl AppState {
    /// State over a session pool, with conversations kept in `store`.
    ///
    /// # Errors
    /// When the secret is shorter than 32 bytes.
    pub fn new(client: SessionPoolClient, config: AppConfig, store: Store) -> Result<Self, String> {
        let secret = Arc::new(config.secret.clone());
        let provider = SessionProvider::new(client.clone(), config.secret.clone(), config.interpreter.clone())
            .map_err(|e| format!("the app secret cannot derive session identifiers: {e}"))?;
        let conversations = Conversations::new(provider, store, secret.clone());
        Ok(AppState { inner: Arc::new(Inner { client, config, secret, conversations }) })
    }

    /// The HMAC key.
    pub fn secret(&self) -> &[u8] {
        &self.inner.secret
    }

    /// The chat model, if configured.
    pub fn model(&self) -> Option<&ModelConfig> {
        self.inner.config.model.as_ref()
    }

    /// The conversations.
    pub fn conversations(&self) -> &Conversations {
        &self.inner.conversations
    }

    /// What the pool runs: the code cell's language and the model's code tool follow it.
    pub fn pool(&self) -> PoolKind {
        self.inner.config.interpreter.pool
    }

    /// The bounds of every turn.
    pub fn turn_options(&self) -> &TurnOptions {
        &self.inner.config.turn
    }

    /// The upload limit.
    pub fn max_upload_bytes(&self) -> u64 {
        self.inner.config.max_upload_bytes
    }

    /// Whether cookies are `Secure`.
    pub fn secure_cookies(&self) -> bool {
        self.inner.config.secure_cookies
    }
}

/// The app's routes.
pub fn app(state: AppState) -> Router {
    Router::new()
        .route("/", get(page::index))
        .route("/static/app.js", get(page::script))
        .route("/static/app.css", get(page::style))
        .route("/api/chat", post(chat::chat))
        .route("/api/chat/stop", post(chat::stop))
        .route("/api/run", post(chat::run))
        .route("/api/history", get(chat::history))
        .route("/api/conversation.ipynb", get(chat::export_notebook))
        .route("/api/conversation.md", get(chat::export_markdown))
        .route("/api/session/new", post(chat::new_session))
        .route("/api/conversations", get(conversation_api::list).post(conversation_api::create))
        .route("/api/conversations/{id}", patch(conversation_api::rename).delete(conversation_api::delete))
        .route("/api/files", get(files::list).post(files::upload).layer(DefaultBodyLimit::disable()))
        .route("/api/files/download", get(files::download))
        .route("/api/files", delete(files::delete))
        .route("/healthz", get(|| async { "ok" }))
        .route("/readyz", get(ready))
        .fallback(|| async { error::AppError::new(StatusCode::NOT_FOUND, "No such page.") })
        .layer(DefaultBodyLimit::max(1 << 20))
        .layer(middleware::from_fn(security_headers))
        .layer(tower_http::trace::TraceLayer::new_for_http())
        .with_state(state)
}

/// Ready when the conversation database and the session pool answer.
async fn ready(State(state): State<AppState>) -> Response {
    let unavailable =
        |status: String| (StatusCode::SERVICE_UNAVAILABLE, axum::Json(json!({"status": status}))).into_response();
    if let Err(e) = state.conversations().store().ping().await {
        tracing::warn!(error = %e, "readiness check failed");
        return unavailable(format!("the conversation database does not answer: {e}"));
    }
    match state.inner.client.metadata().await {
        Ok(_) => (StatusCode::OK, axum::Json(json!({"status": "ready"}))).into_response(),
        Err(e) => {
            tracing::warn!(error = %e, "readiness check failed");
            unavailable("the session pool does not answer".into())
        }
    }
}

/// No inline script or style, no framing, no sniffing, no referrer.
async fn security_headers(request: Request, next: Next) -> Response {
    let mut response = next.run(request).await;
    let headers = response.headers_mut();
    headers.insert(
        header::CONTENT_SECURITY_POLICY,
        HeaderValue::from_static(
            "default-src 'self'; script-src 'self'; style-src 'self'; img-src 'self' data:; connect-src 'self'; \
             object-src 'none'; base-uri 'none'; frame-ancestors 'none'; form-action 'self'",
        ),
    );
    headers.insert(header::X_CONTENT_TYPE_OPTIONS, HeaderValue::from_static("nosniff"));
    headers.insert(header::REFERRER_POLICY, HeaderValue::from_static("no-referrer"));
    headers.insert(header::X_FRAME_OPTIONS, HeaderValue::from_static("DENY"));
    response
}

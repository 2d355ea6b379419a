//! The page: server-rendered HTML with no inline script or style (the CSP forbids both).

use axum::extract::State;
use axum::http::{HeaderMap, HeaderValue, header};
use axum::response::{Html, IntoResponse, Response};

use dynamic_sessions_agent_tools::{PoolKind, Tool};

use crate::AppState;
use crate::identity::Visitor;

fn escape(text: &str) -> String {
    text.replace('&', "&amp;").replace('<', "&lt;").replace('>', "&gt;").replace('"', "&quot;").replace('\'', "&#39;")
}

const PAGE: &str = include_str!("../static/index.html");

/// `GET /`: the page; a browser without a valid identity cookie gets a new one.
pub async fn index(State(state): State<AppState>, headers: HeaderMap) -> Response {
    let secret = state.secret();
    let (visitor, fresh) = match Visitor::from_headers(secret, &headers) {
        Some(v) => (v, false),
        None => (Visitor::new(), true),
    };
    let (model, no_model) = match state.model() {
        Some(m) => (escape(&m.describe()), ""),
        None => ("no model configured".to_owned(), "no-model"),
    };
    let language = Language::of(state.pool());
    let html = PAGE
        .replace("{{csrf}}", &escape(&visitor.csrf_token(secret)))
        .replace("{{tool}}", language.tool.name())
        .replace("{{language}}", language.name)
        .replace("{{cell_placeholder}}", language.placeholder)
        .replace("{{model}}", &model)
        .replace("{{no_model_class}}", no_model)
        .replace("{{max_upload}}", &state.max_upload_bytes().to_string());
    let mut response = Html(html).into_response();
    if fresh {
        response.headers_mut().insert(header::SET_COOKIE, visitor.cookie(secret, state.secure_cookies()));
    }
    response.headers_mut().insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
    response
}

/// The code cell's language, as the page names it.
struct Language {
    tool: Tool,
    name: &'static str,
    placeholder: &'static str,
}

impl Language {
    fn of(pool: PoolKind) -> Language {
        let tool = Tool::main_for(pool);
        let (name, placeholder) = match tool {
            Tool::RunJavascript => ("JavaScript", "const fs = require('fs')"),
            Tool::RunShell => ("shell commands", "ls -l /mnt/data"),
            _ => ("Python", "import pandas as pd"),
        };
        Language { tool, name, placeholder }
    }
}

/// `GET /static/app.js`.
pub async fn script() -> Response {
    ([(header::CONTENT_TYPE, "text/javascript; charset=utf-8")], include_str!("../static/app.js")).into_response()
}

/// `GET /static/app.css`.
pub async fn style() -> Response {
    ([(header::CONTENT_TYPE, "text/css; charset=utf-8")], include_str!("../static/app.css")).into_response()
}

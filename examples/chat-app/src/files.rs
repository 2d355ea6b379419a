//! The file panel: upload (several files, any type, streamed), list, download, delete.

use std::io;
use std::sync::atomic::{AtomicBool, Ordering};

use axum::Json;
use axum::body::Body;
use axum::extract::multipart::MultipartRejection;
use axum::extract::{Multipart, Query, State};
use axum::http::{HeaderMap, HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use bytes::Bytes;
use dynamic_sessions::RemotePath;
use futures_util::TryStreamExt;
use percent_encoding::{NON_ALPHANUMERIC, utf8_percent_encode};
use serde::Deserialize;
use serde_json::{Value, json};
use time::format_description::well_known::Rfc3339;
use tokio::sync::mpsc;
use tokio_util::io::StreamReader;

use crate::AppState;
use crate::current::Current;
use crate::error::AppError;

/// A file path from the page.
#[derive(Debug, Deserialize)]
pub struct PathQuery {
    path: String,
}

fn remote(path: &str) -> Result<RemotePath, AppError> {
    RemotePath::new(path).map_err(|e| AppError::bad_request(e.to_string()))
}

fn too_large(name: &str, limit: u64) -> AppError {
    AppError::new(
        StatusCode::PAYLOAD_TOO_LARGE,
        format!("{name} is larger than the upload limit of {} MB; nothing was uploaded.", limit / (1024 * 1024)),
    )
}

/// `POST /api/files`: uploads every `files` part of a multipart form, streamed to the session.
pub async fn upload(
    State(state): State<AppState>,
    current: Current,
    headers: HeaderMap,
    multipart: Result<Multipart, MultipartRejection>,
) -> Result<Json<Value>, AppError> {
    let limit = state.max_upload_bytes();
    // Refuse an oversized request before reading it (the form adds a little framing per file).
    let declared =
        headers.get(header::CONTENT_LENGTH).and_then(|v| v.to_str().ok()).and_then(|v| v.parse::<u64>().ok());
    if declared.is_some_and(|n| n > limit + 64 * 1024) {
        return Err(too_large("The upload", limit));
    }
    let mut multipart =
        multipart.map_err(|e| AppError::bad_request(format!("Upload the files as multipart/form-data: {e}")))?;
    let interpreter = current.live.interpreter();
    let mut uploaded = Vec::new();
    while let Some(field) =
        multipart.next_field().await.map_err(|e| AppError::bad_request(format!("The upload was cut short: {e}")))?
    {
        if field.name() != Some("files") {
            continue;
        }
        let name = field.file_name().unwrap_or_default().to_owned();
        let path =
            remote(&name).map_err(|e| AppError::bad_request(format!("{name:?} cannot be uploaded: {}", e.message)))?;
        // The field borrows the form, and the upload wants an owned reader: feed it through a channel.
        let (tx, mut rx) = mpsc::channel::<io::Result<Bytes>>(8);
        let reader = StreamReader::new(futures_util::stream::poll_fn(move |cx| rx.poll_recv(cx)));
        let exceeded = AtomicBool::new(false);
        let feed = async {
            let mut field = field;
            let mut seen = 0u64;
            loop {
                let next = match field.chunk().await {
                    Ok(Some(chunk)) => {
                        seen += chunk.len() as u64;
                        if seen > limit {
                            exceeded.store(true, Ordering::Release);
                            Err(io::Error::other("upload limit exceeded"))
                        } else {
                            Ok(chunk)
                        }
                    }
                    Ok(None) => break,
                    Err(e) => Err(io::Error::other(e)),
                };
                let stop = next.is_err();
                if tx.send(next).await.is_err() || stop {
                    break;
                }
            }
            drop(tx);
        };
        let files = interpreter.session().files();
        let (result, ()) = tokio::join!(files.upload_reader(&path, reader), feed);
        match result {
            Ok(file) => uploaded.push(json!({"path": file.path(), "size": file.size})),
            Err(_) if exceeded.load(Ordering::Acquire) => return Err(too_large(&name, limit)),
            Err(e) => return Err(AppError::session(e)),
        }
    }
    if uploaded.is_empty() {
        return Err(AppError::bad_request("The form has no files (field `files`)."));
    }
    Ok(Json(json!({"uploaded": uploaded})))
}

/// `GET /api/files`: every file in the session, with the ones the agent handed over marked.
pub async fn list(State(state): State<AppState>, current: Current) -> Result<Json<Value>, AppError> {
    let interpreter = current.live.interpreter();
    let artifacts: std::collections::BTreeSet<String> =
        state.conversations().store().artifacts(&current.owner, current.id()).await?.into_iter().collect();
    let files = interpreter.session().files().list().recursive(true).send().await.map_err(AppError::session)?;
    let entries: Vec<Value> = files
        .into_iter()
        .filter(|f| !f.is_dir())
        .map(|f| {
            let path = f.path();
            json!({
                "path": path,
                "name": f.name,
                "size": f.size,
                "modified": f.last_modified.and_then(|t| t.format(&Rfc3339).ok()),
                "artifact": artifacts.contains(&path),
            })
        })
        .collect();
    Ok(Json(json!({"files": entries})))
}

/// `GET /api/files/download?path=`: the file as an attachment (never rendered by the browser).
pub async fn download(current: Current, Query(q): Query<PathQuery>) -> Result<Response, AppError> {
    let path = remote(&q.path)?;
    let interpreter = current.live.interpreter();
    let download = interpreter.session().files().download(&path).await.map_err(AppError::session)?;
    let length = download.content_length();
    let body = Body::from_stream(download.into_stream().map_err(io::Error::other));
    let mut response = body.into_response();
    let headers = response.headers_mut();
    headers.insert(header::CONTENT_TYPE, HeaderValue::from_static("application/octet-stream"));
    if let Some(n) = length {
        headers.insert(header::CONTENT_LENGTH, HeaderValue::from(n));
    }
    let name = path.file_name();
    let ascii: String =
        name.chars().map(|c| if c.is_ascii_alphanumeric() || "._-".contains(c) { c } else { '_' }).collect();
    let disposition =
        format!("attachment; filename=\"{ascii}\"; filename*=UTF-8''{}", utf8_percent_encode(name, NON_ALPHANUMERIC));
    if let Ok(v) = HeaderValue::from_str(&disposition) {
        headers.insert(header::CONTENT_DISPOSITION, v);
    }
    Ok(response)
}

/// `DELETE /api/files?path=`.
pub async fn delete(current: Current, Query(q): Query<PathQuery>) -> Result<StatusCode, AppError> {
    let path = remote(&q.path)?;
    let interpreter = current.live.interpreter();
    interpreter.session().files().delete(&path).await.map_err(AppError::session)?;
    Ok(StatusCode::NO_CONTENT)
}

//! File routes of both families: upload, list, metadata, content, delete.

use std::sync::Arc;

use axum::body::Body;
use axum::extract::multipart::{Field, MultipartRejection};
use axum::extract::{Multipart, Path, RawQuery, State};
use axum::http::{HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use serde::Deserialize;
use serde_json::{Value, json};
use tokio::io::AsyncWriteExt;
use tokio_util::io::ReaderStream;

use super::AppState;
use super::params::{Family, Query};
use super::render;
use crate::config::MAX_UPLOAD_BYTES;
use crate::error::ApiError;
use crate::safefs::{Entry, FsError, RelPath, SessionFs};

fn fs_error(e: FsError) -> ApiError {
    match e {
        FsError::InvalidPath(m) => ApiError::bad_request("InvalidFilePath", m),
        FsError::NotFound(m) => ApiError::not_found("FileNotFound", format!("{m}.")),
        FsError::NotAFile(m) => ApiError::bad_request("NotAFile", format!("{m}.")),
        // Not 403: clients read 403 as a missing role assignment.
        FsError::Refused(m) => ApiError::bad_request("FileAccessDenied", m),
        FsError::DiskFull => ApiError::new(
            StatusCode::PAYLOAD_TOO_LARGE,
            "SessionDiskFull",
            "The session's disk quota is exhausted; delete files from /mnt/data first.",
        ),
        FsError::Io { context, source } => ApiError::internal(&format!("file operation on {context} failed"), source),
    }
}

async fn blocking<T: Send + 'static>(f: impl FnOnce() -> Result<T, FsError> + Send + 'static) -> Result<T, ApiError> {
    tokio::task::spawn_blocking(f).await.map_err(|e| ApiError::internal("a file task failed", e))?.map_err(fs_error)
}

fn directory(query: &Query) -> Result<RelPath, ApiError> {
    RelPath::parse(query.path.as_deref().unwrap_or("")).map_err(fs_error)
}

/// Streams one multipart field into the session, atomically, within the upload limit.
async fn save_field(fs: Arc<SessionFs>, path: RelPath, mut field: Field<'_>) -> Result<Entry, ApiError> {
    let target = path.clone();
    let fs2 = fs.clone();
    let mut pending = blocking(move || fs2.create_upload(&target)).await?;
    let file = pending.take_file().ok_or_else(|| ApiError::internal("upload", "no file handle"))?;
    let mut file = tokio::fs::File::from_std(file);
    let mut total: u64 = 0;
    loop {
        let chunk = match field.chunk().await {
            Ok(Some(chunk)) => chunk,
            Ok(None) => break,
            Err(e) => {
                return Err(ApiError::bad_request("InvalidRequestBody", format!("The upload was cut short: {e}")));
            }
        };
        total += chunk.len() as u64;
        if total > MAX_UPLOAD_BYTES {
            return Err(ApiError::new(
                StatusCode::PAYLOAD_TOO_LARGE,
                "PayloadTooLarge",
                format!("The upload exceeds the limit of {MAX_UPLOAD_BYTES} bytes (128 MiB); nothing was stored."),
            ));
        }
        if let Err(e) = file.write_all(&chunk).await {
            return Err(match e.raw_os_error() {
                Some(libc::ENOSPC) | Some(libc::EFBIG) | Some(libc::EDQUOT) => fs_error(FsError::DiskFull),
                _ => ApiError::internal("cannot write the upload", e),
            });
        }
    }
    file.flush().await.map_err(|e| ApiError::internal("cannot write the upload", e))?;
    drop(file);
    blocking(move || pending.commit()).await
}

/// `POST files/upload` (legacy) and `POST files` (current): a multipart part named `file`. The file name may
/// be bare, a relative path, or absolute under `/mnt/data`; `path` names a directory to put it in.
pub(crate) async fn upload(
    State(state): State<AppState>,
    RawQuery(raw): RawQuery,
    multipart: Result<Multipart, MultipartRejection>,
) -> Result<Response, ApiError> {
    let query = Query::parse(raw.as_deref())?;
    let mut multipart = multipart.map_err(|e| {
        ApiError::bad_request(
            "InvalidRequestBody",
            format!("Uploads are multipart/form-data with a part named 'file': {e}"),
        )
    })?;
    let session = state.pool().acquire(query.identifier()?).await?;
    let dir = directory(&query)?;
    let mut saved = Vec::new();
    loop {
        let field = multipart
            .next_field()
            .await
            .map_err(|e| ApiError::bad_request("InvalidRequestBody", format!("Malformed multipart body: {e}")))?;
        let Some(field) = field else { break };
        if !field.name().is_some_and(|n| n.eq_ignore_ascii_case("file")) {
            continue;
        }
        let name = field
            .file_name()
            .map(str::to_owned)
            .ok_or_else(|| ApiError::bad_request("InvalidRequestBody", "The 'file' part has no filename."))?;
        let path = dir.join(&RelPath::parse(&name).map_err(fs_error)?);
        if path.is_root() {
            return Err(ApiError::bad_request("InvalidFilePath", format!("{name:?} names no file.")));
        }
        saved.push(save_field(session.fs.clone(), path, field).await?);
    }
    session.touch();
    if saved.is_empty() {
        return Err(ApiError::bad_request("InvalidRequestBody", "The request has no multipart part named 'file'."));
    }
    let body = match query.family() {
        Family::Legacy => {
            json!({"$id": "1", "value": saved.iter().enumerate().map(|(n, e)| render::legacy_file(e, n)).collect::<Vec<_>>()})
        }
        Family::Current if saved.len() == 1 => render::current_file(&saved[0], &query),
        Family::Current => Value::Array(saved.iter().map(|e| render::current_file(e, &query)).collect()),
    };
    Ok(axum::Json(body).into_response())
}

/// `GET files?path=&recursive=`.
pub(crate) async fn list(State(state): State<AppState>, RawQuery(raw): RawQuery) -> Result<Response, ApiError> {
    let query = Query::parse(raw.as_deref())?;
    let session = state.pool().acquire(query.identifier()?).await?;
    let dir = directory(&query)?;
    let recursive = query.recursive && query.has_directory_field();
    let fs = session.fs.clone();
    let entries = blocking(move || fs.list(&dir, recursive))
        .await
        .map_err(|e| if e.code == "FileNotFound" { ApiError::not_found("DirectoryNotFound", e.message) } else { e })?;
    Ok(axum::Json(render::file_list(&entries, &query)).into_response())
}

#[derive(Debug, Deserialize)]
pub(crate) struct NamePath {
    name: String,
}

async fn stat(state: &AppState, query: &Query, name: &str) -> Result<Entry, ApiError> {
    let session = state.pool().acquire(query.identifier()?).await?;
    let path = directory(query)?.join(&RelPath::parse(name).map_err(fs_error)?);
    let fs = session.fs.clone();
    blocking(move || fs.stat(&path)).await
}

fn metadata_body(entry: &Entry, query: &Query) -> Value {
    match query.family() {
        Family::Legacy => {
            let mut v = render::legacy_file(entry, 0);
            if let Some(obj) = v.as_object_mut() {
                obj.insert("$id".into(), json!("1"));
            }
            v
        }
        Family::Current => render::current_file(entry, query),
    }
}

/// `GET files/{name}?path=`: one file's metadata.
pub(crate) async fn metadata(
    State(state): State<AppState>,
    RawQuery(raw): RawQuery,
    Path(p): Path<NamePath>,
) -> Result<Response, ApiError> {
    let query = Query::parse(raw.as_deref())?;
    let entry = stat(&state, &query, &p.name).await?;
    Ok(axum::Json(metadata_body(&entry, &query)).into_response())
}

/// `GET files/upload`: the metadata of a file that happens to be called `upload`.
pub(crate) async fn metadata_of_upload(state: State<AppState>, raw: RawQuery) -> Result<Response, ApiError> {
    metadata(state, raw, Path(NamePath { name: "upload".into() })).await
}

/// `DELETE files/{name}?path=`.
pub(crate) async fn delete(
    State(state): State<AppState>,
    RawQuery(raw): RawQuery,
    Path(p): Path<NamePath>,
) -> Result<Response, ApiError> {
    let query = Query::parse(raw.as_deref())?;
    let session = state.pool().acquire(query.identifier()?).await?;
    let path = directory(&query)?.join(&RelPath::parse(&p.name).map_err(fs_error)?);
    let fs = session.fs.clone();
    blocking(move || fs.delete(&path)).await?;
    Ok(match query.family() {
        Family::Legacy => axum::Json(json!({"message": "file deleted successfully"})).into_response(),
        Family::Current => StatusCode::NO_CONTENT.into_response(),
    })
}

/// `DELETE files/upload`: deletes a file called `upload`.
pub(crate) async fn delete_upload(state: State<AppState>, raw: RawQuery) -> Result<Response, ApiError> {
    delete(state, raw, Path(NamePath { name: "upload".into() })).await
}

async fn download(state: &AppState, query: &Query, path: RelPath) -> Result<Response, ApiError> {
    let session = state.pool().acquire(query.identifier()?).await?;
    let fs = session.fs.clone();
    let (file, entry) = blocking(move || fs.open_read(&path)).await?;
    let body = Body::from_stream(ReaderStream::with_capacity(tokio::fs::File::from_std(file), 64 * 1024));
    let mut response = Response::new(body);
    let headers = response.headers_mut();
    let mime = mime_guess::from_path(&entry.name).first_or_octet_stream();
    if let Ok(v) = HeaderValue::from_str(mime.essence_str()) {
        headers.insert(header::CONTENT_TYPE, v);
    }
    headers.insert(header::CONTENT_LENGTH, HeaderValue::from(entry.size));
    if let Some(v) = render::http_date(entry.modified) {
        headers.insert(header::LAST_MODIFIED, v);
    }
    Ok(response)
}

#[derive(Debug, Deserialize)]
pub(crate) struct WildcardPath {
    path: String,
}

/// `GET files/content/{path}` (legacy; the path may contain `/`).
pub(crate) async fn download_legacy(
    State(state): State<AppState>,
    RawQuery(raw): RawQuery,
    Path(p): Path<WildcardPath>,
) -> Result<Response, ApiError> {
    let query = Query::parse(raw.as_deref())?;
    let name = p.path.strip_prefix("mnt/data/").unwrap_or(&p.path);
    let path = directory(&query)?.join(&RelPath::parse(name).map_err(fs_error)?);
    download(&state, &query, path).await
}

/// `GET files/{name}/content?path=` (current).
pub(crate) async fn download_current(
    State(state): State<AppState>,
    RawQuery(raw): RawQuery,
    Path(p): Path<NamePath>,
) -> Result<Response, ApiError> {
    let query = Query::parse(raw.as_deref())?;
    let path = directory(&query)?.join(&RelPath::parse(&p.name).map_err(fs_error)?);
    download(&state, &query, path).await
}

//! File routes of both families: upload, list, metadata, content, delete.

use std::sync::Arc;

use axum::body::{Body, Bytes};
use axum::extract::{Path, RawQuery, Request};
use axum::http::{HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use futures_util::StreamExt;
use serde::Deserialize;
use serde_json::{Value, json};
use tokio::io::AsyncWriteExt;
use tokio_util::io::ReaderStream;

use super::params::{Family, Query};
use super::pool::Pool;
use super::render;
use crate::config::MAX_UPLOAD_BYTES;
use crate::error::ApiError;
use crate::pool::SessionPool;
use crate::safefs::{Entry, FsError, RelPath, SessionFs};

fn fs_error(e: FsError) -> ApiError {
    match e {
        FsError::InvalidPath(m) => ApiError::bad_request("InvalidFilePath", m),
        FsError::NotFound(path) => ApiError::not_found("FileNotFound", missing(&path)),
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

/// "There is no file named report.txt in /mnt/data." for `/mnt/data/report.txt`.
fn missing(path: &str) -> String {
    match path.rsplit_once('/') {
        Some((dir, name)) if !name.is_empty() => {
            format!("There is no file or directory named {name} in {}.", if dir.is_empty() { "/" } else { dir })
        }
        _ => format!("There is no file or directory {path}."),
    }
}

async fn blocking<T: Send + 'static>(f: impl FnOnce() -> Result<T, FsError> + Send + 'static) -> Result<T, ApiError> {
    tokio::task::spawn_blocking(f).await.map_err(|e| ApiError::internal("a file task failed", e))?.map_err(fs_error)
}

fn directory(query: &Query) -> Result<RelPath, ApiError> {
    RelPath::parse(query.path.as_deref().unwrap_or("")).map_err(fs_error)
}

/// The listed directory relative to `/mnt/data` (`""` at the top), as list entries' `directory` is relative to it.
fn query_dir_string(query: &Query) -> Result<String, ApiError> {
    directory(query).map(|d| d.as_string())
}

/// The most bytes read and thrown away from an upload that was refused early, so the client reads the answer
/// instead of a reset connection.
const DRAIN_LIMIT: u64 = MAX_UPLOAD_BYTES + (1 << 20);

/// Streams one multipart field into the session, atomically, within the upload limit.
async fn save_field(fs: Arc<SessionFs>, path: RelPath, field: &mut multer::Field<'_>) -> Result<Entry, ApiError> {
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

/// The multipart boundary: from `Content-Type`, or, when the client labelled a multipart body as something
/// else (Semantic Kernel sends uploads as `application/json` once it has executed code), from the body's
/// first line.
fn boundary(content_type: Option<&str>, first: &[u8]) -> Option<String> {
    if let Some(boundary) = content_type.and_then(|ct| multer::parse_boundary(ct).ok()) {
        return Some(boundary);
    }
    let line = first.strip_prefix(b"--")?.split(|b| *b == b'\r' || *b == b'\n').next()?;
    let token = |b: &u8| b.is_ascii_alphanumeric() || b"'()+_,-./:=? ".contains(b);
    (!line.is_empty() && line.len() <= 70 && line.iter().all(token)).then(|| String::from_utf8_lossy(line).into_owned())
}

/// Reads and throws away up to [`DRAIN_LIMIT`] bytes of a body whose request was refused, for at most 30 s.
async fn drain<S, E>(mut body: S)
where
    S: futures_util::Stream<Item = Result<Bytes, E>> + Unpin,
{
    let drained = async {
        let mut seen = 0u64;
        while let Some(Ok(chunk)) = body.next().await {
            seen += chunk.len() as u64;
            if seen > DRAIN_LIMIT {
                break;
            }
        }
    };
    let _ = tokio::time::timeout(std::time::Duration::from_secs(30), drained).await;
}

/// `POST files/upload` (legacy) and `POST files` (current): a multipart part named `file`. The file name may
/// be bare, a relative path, or absolute under `/mnt/data`; `path` names a directory to put it in.
pub(crate) async fn upload(Pool(pool): Pool, RawQuery(raw): RawQuery, request: Request) -> Result<Response, ApiError> {
    let (parts, body) = request.into_parts();
    let mut stream = body.into_data_stream();
    let parsed = Query::parse(raw.as_deref()).and_then(|q| q.identifier().map(str::to_owned).map(|id| (q, id)));
    let (query, identifier) = match parsed {
        Ok(ok) => ok,
        Err(e) => {
            drain(stream).await;
            return Err(e);
        }
    };
    let first = match stream.next().await {
        Some(Ok(chunk)) => chunk,
        Some(Err(e)) => {
            return Err(ApiError::bad_request("InvalidRequestBody", format!("The upload was cut short: {e}")));
        }
        None => Bytes::new(),
    };
    let content_type = parts.headers.get(header::CONTENT_TYPE).and_then(|v| v.to_str().ok());
    let Some(boundary) = boundary(content_type, &first) else {
        drain(stream).await;
        return Err(ApiError::bad_request(
            "InvalidRequestBody",
            "Uploads are multipart/form-data with a part named 'file' (no multipart boundary was found).",
        ));
    };
    let body = futures_util::stream::once(async move { Ok::<Bytes, axum::Error>(first) }).chain(stream);
    let mut multipart = multer::Multipart::new(body, boundary);
    let outcome = receive(&pool, &query, &identifier, &mut multipart).await;
    if outcome.is_err() {
        // Read what is left, so the client gets the answer rather than a reset connection.
        let _ = tokio::time::timeout(std::time::Duration::from_secs(30), async {
            while let Ok(Some(mut field)) = multipart.next_field().await {
                while let Ok(Some(_)) = field.chunk().await {}
            }
        })
        .await;
    }
    let saved = outcome?;
    let body = match query.family() {
        Family::Legacy => {
            json!({"$id": "1", "value": saved.iter().enumerate().map(|(n, e)| render::legacy_file(e, n)).collect::<Vec<_>>()})
        }
        Family::Current if saved.len() == 1 => render::current_file(&saved[0], &query, None),
        Family::Current => Value::Array(saved.iter().map(|e| render::current_file(e, &query, None)).collect()),
    };
    Ok(axum::Json(body).into_response())
}

/// Stores every part named `file`.
async fn receive(
    pool: &SessionPool,
    query: &Query,
    identifier: &str,
    multipart: &mut multer::Multipart<'_>,
) -> Result<Vec<Entry>, ApiError> {
    let session = pool.acquire(identifier).await?;
    let dir = directory(query)?;
    let mut saved = Vec::new();
    loop {
        let field = multipart
            .next_field()
            .await
            .map_err(|e| ApiError::bad_request("InvalidRequestBody", format!("Malformed multipart body: {e}")))?;
        let Some(mut field) = field else { break };
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
        saved.push(save_field(session.fs.clone(), path, &mut field).await?);
    }
    session.touch();
    if saved.is_empty() {
        return Err(ApiError::bad_request("InvalidRequestBody", "The request has no multipart part named 'file'."));
    }
    Ok(saved)
}

/// `GET files?path=&recursive=`.
pub(crate) async fn list(Pool(pool): Pool, RawQuery(raw): RawQuery) -> Result<Response, ApiError> {
    let query = Query::parse(raw.as_deref())?;
    let session = pool.acquire(query.identifier()?).await?;
    let dir = directory(&query)?;
    let recursive = query.recursive && query.has_directory_field();
    let fs = session.fs.clone();
    let entries = blocking(move || fs.list(&dir, recursive))
        .await
        .map_err(|e| if e.code == "FileNotFound" { ApiError::not_found("DirectoryNotFound", e.message) } else { e })?;
    let listed = query_dir_string(&query)?;
    Ok(axum::Json(render::file_list(&entries, &query, &listed)).into_response())
}

#[derive(Debug, Deserialize)]
pub(crate) struct NamePath {
    name: String,
}

async fn stat(pool: &SessionPool, query: &Query, name: &str) -> Result<Entry, ApiError> {
    let session = pool.acquire(query.identifier()?).await?;
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
        Family::Current => render::current_file(entry, query, None),
    }
}

/// `GET files/{name}?path=`: one file's metadata.
pub(crate) async fn metadata(
    Pool(pool): Pool,
    RawQuery(raw): RawQuery,
    Path(p): Path<NamePath>,
) -> Result<Response, ApiError> {
    let query = Query::parse(raw.as_deref())?;
    let entry = stat(&pool, &query, &p.name).await?;
    Ok(axum::Json(metadata_body(&entry, &query)).into_response())
}

/// `GET files/upload`: the metadata of a file that happens to be called `upload`.
pub(crate) async fn metadata_of_upload(pool: Pool, raw: RawQuery) -> Result<Response, ApiError> {
    metadata(pool, raw, Path(NamePath { name: "upload".into() })).await
}

/// `DELETE files/{name}?path=`.
pub(crate) async fn delete(
    Pool(pool): Pool,
    RawQuery(raw): RawQuery,
    Path(p): Path<NamePath>,
) -> Result<Response, ApiError> {
    let query = Query::parse(raw.as_deref())?;
    let session = pool.acquire(query.identifier()?).await?;
    let path = directory(&query)?.join(&RelPath::parse(&p.name).map_err(fs_error)?);
    let fs = session.fs.clone();
    blocking(move || fs.delete(&path)).await?;
    Ok(match query.family() {
        Family::Legacy => axum::Json(json!({"message": "file deleted successfully"})).into_response(),
        Family::Current => StatusCode::NO_CONTENT.into_response(),
    })
}

/// `DELETE files/upload`: deletes a file called `upload`.
pub(crate) async fn delete_upload(pool: Pool, raw: RawQuery) -> Result<Response, ApiError> {
    delete(pool, raw, Path(NamePath { name: "upload".into() })).await
}

async fn download(pool: &SessionPool, query: &Query, path: RelPath) -> Result<Response, ApiError> {
    let session = pool.acquire(query.identifier()?).await?;
    let fs = session.fs.clone();
    let (file, entry) = blocking(move || fs.open_read(&path)).await?;
    let body = Body::from_stream(ReaderStream::with_capacity(tokio::fs::File::from_std(file), 64 * 1024));
    let mut response = Response::new(body);
    let headers = response.headers_mut();
    let mime = mime_guess::from_path(&entry.name).first_or_octet_stream();
    if let Ok(v) = HeaderValue::from_str(mime.essence_str()) {
        headers.insert(header::CONTENT_TYPE, v);
    }
    // Session files are whatever the code wrote: never rendered by a browser on the emulator's origin (an
    // uploaded page's script could otherwise call the API), only saved.
    let encoded: String =
        url::form_urlencoded::byte_serialize(entry.name.as_bytes()).collect::<String>().replace('+', "%20");
    if let Ok(v) = HeaderValue::from_str(&format!("attachment; filename*=UTF-8''{encoded}")) {
        headers.insert(header::CONTENT_DISPOSITION, v);
    }
    headers.insert(header::X_CONTENT_TYPE_OPTIONS, HeaderValue::from_static("nosniff"));
    headers.insert(header::CONTENT_SECURITY_POLICY, HeaderValue::from_static("sandbox"));
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
    Pool(pool): Pool,
    RawQuery(raw): RawQuery,
    Path(p): Path<WildcardPath>,
) -> Result<Response, ApiError> {
    let query = Query::parse(raw.as_deref())?;
    let name = p.path.strip_prefix("mnt/data/").unwrap_or(&p.path);
    let path = directory(&query)?.join(&RelPath::parse(name).map_err(fs_error)?);
    download(&pool, &query, path).await
}

/// `GET files/{name}/content?path=` (current).
pub(crate) async fn download_current(
    Pool(pool): Pool,
    RawQuery(raw): RawQuery,
    Path(p): Path<NamePath>,
) -> Result<Response, ApiError> {
    let query = Query::parse(raw.as_deref())?;
    let path = directory(&query)?.join(&RelPath::parse(&p.name).map_err(fs_error)?);
    download(&pool, &query, path).await
}

//! A session's files in `/mnt/data`: upload, list, metadata, download, delete.

mod download;
mod model;
mod upload;

use std::future::{Future, IntoFuture};
use std::path::Path;
use std::pin::Pin;
use std::time::Duration;

use bytes::Bytes;
use serde_json::Value;
use tokio::io::AsyncRead;

pub use download::Download;
pub use model::{FileKind, RemoteFile};
pub use upload::MAX_UPLOAD_BYTES;
use upload::Source;

use crate::api_version::ApiFamily;
use crate::error::{Error, ServiceError};
use crate::paging;
use crate::remote_path::{self, IntoRemotePath, RemotePath};
use crate::retry::Replay;
use crate::session::Session;
use crate::transport::{Op, Timing, Transport, read_json};

/// How deep a client-side recursive listing goes (versions without server-side `recursive`).
const MAX_WALK_DEPTH: usize = 32;

/// The files of one session. Obtain with [`Session::files`].
#[derive(Debug, Clone)]
pub struct Files {
    session: Session,
}

impl Files {
    pub(crate) fn new(session: Session) -> Self {
        Files { session }
    }

    fn transport(&self) -> &Transport {
        &self.session.client.transport
    }

    /// Uploads bytes to `remote` (a name such as `data.csv`, or a path such as `in/data.csv`).
    ///
    /// # Errors
    /// [`Error::InvalidInput`] for a bad path; [`Error::PayloadTooLarge`] above 128 MiB (checked before
    /// sending); service and transport errors.
    pub async fn upload(&self, remote: impl IntoRemotePath, data: impl Into<Bytes>) -> Result<RemoteFile, Error> {
        self.upload_source(remote.into_remote_path()?, Source::Bytes(data.into())).await
    }

    /// Uploads a local file, streamed from disk (memory stays flat).
    ///
    /// # Errors
    /// As [`Files::upload`], plus [`Error::Io`] when the local file cannot be read.
    pub async fn upload_file(&self, remote: impl IntoRemotePath, local: impl AsRef<Path>) -> Result<RemoteFile, Error> {
        let remote = remote.into_remote_path()?;
        self.upload_source(remote, Source::file(local.as_ref().to_path_buf()).await?).await
    }

    /// Uploads from any `AsyncRead`, streamed. A stream cannot be replayed, so this upload is not retried;
    /// it is cut off with [`Error::PayloadTooLarge`] if it passes 128 MiB.
    ///
    /// # Errors
    /// As [`Files::upload`].
    pub async fn upload_reader(
        &self,
        remote: impl IntoRemotePath,
        reader: impl AsyncRead + Send + 'static,
    ) -> Result<RemoteFile, Error> {
        self.upload_source(remote.into_remote_path()?, Source::reader(reader)).await
    }

    async fn upload_source(&self, remote: RemotePath, source: Source) -> Result<RemoteFile, Error> {
        source.check_size()?;
        let t = self.transport();
        let id = &self.session.id;
        let (url, part_name) = match t.api_version.family() {
            ApiFamily::Legacy => {
                (t.url(&["files", "upload"], &t.api_version, Some(id), &[]), remote.as_str().to_owned())
            }
            _ => {
                let dir: Vec<(&str, &str)> = remote.directory().map(|d| ("path", d)).into_iter().collect();
                (t.url(&["files"], &t.api_version, Some(id), &dir), remote.file_name().to_owned())
            }
        };
        // Allow one second per MiB on top of the request timeout.
        let allowance = Duration::from_secs(source.len().unwrap_or(MAX_UPLOAD_BYTES) >> 20);
        let op = Op {
            name: "files.upload",
            replay: if source.replayable() { Replay::Idempotent } else { Replay::Never },
            allocates: true,
            timing: Timing::Total(t.request_timeout + allowance),
        };
        let (source_ref, part_ref) = (&source, part_name.as_str());
        let result = t
            .send_with(op, Some(id), |http| {
                let url = url.clone();
                async move { Ok(http.post(url).multipart(source_ref.form(part_ref).await?)) }
            })
            .await;
        let response = match result {
            Err(_) if source.exceeded_limit() => return Err(upload::too_large(None)),
            other => other?,
        };
        let v: Value = read_json(op, response).await?;
        // The answer names the file without its directory: it is the one the file was uploaded to.
        let uploaded = RemoteFile::list_from_json_in(&v, remote.directory());
        Ok(uploaded
            .iter()
            .find(|f| f.path() == remote.as_str())
            .or_else(|| uploaded.iter().find(|f| f.name == remote.file_name()))
            .cloned()
            .unwrap_or_else(|| RemoteFile {
                name: remote.file_name().to_owned(),
                directory: remote.directory().map(str::to_owned),
                kind: FileKind::File,
                size: source.len(),
                last_modified: None,
                content_type: None,
            }))
    }

    /// Lists files: await it for the top level, or set [`ListFiles::path`] and [`ListFiles::recursive`].
    pub fn list(&self) -> ListFiles {
        ListFiles { files: self.clone(), path: None, recursive: false }
    }

    /// One file's metadata.
    ///
    /// # Errors
    /// [`Error::NotFound`] when there is no such file; service and transport errors.
    pub async fn metadata(&self, remote: impl IntoRemotePath) -> Result<RemoteFile, Error> {
        let remote = remote.into_remote_path()?;
        let t = self.transport();
        if t.api_version.family() == ApiFamily::Legacy {
            // The legacy family has no metadata route on the built-in service: look the file up in its directory.
            let listing = self.list_dir(remote.directory()).await?;
            return listing.into_iter().find(|f| f.name == remote.file_name()).ok_or_else(|| {
                Error::NotFound(Box::new(ServiceError::not_found(
                    "FileNotFound",
                    format!("no file {} in the session", remote.absolute()),
                )))
            });
        }
        let url = self.file_url(&remote, &[]);
        let op = t.op("files.metadata", Replay::Idempotent, false);
        let response = t.send(op, Some(&self.session.id), |http| Ok(http.get(url.clone()))).await?;
        let v: Value = read_json(op, response).await?;
        RemoteFile::from_json_in(&v, remote.directory()).ok_or_else(|| Error::Decode {
            operation: op.name,
            message: "the answer names no file".to_owned(),
            body_snippet: v.to_string().chars().take(256).collect(),
        })
    }

    /// Starts a download; the body is streamed by the returned [`Download`].
    ///
    /// # Errors
    /// [`Error::NotFound`] when there is no such file; service and transport errors.
    pub async fn download(&self, remote: impl IntoRemotePath) -> Result<Download, Error> {
        let remote = remote.into_remote_path()?;
        let t = self.transport();
        let url = match t.api_version.family() {
            ApiFamily::Legacy => {
                let mut segments = vec!["files", "content"];
                segments.extend(remote.segments());
                t.url(&segments, &t.api_version, Some(&self.session.id), &[])
            }
            _ => self.file_url(&remote, &["content"]),
        };
        let op = Op {
            name: "files.download",
            replay: Replay::Idempotent,
            allocates: false,
            timing: Timing::Headers(t.request_timeout),
        };
        let response = t.send(op, Some(&self.session.id), |http| Ok(http.get(url.clone()))).await?;
        Ok(Download::new(response, t.idle_timeout))
    }

    /// Deletes a file.
    ///
    /// # Errors
    /// [`Error::NotFound`] when there is no such file; service and transport errors.
    pub async fn delete(&self, remote: impl IntoRemotePath) -> Result<(), Error> {
        let remote = remote.into_remote_path()?;
        let t = self.transport();
        let url = match t.api_version.family() {
            ApiFamily::Legacy => {
                let mut segments = vec!["files"];
                segments.extend(remote.segments());
                t.url(&segments, &t.api_version, Some(&self.session.id), &[])
            }
            _ => self.file_url(&remote, &[]),
        };
        let op = t.op("files.delete", Replay::Idempotent, false);
        t.send(op, Some(&self.session.id), |http| Ok(http.delete(url.clone()))).await?;
        Ok(())
    }

    /// `files/{name}[/suffix]?path={dir}` (current family).
    fn file_url(&self, remote: &RemotePath, suffix: &[&str]) -> url::Url {
        let t = self.transport();
        let mut segments = vec!["files", remote.file_name()];
        segments.extend_from_slice(suffix);
        let dir: Vec<(&str, &str)> = remote.directory().map(|d| ("path", d)).into_iter().collect();
        t.url(&segments, &t.api_version, Some(&self.session.id), &dir)
    }

    /// One directory (following `nextLink`), or everything below it when `recursive` is supported.
    async fn list_pages(&self, dir: Option<&str>, recursive: bool) -> Result<Vec<RemoteFile>, Error> {
        let t = self.transport();
        let id = &self.session.id;
        let mut query: Vec<(&str, &str)> = dir.map(|d| ("path", d)).into_iter().collect();
        if recursive {
            query.push(("recursive", "true"));
        }
        // A 404 on a top-level listing means no session could be allocated.
        let op = t.op("files.list", Replay::Idempotent, dir.is_none());
        let first = t.url(&["files"], &t.api_version, Some(id), &query);
        paging::collect(t, op, reqwest::Method::GET, Some(id), first, |page| RemoteFile::list_from_json_in(page, dir))
            .await
    }

    async fn list_dir(&self, dir: Option<&str>) -> Result<Vec<RemoteFile>, Error> {
        self.list_pages(dir, false).await
    }

    async fn list_recursive(&self, dir: Option<String>) -> Result<Vec<RemoteFile>, Error> {
        let t = self.transport();
        match t.api_version.family() {
            ApiFamily::Legacy => Err(Error::invalid(format!(
                "recursive listing needs api-version {} or later; this client uses {}",
                crate::ApiVersion::V2024_10_02_PREVIEW,
                t.api_version
            ))),
            _ if t.api_version.has_recursive_listing() => self.list_pages(dir.as_deref(), true).await,
            _ => {
                // Older current-family versions: walk the directories on the client.
                let mut out = Vec::new();
                let mut pending = vec![(dir, 0usize)];
                while let Some((dir, depth)) = pending.pop() {
                    for entry in self.list_dir(dir.as_deref()).await? {
                        if entry.is_dir() && depth < MAX_WALK_DEPTH {
                            pending.push((Some(entry.path()), depth + 1));
                        }
                        out.push(entry);
                    }
                }
                Ok(out)
            }
        }
    }
}

/// A file listing. Await it, or call [`ListFiles::send`].
#[derive(Debug)]
#[must_use = "a listing does nothing until it is awaited"]
pub struct ListFiles {
    files: Files,
    path: Option<String>,
    recursive: bool,
}

impl ListFiles {
    /// The directory to list, relative to `/mnt/data` (or absolute under it). Default: `/mnt/data`.
    pub fn path(mut self, directory: impl Into<String>) -> Self {
        self.path = Some(directory.into());
        self
    }

    /// Lists everything below the directory, not just its direct entries.
    pub fn recursive(mut self, recursive: bool) -> Self {
        self.recursive = recursive;
        self
    }

    /// Runs the listing.
    ///
    /// # Errors
    /// [`Error::InvalidInput`] for a directory outside `/mnt/data` (or recursion on a legacy api-version);
    /// service and transport errors.
    pub async fn send(self) -> Result<Vec<RemoteFile>, Error> {
        let dir = match &self.path {
            Some(p) => remote_path::directory(p)?,
            None => None,
        };
        if self.recursive { self.files.list_recursive(dir).await } else { self.files.list_dir(dir.as_deref()).await }
    }
}

impl IntoFuture for ListFiles {
    type Output = Result<Vec<RemoteFile>, Error>;
    type IntoFuture = Pin<Box<dyn Future<Output = Self::Output> + Send>>;

    fn into_future(self) -> Self::IntoFuture {
        Box::pin(self.send())
    }
}

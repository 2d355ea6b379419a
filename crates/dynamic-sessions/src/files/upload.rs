//! What can be uploaded, and how it becomes a multipart part without loading it into memory.

use std::fmt;
use std::path::PathBuf;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};

use bytes::Bytes;
use futures_util::StreamExt;
use reqwest::Body;
use reqwest::multipart::{Form, Part};
use tokio::io::AsyncRead;
use tokio::sync::Mutex;
use tokio_util::io::ReaderStream;

use crate::error::Error;

/// The service's upload limit: 128 MiB.
pub const MAX_UPLOAD_BYTES: u64 = 128 * 1024 * 1024;

type BoxReader = Box<dyn AsyncRead + Send + Unpin>;

/// The data of one upload.
pub(crate) enum Source {
    Bytes(Bytes),
    File {
        path: PathBuf,
        len: u64,
    },
    /// A one-shot stream: it cannot be replayed, so it is never retried.
    Reader {
        reader: Mutex<Option<BoxReader>>,
        too_large: Arc<AtomicBool>,
    },
}

impl Source {
    pub(crate) async fn file(path: PathBuf) -> Result<Source, Error> {
        let meta = tokio::fs::metadata(&path)
            .await
            .map_err(|source| Error::Io { path: path.display().to_string(), source })?;
        if !meta.is_file() {
            return Err(Error::invalid(format!("{} is not a regular file", path.display())));
        }
        Ok(Source::File { path, len: meta.len() })
    }

    pub(crate) fn reader(reader: impl AsyncRead + Send + 'static) -> Source {
        Source::Reader { reader: Mutex::new(Some(Box::new(Box::pin(reader)))), too_large: Arc::default() }
    }

    /// The size, when known before sending.
    pub(crate) fn len(&self) -> Option<u64> {
        match self {
            Source::Bytes(b) => Some(b.len() as u64),
            Source::File { len, .. } => Some(*len),
            Source::Reader { .. } => None,
        }
    }

    pub(crate) fn replayable(&self) -> bool {
        !matches!(self, Source::Reader { .. })
    }

    /// Rejects known sizes above the limit before anything is sent.
    pub(crate) fn check_size(&self) -> Result<(), Error> {
        match self.len() {
            Some(len) if len > MAX_UPLOAD_BYTES => Err(too_large(Some(len))),
            _ => Ok(()),
        }
    }

    /// Whether a streamed upload was cut off because it passed the limit.
    pub(crate) fn exceeded_limit(&self) -> bool {
        matches!(self, Source::Reader { too_large, .. } if too_large.load(Ordering::Acquire))
    }

    /// A multipart form with one part named `file`. Files are opened anew for each attempt.
    pub(crate) async fn form(&self, file_name: &str) -> Result<Form, Error> {
        let part = match self {
            Source::Bytes(b) => Part::stream_with_length(Body::from(b.clone()), b.len() as u64),
            Source::File { path, len } => {
                let file = tokio::fs::File::open(path)
                    .await
                    .map_err(|source| Error::Io { path: path.display().to_string(), source })?;
                Part::stream_with_length(Body::wrap_stream(ReaderStream::new(file)), *len)
            }
            Source::Reader { reader, too_large } => {
                let reader = reader
                    .lock()
                    .await
                    .take()
                    .ok_or_else(|| Error::invalid("an upload stream can be sent only once"))?;
                let flag = too_large.clone();
                let mut sent: u64 = 0;
                let limited = ReaderStream::new(reader).map(move |chunk| {
                    let chunk = chunk?;
                    sent += chunk.len() as u64;
                    if sent > MAX_UPLOAD_BYTES {
                        flag.store(true, Ordering::Release);
                        return Err(std::io::Error::other("upload exceeds the 128 MiB limit"));
                    }
                    Ok::<Bytes, std::io::Error>(chunk)
                });
                Part::stream(Body::wrap_stream(limited))
            }
        };
        let part = part
            .file_name(file_name.to_owned())
            .mime_str("application/octet-stream")
            .map_err(|e| Error::invalid(format!("cannot build the upload: {e}")))?;
        Ok(Form::new().part("file", part))
    }
}

pub(crate) fn too_large(len: Option<u64>) -> Error {
    let size = len.map(|l| format!("{l} bytes")).unwrap_or_else(|| "the stream".to_owned());
    Error::PayloadTooLarge {
        message: format!(
            "{size} exceeds the service's upload limit of {MAX_UPLOAD_BYTES} bytes (128 MiB); split or compress the file"
        ),
        service: None,
    }
}

impl fmt::Debug for Source {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Source::Bytes(b) => write!(f, "Source::Bytes({} bytes)", b.len()),
            Source::File { path, len } => write!(f, "Source::File({}, {len} bytes)", path.display()),
            Source::Reader { .. } => f.write_str("Source::Reader"),
        }
    }
}

//! [`Download`]: a file's content, streamed.

use std::fmt;
use std::path::Path;
use std::time::Duration;

use bytes::{Bytes, BytesMut};
use futures_util::Stream;
use reqwest::Response;
use tokio::io::{AsyncWrite, AsyncWriteExt};

use crate::error::Error;

/// A file being downloaded. The body has not been read yet: choose where it goes. Memory stays flat
/// whatever the file size, except with [`Download::bytes`].
pub struct Download {
    response: Response,
    idle_timeout: Duration,
}

impl Download {
    pub(crate) fn new(response: Response, idle_timeout: Duration) -> Self {
        Download { response, idle_timeout }
    }

    /// The size announced by the service, if any.
    pub fn content_length(&self) -> Option<u64> {
        self.response.content_length()
    }

    /// The content type announced by the service, if any.
    pub fn content_type(&self) -> Option<&str> {
        self.response.headers().get(reqwest::header::CONTENT_TYPE).and_then(|v| v.to_str().ok())
    }

    async fn next_chunk(&mut self) -> Result<Option<Bytes>, Error> {
        match tokio::time::timeout(self.idle_timeout, self.response.chunk()).await {
            Err(_) => Err(Error::Timeout { operation: "files.download", after: self.idle_timeout, may_have_run: true }),
            Ok(Err(source)) => Err(Error::Transport { operation: "files.download", sent: true, source }),
            Ok(Ok(chunk)) => Ok(chunk),
        }
    }

    /// Reads the whole file into memory.
    ///
    /// # Errors
    /// [`Error::Transport`] or [`Error::Timeout`] when the body stops early.
    pub async fn bytes(mut self) -> Result<Bytes, Error> {
        let mut buf = BytesMut::with_capacity(self.content_length().unwrap_or(0).min(16 << 20) as usize);
        while let Some(chunk) = self.next_chunk().await? {
            buf.extend_from_slice(&chunk);
        }
        Ok(buf.freeze())
    }

    /// Streams the file into a writer; returns the number of bytes written.
    ///
    /// # Errors
    /// Transport errors, and [`Error::Io`] when the writer fails.
    pub async fn to_writer<W: AsyncWrite + Unpin + ?Sized>(mut self, writer: &mut W) -> Result<u64, Error> {
        let io = |source| Error::Io { path: "download writer".to_owned(), source };
        let mut written = 0u64;
        while let Some(chunk) = self.next_chunk().await? {
            writer.write_all(&chunk).await.map_err(io)?;
            written += chunk.len() as u64;
        }
        writer.flush().await.map_err(io)?;
        Ok(written)
    }

    /// Streams the file to a local path, atomically: it is written to a temporary file beside `path` and
    /// renamed at the end, so a failed download leaves no partial file. Returns the number of bytes.
    ///
    /// # Errors
    /// Transport errors, and [`Error::Io`] when the file cannot be written.
    pub async fn to_file(self, path: impl AsRef<Path>) -> Result<u64, Error> {
        let path = path.as_ref();
        let io = |source| Error::Io { path: path.display().to_string(), source };
        let file_name =
            path.file_name().ok_or_else(|| Error::invalid(format!("{} has no file name", path.display())))?;
        let temp =
            path.with_file_name(format!(".{}.{}.part", file_name.to_string_lossy(), uuid::Uuid::new_v4().simple()));
        let result = async {
            let mut file = tokio::fs::File::create(&temp).await.map_err(io)?;
            let written = self.to_writer(&mut file).await?;
            file.sync_all().await.map_err(io)?;
            drop(file);
            tokio::fs::rename(&temp, path).await.map_err(io)?;
            Ok(written)
        }
        .await;
        if result.is_err() {
            let _ = tokio::fs::remove_file(&temp).await;
        }
        result
    }

    /// The body as a stream of chunks.
    pub fn into_stream(self) -> impl Stream<Item = Result<Bytes, Error>> + Send + 'static {
        futures_util::stream::unfold(Some(self), |state| async move {
            let mut download = state?;
            match download.next_chunk().await {
                Ok(Some(chunk)) => Some((Ok(chunk), Some(download))),
                Ok(None) => None,
                Err(e) => Some((Err(e), None)),
            }
        })
    }
}

impl fmt::Debug for Download {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Download")
            .field("content_length", &self.content_length())
            .field("content_type", &self.content_type())
            .finish()
    }
}

//! Progress of a transfer on stderr, on a terminal only (none when piped or with `--json`).

use std::io::IsTerminal;
use std::pin::Pin;
use std::task::{Context, Poll};

use indicatif::{ProgressBar, ProgressStyle};
use tokio::io::{AsyncRead, ReadBuf};

/// A progress bar of `total` bytes (hidden unless stderr is a terminal).
pub(crate) fn bar(total: Option<u64>, label: &str, json: bool) -> ProgressBar {
    if json || !std::io::stderr().is_terminal() {
        return ProgressBar::hidden();
    }
    let bar = match total {
        Some(total) => ProgressBar::new(total),
        None => ProgressBar::no_length(),
    };
    let style = ProgressStyle::with_template("{msg} {bar:30} {bytes}/{total_bytes} {bytes_per_sec} {eta}")
        .unwrap_or_else(|_| ProgressStyle::default_bar());
    bar.set_style(style);
    bar.set_message(label.to_owned());
    bar
}

/// A reader that advances a progress bar by what passes through it.
pub(crate) struct Counted<R> {
    inner: R,
    bar: ProgressBar,
}

impl<R> Counted<R> {
    pub(crate) fn new(inner: R, bar: ProgressBar) -> Counted<R> {
        Counted { inner, bar }
    }
}

impl<R: AsyncRead + Unpin> AsyncRead for Counted<R> {
    fn poll_read(mut self: Pin<&mut Self>, cx: &mut Context<'_>, buf: &mut ReadBuf<'_>) -> Poll<std::io::Result<()>> {
        let before = buf.filled().len();
        let polled = Pin::new(&mut self.inner).poll_read(cx, buf);
        let read = buf.filled().len().saturating_sub(before);
        self.bar.inc(read as u64);
        polled
    }
}

//! A turn as a stream: the turn is an ordinary `async fn` that sends its events as it goes, and the stream
//! polls that future and hands the events out in order. Dropping the stream drops the future, which stops the
//! turn where it is (the model request in flight is cancelled).

use std::future::Future;
use std::pin::Pin;
use std::task::{Context, Poll};

use futures_util::Stream;
use tokio::sync::mpsc;

use crate::turn::{TurnEvent, TurnFailure};

/// Where a turn sends its events.
#[derive(Debug, Clone)]
pub(super) struct Events(mpsc::UnboundedSender<TurnEvent>);

impl Events {
    /// The stream of the events `turn` sends, which runs `turn` as it is polled.
    pub(super) fn drive<'a, F, Fut>(turn: F) -> impl Stream<Item = TurnEvent> + Send + 'a
    where
        F: FnOnce(Events) -> Fut,
        Fut: Future<Output = ()> + Send + 'a,
    {
        let (sender, receiver) = mpsc::unbounded_channel();
        TurnStream { turn: Some(Box::pin(turn(Events(sender)))), receiver }
    }

    /// Sends one event (a stream dropped meanwhile receives nothing more).
    pub(super) fn send(&self, event: TurnEvent) {
        let _ = self.0.send(event);
    }

    /// Ends the turn without an answer: sends the failure, and returns `None` for the caller to return.
    pub(super) fn fail<T>(&self, failure: TurnFailure) -> Option<T> {
        self.send(TurnEvent::Failed(failure));
        None
    }
}

struct TurnStream<'a> {
    /// The turn, until it has finished.
    turn: Option<Pin<Box<dyn Future<Output = ()> + Send + 'a>>>,
    receiver: mpsc::UnboundedReceiver<TurnEvent>,
}

impl Stream for TurnStream<'_> {
    type Item = TurnEvent;

    fn poll_next(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Option<TurnEvent>> {
        if let Poll::Ready(Some(event)) = self.receiver.poll_recv(cx) {
            return Poll::Ready(Some(event));
        }
        if let Some(turn) = self.turn.as_mut()
            && turn.as_mut().poll(cx).is_ready()
        {
            // The turn is over: its sender is gone, so the receiver ends once it is drained.
            self.turn = None;
        }
        self.receiver.poll_recv(cx)
    }
}

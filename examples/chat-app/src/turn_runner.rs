//! One agent turn, run in the background of `POST /api/chat`: every step is stored as it is streamed to the
//! page; the turn's lease is renewed while it runs, and Stop (pressed on this replica or any other) ends it.

use std::sync::Arc;

use dynamic_sessions_agent_tools::rig::{ChatAgent, History};
use futures_util::StreamExt;
use tokio::sync::mpsc;

use crate::conversations::Live;
use crate::events::PageEvent;
use crate::store::{HEARTBEAT, Store, TurnLease};

/// What the page is told when Stop ends a turn.
pub const STOPPED: &str = "Stopped. The session keeps its variables and files.";

/// What the page is told when the turn's lease was taken over (its process was thought dead).
const LEASE_LOST: &str = "This answer was stopped: another copy of the app took the conversation over.";

/// What a turn writes to.
#[derive(Debug)]
pub struct TurnContext {
    /// The store.
    pub store: Store,
    /// The conversation's owner.
    pub owner: String,
    /// The conversation's state in this process.
    pub live: Arc<Live>,
    /// The turn's hold on the conversation.
    pub lease: TurnLease,
    /// The model, as the page names it.
    pub model: String,
    /// Whether a step failed to be stored (said once).
    unsaved: bool,
    /// The text streamed since the last step: the answer, or text the page will keep as narration.
    text: String,
}

impl TurnContext {
    /// A turn's context.
    pub fn new(store: Store, owner: String, live: Arc<Live>, lease: TurnLease, model: String) -> Self {
        TurnContext { store, owner, live, lease, model, unsaved: false, text: String::new() }
    }

    fn id(&self) -> &str {
        &self.lease.conversation
    }

    /// Stores `event`; when that fails, the page is told once (the turn goes on).
    async fn record(&mut self, event: &PageEvent, tx: &mpsc::Sender<PageEvent>) {
        if let Err(e) = self.store.append(&self.owner, &self.lease.conversation, event).await {
            tracing::error!(error = %e, "a step could not be stored");
            if !self.unsaved {
                self.unsaved = true;
                let notice = "The conversation database does not answer: this answer may be missing after a reload.";
                let _ = tx.send(PageEvent::Notice { message: notice.into() }).await;
            }
        }
    }

    /// Stores `event` and sends it to the page; `false` when the page is gone.
    async fn emit(&mut self, event: PageEvent, tx: &mpsc::Sender<PageEvent>) -> bool {
        self.follow_text(&event, tx).await;
        if let Some(entry) = event.logged() {
            self.record(&entry, tx).await;
        }
        tx.send(event).await.is_ok()
    }

    /// Follows the streamed text as the page shows it: an answer replaces it, a withdrawn call removes it, and a
    /// step (or the end) seals it, and the page keeps it: then it is stored as narration.
    async fn follow_text(&mut self, event: &PageEvent, tx: &mpsc::Sender<PageEvent>) {
        match event {
            PageEvent::Text { delta } => self.text.push_str(delta),
            PageEvent::TextWithdrawn | PageEvent::Done { .. } => self.forget_text().await,
            PageEvent::WritingCode { .. }
            | PageEvent::ToolCall { .. }
            | PageEvent::Error { .. }
            | PageEvent::Stopped { .. }
                if !self.text.is_empty() =>
            {
                let narration = PageEvent::Narration { text: self.text.clone() };
                self.record(&narration, tx).await;
                self.forget_text().await;
            }
            _ => {}
        }
    }

    /// Drops the streamed text, here and as the saved draft (it is now a stored step, or gone).
    async fn forget_text(&mut self) {
        if self.text.is_empty() {
            return;
        }
        self.text.clear();
        if let Err(e) = self.store.heartbeat(&self.lease, "").await {
            tracing::warn!(error = %e, "the draft could not be cleared");
        }
    }

    /// Keeps what the turn leaves (the model's history, the session as seen) and gives the lease back.
    async fn finish(&self, history: &History) {
        // The session as it is now (a first turn made it), so an expiry is noticed later, on any replica.
        if let Err(e) = self.live.interpreter().check_session().await {
            tracing::warn!(error = %e, "could not look at the session");
        }
        let json = serde_json::to_string(history).unwrap_or_else(|_| "[]".into());
        let seen = self.live.session_seen();
        if let Err(e) = self.store.save_turn(&self.owner, self.id(), &json, Some(&self.model), seen.as_deref()).await {
            tracing::error!(error = %e, "the turn's history could not be stored");
        }
        if let Err(e) = self.store.end_turn(&self.lease).await {
            tracing::error!(error = %e, "the turn's lease could not be given back; it expires by itself");
        }
    }
}

/// Why the loop ended early.
enum Ending {
    /// The page closed: nothing more to say.
    Gone,
    /// Say this.
    Note(&'static str),
}

/// Runs `agent`'s turn on `message`, streaming to `tx` and storing every step.
pub async fn run_turn(
    mut ctx: TurnContext,
    agent: ChatAgent,
    mut history: History,
    message: String,
    tx: mpsc::Sender<PageEvent>,
) {
    ctx.record(&PageEvent::User { text: message.clone() }, &tx).await;
    let mut stop = ctx.live.arm_stop();
    let mut beat = tokio::time::interval(HEARTBEAT);
    beat.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    let mut turn = Box::pin(agent.turn(&mut history, message));
    let ended = loop {
        let event = tokio::select! {
            event = turn.next() => event,
            Ok(()) = &mut stop => break Some(Ending::Note(STOPPED)),
            _ = beat.tick() => match ctx.store.heartbeat(&ctx.lease, &ctx.text).await {
                Ok(Some(true)) => break Some(Ending::Note(STOPPED)),
                Ok(None) => break Some(Ending::Note(LEASE_LOST)),
                Ok(Some(false)) => continue,
                Err(e) => {
                    tracing::warn!(error = %e, "the turn's lease could not be renewed");
                    continue;
                }
            },
            () = tx.closed() => {
                // The page is gone: stop the turn (dropping it cancels the model call and the execution).
                tracing::info!("the page closed: its turn is stopped");
                break Some(Ending::Gone);
            }
        };
        let Some(event) = event else { break None };
        let mut open = true;
        for page_event in PageEvent::of_turn(event) {
            open = ctx.emit(page_event, &tx).await;
            if !open {
                break;
            }
        }
        if !open {
            break Some(Ending::Gone);
        }
    };
    drop(turn);
    ctx.live.disarm_stop();
    let note = match ended {
        Some(Ending::Note(note)) => Some(note),
        // A closed page stopped the turn: the stored conversation says so.
        Some(Ending::Gone) => Some(STOPPED),
        None => None,
    };
    if let Some(note) = note {
        ctx.emit(PageEvent::Stopped { message: note.to_owned() }, &tx).await;
    }
    ctx.finish(&history).await;
}

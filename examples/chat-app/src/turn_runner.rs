//! One agent turn, run in the background of `POST /api/chat`: every step is stored as it is streamed to the
//! page; the turn's lease is renewed while it runs (with the text of the answer being written), and Stop
//! (pressed on this replica or any other) ends it.

use std::sync::Arc;
use std::time::Instant;

use dynamic_sessions_agent_tools::rig::{ChatAgent, History};
use futures_util::StreamExt;
use tokio::sync::mpsc;

use crate::conversations::Live;
use crate::events::PageEvent;
use crate::store::{HEARTBEAT, STALE_AFTER, Store, TurnLease};

/// What the page is told when Stop ends a turn.
pub const STOPPED: &str = "Stopped. The session keeps its variables and files.";

/// What the page is told when the turn lost its hold on the conversation.
const LEASE_LOST: &str = "This answer was stopped: the conversation was deleted, or another copy of the app took it \
                          over.";

/// What the page is told when the database stopped answering for too long to keep the turn's lease.
const DATABASE_LOST: &str = "This answer was stopped: the conversation database stopped answering.";

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
    /// Whether the turn lost its hold on the conversation: then it writes nothing more.
    lost: bool,
    /// The text streamed since the last step: the answer, or text the page will keep as narration.
    text: String,
}

impl TurnContext {
    /// A turn's context.
    pub fn new(store: Store, owner: String, live: Arc<Live>, lease: TurnLease, model: String) -> Self {
        TurnContext { store, owner, live, lease, model, unsaved: false, lost: false, text: String::new() }
    }

    /// Stores `event` as a step of this turn; when that fails, the page is told once (the turn goes on).
    async fn record(&mut self, event: &PageEvent, tx: &mpsc::Sender<PageEvent>) {
        if self.lost {
            return;
        }
        match self.store.append_in_turn(&self.owner, &self.lease, event).await {
            Ok(true) => {}
            Ok(false) => self.lost = true,
            Err(e) => {
                tracing::error!(error = %e, "a step could not be stored");
                if !self.unsaved {
                    self.unsaved = true;
                    let notice =
                        "The conversation database does not answer: this answer may be missing after a reload.";
                    let _ = tx.send(PageEvent::Notice { message: notice.into() }).await;
                }
            }
        }
    }

    /// Stores `event` and sends it to the page; `false` when the page is gone. Text the page keeps on screen
    /// when a step follows is stored first, as narration.
    async fn emit(&mut self, event: PageEvent, tx: &mpsc::Sender<PageEvent>) -> bool {
        let seals = matches!(
            event,
            PageEvent::WritingCode { .. }
                | PageEvent::ToolCall { .. }
                | PageEvent::Error { .. }
                | PageEvent::Stopped { .. }
        );
        if seals && !self.text.is_empty() {
            let narration = PageEvent::Narration { text: std::mem::take(&mut self.text) };
            self.record(&narration, tx).await;
        }
        match &event {
            PageEvent::Text { delta } => self.text.push_str(delta),
            // The answer replaces the text (storing it drops the draft in the same transaction).
            PageEvent::Done { .. } => self.text.clear(),
            PageEvent::TextWithdrawn => {
                self.text.clear();
                if !self.lost {
                    let _ = self.store.heartbeat(&self.lease, "").await;
                }
            }
            _ => {}
        }
        if let Some(entry) = event.logged() {
            self.record(&entry, tx).await;
        }
        tx.send(event).await.is_ok()
    }

    /// Keeps what the turn leaves (the model's history, the session as seen) and gives the lease back.
    async fn finish(&self, history: &History) {
        if self.lost {
            return;
        }
        // The session as it is now (a first turn made it), so an expiry is noticed later, on any replica.
        if let Err(e) = self.live.interpreter().check_session().await {
            tracing::warn!(error = %e, "could not look at the session");
        }
        let json = serde_json::to_string(history).unwrap_or_else(|_| "[]".into());
        let seen = self.live.session_seen();
        let saved = self.store.save_turn(&self.owner, &self.lease, &json, Some(&self.model), seen.as_deref()).await;
        if let Err(e) = saved {
            tracing::error!(error = %e, "the turn's history could not be stored");
        }
        if let Err(e) = self.store.end_turn(&self.lease).await {
            tracing::error!(error = %e, "the turn's lease could not be given back; it expires by itself");
        }
    }
}

/// Why the loop ended early.
enum Ending {
    /// The page closed: nothing more to say to it.
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
    let mut renewed = Instant::now();
    let mut turn = Box::pin(agent.turn(&mut history, message));
    let ended = loop {
        let event = tokio::select! {
            event = turn.next() => event,
            Ok(()) = &mut stop => break Some(Ending::Note(STOPPED)),
            _ = beat.tick() => match ctx.store.heartbeat(&ctx.lease, &ctx.text).await {
                Ok(Some(true)) => break Some(Ending::Note(STOPPED)),
                Ok(None) => {
                    ctx.lost = true;
                    break Some(Ending::Note(LEASE_LOST));
                }
                Ok(Some(false)) => {
                    renewed = Instant::now();
                    continue;
                }
                // Unrenewed for half the time after which another replica may take the turn for dead: stop.
                Err(_) if renewed.elapsed() > STALE_AFTER / 2 => break Some(Ending::Note(DATABASE_LOST)),
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

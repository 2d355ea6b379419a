//! What a conversation has in this process: its interpreter (on the pool session derived from the owner's
//! identity and the conversation's id, so every replica reaches the same session) and the Stop of a turn that
//! runs here. Everything else (the steps, the titles, the model's history) is in the [`Store`].

use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::Instant;

use dynamic_sessions_agent_tools::{CodeInterpreter, SessionProvider};
use time::OffsetDateTime;
use time::format_description::well_known::Rfc3339;
use tokio::sync::oneshot;

use crate::store::Store;

/// The most conversations whose interpreters are kept in memory; the least recently used go first.
const MAX_LIVE: usize = 10_000;

/// A conversation's state in this process.
#[derive(Debug)]
pub struct Live {
    interpreter: CodeInterpreter,
    last_used: Mutex<Instant>,
    /// Stops the turn running here, when one runs.
    stop: Mutex<Option<oneshot::Sender<()>>>,
}

impl Live {
    /// Called by a turn as it starts: the receiver completes when the user presses Stop on this replica.
    pub fn arm_stop(&self) -> oneshot::Receiver<()> {
        let (sender, receiver) = oneshot::channel();
        if let Ok(mut stop) = self.stop.lock() {
            *stop = Some(sender);
        }
        receiver
    }

    /// Called by a turn as it ends.
    pub fn disarm_stop(&self) {
        if let Ok(mut stop) = self.stop.lock() {
            *stop = None;
        }
    }

    /// Stops the turn running here; `false` when none runs here.
    pub fn stop(&self) -> bool {
        let sender = self.stop.lock().ok().and_then(|mut s| s.take());
        sender.is_some_and(|s| s.send(()).is_ok())
    }

    /// The interpreter on the conversation's session.
    pub fn interpreter(&self) -> &CodeInterpreter {
        &self.interpreter
    }

    /// The session as the interpreter last saw it, as stored.
    pub fn session_seen(&self) -> Option<String> {
        seen_to_text(self.interpreter.session_seen())
    }

    /// Restores the session as last seen (by any replica) from its stored form.
    pub fn remember_session(&self, stored: Option<&str>) {
        self.interpreter.remember_session(seen_from_text(stored));
    }
}

/// `None` (never seen), `""` (seen, creation time unknown) or an RFC 3339 time.
fn seen_to_text(seen: Option<Option<OffsetDateTime>>) -> Option<String> {
    seen.map(|created| created.and_then(|t| t.format(&Rfc3339).ok()).unwrap_or_default())
}

fn seen_from_text(text: Option<&str>) -> Option<Option<OffsetDateTime>> {
    text.map(|t| OffsetDateTime::parse(t, &Rfc3339).ok())
}

/// The conversations: the store, and the interpreters of the ones used lately.
#[derive(Debug)]
pub struct Conversations {
    sessions: SessionProvider,
    store: Store,
    secret: Arc<Vec<u8>>,
    /// `std` mutex: lookups only, never held across `.await`.
    live: Mutex<HashMap<String, Arc<Live>>>,
}

impl Conversations {
    /// Conversations kept in `store`, on sessions from `sessions`; `secret` keys the owner hashes.
    pub fn new(sessions: SessionProvider, store: Store, secret: Arc<Vec<u8>>) -> Self {
        Conversations { sessions, store, secret, live: Mutex::new(HashMap::new()) }
    }

    /// The store.
    pub fn store(&self) -> &Store {
        &self.store
    }

    /// The owner of `identity`'s conversations in the store: a keyed hash, so the database never holds what
    /// the cookie holds.
    pub fn owner(&self, identity: &str) -> String {
        crate::identity::owner_of(&self.secret, identity)
    }

    /// The state of `identity`'s conversation `id` in this process, made on first use.
    pub fn live(&self, identity: &str, id: &str) -> Arc<Live> {
        let fresh = || {
            let interpreter = match self.sessions.interpreter(identity, id) {
                Ok(interpreter) => interpreter,
                Err(e) => {
                    tracing::error!(error = %e, "cannot derive a session identifier");
                    self.sessions.random_interpreter()
                }
            };
            Arc::new(Live { interpreter, last_used: Mutex::new(Instant::now()), stop: Mutex::new(None) })
        };
        let Ok(mut live) = self.live.lock() else { return fresh() };
        if let Some(found) = live.get(id) {
            if let Ok(mut t) = found.last_used.lock() {
                *t = Instant::now();
            }
            return found.clone();
        }
        if live.len() >= MAX_LIVE {
            let oldest = live
                .iter()
                .min_by_key(|(_, c)| c.last_used.lock().map(|t| *t).unwrap_or_else(|_| Instant::now()))
                .map(|(k, _)| k.clone());
            if let Some(key) = oldest {
                live.remove(&key);
            }
        }
        let made = fresh();
        live.insert(id.to_owned(), made.clone());
        made
    }

    /// Forgets a deleted conversation's state in this process.
    pub fn forget(&self, id: &str) {
        if let Ok(mut live) = self.live.lock() {
            live.remove(id);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_session_as_seen_survives_its_stored_form() {
        let t = time::macros::datetime!(2026-12-07 10:00:00 UTC);
        for seen in [None, Some(None), Some(Some(t))] {
            assert_eq!(seen_from_text(seen_to_text(seen).as_deref()), seen);
        }
    }
}

//! Each browser's conversation: its session (derived from its identity and a nonce that "new session"
//! rotates), the model history (both sides), the log the page re-renders after a reload, and the files the
//! agent handed over.

use std::collections::{BTreeSet, HashMap};
use std::sync::{Arc, Mutex, RwLock};
use std::time::Instant;

use dynamic_sessions_agent_tools::rig::History;
use dynamic_sessions_agent_tools::{CodeInterpreter, SessionProvider};
use tokio::sync::oneshot;

use crate::events::PageEvent;

/// The most conversations kept in memory; the least recently used go first.
const MAX_CONVERSATIONS: usize = 10_000;

/// What the chat keeps between requests.
#[derive(Debug, Default)]
pub struct ChatState {
    /// The model history (user and assistant turns, tool calls and results).
    pub history: History,
    /// What the page shows, for re-rendering after a reload.
    pub log: Vec<PageEvent>,
}

/// One browser's conversation.
#[derive(Debug)]
pub struct Conversation {
    interpreter: RwLock<CodeInterpreter>,
    /// Held for the whole of a chat turn: one turn at a time per browser.
    pub chat: tokio::sync::Mutex<ChatState>,
    artifacts: Mutex<BTreeSet<String>>,
    last_used: Mutex<Instant>,
    /// Stops the running turn, when one runs.
    stop: Mutex<Option<oneshot::Sender<()>>>,
}

impl Conversation {
    /// Called by a turn as it starts: the receiver completes when the user presses Stop.
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

    /// Stops the running turn; `false` when none runs.
    pub fn stop(&self) -> bool {
        let sender = self.stop.lock().ok().and_then(|mut s| s.take());
        sender.is_some_and(|s| s.send(()).is_ok())
    }

    /// The interpreter on the conversation's current session.
    pub fn interpreter(&self) -> CodeInterpreter {
        match self.interpreter.read() {
            Ok(i) => i.clone(),
            Err(poisoned) => poisoned.into_inner().clone(),
        }
    }

    /// Marks a file the agent handed over.
    pub fn add_artifact(&self, path: String) {
        if let Ok(mut a) = self.artifacts.lock() {
            a.insert(path);
        }
    }

    /// Whether the agent handed over this file.
    pub fn is_artifact(&self, path: &str) -> bool {
        self.artifacts.lock().map(|a| a.contains(path)).unwrap_or(false)
    }
}

/// All conversations, by browser identity.
#[derive(Debug)]
pub struct Conversations {
    sessions: SessionProvider,
    /// `std` mutex: lookups only, never held across `.await`.
    map: Mutex<HashMap<String, Arc<Conversation>>>,
}

impl Conversations {
    /// An empty store; sessions come from `sessions` (identity and a per-conversation nonce, HMAC-derived).
    pub fn new(sessions: SessionProvider) -> Self {
        Conversations { sessions, map: Mutex::new(HashMap::new()) }
    }

    /// A new conversation's interpreter: the nonce changes with every "new session".
    fn interpreter_for(&self, identity: &str) -> CodeInterpreter {
        let nonce = uuid::Uuid::new_v4().simple().to_string();
        match self.sessions.interpreter(identity, &nonce) {
            Ok(interpreter) => interpreter,
            Err(e) => {
                tracing::error!(error = %e, "cannot derive a session identifier");
                self.sessions.random_interpreter()
            }
        }
    }

    /// The conversation of `identity`, created on first use.
    pub fn get(&self, identity: &str) -> Arc<Conversation> {
        let Ok(mut map) = self.map.lock() else {
            return Arc::new(self.fresh(identity));
        };
        if let Some(c) = map.get(identity) {
            if let Ok(mut t) = c.last_used.lock() {
                *t = Instant::now();
            }
            return c.clone();
        }
        if map.len() >= MAX_CONVERSATIONS {
            let oldest = map
                .iter()
                .min_by_key(|(_, c)| c.last_used.lock().map(|t| *t).unwrap_or_else(|_| Instant::now()))
                .map(|(k, _)| k.clone());
            if let Some(key) = oldest {
                map.remove(&key);
            }
        }
        let conversation = Arc::new(self.fresh(identity));
        map.insert(identity.to_owned(), conversation.clone());
        conversation
    }

    fn fresh(&self, identity: &str) -> Conversation {
        Conversation {
            interpreter: RwLock::new(self.interpreter_for(identity)),
            chat: tokio::sync::Mutex::new(ChatState::default()),
            artifacts: Mutex::new(BTreeSet::new()),
            last_used: Mutex::new(Instant::now()),
            stop: Mutex::new(None),
        }
    }

    /// "New session": releases the old session in the pool and starts a fresh conversation.
    pub async fn reset(&self, identity: &str) {
        let conversation = self.get(identity);
        conversation.stop();
        let mut chat = conversation.chat.lock().await;
        let old = conversation.interpreter();
        if let Err(e) = old.session().delete().await {
            tracing::warn!(error = %e, "could not release the old session; it will expire after its cooldown");
        }
        if let Ok(mut interpreter) = conversation.interpreter.write() {
            *interpreter = self.interpreter_for(identity);
        }
        *chat = ChatState::default();
        if let Ok(mut a) = conversation.artifacts.lock() {
            a.clear();
        }
    }
}

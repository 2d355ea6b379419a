//! [`SessionProvider`]: users and conversations mapped to sessions of their own.

use std::fmt;
use std::sync::Arc;

use dynamic_sessions::{SessionId, SessionPoolClient};

use super::{CodeInterpreter, InterpreterOptions};
use crate::error::ToolError;

/// Maps users and conversations to their own sessions: each gets an unguessable identifier derived with
/// HMAC from a server-side secret, never shown to anyone.
#[derive(Clone)]
pub struct SessionProvider {
    client: SessionPoolClient,
    secret: Arc<Vec<u8>>,
    options: InterpreterOptions,
}

impl fmt::Debug for SessionProvider {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("SessionProvider").field("client", &self.client).finish_non_exhaustive()
    }
}

impl SessionProvider {
    /// A provider deriving identifiers from `secret` (at least 32 random bytes, kept on the server).
    ///
    /// # Errors
    /// [`ToolError::InvalidArguments`] when the secret is too short.
    pub fn new(
        client: SessionPoolClient,
        secret: impl Into<Vec<u8>>,
        options: InterpreterOptions,
    ) -> Result<Self, ToolError> {
        let secret = secret.into();
        SessionId::derive(&secret, "probe", "probe").map_err(|e| ToolError::InvalidArguments(e.to_string()))?;
        Ok(SessionProvider { client, secret: Arc::new(secret), options })
    }

    /// An interpreter on a random session (when no identity is at hand).
    pub fn random_interpreter(&self) -> CodeInterpreter {
        CodeInterpreter::with_options(self.client.session(SessionId::random()), self.options.clone())
    }

    /// The interpreter of one user's conversation.
    ///
    /// # Errors
    /// Never in practice (the secret was checked); kept fallible for future identifier rules.
    pub fn interpreter(&self, user: &str, conversation: &str) -> Result<CodeInterpreter, ToolError> {
        let id = SessionId::derive(&self.secret, user, conversation)
            .map_err(|e| ToolError::InvalidArguments(e.to_string()))?;
        Ok(CodeInterpreter::with_options(self.client.session(id), self.options.clone()))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn providers_give_each_user_and_conversation_its_own_stable_session() -> Result<(), ToolError> {
        let client = SessionPoolClient::new("http://127.0.0.1:9", dynamic_sessions::Auth::none())
            .map_err(|e| ToolError::InvalidArguments(e.to_string()))?;
        let provider = SessionProvider::new(client.clone(), vec![5u8; 32], InterpreterOptions::default())?;
        let id = |user: &str, conversation: &str| -> Result<String, ToolError> {
            Ok(provider.interpreter(user, conversation)?.session().id().to_string())
        };
        assert_eq!(id("alice", "c1")?, id("alice", "c1")?);
        assert_ne!(id("alice", "c1")?, id("alice", "c2")?);
        assert_ne!(id("alice", "c1")?, id("bob", "c1")?);
        assert!(!id("alice", "c1")?.contains("alice"), "the identifier does not reveal the user");
        assert!(
            SessionProvider::new(client, vec![5u8; 8], InterpreterOptions::default()).is_err(),
            "short secrets are refused"
        );
        Ok(())
    }
}

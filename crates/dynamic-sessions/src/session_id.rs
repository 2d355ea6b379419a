//! Session identifiers: validated, unguessable when generated, URL-encoded on the wire.

use std::fmt;
use std::str::FromStr;

use hmac::{Hmac, Mac};
use sha2::Sha256;

use crate::error::Error;

/// Minimum and maximum identifier length (the documented 4–128 characters).
const MIN_LEN: usize = 4;
const MAX_LEN: usize = 128;
/// Punctuation the 2025-10-02 specification allows besides ASCII letters and digits.
const ALLOWED_PUNCTUATION: &str = "_|}{[]:\";'<>?/.,@#$%^&*()-+=!~`";
/// The minimum HMAC key length accepted by [`SessionId::derive`].
pub const MIN_DERIVE_SECRET_LEN: usize = 32;

/// A session identifier (`identifier=` on every session-scoped call).
///
/// The identifier is the only thing that separates one user's session from another's in a pool: anyone with
/// a pool token and the identifier can read that session's files. Generate identifiers with
/// [`SessionId::random`] or [`SessionId::derive`]; never show them to end users.
///
/// Validation follows the documented rules: 4–128 characters, ASCII letters, digits and the punctuation
/// `_|}{[]:";'<>?/.,@#$%^&*()-+=!~` and backtick. The client percent-encodes the identifier on the wire.
#[derive(Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct SessionId(String);

impl SessionId {
    /// Validates an identifier.
    ///
    /// # Errors
    /// [`Error::InvalidInput`] naming the rule that was broken.
    pub fn new(value: impl Into<String>) -> Result<Self, Error> {
        let value = value.into();
        let len = value.chars().count();
        if !(MIN_LEN..=MAX_LEN).contains(&len) {
            return Err(Error::invalid(format!(
                "session identifier must be {MIN_LEN}-{MAX_LEN} characters long, got {len}"
            )));
        }
        if let Some(bad) = value.chars().find(|c| !(c.is_ascii_alphanumeric() || ALLOWED_PUNCTUATION.contains(*c))) {
            return Err(Error::invalid(format!(
                "session identifier contains {bad:?}; use ASCII letters, digits and {ALLOWED_PUNCTUATION}"
            )));
        }
        Ok(SessionId(value))
    }

    /// A fresh random identifier (a UUID v4 from the operating system's CSPRNG, 122 random bits).
    pub fn random() -> Self {
        SessionId(uuid::Uuid::new_v4().to_string())
    }

    /// A stable, unguessable identifier for one user's conversation: `HMAC-SHA256(secret, user, conversation)`.
    ///
    /// A web app keeps `secret` on the server and derives each signed-in user's identifier from it, so the
    /// same user finds their session again, identifiers cannot be guessed from user names, and the identifier
    /// never needs to leave the server. The inputs are length-prefixed, so `("ab", "c")` and `("a", "bc")`
    /// give different identifiers.
    ///
    /// # Errors
    /// [`Error::InvalidInput`] when `secret` is shorter than [`MIN_DERIVE_SECRET_LEN`] bytes.
    pub fn derive(secret: &[u8], user: &str, conversation: &str) -> Result<Self, Error> {
        if secret.len() < MIN_DERIVE_SECRET_LEN {
            return Err(Error::invalid(format!(
                "the secret for SessionId::derive must be at least {MIN_DERIVE_SECRET_LEN} random bytes, got {}",
                secret.len()
            )));
        }
        let mut mac = Hmac::<Sha256>::new_from_slice(secret)
            .map_err(|_| Error::invalid("the secret for SessionId::derive cannot be used as an HMAC key"))?;
        for part in [user, conversation] {
            mac.update(&(part.len() as u64).to_be_bytes());
            mac.update(part.as_bytes());
        }
        let digest = mac.finalize().into_bytes();
        let mut out = String::with_capacity(3 + digest.len() * 2);
        out.push_str("ds-");
        for byte in digest {
            out.push_str(&format!("{byte:02x}"));
        }
        Ok(SessionId(out))
    }

    /// The identifier as sent on the wire (before percent-encoding).
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl fmt::Debug for SessionId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "SessionId({:?})", self.0)
    }
}

impl fmt::Display for SessionId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

impl FromStr for SessionId {
    type Err = Error;
    fn from_str(s: &str) -> Result<Self, Error> {
        SessionId::new(s)
    }
}

impl TryFrom<&str> for SessionId {
    type Error = Error;
    fn try_from(s: &str) -> Result<Self, Error> {
        SessionId::new(s)
    }
}

impl TryFrom<String> for SessionId {
    type Error = Error;
    fn try_from(s: String) -> Result<Self, Error> {
        SessionId::new(s)
    }
}

impl AsRef<str> for SessionId {
    fn as_ref(&self) -> &str {
        &self.0
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn accepts_documented_shapes() {
        for ok in ["abcd", "00000000-0000-0000-0000-000000000001", "a|b&c^d%e$f#(g){h}[i];<j>", &"x".repeat(128)] {
            assert!(SessionId::new(ok).is_ok(), "{ok:?} rejected");
        }
    }

    #[test]
    fn rejects_bad_shapes() {
        for bad in ["", "abc", &"x".repeat(129), "has space", "tab\there", "nul\0byte", "ünï"] {
            let err = SessionId::new(bad).err().map(|e| e.to_string()).unwrap_or_default();
            assert!(err.contains("session identifier"), "{bad:?}: {err}");
        }
    }

    #[test]
    fn random_ids_are_valid_and_distinct() {
        let a = SessionId::random();
        let b = SessionId::random();
        assert_ne!(a, b);
        assert!(SessionId::new(a.as_str()).is_ok());
        assert_eq!(a.as_str().len(), 36);
    }

    #[test]
    fn derive_is_stable_keyed_and_unambiguous() -> Result<(), Error> {
        let key = [7u8; 32];
        let a = SessionId::derive(&key, "alice", "c1")?;
        assert_eq!(a, SessionId::derive(&key, "alice", "c1")?);
        assert_ne!(a, SessionId::derive(&key, "alice", "c2")?);
        assert_ne!(a, SessionId::derive(&[8u8; 32], "alice", "c1")?);
        assert_ne!(SessionId::derive(&key, "ab", "c")?, SessionId::derive(&key, "a", "bc")?);
        assert!(SessionId::new(a.as_str()).is_ok());
        assert!(!a.as_str().contains("alice"));
        assert!(SessionId::derive(&[1u8; 8], "alice", "c1").is_err());
        Ok(())
    }
}

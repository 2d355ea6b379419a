//! The bearer token an emulator may require, compared without leaking its content or length.

use std::hash::{BuildHasher, RandomState};

/// A required bearer token. A presented token is first compared by a keyed hash (SipHash with a random key
/// made at start), whose time depends only on the presented token's length, so a wrong token is refused
/// without its timing telling anything of the expected one, its length included; only a token whose hash
/// matches is then compared byte for byte, in constant time.
pub(crate) struct TokenCheck {
    keyed: RandomState,
    expected_hash: u64,
    expected: Vec<u8>,
}

impl std::fmt::Debug for TokenCheck {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("TokenCheck(<redacted>)")
    }
}

impl TokenCheck {
    pub(crate) fn new(token: &str) -> TokenCheck {
        let keyed = RandomState::new();
        let expected_hash = keyed.hash_one(token.as_bytes());
        TokenCheck { keyed, expected_hash, expected: token.as_bytes().to_vec() }
    }

    /// Whether `presented` is the token.
    pub(crate) fn matches(&self, presented: &str) -> bool {
        self.keyed.hash_one(presented.as_bytes()) == self.expected_hash
            && constant_time_eq(presented.as_bytes(), &self.expected)
    }
}

/// Byte equality whose time depends on the lengths only.
fn constant_time_eq(a: &[u8], b: &[u8]) -> bool {
    if a.len() != b.len() {
        return false;
    }
    let difference = a.iter().zip(b).fold(0u8, |acc, (x, y)| acc | (x ^ y));
    std::hint::black_box(difference) == 0
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_the_token_matches() {
        let check = TokenCheck::new("s3cret-token");
        assert!(check.matches("s3cret-token"));
        for other in ["", "s3cret-toke", "s3cret-token ", "S3CRET-TOKEN", "s3cret-tokenx"] {
            assert!(!check.matches(other), "{other:?}");
        }
        assert!(!format!("{check:?}").contains("s3cret"));
    }
}

//! The bearer token an emulator may require, compared without leaking its content or length.

use hmac::{Hmac, Mac};
use sha2::Sha256;

type HmacSha256 = Hmac<Sha256>;

/// A required bearer token. Only a keyed digest of it is kept; a presented token is digested with the same
/// random key and the digests are compared in constant time, so neither timing nor length reveals it.
pub(crate) struct TokenCheck {
    key: [u8; 32],
    expected: Vec<u8>,
}

impl std::fmt::Debug for TokenCheck {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("TokenCheck(<redacted>)")
    }
}

impl TokenCheck {
    pub(crate) fn new(token: &str) -> TokenCheck {
        let mut key = [0u8; 32];
        key[..16].copy_from_slice(uuid::Uuid::new_v4().as_bytes());
        key[16..].copy_from_slice(uuid::Uuid::new_v4().as_bytes());
        let expected = digest(&key, token.as_bytes()).finalize().into_bytes().to_vec();
        TokenCheck { key, expected }
    }

    /// Whether `presented` is the token.
    pub(crate) fn matches(&self, presented: &str) -> bool {
        digest(&self.key, presented.as_bytes()).verify_slice(&self.expected).is_ok()
    }
}

fn digest(key: &[u8; 32], data: &[u8]) -> HmacSha256 {
    // HMAC accepts keys of any length, so this cannot fail; fall back to an empty key all the same.
    let mut mac = HmacSha256::new_from_slice(key).unwrap_or_else(|_| <HmacSha256 as Mac>::new(&Default::default()));
    mac.update(data);
    mac
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

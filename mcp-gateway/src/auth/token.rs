//! API token material: generation, the stored digest, and comparison.

use base64::{Engine, engine::general_purpose::URL_SAFE_NO_PAD};
use ring::{
    digest::{SHA256, digest},
    rand::{SecureRandom, SystemRandom},
};
use shared_models::secret::Secret;
use subtle::ConstantTimeEq;

pub const TOKEN_PREFIX: &str = "mcpk_";
const TOKEN_BYTES: usize = 32;
/// How much of a token is kept in clear to let people recognise it.
const SHOWN_PREFIX_CHARS: usize = TOKEN_PREFIX.len() + 6;

/// A freshly generated token: the secret (shown once), its digest and its
/// recognisable prefix (both stored).
pub struct NewToken {
    pub secret: Secret<String>,
    pub digest: TokenDigest,
    pub prefix: String,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TokenDigest(String);

impl TokenDigest {
    pub fn of(token: &str) -> Self {
        Self(hex::encode(digest(&SHA256, token.as_bytes())))
    }

    pub fn as_hex(&self) -> &str {
        &self.0
    }

    /// Constant-time equality with a digest read back from storage.
    pub fn matches(&self, stored_hex: &str) -> bool {
        self.0.as_bytes().ct_eq(stored_hex.as_bytes()).into()
    }
}

/// `prefix` and 256 random bits, base64url: an API token, an OAuth code
/// or refresh token, a session cookie.
pub fn random_secret(rng: &SystemRandom, prefix: &str) -> Result<String, ring::error::Unspecified> {
    let mut bytes = [0u8; TOKEN_BYTES];
    rng.fill(&mut bytes)?;
    Ok(format!("{prefix}{}", URL_SAFE_NO_PAD.encode(bytes)))
}

pub fn generate(rng: &SystemRandom) -> Result<NewToken, ring::error::Unspecified> {
    let token = random_secret(rng, TOKEN_PREFIX)?;
    Ok(NewToken {
        digest: TokenDigest::of(&token),
        prefix: token[..SHOWN_PREFIX_CHARS].to_owned(),
        secret: Secret::new(token),
    })
}

/// Cheap shape check, so that garbage never costs a database round trip.
pub fn looks_like_token(candidate: &str) -> bool {
    candidate.len() == TOKEN_PREFIX.len() + 43
        && candidate.starts_with(TOKEN_PREFIX)
        && candidate[TOKEN_PREFIX.len()..]
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_')
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tokens_are_prefixed_random_and_digested() {
        let rng = SystemRandom::new();
        let a = generate(&rng).unwrap();
        let b = generate(&rng).unwrap();
        assert!(a.secret.expose().starts_with("mcpk_"));
        assert!(looks_like_token(a.secret.expose()));
        assert_ne!(a.secret.expose(), b.secret.expose());
        assert_eq!(a.digest, TokenDigest::of(a.secret.expose()));
        assert!(a.digest.matches(a.digest.as_hex()));
        assert!(!a.digest.matches(b.digest.as_hex()));
        assert!(a.secret.expose().starts_with(&a.prefix));
        assert_eq!(a.digest.as_hex().len(), 64);
    }

    #[test]
    fn shape_check_refuses_garbage() {
        assert!(!looks_like_token("mcpk_short"));
        assert!(!looks_like_token(&format!("xxxx_{}", "a".repeat(43))));
        assert!(!looks_like_token(&format!("mcpk_{}", "!".repeat(43))));
    }
}

//! Encryption of secrets at rest: AES-256-GCM through ring. Each sealed value
//! names the key that sealed it, so that a new key can be introduced while
//! rows sealed under old keys stay readable until `keys rotate` re-seals them.

use std::fmt;

use base64::{Engine, engine::general_purpose::STANDARD, engine::general_purpose::URL_SAFE_NO_PAD};
use ring::{
    aead::{AES_256_GCM, Aad, LessSafeKey, NONCE_LEN, Nonce, UnboundKey},
    digest,
    rand::{SecureRandom, SystemRandom},
};

const FORMAT: &str = "v1";
pub const KEY_LEN: usize = 32;

#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum CryptoError {
    #[error("encryption key must be {KEY_LEN} bytes of base64 ({0})")]
    BadKey(&'static str),
    #[error("sealed value is malformed")]
    Malformed,
    #[error("sealed under key {0}, which is not configured")]
    UnknownKey(String),
    #[error("sealed value failed authentication (wrong key or tampered)")]
    Unauthentic,
    #[error("the system random source failed")]
    Random,
    #[error("sealed value opened but does not hold what was expected")]
    Unreadable,
    #[error("no encryption key is loaded here")]
    NoKey,
}

/// One AES-256 key and its id: the first 8 hex digits of its SHA-256, so
/// every process derives the same id from the same key without storing one.
struct Key {
    id: String,
    key: LessSafeKey,
}

impl Key {
    fn from_bytes(bytes: &[u8]) -> Result<Self, CryptoError> {
        let unbound = UnboundKey::new(&AES_256_GCM, bytes)
            .map_err(|_| CryptoError::BadKey("wrong length"))?;
        let id = hex::encode(&digest::digest(&digest::SHA256, bytes).as_ref()[..4]);
        Ok(Self {
            id,
            key: LessSafeKey::new(unbound),
        })
    }
}

/// The current key, which seals, and older keys, which only open. A keyring
/// without keys (for commands that touch no secret) seals and opens nothing.
pub struct Keyring {
    current: Option<Key>,
    previous: Vec<Key>,
    rng: SystemRandom,
}

impl fmt::Debug for Keyring {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Keyring")
            .field("current", &self.current_key_id())
            .field(
                "previous",
                &self.previous.iter().map(|k| &k.id).collect::<Vec<_>>(),
            )
            .finish()
    }
}

impl Keyring {
    /// `current` and `previous` are base64 (standard or URL-safe) encodings of
    /// 32-byte keys.
    pub fn from_base64(current: &str, previous: &[String]) -> Result<Self, CryptoError> {
        Ok(Self {
            current: Some(Key::from_bytes(&decode_key(current)?)?),
            previous: previous
                .iter()
                .map(|k| Key::from_bytes(&decode_key(k)?))
                .collect::<Result<_, _>>()?,
            rng: SystemRandom::new(),
        })
    }

    /// A fresh random key, base64-encoded, for first start and for tests.
    pub fn generate_key() -> Result<String, CryptoError> {
        let mut bytes = [0u8; KEY_LEN];
        SystemRandom::new()
            .fill(&mut bytes)
            .map_err(|_| CryptoError::Random)?;
        Ok(STANDARD.encode(bytes))
    }

    /// A keyring that holds no key, for commands that neither seal nor open
    /// anything: they need no key, and so create no key file. Sealing or
    /// opening with it fails rather than writing what no one could read.
    pub fn without_keys() -> Self {
        Self {
            current: None,
            previous: Vec::new(),
            rng: SystemRandom::new(),
        }
    }

    /// The id of the key that seals (empty in a keyring without keys).
    pub fn current_key_id(&self) -> &str {
        self.current.as_ref().map_or("", |k| k.id.as_str())
    }

    /// Every key id this keyring opens, the current one first.
    pub fn key_ids(&self) -> impl Iterator<Item = &str> {
        self.keys().map(|k| k.id.as_str())
    }

    /// Whether a value sealed under `key_id` opens here.
    pub fn has_key(&self, key_id: &str) -> bool {
        self.key_ids().any(|id| id == key_id)
    }

    fn keys(&self) -> impl Iterator<Item = &Key> {
        self.current.iter().chain(&self.previous)
    }

    /// Seals `plaintext`, bound to `context` (the row it belongs to), so a
    /// sealed value copied into another row does not open there.
    pub fn seal(&self, plaintext: &[u8], context: &str) -> Result<String, CryptoError> {
        let mut nonce = [0u8; NONCE_LEN];
        self.rng.fill(&mut nonce).map_err(|_| CryptoError::Random)?;
        let current = self.current.as_ref().ok_or(CryptoError::NoKey)?;
        let mut buffer = plaintext.to_vec();
        current
            .key
            .seal_in_place_append_tag(
                Nonce::assume_unique_for_key(nonce),
                Aad::from(context.as_bytes()),
                &mut buffer,
            )
            .map_err(|_| CryptoError::Unauthentic)?;
        let mut out = nonce.to_vec();
        out.extend_from_slice(&buffer);
        Ok(format!(
            "{FORMAT}.{}.{}",
            current.id,
            URL_SAFE_NO_PAD.encode(out)
        ))
    }

    pub fn open(&self, sealed: &str, context: &str) -> Result<Vec<u8>, CryptoError> {
        let mut parts = sealed.splitn(3, '.');
        let (Some(FORMAT), Some(key_id), Some(body)) = (parts.next(), parts.next(), parts.next())
        else {
            return Err(CryptoError::Malformed);
        };
        let key = self
            .keys()
            .find(|k| k.id == key_id)
            .ok_or_else(|| CryptoError::UnknownKey(key_id.to_owned()))?;
        let bytes = URL_SAFE_NO_PAD
            .decode(body)
            .map_err(|_| CryptoError::Malformed)?;
        if bytes.len() < NONCE_LEN {
            return Err(CryptoError::Malformed);
        }
        let (nonce, ciphertext) = bytes.split_at(NONCE_LEN);
        let nonce = Nonce::try_assume_unique_for_key(nonce).map_err(|_| CryptoError::Malformed)?;
        let mut buffer = ciphertext.to_vec();
        let plain = key
            .key
            .open_in_place(nonce, Aad::from(context.as_bytes()), &mut buffer)
            .map_err(|_| CryptoError::Unauthentic)?;
        Ok(plain.to_vec())
    }

    /// Whether `sealed` was sealed under an older key and should be re-sealed.
    pub fn is_stale(&self, sealed: &str) -> bool {
        sealed.split('.').nth(1) != Some(self.current_key_id())
    }
}

fn decode_key(raw: &str) -> Result<Vec<u8>, CryptoError> {
    let raw = raw.trim();
    let bytes = STANDARD
        .decode(raw)
        .or_else(|_| URL_SAFE_NO_PAD.decode(raw.trim_end_matches('=')))
        .map_err(|_| CryptoError::BadKey("not base64"))?;
    if bytes.len() != KEY_LEN {
        return Err(CryptoError::BadKey("wrong length"));
    }
    Ok(bytes)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ring_with(current: &str, previous: &[&str]) -> Keyring {
        let previous: Vec<String> = previous.iter().map(|s| (*s).to_owned()).collect();
        Keyring::from_base64(current, &previous).unwrap()
    }

    #[test]
    fn seals_and_opens_bound_to_context() {
        let key = Keyring::generate_key().unwrap();
        let ring = ring_with(&key, &[]);
        let sealed = ring
            .seal(b"https://hooks.slack.com/x", "channel:1")
            .unwrap();
        assert!(!sealed.contains("hooks"));
        assert_eq!(
            ring.open(&sealed, "channel:1").unwrap(),
            b"https://hooks.slack.com/x"
        );
        assert_eq!(
            ring.open(&sealed, "channel:2"),
            Err(CryptoError::Unauthentic)
        );
        // A fresh nonce each time: equal plaintexts do not give equal text.
        assert_ne!(
            sealed,
            ring.seal(b"https://hooks.slack.com/x", "channel:1")
                .unwrap()
        );
    }

    #[test]
    fn tampering_is_detected() {
        let ring = ring_with(&Keyring::generate_key().unwrap(), &[]);
        let sealed = ring.seal(b"secret", "c").unwrap();
        let mut bytes = sealed.into_bytes();
        let last = bytes.len() - 2;
        bytes[last] = if bytes[last] == b'A' { b'B' } else { b'A' };
        let tampered = String::from_utf8(bytes).unwrap();
        assert!(matches!(
            ring.open(&tampered, "c"),
            Err(CryptoError::Unauthentic | CryptoError::Malformed)
        ));
    }

    #[test]
    fn old_keys_open_until_rotated() {
        let old = Keyring::generate_key().unwrap();
        let new = Keyring::generate_key().unwrap();
        let sealed_old = ring_with(&old, &[]).seal(b"v", "c").unwrap();
        let rotated = ring_with(&new, &[&old]);
        assert!(rotated.is_stale(&sealed_old));
        assert_eq!(rotated.open(&sealed_old, "c").unwrap(), b"v");
        let resealed = rotated.seal(b"v", "c").unwrap();
        assert!(!rotated.is_stale(&resealed));
        let without_old = ring_with(&new, &[]);
        assert!(matches!(
            without_old.open(&sealed_old, "c"),
            Err(CryptoError::UnknownKey(_))
        ));
    }

    #[test]
    fn a_keyring_without_keys_seals_and_opens_nothing() {
        let sealed = ring_with(&Keyring::generate_key().unwrap(), &[])
            .seal(b"v", "c")
            .unwrap();
        let empty = Keyring::without_keys();
        assert_eq!(empty.seal(b"v", "c"), Err(CryptoError::NoKey));
        assert!(matches!(
            empty.open(&sealed, "c"),
            Err(CryptoError::UnknownKey(_))
        ));
        assert_eq!(empty.key_ids().count(), 0);
    }

    #[test]
    fn key_ids_name_the_current_key_first() {
        let old = Keyring::generate_key().unwrap();
        let new = Keyring::generate_key().unwrap();
        let ring = ring_with(&new, &[&old]);
        let old_id = ring_with(&old, &[]).current_key_id().to_owned();
        assert_eq!(
            ring.key_ids().collect::<Vec<_>>(),
            [ring.current_key_id(), old_id.as_str()]
        );
        assert!(ring.has_key(&old_id));
        assert!(!ring_with(&new, &[]).has_key(&old_id));
    }

    #[test]
    fn refuses_keys_of_the_wrong_size() {
        assert_eq!(
            Keyring::from_base64("c2hvcnQ=", &[]).unwrap_err(),
            CryptoError::BadKey("wrong length")
        );
        assert_eq!(
            Keyring::from_base64("not base64!!", &[]).unwrap_err(),
            CryptoError::BadKey("not base64")
        );
    }
}

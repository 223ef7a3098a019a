//! Signatures for the generic webhook, per the Standard Webhooks
//! specification: receivers verify them with any of its libraries.

use super::WEBHOOK_SECRET_PREFIX;
use base64::{Engine, engine::general_purpose::STANDARD};
use ring::{
    hmac,
    rand::{SecureRandom, SystemRandom},
};

/// 256 bits: the HMAC-SHA256 key length the specification recommends.
const SECRET_BYTES: usize = 32;

#[derive(Debug, thiserror::Error)]
pub enum SigningError {
    // Neither message repeats the secret: it is a credential.
    #[error("the signing secret does not start with \"{WEBHOOK_SECRET_PREFIX}\"")]
    MissingPrefix,
    #[error("the signing secret is not valid base64")]
    NotBase64(#[source] base64::DecodeError),
    #[error("the signing secret is empty")]
    Empty,
    #[error("the system random number generator failed")]
    Random,
}

/// A new secret for a webhook channel: `whsec_` and the base64 of 32 random
/// bytes.
pub fn generate_signing_secret() -> Result<String, SigningError> {
    let mut key = [0_u8; SECRET_BYTES];
    SystemRandom::new()
        .fill(&mut key)
        .map_err(|_| SigningError::Random)?;
    Ok(format!("{WEBHOOK_SECRET_PREFIX}{}", STANDARD.encode(key)))
}

/// The `webhook-signature` header value for one message: `v1,` and the
/// base64 HMAC-SHA256 of `{msg_id}.{timestamp_secs}.{body}`.
pub fn sign(
    secret: &str,
    msg_id: &str,
    timestamp_secs: i64,
    body: &[u8],
) -> Result<String, SigningError> {
    let key = signing_key(secret)?;
    let mut context = hmac::Context::with_key(&key);
    context.update(msg_id.as_bytes());
    context.update(b".");
    context.update(timestamp_secs.to_string().as_bytes());
    context.update(b".");
    context.update(body);
    Ok(format!("v1,{}", STANDARD.encode(context.sign().as_ref())))
}

fn signing_key(secret: &str) -> Result<hmac::Key, SigningError> {
    let encoded = secret
        .strip_prefix(WEBHOOK_SECRET_PREFIX)
        .ok_or(SigningError::MissingPrefix)?;
    let raw = STANDARD.decode(encoded).map_err(SigningError::NotBase64)?;
    if raw.is_empty() {
        return Err(SigningError::Empty);
    }
    Ok(hmac::Key::new(hmac::HMAC_SHA256, &raw))
}

#[cfg(test)]
mod tests {
    use ring::digest;

    use super::*;

    /// HMAC-SHA256 written out from RFC 2104 over plain SHA-256, so that the
    /// signature is checked against a computation that shares nothing with
    /// ring's HMAC.
    fn hmac_sha256_by_definition(key: &[u8], message: &[u8]) -> Vec<u8> {
        const BLOCK: usize = 64;
        let mut block_key = [0_u8; BLOCK];
        if key.len() > BLOCK {
            let hashed = digest::digest(&digest::SHA256, key);
            block_key[..hashed.as_ref().len()].copy_from_slice(hashed.as_ref());
        } else {
            block_key[..key.len()].copy_from_slice(key);
        }
        let pad = |byte: u8| block_key.iter().map(|k| k ^ byte).collect::<Vec<u8>>();
        let mut inner = pad(0x36);
        inner.extend_from_slice(message);
        let inner_hash = digest::digest(&digest::SHA256, &inner);
        let mut outer = pad(0x5c);
        outer.extend_from_slice(inner_hash.as_ref());
        digest::digest(&digest::SHA256, &outer).as_ref().to_vec()
    }

    fn hex(bytes: &[u8]) -> String {
        bytes.iter().map(|b| format!("{b:02x}")).collect()
    }

    #[test]
    fn the_reference_hmac_matches_rfc_4231() {
        // RFC 4231, test case 2.
        let mac = hmac_sha256_by_definition(b"Jefe", b"what do ya want for nothing?");
        assert_eq!(
            hex(&mac),
            "5bdcc146bf60754e6a042426089575c75a003f089d2739839dec58b964ec3843"
        );
    }

    #[test]
    fn signs_id_timestamp_and_body_with_the_decoded_key() {
        let key = b"0123456789abcdef0123456789abcdef";
        let secret = format!("whsec_{}", STANDARD.encode(key));
        let body = br#"{"type":"alert.firing","data":{"value":1.5}}"#;
        let header = sign(&secret, "msg_2Kq", 1_767_225_600, body).unwrap();

        let mut signed = b"msg_2Kq.1767225600.".to_vec();
        signed.extend_from_slice(body);
        let expected = STANDARD.encode(hmac_sha256_by_definition(key, &signed));
        assert_eq!(header, format!("v1,{expected}"));
    }

    #[test]
    fn matches_the_published_standard_webhooks_example() {
        // The example message of the Standard Webhooks reference libraries.
        let header = sign(
            "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw",
            "msg_p5jXN8AQM9LWM0D4loKWxJek",
            1_614_265_330,
            br#"{"test": 2432232314}"#,
        )
        .unwrap();
        assert_eq!(header, "v1,g0hM9SsE+OTPJTGt/tmIKtSyZlE3uFJELVlNIOLJ1OE=");
    }

    #[test]
    fn generated_secrets_are_32_random_bytes_and_sign() {
        let first = generate_signing_secret().unwrap();
        let second = generate_signing_secret().unwrap();
        assert_ne!(first, second);
        let raw = STANDARD
            .decode(first.strip_prefix("whsec_").unwrap())
            .unwrap();
        assert_eq!(raw.len(), 32);
        assert!(sign(&first, "id", 1, b"{}").unwrap().starts_with("v1,"));
    }

    #[test]
    fn malformed_secrets_are_refused_without_being_echoed() {
        let err = sign("sk_live_abcdef", "id", 1, b"").unwrap_err();
        assert!(matches!(err, SigningError::MissingPrefix));
        let err = sign("whsec_not*base64!", "id", 1, b"").unwrap_err();
        assert!(matches!(err, SigningError::NotBase64(_)));
        assert!(!err.to_string().contains("not*base64"));
        assert!(matches!(
            sign("whsec_", "id", 1, b""),
            Err(SigningError::Empty)
        ));
    }
}

//! Access tokens: ES256 JWTs (RFC 9068 profile) for this server's MCP
//! resource. Checking one needs only the replica's keys and its list of
//! revoked connections, never the database.

use jsonwebtoken::{Algorithm, Header, Validation};
use serde::{Deserialize, Serialize};

use super::signing::KeySet;
use crate::{
    error::{Error, Result},
    store::TokenRejection,
};

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct AccessClaims {
    pub iss: String,
    /// The MCP resource URL the token is for (RFC 8707).
    pub aud: String,
    /// The user.
    pub sub: String,
    pub scope: String,
    pub client_id: String,
    /// The connection (grant) it was issued under: revoking that revokes
    /// the token.
    pub sid: String,
    pub jti: String,
    pub iat: i64,
    pub exp: i64,
}

/// Whether a string is shaped like a JWT at all (three base64url parts), so
/// that API tokens and garbage never reach signature checks.
pub fn looks_like_jwt(token: &str) -> bool {
    token.len() < 4096
        && token.split('.').count() == 3
        && token
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_' || b == b'.')
}

pub fn sign(keys: &KeySet, claims: &AccessClaims) -> Result<String> {
    let (kid, key) = keys.signing();
    let mut header = Header::new(Algorithm::ES256);
    header.kid = Some(kid.to_owned());
    header.typ = Some("at+jwt".to_owned());
    jsonwebtoken::encode(&header, claims, key)
        .map_err(|e| Error::SigningKey(format!("signing an access token: {e}")))
}

/// Checks signature, issuer, audience and expiry (on the caller's clock,
/// in seconds). Revocation is the caller's to check, on `sid`.
pub fn verify(
    keys: &KeySet,
    token: &str,
    issuer: &str,
    audience: &str,
    now_secs: i64,
) -> Result<AccessClaims, TokenRejection> {
    let header = jsonwebtoken::decode_header(token).map_err(|_| TokenRejection::Unknown)?;
    if header.alg != Algorithm::ES256 {
        return Err(TokenRejection::Unknown);
    }
    let key = header
        .kid
        .as_deref()
        .and_then(|kid| keys.verifying(kid))
        .ok_or(TokenRejection::Unknown)?;
    let mut validation = Validation::new(Algorithm::ES256);
    validation.set_issuer(&[issuer]);
    validation.set_audience(&[audience]);
    validation.set_required_spec_claims(&["exp", "iss", "aud", "sub"]);
    // Expiry is checked below on the injected clock.
    validation.validate_exp = false;
    let claims = jsonwebtoken::decode::<AccessClaims>(token, key, &validation)
        .map_err(|_| TokenRejection::Unknown)?
        .claims;
    if claims.exp <= now_secs {
        return Err(TokenRejection::Expired);
    }
    Ok(claims)
}

#[cfg(test)]
mod tests {
    use ring::rand::SystemRandom;
    use shared_models::{crypto::Keyring, entity::oauth_signing_key, time::Timestamp};

    use super::*;
    use crate::oauth::signing::generate;

    fn keys(keyring: &Keyring) -> KeySet {
        let new = generate(keyring, &SystemRandom::new()).unwrap();
        let row = oauth_signing_key::Model {
            kid: new.kid,
            sealed: new.sealed,
            key_id: new.key_id,
            public_jwk: new.public_jwk.to_string(),
            created_at: Timestamp::from_millis(1),
            retired_at: None,
        };
        KeySet::from_rows(&[row], keyring).unwrap()
    }

    fn claims() -> AccessClaims {
        AccessClaims {
            iss: "https://mcp.example.com".into(),
            aud: "https://mcp.example.com/mcp".into(),
            sub: "u1".into(),
            scope: "alerts:read".into(),
            client_id: "c1".into(),
            sid: "g1".into(),
            jti: "j1".into(),
            iat: 1_000,
            exp: 4_600,
        }
    }

    #[test]
    fn a_signed_token_verifies_for_its_audience_until_it_expires() {
        let keyring = Keyring::from_base64(&Keyring::generate_key().unwrap(), &[]).unwrap();
        let keys = keys(&keyring);
        let token = sign(&keys, &claims()).unwrap();
        assert!(looks_like_jwt(&token));
        let (iss, aud) = ("https://mcp.example.com", "https://mcp.example.com/mcp");
        assert_eq!(verify(&keys, &token, iss, aud, 1_001).unwrap(), claims());
        assert_eq!(
            verify(&keys, &token, iss, aud, 4_600),
            Err(TokenRejection::Expired)
        );
        assert_eq!(
            verify(&keys, &token, iss, "https://other.example.com/mcp", 1_001),
            Err(TokenRejection::Unknown),
            "another audience"
        );
        assert_eq!(
            verify(&keys, &token, "https://evil.example.com", aud, 1_001),
            Err(TokenRejection::Unknown),
            "another issuer"
        );
        // Another installation's key, same kid space: refused.
        let other = keys_of_other();
        assert_eq!(
            verify(&other, &token, iss, aud, 1_001),
            Err(TokenRejection::Unknown)
        );
        // A tampered payload breaks the signature.
        let mut parts: Vec<String> = token.split('.').map(str::to_owned).collect();
        parts[1] = parts[1].replacen('e', "f", 1);
        assert!(verify(&keys, &parts.join("."), iss, aud, 1_001).is_err());
    }

    fn keys_of_other() -> KeySet {
        keys(&Keyring::from_base64(&Keyring::generate_key().unwrap(), &[]).unwrap())
    }
}

//! Access-token signing keys: ES256 (P-256) pairs generated with ring. The
//! private half is stored only sealed with the installation's keyring; the
//! public half is published at the JWKS endpoint. Every replica holds the
//! keys in memory, so checking an access token needs no database.

use std::collections::HashMap;

use base64::{Engine, engine::general_purpose::URL_SAFE_NO_PAD};
use jsonwebtoken::{DecodingKey, EncodingKey};
use ring::{
    digest::{SHA256, digest},
    rand::SystemRandom,
    signature::{ECDSA_P256_SHA256_FIXED_SIGNING, EcdsaKeyPair, KeyPair},
};
use serde_json::{Value, json};
use shared_models::{crypto::Keyring, entity::oauth_signing_key};

use crate::error::{Error, Result};

/// The AAD a private key is sealed under: bound to its own row.
fn seal_context(kid: &str) -> String {
    format!("oauth-signing-key:{kid}")
}

/// A freshly generated key, ready to store.
pub struct NewSigningKey {
    pub kid: String,
    pub sealed: String,
    pub key_id: String,
    pub public_jwk: Value,
}

pub fn generate(keyring: &Keyring, rng: &SystemRandom) -> Result<NewSigningKey> {
    let pkcs8 = EcdsaKeyPair::generate_pkcs8(&ECDSA_P256_SHA256_FIXED_SIGNING, rng)
        .map_err(|_| Error::Random)?;
    let pair = EcdsaKeyPair::from_pkcs8(&ECDSA_P256_SHA256_FIXED_SIGNING, pkcs8.as_ref(), rng)
        .map_err(|_| Error::SigningKey("a generated P-256 key did not load".to_owned()))?;
    let point = pair.public_key().as_ref();
    let kid = hex::encode(&digest(&SHA256, point).as_ref()[..8]);
    Ok(NewSigningKey {
        public_jwk: jwk(&kid, point)?,
        sealed: keyring.seal(pkcs8.as_ref(), &seal_context(&kid))?,
        key_id: keyring.current_key_id().to_owned(),
        kid,
    })
}

/// The private key of `row` sealed again under the keyring's current key.
pub fn reseal(keyring: &Keyring, row: &oauth_signing_key::Model) -> Result<String> {
    let context = seal_context(&row.kid);
    let pkcs8 = keyring.open(&row.sealed, &context)?;
    Ok(keyring.seal(&pkcs8, &context)?)
}

/// The JWK of an uncompressed P-256 point (0x04 ‖ x ‖ y).
fn jwk(kid: &str, point: &[u8]) -> Result<Value> {
    if point.len() != 65 || point[0] != 4 {
        return Err(Error::SigningKey(
            "a P-256 public key is not an uncompressed point".to_owned(),
        ));
    }
    Ok(json!({
        "kty": "EC",
        "crv": "P-256",
        "x": URL_SAFE_NO_PAD.encode(&point[1..33]),
        "y": URL_SAFE_NO_PAD.encode(&point[33..]),
        "kid": kid,
        "use": "sig",
        "alg": "ES256",
    }))
}

/// The keys a replica signs and checks with.
pub struct KeySet {
    /// The newest key that has not been retired.
    signing: (String, EncodingKey),
    verifying: HashMap<String, DecodingKey>,
    jwks: Value,
}

impl KeySet {
    /// From the stored keys: every one is published and accepted (the
    /// caller leaves out those retired past their overlap); the newest
    /// unretired one signs.
    pub fn from_rows(rows: &[oauth_signing_key::Model], keyring: &Keyring) -> Result<Self> {
        let signer = rows
            .iter()
            .filter(|row| row.retired_at.is_none())
            .max_by_key(|row| (row.created_at, row.kid.clone()))
            .ok_or_else(|| Error::SigningKey("no current access-token signing key".to_owned()))?;
        let pkcs8 = keyring.open(&signer.sealed, &seal_context(&signer.kid))?;
        let encoding = EncodingKey::from_ec_der(&pkcs8);
        let mut verifying = HashMap::new();
        let mut published = Vec::new();
        for row in rows {
            let jwk: Value = serde_json::from_str(&row.public_jwk)
                .map_err(|e| Error::SigningKey(format!("stored JWK {}: {e}", row.kid)))?;
            let (Some(x), Some(y)) = (jwk["x"].as_str(), jwk["y"].as_str()) else {
                return Err(Error::SigningKey(format!(
                    "stored JWK {} has no point",
                    row.kid
                )));
            };
            let key = DecodingKey::from_ec_components(x, y)
                .map_err(|e| Error::SigningKey(format!("stored JWK {}: {e}", row.kid)))?;
            verifying.insert(row.kid.clone(), key);
            published.push(jwk);
        }
        Ok(Self {
            signing: (signer.kid.clone(), encoding),
            verifying,
            jwks: json!({ "keys": published }),
        })
    }

    pub fn signing(&self) -> (&str, &EncodingKey) {
        (&self.signing.0, &self.signing.1)
    }

    pub fn verifying(&self, kid: &str) -> Option<&DecodingKey> {
        self.verifying.get(kid)
    }

    /// The JWKS document (RFC 7517).
    pub fn jwks(&self) -> &Value {
        &self.jwks
    }
}

#[cfg(test)]
mod tests {
    use shared_models::time::Timestamp;

    use super::*;

    #[test]
    fn a_generated_key_is_sealed_published_and_loads() {
        let keyring = Keyring::from_base64(&Keyring::generate_key().unwrap(), &[]).unwrap();
        let new = generate(&keyring, &SystemRandom::new()).unwrap();
        assert_eq!(new.kid.len(), 16);
        assert_eq!(new.public_jwk["kty"], "EC");
        assert_eq!(new.public_jwk["kid"], new.kid.as_str());
        assert!(
            new.public_jwk.get("d").is_none(),
            "no private part published"
        );
        let row = oauth_signing_key::Model {
            kid: new.kid.clone(),
            sealed: new.sealed.clone(),
            key_id: new.key_id,
            public_jwk: new.public_jwk.to_string(),
            created_at: Timestamp::from_millis(1),
            retired_at: None,
        };
        let set = KeySet::from_rows(std::slice::from_ref(&row), &keyring).unwrap();
        assert_eq!(set.signing().0, new.kid);
        assert!(set.verifying(&new.kid).is_some());
        assert_eq!(set.jwks()["keys"][0]["kid"], new.kid.as_str());

        // Sealed for its own row: moved to another kid, it does not open.
        let moved = oauth_signing_key::Model {
            kid: "0000000000000000".to_owned(),
            ..row
        };
        assert!(KeySet::from_rows(&[moved], &keyring).is_err());
    }
}

//! Ed25519 signing keys and their public JWK form.

use crate::{Claims, TokenRules};
use anyhow::{Context, Result};
use base64::{Engine, engine::general_purpose::STANDARD, engine::general_purpose::URL_SAFE_NO_PAD};
use jsonwebtoken::{Algorithm, EncodingKey, Header};
use ring::signature::{Ed25519KeyPair, KeyPair};
use serde::{Deserialize, Serialize};
use shop_types::Role;

/// A public key as published at `/.well-known/jwks.json`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Jwk {
    pub kty: String,
    pub crv: String,
    /// The raw public key, base64url without padding.
    pub x: String,
    pub kid: String,
    pub alg: String,
    #[serde(rename = "use")]
    pub usage: String,
}

#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize, Deserialize)]
pub struct JwkSet {
    pub keys: Vec<Jwk>,
}

/// The users service's private key. Only that service ever holds one.
pub struct SigningKey {
    pkcs8: Vec<u8>,
    public: Vec<u8>,
    kid: String,
    encoding: EncodingKey,
}

impl std::fmt::Debug for SigningKey {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("SigningKey")
            .field("kid", &self.kid)
            .finish_non_exhaustive()
    }
}

impl SigningKey {
    /// A fresh random key (development: generated once and kept in users_db).
    pub fn generate() -> Result<Self> {
        let rng = ring::rand::SystemRandom::new();
        let doc = Ed25519KeyPair::generate_pkcs8(&rng)
            .map_err(|_| anyhow::anyhow!("cannot generate an Ed25519 key"))?;
        Self::from_pkcs8_der(doc.as_ref())
    }

    pub fn from_pkcs8_der(der: &[u8]) -> Result<Self> {
        let pair = Ed25519KeyPair::from_pkcs8_maybe_unchecked(der)
            .map_err(|e| anyhow::anyhow!("not an Ed25519 PKCS#8 key: {e}"))?;
        let public = pair.public_key().as_ref().to_vec();
        let digest = ring::digest::digest(&ring::digest::SHA256, &public);
        let kid = URL_SAFE_NO_PAD.encode(&digest.as_ref()[..12]);
        Ok(Self {
            pkcs8: der.to_vec(),
            public,
            kid,
            encoding: EncodingKey::from_ed_der(der),
        })
    }

    /// From a `-----BEGIN PRIVATE KEY-----` PEM (e.g. `openssl genpkey -algorithm ed25519`).
    pub fn from_pem(pem: &str) -> Result<Self> {
        let body: String = pem
            .lines()
            .map(str::trim)
            .filter(|l| !l.starts_with("-----"))
            .collect();
        let der = STANDARD
            .decode(body)
            .context("the private key PEM is not valid base64")?;
        Self::from_pkcs8_der(&der)
    }

    /// PKCS#8 DER, base64 — how the development key is stored.
    pub fn to_base64(&self) -> String {
        STANDARD.encode(&self.pkcs8)
    }

    pub fn from_base64(text: &str) -> Result<Self> {
        Self::from_pkcs8_der(
            &STANDARD
                .decode(text.trim())
                .context("stored key is not base64")?,
        )
    }

    pub fn kid(&self) -> &str {
        &self.kid
    }

    pub fn public_jwk(&self) -> Jwk {
        Jwk {
            kty: "OKP".into(),
            crv: "Ed25519".into(),
            x: URL_SAFE_NO_PAD.encode(&self.public),
            kid: self.kid.clone(),
            alg: "EdDSA".into(),
            usage: "sig".into(),
        }
    }

    /// Signs an access token for a user, valid for `ttl_secs`.
    pub fn issue(
        &self,
        rules: &TokenRules,
        user_id: i64,
        email: &str,
        role: Role,
        ttl_secs: i64,
    ) -> Result<String> {
        let now = chrono::Utc::now().timestamp();
        let claims = Claims {
            sub: user_id.to_string(),
            email: email.to_owned(),
            role,
            iat: now,
            exp: now + ttl_secs,
            iss: rules.issuer.clone(),
            aud: rules.audience.clone(),
            jti: uuid::Uuid::new_v4().to_string(),
        };
        self.sign(&claims)
    }

    /// Signs arbitrary claims (tests use it for expired or foreign tokens).
    pub fn sign(&self, claims: &Claims) -> Result<String> {
        let mut header = Header::new(Algorithm::EdDSA);
        header.kid = Some(self.kid.clone());
        jsonwebtoken::encode(&header, claims, &self.encoding).context("signing a token")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn key_round_trips_through_storage_with_the_same_kid() {
        let key = SigningKey::generate().unwrap();
        let again = SigningKey::from_base64(&key.to_base64()).unwrap();
        assert_eq!(key.kid(), again.kid());
        assert_eq!(key.public_jwk(), again.public_jwk());
    }

    #[test]
    fn pem_is_accepted() {
        let key = SigningKey::generate().unwrap();
        let pem = format!(
            "-----BEGIN PRIVATE KEY-----\n{}\n-----END PRIVATE KEY-----\n",
            key.to_base64()
        );
        assert_eq!(SigningKey::from_pem(&pem).unwrap().kid(), key.kid());
    }

    #[test]
    fn garbage_is_not_a_key() {
        assert!(SigningKey::from_base64("aGVsbG8=").is_err());
    }
}

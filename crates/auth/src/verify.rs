//! Token verification against a set of public keys: either given (the users
//! service verifies its own tokens) or fetched from a JWKS URL and cached,
//! refetched only when a token names a `kid` the cache does not know.

use crate::{Claims, Identity, JwkSet, TokenRules};
use jsonwebtoken::{Algorithm, DecodingKey, Validation};
use std::{
    collections::HashMap,
    sync::Arc,
    time::{Duration, Instant},
};
use tokio::sync::{Mutex, RwLock};

#[derive(Debug, thiserror::Error, PartialEq)]
pub enum AuthError {
    #[error("Not authenticated")]
    Missing,
    #[error("Could not validate credentials")]
    Invalid,
    #[error("Token has expired")]
    Expired,
    #[error("Signing keys are unavailable")]
    KeysUnavailable,
}

enum Source {
    Static,
    Remote { url: String, http: reqwest::Client },
}

struct Inner {
    source: Source,
    keys: RwLock<HashMap<String, DecodingKey>>,
    last_fetch: Mutex<Option<Instant>>,
    validation: Validation,
}

/// Cheap to clone; one per process.
#[derive(Clone)]
pub struct Verifier {
    inner: Arc<Inner>,
}

impl std::fmt::Debug for Verifier {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Verifier").finish_non_exhaustive()
    }
}

/// A refetch for an unknown `kid` happens at most this often, so a flood of
/// forged `kid`s cannot hammer the users service.
const REFETCH_INTERVAL: Duration = Duration::from_secs(5);

fn validation(rules: &TokenRules) -> Validation {
    // Only EdDSA: `alg: none` and HS256-with-the-public-key are refused here.
    let mut v = Validation::new(Algorithm::EdDSA);
    v.set_issuer(&[&rules.issuer]);
    v.set_audience(&[&rules.audience]);
    v.set_required_spec_claims(&["exp", "iss", "aud", "sub"]);
    v.leeway = 30;
    v
}

fn decoding_keys(set: &JwkSet) -> HashMap<String, DecodingKey> {
    set.keys
        .iter()
        .filter(|k| k.kty == "OKP" && k.crv == "Ed25519")
        .filter_map(|k| {
            DecodingKey::from_ed_components(&k.x)
                .ok()
                .map(|d| (k.kid.clone(), d))
        })
        .collect()
}

impl Verifier {
    /// Verifies with the given keys only.
    pub fn with_keys(keys: &JwkSet, rules: &TokenRules) -> Self {
        Self::new(Source::Static, decoding_keys(keys), rules)
    }

    /// Verifies with the keys published at `jwks_url`, fetched when needed.
    pub fn remote(jwks_url: impl Into<String>, rules: &TokenRules) -> anyhow::Result<Self> {
        let http = reqwest::Client::builder()
            .timeout(Duration::from_secs(3))
            .build()?;
        Ok(Self::new(
            Source::Remote {
                url: jwks_url.into(),
                http,
            },
            HashMap::new(),
            rules,
        ))
    }

    fn new(source: Source, keys: HashMap<String, DecodingKey>, rules: &TokenRules) -> Self {
        Self {
            inner: Arc::new(Inner {
                source,
                keys: RwLock::new(keys),
                last_fetch: Mutex::new(None),
                validation: validation(rules),
            }),
        }
    }

    /// Checks signature, algorithm, issuer, audience and expiry.
    pub async fn verify(&self, token: &str) -> Result<Claims, AuthError> {
        let header = jsonwebtoken::decode_header(token).map_err(|_| AuthError::Invalid)?;
        if header.alg != Algorithm::EdDSA {
            return Err(AuthError::Invalid);
        }
        let kid = header.kid.ok_or(AuthError::Invalid)?;
        let key = self.key(&kid).await?;
        jsonwebtoken::decode::<Claims>(token, &key, &self.inner.validation)
            .map(|data| data.claims)
            .map_err(|e| match e.kind() {
                jsonwebtoken::errors::ErrorKind::ExpiredSignature => AuthError::Expired,
                _ => AuthError::Invalid,
            })
    }

    /// Verifies and turns the claims into an identity.
    pub async fn identify(&self, token: &str) -> Result<Identity, AuthError> {
        let claims = self.verify(token).await?;
        let user_id = claims.sub.parse().map_err(|_| AuthError::Invalid)?;
        Ok(Identity {
            user_id,
            email: claims.email,
            role: claims.role,
            token: token.to_owned(),
        })
    }

    async fn key(&self, kid: &str) -> Result<DecodingKey, AuthError> {
        if let Some(k) = self.inner.keys.read().await.get(kid) {
            return Ok(k.clone());
        }
        let Source::Remote { url, http } = &self.inner.source else {
            return Err(AuthError::Invalid);
        };
        {
            let mut last = self.inner.last_fetch.lock().await;
            // Another request may have refreshed while this one waited.
            if let Some(k) = self.inner.keys.read().await.get(kid) {
                return Ok(k.clone());
            }
            if last.is_some_and(|t| t.elapsed() < REFETCH_INTERVAL) {
                return Err(AuthError::Invalid);
            }
            *last = Some(Instant::now());
            let fetched = async {
                http.get(url)
                    .send()
                    .await?
                    .error_for_status()?
                    .json::<JwkSet>()
                    .await
            }
            .await;
            match fetched {
                Ok(set) => {
                    tracing::info!(keys = set.keys.len(), "fetched signing keys");
                    *self.inner.keys.write().await = decoding_keys(&set);
                }
                Err(e) => {
                    tracing::warn!(error = %e, url, "cannot fetch signing keys");
                    // Let the next request try again instead of waiting out the interval.
                    *last = None;
                    return Err(AuthError::KeysUnavailable);
                }
            }
        }
        self.inner
            .keys
            .read()
            .await
            .get(kid)
            .cloned()
            .ok_or(AuthError::Invalid)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::SigningKey;
    use base64::{Engine, engine::general_purpose::URL_SAFE_NO_PAD};
    use shop_types::Role;

    fn setup() -> (SigningKey, Verifier, TokenRules) {
        let key = SigningKey::generate().unwrap();
        let rules = TokenRules::default();
        let set = JwkSet {
            keys: vec![key.public_jwk()],
        };
        (key, Verifier::with_keys(&set, &rules), rules)
    }

    fn claims(rules: &TokenRules, exp_offset: i64) -> Claims {
        let now = chrono::Utc::now().timestamp();
        Claims {
            sub: "7".into(),
            email: "a@b.co".into(),
            role: Role::Customer,
            iat: now,
            exp: now + exp_offset,
            iss: rules.issuer.clone(),
            aud: rules.audience.clone(),
            jti: "j".into(),
        }
    }

    #[tokio::test]
    async fn a_valid_token_identifies_the_user() {
        let (key, verifier, rules) = setup();
        let token = key.issue(&rules, 7, "a@b.co", Role::Admin, 60).unwrap();
        let id = verifier.identify(&token).await.unwrap();
        assert_eq!(id.user_id, 7);
        assert!(id.is_admin());
    }

    #[tokio::test]
    async fn an_expired_token_is_refused() {
        let (key, verifier, rules) = setup();
        let token = key.sign(&claims(&rules, -3600)).unwrap();
        assert_eq!(verifier.verify(&token).await, Err(AuthError::Expired));
    }

    #[tokio::test]
    async fn a_token_signed_by_another_key_is_refused() {
        let (_, verifier, rules) = setup();
        let stranger = SigningKey::generate().unwrap();
        let token = stranger.sign(&claims(&rules, 60)).unwrap();
        assert_eq!(verifier.verify(&token).await, Err(AuthError::Invalid));
    }

    #[tokio::test]
    async fn a_tampered_payload_is_refused() {
        let (key, verifier, rules) = setup();
        let token = key.sign(&claims(&rules, 60)).unwrap();
        let mut parts: Vec<String> = token.split('.').map(str::to_owned).collect();
        let mut c = claims(&rules, 60);
        c.role = Role::Admin;
        parts[1] = URL_SAFE_NO_PAD.encode(serde_json::to_vec(&c).unwrap());
        assert_eq!(
            verifier.verify(&parts.join(".")).await,
            Err(AuthError::Invalid)
        );
    }

    #[tokio::test]
    async fn alg_none_is_refused() {
        let (key, verifier, rules) = setup();
        let header = URL_SAFE_NO_PAD.encode(format!(r#"{{"alg":"none","kid":"{}"}}"#, key.kid()));
        let payload = URL_SAFE_NO_PAD.encode(serde_json::to_vec(&claims(&rules, 60)).unwrap());
        let token = format!("{header}.{payload}.");
        assert_eq!(verifier.verify(&token).await, Err(AuthError::Invalid));
    }

    #[tokio::test]
    async fn hs256_signed_with_the_public_key_is_refused() {
        let (key, verifier, rules) = setup();
        let public = key.public_jwk().x;
        let mut header = jsonwebtoken::Header::new(Algorithm::HS256);
        header.kid = Some(key.kid().to_owned());
        let token = jsonwebtoken::encode(
            &header,
            &claims(&rules, 60),
            &jsonwebtoken::EncodingKey::from_secret(public.as_bytes()),
        )
        .unwrap();
        assert_eq!(verifier.verify(&token).await, Err(AuthError::Invalid));
    }

    #[tokio::test]
    async fn wrong_audience_is_refused() {
        let (key, verifier, rules) = setup();
        let mut c = claims(&rules, 60);
        c.aud = "someone-else".into();
        let token = key.sign(&c).unwrap();
        assert_eq!(verifier.verify(&token).await, Err(AuthError::Invalid));
    }
}

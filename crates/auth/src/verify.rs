//! Token verification against a set of public keys: either given (the users
//! service verifies its own tokens) or fetched from a JWKS URL and cached,
//! refetched when a token names a `kid` the cache does not know or holds
//! past its lifetime (the JWKS answer's `Cache-Control: max-age`). A
//! refetch merges: a key the issuer stopped publishing (after a rotation)
//! stays trusted for one cache lifetime, then is dropped.

use crate::{Claims, Identity, JwkSet, Revocations, TokenRules};
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
    /// Logged out, or the account was deactivated.
    #[error("Session has ended")]
    Revoked,
}

enum Source {
    Static,
    Remote { url: String, http: reqwest::Client },
}

/// A cached key and when the issuer last published it (`None`: given, never
/// expires).
#[derive(Clone)]
struct Cached {
    key: DecodingKey,
    seen: Option<Instant>,
}

struct Inner {
    source: Source,
    keys: RwLock<HashMap<String, Cached>>,
    /// How long a fetched key is trusted without being published again.
    lifetime: RwLock<Duration>,
    /// The last fetch; held while one is in flight.
    last_fetch: Mutex<Option<Fetch>>,
    validation: Validation,
    revocations: Revocations,
    /// Tokens whose signature checked out, with their key id and claims:
    /// a token is sent with every request, and checking an Ed25519
    /// signature costs more than the rest of a cached read.
    verified: std::sync::RwLock<HashMap<String, (String, Claims)>>,
}

/// Verified tokens remembered at most (then the memory starts over).
const VERIFIED_KEPT: usize = 4096;

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
/// How long a request waits for a just-started verifier's first read of
/// the revocation feed before it is answered 503.
const READY_WAIT: Duration = Duration::from_secs(2);
/// The lifetime of fetched keys when the JWKS answer names none.
const DEFAULT_LIFETIME: Duration = Duration::from_secs(300);

/// `max-age` of a `Cache-Control` header.
fn max_age(headers: &reqwest::header::HeaderMap) -> Option<Duration> {
    let value = headers.get(reqwest::header::CACHE_CONTROL)?.to_str().ok()?;
    value.split(',').find_map(|d| {
        let secs = d.trim().strip_prefix("max-age=")?;
        secs.trim().parse().ok().map(Duration::from_secs)
    })
}

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
        let keys = decoding_keys(keys)
            .into_iter()
            .map(|(kid, key)| (kid, Cached { key, seen: None }))
            .collect();
        Self::new(Source::Static, keys, rules)
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

    fn new(source: Source, keys: HashMap<String, Cached>, rules: &TokenRules) -> Self {
        Self {
            inner: Arc::new(Inner {
                source,
                keys: RwLock::new(keys),
                lifetime: RwLock::new(DEFAULT_LIFETIME),
                last_fetch: Mutex::new(None),
                validation: validation(rules),
                revocations: Revocations::default(),
                verified: std::sync::RwLock::default(),
            }),
        }
    }

    /// The revoked sessions this verifier refuses; fed by a follower.
    pub fn revocations(&self) -> &Revocations {
        &self.inner.revocations
    }

    /// Checks signature, algorithm, issuer, audience, expiry, and that the
    /// session has not ended.
    pub async fn verify(&self, token: &str) -> Result<Claims, AuthError> {
        let claims = self.verify_signature(token).await?;
        // Just started: give the revocation feed a moment to answer.
        if !self.inner.revocations.wait_ready(READY_WAIT).await {
            return Err(AuthError::KeysUnavailable);
        }
        if self.inner.revocations.is_revoked(&claims.jti) {
            return Err(AuthError::Revoked);
        }
        Ok(claims)
    }

    async fn verify_signature(&self, token: &str) -> Result<Claims, AuthError> {
        if let Some(claims) = self.remembered(token).await {
            return Ok(claims);
        }
        let header = jsonwebtoken::decode_header(token).map_err(|_| AuthError::Invalid)?;
        if header.alg != Algorithm::EdDSA {
            return Err(AuthError::Invalid);
        }
        let kid = header.kid.ok_or(AuthError::Invalid)?;
        let key = self.key(&kid).await?;
        let claims = jsonwebtoken::decode::<Claims>(token, &key, &self.inner.validation)
            .map(|data| data.claims)
            .map_err(|e| match e.kind() {
                jsonwebtoken::errors::ErrorKind::ExpiredSignature => AuthError::Expired,
                _ => AuthError::Invalid,
            })?;
        if let Ok(mut verified) = self.inner.verified.write() {
            if verified.len() >= VERIFIED_KEPT {
                verified.clear();
            }
            verified.insert(token.to_owned(), (kid, claims.clone()));
        }
        Ok(claims)
    }

    /// The claims of exactly this token, verified before, while it has not
    /// expired and its key is still trusted; otherwise it is checked anew.
    async fn remembered(&self, token: &str) -> Option<Claims> {
        let (kid, claims) = self.inner.verified.read().ok()?.get(token).cloned()?;
        if claims.exp <= chrono::Utc::now().timestamp() {
            return None;
        }
        self.fresh(&kid).await?;
        Some(claims)
    }

    /// Verifies and turns the claims into an identity.
    pub async fn identify(&self, token: &str) -> Result<Identity, AuthError> {
        let claims = self.verify(token).await?;
        let user_id = claims.sub.parse().map_err(|_| AuthError::Invalid)?;
        Ok(Identity {
            user_id,
            email: claims.email,
            role: claims.role,
            session: claims.jti,
            token: token.to_owned(),
            expires_at: claims.exp,
        })
    }

    /// A key still trusted: given, or published within one lifetime.
    async fn fresh(&self, kid: &str) -> Option<DecodingKey> {
        let lifetime = *self.inner.lifetime.read().await;
        let keys = self.inner.keys.read().await;
        let cached = keys.get(kid)?;
        cached
            .seen
            .is_none_or(|seen| seen.elapsed() <= lifetime)
            .then(|| cached.key.clone())
    }

    /// The key `kid` names. A known key is answered at once, even one due
    /// for a look at the issuer (which then happens in the background): a
    /// slow or unreachable users service never holds up a request whose key
    /// is known. An unknown `kid` waits for the one fetch in flight; fetches
    /// — failed ones too — are at most one per [`REFETCH_INTERVAL`], so a
    /// flood of made-up `kid`s costs one fetch.
    async fn key(&self, kid: &str) -> Result<DecodingKey, AuthError> {
        if let Some(k) = self.fresh(kid).await {
            return Ok(k);
        }
        if !matches!(self.inner.source, Source::Remote { .. }) {
            return Err(AuthError::Invalid);
        }
        let known = self.inner.keys.read().await.get(kid).map(|c| c.key.clone());
        if let Some(key) = known {
            // Until the issuer says otherwise (a withdrawn key is dropped by
            // the refresh), a key it published stays usable.
            let verifier = self.clone();
            tokio::spawn(async move {
                let _ = verifier.refresh(false).await;
            });
            return Ok(key);
        }
        let refreshed = self.refresh(true).await;
        match self.fresh(kid).await {
            Some(k) => Ok(k),
            None => Err(refreshed.err().unwrap_or(AuthError::Invalid)),
        }
    }

    /// Fetches the published keys, unless a fetch began within
    /// [`REFETCH_INTERVAL`]. `wait`: queue behind a fetch in flight, else
    /// leave it to that one. `Err(KeysUnavailable)` when the last fetch
    /// failed.
    async fn refresh(&self, wait: bool) -> Result<(), AuthError> {
        let Source::Remote { url, http } = &self.inner.source else {
            return Ok(());
        };
        let mut last = if wait {
            self.inner.last_fetch.lock().await
        } else {
            match self.inner.last_fetch.try_lock() {
                Ok(guard) => guard,
                Err(_) => return Ok(()),
            }
        };
        if let Some(fetch) = *last
            && fetch.at.elapsed() < REFETCH_INTERVAL
        {
            return if fetch.failed {
                Err(AuthError::KeysUnavailable)
            } else {
                Ok(())
            };
        }
        // A span of the request that needed the keys; the users service
        // continues it.
        let span = tracing::info_span!(
            "jwks",
            otel.name = "GET jwks",
            otel.kind = "client",
            url.full = url,
        );
        let fetched = tracing::Instrument::instrument(
            async {
                let mut trace = reqwest::header::HeaderMap::new();
                shop_platform::traces::inject_headers(&tracing::Span::current(), &mut trace);
                let resp = http
                    .get(url)
                    .headers(trace)
                    .send()
                    .await?
                    .error_for_status()?;
                let lifetime = max_age(resp.headers());
                resp.json::<JwkSet>().await.map(|set| (set, lifetime))
            },
            span.clone(),
        )
        .await;
        if fetched.is_err() {
            shop_platform::traces::record_error(&span, "cannot fetch signing keys");
        }
        *last = Some(Fetch {
            at: Instant::now(),
            failed: fetched.is_err(),
        });
        match fetched {
            Ok((set, lifetime)) => {
                // Never shorter than the refetch interval, or a key could
                // go stale between two allowed fetches.
                let lifetime = lifetime.unwrap_or(DEFAULT_LIFETIME).max(REFETCH_INTERVAL);
                *self.inner.lifetime.write().await = lifetime;
                let now = Instant::now();
                let mut keys = self.inner.keys.write().await;
                for (kid, key) in decoding_keys(&set) {
                    keys.insert(
                        kid,
                        Cached {
                            key,
                            seen: Some(now),
                        },
                    );
                }
                // Keys no longer published are kept for one lifetime.
                keys.retain(|_, c| c.seen.is_none_or(|seen| seen.elapsed() <= lifetime));
                tracing::info!(
                    published = set.keys.len(),
                    trusted = keys.len(),
                    "fetched signing keys"
                );
                Ok(())
            }
            Err(e) => {
                tracing::warn!(error = %e, url, "cannot fetch signing keys");
                Err(AuthError::KeysUnavailable)
            }
        }
    }
}

/// When the keys were last fetched, and whether that failed.
#[derive(Debug, Clone, Copy)]
struct Fetch {
    at: Instant,
    failed: bool,
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

    /// A JWKS endpoint whose published keys and max-age a test changes.
    async fn issuer(max_age: u64) -> (String, Arc<std::sync::Mutex<JwkSet>>) {
        use axum::{Json, routing::get};
        let published = Arc::new(std::sync::Mutex::new(JwkSet { keys: vec![] }));
        let shared = published.clone();
        let app = axum::Router::new().route(
            "/jwks",
            get(move || {
                let set = shared.lock().unwrap().clone();
                async move {
                    (
                        [(
                            axum::http::header::CACHE_CONTROL,
                            format!("max-age={max_age}"),
                        )],
                        Json(set),
                    )
                }
            }),
        );
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let url = format!("http://{}/jwks", listener.local_addr().unwrap());
        tokio::spawn(async move { axum::serve(listener, app).await });
        (url, published)
    }

    /// Polls `verify` until it gives `want`, for at most 15 s.
    async fn until(verifier: &Verifier, token: &str, want: bool) -> bool {
        let deadline = Instant::now() + Duration::from_secs(15);
        while Instant::now() < deadline {
            if verifier.verify(token).await.is_ok() == want {
                return true;
            }
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
        false
    }

    /// A verifier that trusted `old`, and an issuer that now publishes only
    /// `new`: tokens of each.
    async fn rotated(max_age: u64) -> (Verifier, String, String) {
        let rules = TokenRules::default();
        let (old, new) = (
            SigningKey::generate().unwrap(),
            SigningKey::generate().unwrap(),
        );
        let (url, published) = issuer(max_age).await;
        published.lock().unwrap().keys = vec![old.public_jwk()];
        let verifier = Verifier::remote(url, &rules).unwrap();
        let old_token = old.issue(&rules, 7, "a@b.co", Role::Customer, 600).unwrap();
        assert!(verifier.verify(&old_token).await.is_ok());
        published.lock().unwrap().keys = vec![new.public_jwk()];
        let new_token = new.issue(&rules, 7, "a@b.co", Role::Customer, 600).unwrap();
        (verifier, old_token, new_token)
    }

    /// An issuer that answers (0), fails with 500 (1) or takes 4 s (2) as
    /// `mode` says, counting what it is asked.
    async fn unsteady_issuer(
        keys: JwkSet,
    ) -> (
        String,
        Arc<std::sync::atomic::AtomicUsize>,
        Arc<std::sync::atomic::AtomicU8>,
    ) {
        use axum::{Json, http::StatusCode, response::IntoResponse, routing::get};
        use std::sync::atomic::{AtomicU8, AtomicUsize, Ordering};
        let hits = Arc::new(AtomicUsize::new(0));
        let mode = Arc::new(AtomicU8::new(0));
        let (h, m) = (hits.clone(), mode.clone());
        let app = axum::Router::new().route(
            "/jwks",
            get(move || {
                let (keys, h, m) = (keys.clone(), h.clone(), m.clone());
                async move {
                    h.fetch_add(1, Ordering::SeqCst);
                    match m.load(Ordering::SeqCst) {
                        1 => StatusCode::INTERNAL_SERVER_ERROR.into_response(),
                        2 => {
                            tokio::time::sleep(Duration::from_secs(4)).await;
                            Json(keys).into_response()
                        }
                        _ => (
                            [(axum::http::header::CACHE_CONTROL, "max-age=0")],
                            Json(keys),
                        )
                            .into_response(),
                    }
                }
            }),
        );
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let url = format!("http://{}/jwks", listener.local_addr().unwrap());
        tokio::spawn(async move { axum::serve(listener, app).await });
        (url, hits, mode)
    }

    #[tokio::test]
    async fn a_flood_of_unknown_key_ids_costs_one_fetch_even_while_the_issuer_fails() {
        use std::sync::atomic::Ordering;
        let rules = TokenRules::default();
        let (url, hits, mode) = unsteady_issuer(JwkSet { keys: vec![] }).await;
        mode.store(1, Ordering::SeqCst);
        let verifier = Verifier::remote(url, &rules).unwrap();
        let tokens: Vec<String> = (0..30)
            .map(|_| {
                SigningKey::generate()
                    .unwrap()
                    .issue(&rules, 7, "a@b.co", Role::Customer, 600)
                    .unwrap()
            })
            .collect();
        let answers =
            futures::future::join_all(tokens.iter().map(|t| verifier.verify_signature(t))).await;
        assert!(answers.iter().all(Result::is_err));
        assert_eq!(
            hits.load(Ordering::SeqCst),
            1,
            "one fetch for the whole flood"
        );
    }

    #[tokio::test]
    async fn a_slow_issuer_never_holds_up_a_token_whose_key_is_known() {
        use std::sync::atomic::Ordering;
        let rules = TokenRules::default();
        let key = SigningKey::generate().unwrap();
        let (url, hits, mode) = unsteady_issuer(JwkSet {
            keys: vec![key.public_jwk()],
        })
        .await;
        let verifier = Verifier::remote(url, &rules).unwrap();
        let token = key.issue(&rules, 7, "a@b.co", Role::Customer, 600).unwrap();
        assert!(verifier.verify_signature(&token).await.is_ok());
        // From now on the issuer takes 4 s; the key's lifetime (max-age=0:
        // the refetch interval) runs out and it is asked again.
        mode.store(2, Ordering::SeqCst);
        let deadline = Instant::now() + Duration::from_secs(15);
        while hits.load(Ordering::SeqCst) < 2 {
            assert!(
                Instant::now() < deadline,
                "the issuer was never asked again"
            );
            let started = Instant::now();
            assert!(verifier.verify_signature(&token).await.is_ok());
            assert!(
                started.elapsed() < Duration::from_secs(1),
                "a known key waited {:?} for the issuer",
                started.elapsed()
            );
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
    }

    #[tokio::test]
    async fn after_a_rotation_tokens_of_the_previous_key_stay_valid() {
        let (verifier, old_token, new_token) = rotated(300).await;

        assert!(
            until(&verifier, &new_token, true).await,
            "the new key is learnt"
        );
        assert!(
            verifier.verify(&old_token).await.is_ok(),
            "the previous key is merged, not replaced"
        );
    }

    #[tokio::test]
    async fn a_key_no_longer_published_is_dropped_after_the_cache_lifetime() {
        // max-age=0: the shortest lifetime, the refetch interval (5 s).
        let (verifier, old_token, new_token) = rotated(0).await;

        assert!(until(&verifier, &new_token, true).await);
        assert!(
            until(&verifier, &old_token, false).await,
            "the withdrawn key is no longer trusted once its lifetime is over"
        );
        assert!(verifier.verify(&new_token).await.is_ok());
    }
}

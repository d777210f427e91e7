//! Sign-in with Google (or any OpenID provider): the authorization-code
//! grant with PKCE (S256), `state` and `nonce`. The endpoints come from the
//! issuer's discovery document; the ID token is verified against the
//! provider's JWKS (RS256: issuer, audience, expiry, nonce) and must carry a
//! verified email.

use anyhow::{Context, Result};
use jsonwebtoken::{Algorithm, DecodingKey, Validation};
use oauth2::{
    AuthUrl, AuthorizationCode, Client, ClientId, ClientSecret, CsrfToken, EndpointNotSet,
    EndpointSet, ExtraTokenFields, PkceCodeChallenge, PkceCodeVerifier, RedirectUrl, Scope,
    StandardRevocableToken, StandardTokenResponse, TokenUrl,
    basic::{
        BasicErrorResponse, BasicRevocationErrorResponse, BasicTokenIntrospectionResponse,
        BasicTokenType,
    },
};
use secrecy::{ExposeSecret, SecretString};
use serde::{Deserialize, Serialize};
use std::time::{Duration, Instant};
use tokio::sync::Mutex;

/// `GOOGLE_CLIENT_ID`, `GOOGLE_CLIENT_SECRET`, `GOOGLE_ISSUER_URL`,
/// `GOOGLE_REDIRECT_URL`.
#[derive(Debug, Clone)]
pub struct GoogleSettings {
    pub client_id: String,
    pub client_secret: SecretString,
    pub issuer_url: String,
    /// The callback URL as the browser sees it.
    pub redirect_url: String,
}

/// Why a sign-in with the provider did not complete; each becomes a message
/// on the sign-in page.
#[derive(Debug, thiserror::Error)]
pub enum Refusal {
    #[error("Sign-in with Google was cancelled.")]
    Denied,
    #[error("The sign-in with Google expired or was already used; please try again.")]
    BadState,
    #[error("Google could not be reached; please try again in a moment.")]
    Unreachable(#[source] anyhow::Error),
    #[error("Google did not confirm the sign-in; please try again.")]
    Rejected(#[source] anyhow::Error),
    #[error("Your Google account's email address is not verified.")]
    UnverifiedEmail,
    #[error("This email address is linked to a different Google account.")]
    LinkedElsewhere,
    #[error("This account cannot sign in.")]
    Inactive,
}

/// What the `oauth_state` cookie carries between the two legs.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Pending {
    pub state: String,
    pub verifier: String,
    pub nonce: String,
}

impl Pending {
    /// `state.verifier.nonce`: each is base64url, so `.` never occurs in one.
    pub fn to_cookie(&self) -> String {
        format!("{}.{}.{}", self.state, self.verifier, self.nonce)
    }

    pub fn from_cookie(value: &str) -> Option<Self> {
        let mut it = value.split('.');
        let (state, verifier, nonce) = (it.next()?, it.next()?, it.next()?);
        if it.next().is_some() || [state, verifier, nonce].iter().any(|s| s.is_empty()) {
            return None;
        }
        Some(Self {
            state: state.to_owned(),
            verifier: verifier.to_owned(),
            nonce: nonce.to_owned(),
        })
    }
}

/// The claims of a verified ID token this service uses.
#[derive(Debug, Clone, Deserialize)]
pub struct IdClaims {
    pub sub: String,
    pub email: Option<String>,
    #[serde(default)]
    pub email_verified: Option<bool>,
    pub name: Option<String>,
    pub nonce: Option<String>,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
struct IdTokenField {
    id_token: String,
}
impl ExtraTokenFields for IdTokenField {}

type TokenResponse = StandardTokenResponse<IdTokenField, BasicTokenType>;
type OidcClient = Client<
    BasicErrorResponse,
    TokenResponse,
    BasicTokenIntrospectionResponse,
    StandardRevocableToken,
    BasicRevocationErrorResponse,
    EndpointSet,
    EndpointNotSet,
    EndpointNotSet,
    EndpointNotSet,
    EndpointSet,
>;

#[derive(Debug, Clone, Deserialize)]
struct Discovery {
    issuer: String,
    authorization_endpoint: String,
    token_endpoint: String,
    jwks_uri: String,
}

#[derive(Debug, Deserialize)]
struct Jwks {
    keys: Vec<RsaJwk>,
}

#[derive(Debug, Deserialize)]
struct RsaJwk {
    kty: String,
    kid: Option<String>,
    #[serde(default)]
    n: String,
    #[serde(default)]
    e: String,
}

/// How long the discovery document is reused.
const DISCOVERY_LIFETIME: Duration = Duration::from_secs(3600);

/// The provider's two legs of a sign-in, so the use case can be tested
/// without HTTP.
#[async_trait::async_trait]
pub trait SignIn: std::fmt::Debug + Send + Sync {
    /// The provider's consent URL, and what the browser must bring back.
    async fn start(&self) -> Result<(String, Pending), Refusal>;
    /// Exchanges the code (with the PKCE verifier) and verifies the ID token.
    async fn finish(&self, code: String, pending: &Pending) -> Result<IdClaims, Refusal>;
}

#[async_trait::async_trait]
impl SignIn for Google {
    async fn start(&self) -> Result<(String, Pending), Refusal> {
        Google::start(self).await
    }

    async fn finish(&self, code: String, pending: &Pending) -> Result<IdClaims, Refusal> {
        Google::finish(self, code, pending).await
    }
}

/// The configured provider. One per process.
pub struct Google {
    settings: GoogleSettings,
    /// Follows no redirects: a token endpoint that redirects is refused.
    http: reqwest::Client,
    discovery: Mutex<Option<(Instant, Discovery)>>,
}

impl std::fmt::Debug for Google {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Google")
            .field("issuer", &self.settings.issuer_url)
            .finish_non_exhaustive()
    }
}

impl Google {
    pub fn new(settings: GoogleSettings) -> Result<Self> {
        Ok(Self {
            settings,
            http: reqwest::Client::builder()
                .redirect(reqwest::redirect::Policy::none())
                .timeout(Duration::from_secs(5))
                .build()?,
            discovery: Mutex::new(None),
        })
    }

    async fn discovery(&self) -> Result<Discovery> {
        let mut cached = self.discovery.lock().await;
        if let Some((at, d)) = cached.as_ref()
            && at.elapsed() < DISCOVERY_LIFETIME
        {
            return Ok(d.clone());
        }
        let url = format!(
            "{}/.well-known/openid-configuration",
            self.settings.issuer_url.trim_end_matches('/')
        );
        // Calls to the provider are spans of the sign-in; no trace context
        // is sent to a third party.
        let span = tracing::info_span!(
            "oidc",
            otel.name = "GET openid-configuration",
            otel.kind = "client"
        );
        let d: Discovery = tracing::Instrument::instrument(self.http.get(&url).send(), span)
            .await
            .and_then(reqwest::Response::error_for_status)
            .with_context(|| format!("fetching {url}"))?
            .json()
            .await
            .context("reading the discovery document")?;
        *cached = Some((Instant::now(), d.clone()));
        Ok(d)
    }

    fn client(&self, d: &Discovery) -> Result<OidcClient> {
        Ok(Client::new(ClientId::new(self.settings.client_id.clone()))
            .set_client_secret(ClientSecret::new(
                self.settings.client_secret.expose_secret().to_owned(),
            ))
            .set_auth_uri(AuthUrl::new(d.authorization_endpoint.clone())?)
            .set_token_uri(TokenUrl::new(d.token_endpoint.clone())?)
            .set_redirect_uri(RedirectUrl::new(self.settings.redirect_url.clone())?))
    }

    /// The provider's consent URL, and what the browser must bring back.
    pub async fn start(&self) -> Result<(String, Pending), Refusal> {
        let d = self.discovery().await.map_err(Refusal::Unreachable)?;
        let client = self.client(&d).map_err(Refusal::Rejected)?;
        let (challenge, verifier) = PkceCodeChallenge::new_random_sha256();
        let nonce = CsrfToken::new_random().secret().clone();
        let (url, state) = client
            .authorize_url(CsrfToken::new_random)
            .add_scopes(["openid", "email", "profile"].map(|s| Scope::new(s.into())))
            .add_extra_param("nonce", nonce.clone())
            .set_pkce_challenge(challenge)
            .url();
        Ok((
            url.into(),
            Pending {
                state: state.secret().clone(),
                verifier: verifier.secret().clone(),
                nonce,
            },
        ))
    }

    /// Exchanges the code (with the PKCE verifier) and verifies the ID token.
    pub async fn finish(&self, code: String, pending: &Pending) -> Result<IdClaims, Refusal> {
        let d = self.discovery().await.map_err(Refusal::Unreachable)?;
        let client = self.client(&d).map_err(Refusal::Rejected)?;
        let exchange = tracing::info_span!("oidc", otel.name = "POST token", otel.kind = "client");
        let tokens = tracing::Instrument::instrument(
            client
                .exchange_code(AuthorizationCode::new(code))
                .set_pkce_verifier(PkceCodeVerifier::new(pending.verifier.clone()))
                .request_async(&self.http),
            exchange,
        )
        .await
        .map_err(|e| match e {
            oauth2::RequestTokenError::Request(e) => Refusal::Unreachable(e.into()),
            other => Refusal::Rejected(anyhow::anyhow!("token exchange: {other}")),
        })?;
        let id_token = &tokens.extra_fields().id_token;
        let keys = tracing::info_span!("oidc", otel.name = "GET jwks", otel.kind = "client");
        let jwks: Jwks = tracing::Instrument::instrument(self.http.get(&d.jwks_uri).send(), keys)
            .await
            .and_then(reqwest::Response::error_for_status)
            .map_err(|e| Refusal::Unreachable(e.into()))?
            .json()
            .await
            .map_err(|e| Refusal::Rejected(e.into()))?;
        let claims = verify_id_token(
            id_token,
            &jwks_keys(&jwks)?,
            &d.issuer,
            &self.settings.client_id,
            &pending.nonce,
        )?;
        if claims.email_verified != Some(true) || claims.email.is_none() {
            return Err(Refusal::UnverifiedEmail);
        }
        Ok(claims)
    }

    /// Verifies an ID token with the provider's current keys; for tests of
    /// tokens obtained outside the flow.
    pub async fn verify(&self, id_token: &str, nonce: &str) -> Result<IdClaims, Refusal> {
        let d = self.discovery().await.map_err(Refusal::Unreachable)?;
        let jwks: Jwks = self
            .http
            .get(&d.jwks_uri)
            .send()
            .await
            .map_err(|e| Refusal::Unreachable(e.into()))?
            .json()
            .await
            .map_err(|e| Refusal::Rejected(e.into()))?;
        verify_id_token(
            id_token,
            &jwks_keys(&jwks)?,
            &d.issuer,
            &self.settings.client_id,
            nonce,
        )
    }
}

fn jwks_keys(jwks: &Jwks) -> Result<Vec<(Option<String>, DecodingKey)>, Refusal> {
    let keys: Vec<_> = jwks
        .keys
        .iter()
        .filter(|k| k.kty == "RSA")
        .filter_map(|k| {
            DecodingKey::from_rsa_components(&k.n, &k.e)
                .ok()
                .map(|d| (k.kid.clone(), d))
        })
        .collect();
    if keys.is_empty() {
        return Err(Refusal::Rejected(anyhow::anyhow!(
            "the provider publishes no RSA key"
        )));
    }
    Ok(keys)
}

/// RS256 only; issuer, audience (our client id), expiry and nonce checked.
fn verify_id_token(
    token: &str,
    keys: &[(Option<String>, DecodingKey)],
    issuer: &str,
    client_id: &str,
    nonce: &str,
) -> Result<IdClaims, Refusal> {
    let header = jsonwebtoken::decode_header(token).map_err(|e| Refusal::Rejected(e.into()))?;
    if header.alg != Algorithm::RS256 {
        return Err(Refusal::Rejected(anyhow::anyhow!(
            "ID token algorithm {:?}",
            header.alg
        )));
    }
    let mut v = Validation::new(Algorithm::RS256);
    v.set_issuer(&[issuer]);
    v.set_audience(&[client_id]);
    v.set_required_spec_claims(&["exp", "iss", "aud", "sub"]);
    v.leeway = 60;
    // A token naming its key is checked with that key; one that names none
    // (some providers) with each published key.
    let candidates = keys
        .iter()
        .filter(|(kid, _)| header.kid.is_none() || kid.is_none() || *kid == header.kid);
    let mut last = None;
    for (_, key) in candidates {
        match jsonwebtoken::decode::<IdClaims>(token, key, &v) {
            Ok(data) => {
                if data.claims.nonce.as_deref() != Some(nonce) {
                    return Err(Refusal::Rejected(anyhow::anyhow!("nonce mismatch")));
                }
                return Ok(data.claims);
            }
            Err(e) => last = Some(e),
        }
    }
    Err(Refusal::Rejected(match last {
        Some(e) => anyhow::anyhow!("ID token refused: {e}"),
        None => anyhow::anyhow!("no published key matches the ID token"),
    }))
}

/// A username from the profile: lower-case letters, digits, `.`, `_`, `-`,
/// 3–40 characters; the caller adds a suffix when it is taken.
pub fn username_from(claims: &IdClaims) -> String {
    let source = claims
        .name
        .as_deref()
        .filter(|n| !n.trim().is_empty())
        .or_else(|| claims.email.as_deref().and_then(|e| e.split('@').next()))
        .unwrap_or("customer");
    let mut name: String = source
        .trim()
        .chars()
        .flat_map(char::to_lowercase)
        .map(|c| if c.is_whitespace() { '.' } else { c })
        .filter(|c| c.is_ascii_alphanumeric() || matches!(c, '.' | '_' | '-'))
        .take(40)
        .collect();
    if name.chars().count() < 3 {
        name = format!("customer{name}");
    }
    name
}

#[cfg(test)]
mod tests {
    use super::*;

    fn claims(name: Option<&str>, email: &str) -> IdClaims {
        IdClaims {
            sub: "s".into(),
            email: Some(email.into()),
            email_verified: Some(true),
            name: name.map(Into::into),
            nonce: None,
        }
    }

    #[test]
    fn usernames_come_from_the_profile_and_fit_the_rules() {
        assert_eq!(
            username_from(&claims(Some("Ada Lovelace"), "a@x.io")),
            "ada.lovelace"
        );
        assert_eq!(username_from(&claims(None, "Bo@x.io")), "customerbo");
        assert_eq!(username_from(&claims(Some("  "), "zed.k@x.io")), "zed.k");
        assert_eq!(
            username_from(&claims(Some("Łukasz 🎉"), "l@x.io")),
            "ukasz."
        );
        assert!(username_from(&claims(Some(&"x".repeat(80)), "l@x.io")).len() <= 40);
    }

    #[test]
    fn the_state_cookie_round_trips_and_refuses_garbage() {
        let p = Pending {
            state: "s-1".into(),
            verifier: "v_2".into(),
            nonce: "n3".into(),
        };
        assert_eq!(Pending::from_cookie(&p.to_cookie()), Some(p));
        for bad in ["", "a.b", "a.b.c.d", "a..c"] {
            assert_eq!(Pending::from_cookie(bad), None, "{bad}");
        }
    }
}

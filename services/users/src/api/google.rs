//! `GET /auth/google` and its callback; `GET /auth/providers` tells the web
//! app whether to show the button. Every way the sign-in can fail brings the
//! browser back to the sign-in page with a message, never an error page.

use super::Result;
use crate::{
    AppState,
    api::account::signed_in,
    app::sign_in,
    clients::google::{Pending, Refusal},
    error::Error,
};
use axum::{
    Json, Router,
    extract::State,
    http::{HeaderValue, StatusCode, header},
    response::{IntoResponse, Response},
    routing::get,
};
use axum_extra::extract::cookie::{Cookie, CookieJar, SameSite};
use serde::Deserialize;
use shop_platform::Query;
use shop_types::SignInProviders;

/// The cookie that carries `state`, the PKCE verifier and the nonce between
/// the two legs.
pub const STATE_COOKIE: &str = "oauth_state";
/// How long the user has to complete the provider's consent page.
const STATE_TTL_SECS: i64 = 600;

pub fn router() -> Router<AppState> {
    Router::new()
        .route("/auth/providers", get(providers))
        .route("/auth/google", get(start))
        .route("/auth/google/callback", get(callback))
}

#[utoipa::path(get, path = "/auth/providers", tag = "users",
    responses((status = 200, description = "The sign-in methods besides email and password", body = SignInProviders)))]
pub async fn providers(State(state): State<AppState>) -> Json<SignInProviders> {
    Json(SignInProviders {
        google: state.google.is_some(),
    })
}

fn state_cookie(state: &AppState, value: String, max_age: i64) -> Cookie<'static> {
    Cookie::build((STATE_COOKIE, value))
        .http_only(true)
        // Lax: the provider's redirect back is a top-level navigation.
        .same_site(SameSite::Lax)
        .secure(state.secure_cookies)
        .path("/")
        .max_age(cookie::time::Duration::seconds(max_age))
        .build()
}

fn found(location: &str) -> Response {
    match HeaderValue::from_str(location) {
        Ok(v) => (StatusCode::FOUND, [(header::LOCATION, v)]).into_response(),
        Err(_) => Error::Internal(anyhow::anyhow!("unusable redirect {location}")).into_response(),
    }
}

/// Back to the web app's sign-in page with the reason.
fn back_to_sign_in(state: &AppState, jar: CookieJar, why: &Refusal) -> Response {
    match why {
        Refusal::Unreachable(e) | Refusal::Rejected(e) => {
            tracing::warn!(
                error = format!("{e:#}"),
                "sign-in with Google failed: {why}"
            );
        }
        _ => tracing::info!("sign-in with Google refused: {why}"),
    }
    let mut url = match oauth2::url::Url::parse(&format!("{}/login", state.public_url)) {
        Ok(u) => u,
        Err(e) => return Error::Internal(e.into()).into_response(),
    };
    url.query_pairs_mut().append_pair("error", &why.to_string());
    let jar = jar.add(state_cookie(state, String::new(), 0));
    (jar, found(url.as_str())).into_response()
}

#[utoipa::path(get, path = "/auth/google", tag = "users",
    responses(
        (status = 302, description = "To the provider's consent page; sets the httpOnly `oauth_state` cookie (state, PKCE verifier, nonce). When the provider cannot be reached, back to the sign-in page with `?error=`"),
        (status = 404, description = "Sign-in with Google is not configured"),
    ))]
#[tracing::instrument(skip_all)]
pub async fn start(State(state): State<AppState>, jar: CookieJar) -> Result<Response> {
    let google = state.google.clone().ok_or(Error::GoogleOff)?;
    Ok(match google.start().await {
        Ok((url, pending)) => {
            let jar = jar.add(state_cookie(&state, pending.to_cookie(), STATE_TTL_SECS));
            (jar, found(&url)).into_response()
        }
        Err(why) => back_to_sign_in(&state, jar, &why),
    })
}

#[derive(Debug, Deserialize, utoipa::IntoParams)]
pub struct CallbackQuery {
    pub code: Option<String>,
    pub state: Option<String>,
    /// Set by the provider when the user declined.
    pub error: Option<String>,
}

#[utoipa::path(get, path = "/auth/google/callback", tag = "users", params(CallbackQuery),
    responses(
        (status = 302, description = "Signed in: to the web app's `/auth/callback` with `shop_session` set. Refused: to the sign-in page with `?error=`"),
        (status = 404, description = "Sign-in with Google is not configured"),
    ))]
#[tracing::instrument(skip_all)]
pub async fn callback(
    State(state): State<AppState>,
    jar: CookieJar,
    Query(q): Query<CallbackQuery>,
) -> Result<Response> {
    let google = state.google.clone().ok_or(Error::GoogleOff)?;
    let pending = jar
        .get(STATE_COOKIE)
        .and_then(|c| Pending::from_cookie(c.value()));
    let outcome = sign_in::with_google(
        &state,
        google.as_ref(),
        sign_in::Callback {
            pending,
            code: q.code,
            state: q.state,
            denied: q.error.is_some(),
        },
    )
    .await;
    Ok(match outcome {
        Ok((user, issued)) => {
            tracing::info!(user_id = user.id, "signed in with Google");
            let jar = signed_in(
                jar.add(state_cookie(&state, String::new(), 0)),
                &state,
                &issued,
            );
            (jar, found(&format!("{}/auth/callback", state.public_url))).into_response()
        }
        Err(why) => back_to_sign_in(&state, jar, &why),
    })
}

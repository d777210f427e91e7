//! Register, log in, log out, and who am I.

use super::Result;
use crate::{
    AppState,
    app::sign_in,
    error::Error,
    store::{sessions, users as repo},
};
use axum::{
    Json, Router,
    extract::State,
    http::{HeaderMap, StatusCode},
    response::{IntoResponse, Response},
    routing::{get, post},
};
use axum_extra::extract::cookie::{Cookie, CookieJar, SameSite};
use shop_auth::{CurrentUser, SESSION_COOKIE};
use shop_platform::{AppJson, client::ClientAddress};
use shop_types::{LoginRequest, RegisterRequest, SIGNED_IN_COOKIE, TokenResponse, User};

pub fn router() -> Router<AppState> {
    Router::new()
        .route("/users/register", post(register))
        .route("/users/login", post(login))
        .route("/users/logout", post(logout))
        .route("/users/me", get(me))
}

#[utoipa::path(post, path = "/users/register", tag = "users", request_body = RegisterRequest,
    responses(
        (status = 201, description = "Account created", body = User),
        (status = 409, description = "Email or username already taken"),
        (status = 422, description = "Invalid email, username or password"),
        (status = 429, description = "Too many registrations from this address; see Retry-After"),
    ))]
#[tracing::instrument(skip_all)]
pub async fn register(
    State(state): State<AppState>,
    ClientAddress(address): ClientAddress,
    AppJson(req): AppJson<RegisterRequest>,
) -> Result<(StatusCode, Json<User>)> {
    let user = sign_in::register(&state, req, address).await?;
    Ok((StatusCode::CREATED, Json(user)))
}

#[utoipa::path(post, path = "/users/login", tag = "users", request_body = LoginRequest,
    responses(
        (status = 200, description = "Signed in; also sets the httpOnly `shop_session` cookie and the page-readable `shop_signed_in=1`", body = TokenResponse),
        (status = 401, description = "Invalid email or password"),
        (status = 429, description = "Too many failed attempts for this account or from this address; see Retry-After"),
    ))]
#[tracing::instrument(skip_all)]
pub async fn login(
    State(state): State<AppState>,
    ClientAddress(address): ClientAddress,
    jar: CookieJar,
    AppJson(req): AppJson<LoginRequest>,
) -> Result<(CookieJar, Json<TokenResponse>)> {
    let issued = sign_in::with_password(&state, req, address).await?;
    Ok((
        signed_in(jar, &state, &issued),
        Json(TokenResponse {
            access_token: issued.token,
            token_type: "bearer".into(),
            expires_in: issued.expires_in,
        }),
    ))
}

/// Adds the httpOnly cookie that carries a session to the browser, and
/// beside it [`SIGNED_IN_COOKIE`], readable by the page and holding no
/// secret, with the same lifetime: the app asks `GET /users/me` only when
/// it is there, so an anonymous visit makes no failing request.
pub fn signed_in(jar: CookieJar, state: &AppState, issued: &sessions::Issued) -> CookieJar {
    let max_age = time_secs(issued.expires_in);
    jar.add(
        Cookie::build((SESSION_COOKIE, issued.token.clone()))
            .http_only(true)
            .same_site(SameSite::Lax)
            .secure(state.secure_cookies)
            .path("/")
            .max_age(max_age)
            .build(),
    )
    .add(
        Cookie::build((SIGNED_IN_COOKIE, "1"))
            .same_site(SameSite::Lax)
            .secure(state.secure_cookies)
            .path("/")
            .max_age(max_age)
            .build(),
    )
}

/// Clears both cookies [`signed_in`] set.
fn signed_out(jar: CookieJar, state: &AppState) -> CookieJar {
    let cleared = |name: &'static str, http_only: bool| {
        Cookie::build((name, ""))
            .http_only(http_only)
            .same_site(SameSite::Lax)
            .secure(state.secure_cookies)
            .path("/")
            .max_age(time_secs(0))
            .build()
    };
    jar.add(cleared(SESSION_COOKIE, true))
        .add(cleared(SIGNED_IN_COOKIE, false))
}

fn time_secs(secs: i64) -> cookie::time::Duration {
    cookie::time::Duration::seconds(secs)
}

#[utoipa::path(post, path = "/users/logout", tag = "users",
    responses((status = 204, description = "Signed out: the session ends everywhere within `REVOCATION_POLL_MS`, and both cookies are cleared")),
    security(("bearer" = []), ("cookie" = [])))]
pub async fn logout(
    State(state): State<AppState>,
    CurrentUser(id): CurrentUser,
    jar: CookieJar,
) -> Result<impl IntoResponse> {
    sessions::revoke(&state.pool, &id.session).await?;
    tracing::info!(user_id = id.user_id, "signed out");
    Ok((signed_out(jar, &state), StatusCode::NO_CONTENT))
}

/// Served from this replica's copy when it has one (`platform::cache`),
/// with an `ETag`; an inactive account is never kept.
#[utoipa::path(get, path = "/users/me", tag = "users",
    responses((status = 200, body = User), (status = 304, description = "Not modified (`If-None-Match` named the current `ETag`)"),
        (status = 401, description = "Not signed in")),
    security(("bearer" = []), ("cookie" = [])))]
pub async fn me(
    State(state): State<AppState>,
    CurrentUser(id): CurrentUser,
    headers: HeaderMap,
) -> Result<Response> {
    if let Some(cached) = state.accounts.item(id.user_id) {
        return Ok(cached.respond(&headers));
    }
    let seen = state.accounts.generation();
    let user = repo::by_id(&state.pool, id.user_id)
        .await?
        .filter(|u| u.is_active)
        .ok_or(Error::NotSignedIn)?;
    let body = serde_json::to_vec(&user.into_user()).map_err(|e| Error::Internal(e.into()))?;
    Ok(state
        .accounts
        .keep_item(seen, id.user_id, body.into())
        .respond(&headers))
}

//! Signing up and signing in: with a password (throttled per account and
//! address, the same answer for every failure), and with Google (the
//! callback's state checked once, whichever replica answers, the code
//! exchanged, the account found, linked or created); either way a session
//! is opened.

use crate::{
    AppState,
    clients::google::{IdClaims, Pending, Refusal, SignIn, username_from},
    domain::{account, password},
    error::Error,
    store::{
        sessions::{self, Issued},
        throttle,
        users::{self as repo, UserRow},
    },
};
use shop_types::{LoginRequest, RegisterRequest, User};
use std::net::IpAddr;

/// Creates an account, within the registrations allowed from `address`.
pub async fn register(
    state: &AppState,
    req: RegisterRequest,
    address: IpAddr,
) -> Result<User, Error> {
    let new = account::parse_registration(req)?;
    throttle::admit_registration(&state.pool, address, state.limits.registrations_per_address)
        .await?;
    let hash = password::hash(new.password).await?;
    let row = repo::insert(&state.pool, &new.email, &new.username, &hash).await?;
    tracing::info!(user_id = row.id, "registered");
    Ok(row.into_user())
}

/// Signs in with email and password; every failure is the same
/// `InvalidLogin`, in the same time.
pub async fn with_password(
    state: &AppState,
    req: LoginRequest,
    address: IpAddr,
) -> Result<Issued, Error> {
    account::check_login(&req)?;
    let email = account::normalize_email(&req.email).ok_or(Error::InvalidLogin)?;
    // Counted as a failure from here until it succeeds (unknown emails too).
    let attempt = throttle::admit_attempt(&state.pool, &email, address, state.limits).await?;
    let user = repo::by_email(&state.pool, &email).await?;
    let stored = user.as_ref().and_then(|u| u.password_hash.clone());
    // Verify even for unknown emails: the answer and its timing say nothing.
    let ok = password::verify(req.password, stored).await?;
    let user = match user {
        Some(u) if ok && u.is_active => u,
        _ => return Err(Error::InvalidLogin),
    };
    throttle::succeeded(&state.pool, attempt, &email, address).await?;
    // Deactivated between the check above and now: the same answer.
    let issued = sessions::open(state, &user)
        .await?
        .ok_or(Error::InvalidLogin)?;
    tracing::info!(user_id = user.id, "signed in");
    Ok(issued)
}

/// What the provider sent the browser back with.
#[derive(Debug)]
pub struct Callback {
    /// From the state cookie set when the sign-in started.
    pub pending: Option<Pending>,
    pub code: Option<String>,
    pub state: Option<String>,
    /// The user declined at the provider.
    pub denied: bool,
}

/// Signs in (or up) with Google; a refusal says why.
pub async fn with_google(
    state: &AppState,
    google: &dyn SignIn,
    back: Callback,
) -> Result<(UserRow, Issued), Refusal> {
    if back.denied {
        return Err(Refusal::Denied);
    }
    let pending = back.pending.ok_or(Refusal::BadState)?;
    let (Some(code), Some(got)) = (back.code, back.state) else {
        return Err(Refusal::BadState);
    };
    if got != pending.state {
        return Err(Refusal::BadState);
    }
    // Once per state, whichever replica answers.
    if !repo::consume_state(&state.pool, &pending.state)
        .await
        .map_err(|e| Refusal::Rejected(e.into()))?
    {
        return Err(Refusal::BadState);
    }
    let claims = google.finish(code, &pending).await?;
    let user = account_for(state, &claims).await?;
    sessions::open(state, &user)
        .await
        .map_err(|e| Refusal::Rejected(e.into()))?
        .ok_or(Refusal::Inactive)
        .map(|issued| (user, issued))
}

/// The account of a Google sign-in: already linked, else linked by its
/// verified email, else created with a username from the profile.
async fn account_for(state: &AppState, claims: &IdClaims) -> Result<UserRow, Refusal> {
    let db = |e: Error| Refusal::Rejected(e.into());
    if let Some(user) = repo::by_google_sub(&state.pool, &claims.sub)
        .await
        .map_err(db)?
    {
        return Ok(user);
    }
    let email = claims
        .email
        .as_deref()
        .and_then(account::normalize_email)
        .ok_or(Refusal::UnverifiedEmail)?;
    let base = username_from(claims);
    for attempt in 0..6 {
        if let Some(user) = repo::link_google(&state.pool, &email, &claims.sub)
            .await
            .map_err(db)?
        {
            tracing::info!(user_id = user.id, "linked a Google account by email");
            return Ok(user);
        }
        if repo::by_email(&state.pool, &email)
            .await
            .map_err(db)?
            .is_some()
        {
            return Err(Refusal::LinkedElsewhere);
        }
        let username = match attempt {
            0 => base.clone(),
            _ => format!(
                "{}-{}",
                base,
                &uuid::Uuid::new_v4().simple().to_string()[..6]
            ),
        };
        match repo::insert_google(&state.pool, &email, &username, &claims.sub).await {
            Ok(user) => {
                tracing::info!(user_id = user.id, "created an account from Google");
                return Ok(user);
            }
            // Taken: try another name. A concurrent sign-up of the same
            // email: link to it on the next turn.
            Err(Error::UsernameTaken | Error::EmailTaken) => {}
            Err(e) => return Err(db(e)),
        }
    }
    Err(Refusal::Rejected(anyhow::anyhow!(
        "no free username for a new account"
    )))
}

//! An admin ending an account's access, or giving it back: the account's
//! flag and (on deactivation) every one of its sessions change in one
//! transaction, and this replica's copy of the account is dropped.

use crate::{
    AppState,
    error::Error,
    store::{sessions, users as repo},
};
use shop_types::User;

/// Deactivates `id` for `admin`: sign-in refused, every session ended.
pub async fn deactivate(state: &AppState, admin: i64, id: i64) -> Result<User, Error> {
    if id == admin {
        return Err(Error::OwnAccount);
    }
    let mut tx = state.pool.begin().await?;
    let user = repo::set_active(&mut tx, id, false)
        .await?
        .ok_or(Error::UserNotFound)?;
    let ended = sessions::revoke_all(&mut tx, id).await?;
    tx.commit().await?;
    state.accounts.changed(Some(id));
    tracing::info!(by = admin, sessions_ended = ended, "account deactivated");
    Ok(user.into_user())
}

/// Lets `id` sign in again; sessions ended before stay ended.
pub async fn reactivate(state: &AppState, admin: i64, id: i64) -> Result<User, Error> {
    let mut tx = state.pool.begin().await?;
    let user = repo::set_active(&mut tx, id, true)
        .await?
        .ok_or(Error::UserNotFound)?;
    tx.commit().await?;
    state.accounts.changed(Some(id));
    tracing::info!(by = admin, "account reactivated");
    Ok(user.into_user())
}

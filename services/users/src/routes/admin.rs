//! An admin ends an account's access, or gives it back.

use crate::{AppState, error::Error, repo, sessions};
use axum::{Json, Router, extract::State, routing::post};
use shop_auth::AdminUser;
use shop_platform::{Path, Result};
use shop_types::User;

pub fn router() -> Router<AppState> {
    Router::new()
        .route("/users/{id}/deactivate", post(deactivate))
        .route("/users/{id}/reactivate", post(reactivate))
}

#[utoipa::path(post, path = "/users/{id}/deactivate", tag = "users",
    params(("id" = i64, Path, description = "User id")),
    responses(
        (status = 200, description = "Deactivated: sign-in refused, and every session of the account ends everywhere within `REVOCATION_POLL_MS`", body = User),
        (status = 400, description = "An admin cannot deactivate their own account"),
        (status = 403, description = "Admin privileges required"),
        (status = 404, description = "User not found"),
    ),
    security(("bearer" = []), ("cookie" = [])))]
#[tracing::instrument(skip_all, fields(user_id = id))]
pub async fn deactivate(
    State(state): State<AppState>,
    AdminUser(admin): AdminUser,
    Path(id): Path<i64>,
) -> Result<Json<User>> {
    if id == admin.user_id {
        return Err(Error::OwnAccount.into());
    }
    let mut tx = state.pool.begin().await.map_err(Error::from)?;
    let user = repo::set_active(&mut tx, id, false)
        .await?
        .ok_or(Error::UserNotFound)?;
    let ended = sessions::revoke_all(&mut tx, id).await?;
    tx.commit().await.map_err(Error::from)?;
    tracing::info!(
        by = admin.user_id,
        sessions_ended = ended,
        "account deactivated"
    );
    Ok(Json(user.into_user()))
}

#[utoipa::path(post, path = "/users/{id}/reactivate", tag = "users",
    params(("id" = i64, Path, description = "User id")),
    responses(
        (status = 200, description = "Active again: the account can sign in; sessions ended before stay ended", body = User),
        (status = 403, description = "Admin privileges required"),
        (status = 404, description = "User not found"),
    ),
    security(("bearer" = []), ("cookie" = [])))]
#[tracing::instrument(skip_all, fields(user_id = id))]
pub async fn reactivate(
    State(state): State<AppState>,
    AdminUser(admin): AdminUser,
    Path(id): Path<i64>,
) -> Result<Json<User>> {
    let mut tx = state.pool.begin().await.map_err(Error::from)?;
    let user = repo::set_active(&mut tx, id, true)
        .await?
        .ok_or(Error::UserNotFound)?;
    tx.commit().await.map_err(Error::from)?;
    tracing::info!(by = admin.user_id, "account reactivated");
    Ok(Json(user.into_user()))
}

//! Accounts for admins: the list, and ending an account's access or giving
//! it back.

use super::Result;
use crate::{AppState, app::accounts, store::users as repo};
use axum::{
    Json, Router,
    extract::State,
    routing::{get, post},
};
use serde::Deserialize;
use shop_auth::AdminUser;
use shop_platform::{Path, Query, int_param};
use shop_types::{User, UserList};

pub fn router() -> Router<AppState> {
    Router::new()
        .route("/users", get(list))
        .route("/users/{id}/deactivate", post(deactivate))
        .route("/users/{id}/reactivate", post(reactivate))
}

#[derive(Debug, Default, Deserialize, utoipa::IntoParams)]
#[into_params(parameter_in = Query)]
pub struct ListParams {
    /// 1–100, default 50.
    #[param(value_type = Option<i64>, minimum = 1, maximum = 100)]
    limit: Option<String>,
    /// Default 0.
    #[param(value_type = Option<i64>, minimum = 0)]
    offset: Option<String>,
}

#[utoipa::path(get, path = "/users", tag = "users", params(ListParams),
    responses(
        (status = 200, description = "Every account, by id", body = UserList),
        (status = 403, description = "Admin privileges required"),
    ),
    security(("bearer" = []), ("cookie" = [])))]
pub async fn list(
    State(state): State<AppState>,
    _admin: AdminUser,
    Query(p): Query<ListParams>,
) -> Result<Json<UserList>> {
    let limit = int_param("limit", p.limit.as_deref(), 1, 100)?.unwrap_or(50);
    let offset = int_param("offset", p.offset.as_deref(), 0, i64::MAX)?.unwrap_or(0);
    let (rows, total) = repo::list(&state.pool, limit, offset).await?;
    Ok(Json(UserList {
        users: rows.into_iter().map(repo::UserRow::into_user).collect(),
        total,
    }))
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
#[tracing::instrument(skip_all, fields(target_user_id = id))]
pub async fn deactivate(
    State(state): State<AppState>,
    AdminUser(admin): AdminUser,
    Path(id): Path<i64>,
) -> Result<Json<User>> {
    Ok(Json(accounts::deactivate(&state, admin.user_id, id).await?))
}

#[utoipa::path(post, path = "/users/{id}/reactivate", tag = "users",
    params(("id" = i64, Path, description = "User id")),
    responses(
        (status = 200, description = "Active again: the account can sign in; sessions ended before stay ended", body = User),
        (status = 403, description = "Admin privileges required"),
        (status = 404, description = "User not found"),
    ),
    security(("bearer" = []), ("cookie" = [])))]
#[tracing::instrument(skip_all, fields(target_user_id = id))]
pub async fn reactivate(
    State(state): State<AppState>,
    AdminUser(admin): AdminUser,
    Path(id): Path<i64>,
) -> Result<Json<User>> {
    Ok(Json(accounts::reactivate(&state, admin.user_id, id).await?))
}

//! Reading notifications (your own; admins everyone's) and retrying failed ones.

use crate::{AppState, error::Error, store::notifications as repo};
use axum::{
    Json, Router,
    extract::State,
    routing::{get, post},
};
use serde::Deserialize;
use shop_auth::{AdminUser, CurrentUser};
use shop_platform::{Path, Query, int_param};
use shop_types::{Notification, NotificationList, NotificationStatus, text};

type Result<T, E = Error> = std::result::Result<T, E>;

pub fn router() -> Router<AppState> {
    Router::new()
        .route("/notifications", get(list))
        .route("/notifications/{id}", get(get_one))
        .route("/notifications/retry/{id}", post(retry))
}

#[derive(Debug, Default, Deserialize, utoipa::IntoParams)]
#[into_params(parameter_in = Query)]
pub struct ListParams {
    /// `sent`, `failed` or `sending`.
    #[param(schema_with = a_status)]
    status: Option<String>,
    #[param(value_type = Option<i64>)]
    order_id: Option<String>,
    /// 1-based, default 1.
    #[param(value_type = Option<i64>, minimum = 1, maximum = 92233720368547758_i64)]
    page: Option<String>,
    /// 1–100, default 20.
    #[param(value_type = Option<i64>, minimum = 1, maximum = 100)]
    page_size: Option<String>,
    /// Admins only (403 for anyone else): one recipient's notifications.
    #[param(schema_with = recipient)]
    recipient: Option<String>,
}

fn a_status() -> utoipa::openapi::Object {
    text::choice(&["sent", "failed", "sending"])
}

fn recipient() -> utoipa::openapi::Object {
    text::schema(0, 254, text::SINGLE_LINE)
}

#[utoipa::path(get, path = "/notifications", tag = "notifications", params(ListParams),
    responses((status = 200, body = NotificationList), (status = 403, description = "`recipient` from anyone but an admin")),
    security(("bearer" = []), ("cookie" = [])))]
pub async fn list(
    State(state): State<AppState>,
    CurrentUser(user): CurrentUser,
    Query(p): Query<ListParams>,
) -> Result<Json<NotificationList>> {
    let page = int_param("page", p.page.as_deref(), 1, i64::MAX / 100)?.unwrap_or(1);
    let page_size = int_param("page_size", p.page_size.as_deref(), 1, 100)?.unwrap_or(20);
    let status = match p.status.as_deref() {
        None => None,
        Some(s) => Some(s.parse::<NotificationStatus>().map_err(|_| {
            Error::invalid_field(
                &["query", "status"],
                "status must be sent, failed or sending",
            )
        })?),
    };
    let order_id = int_param("order_id", p.order_id.as_deref(), i64::MIN, i64::MAX)?;
    if let Some(r) = &p.recipient {
        text::check(["query", "recipient"], r, false)?;
        if r.chars().count() > 254 {
            return Err(Error::invalid_field(
                &["query", "recipient"],
                "recipient must be at most 254 characters",
            ));
        }
    }
    if p.recipient.is_some() && !user.is_admin() {
        return Err(Error::RecipientFilter);
    }
    let filter = repo::Filter {
        user_id: (!user.is_admin()).then_some(user.user_id),
        status,
        order_id,
        recipient: p.recipient,
        limit: page_size,
        offset: (page - 1) * page_size,
    };
    let (notifications, total) = repo::list(&state.pool, &filter).await?;
    Ok(Json(NotificationList {
        notifications,
        total,
    }))
}

#[utoipa::path(get, path = "/notifications/{id}", tag = "notifications",
    responses((status = 200, body = Notification), (status = 404)), security(("bearer" = []), ("cookie" = [])))]
pub async fn get_one(
    State(state): State<AppState>,
    CurrentUser(user): CurrentUser,
    Path(id): Path<i64>,
) -> Result<Json<Notification>> {
    let row = repo::get(&state.pool, id)
        .await?
        .filter(|n| user.is_admin() || n.user_id == Some(user.user_id))
        .ok_or(Error::NotFound)?;
    Ok(Json(row.into_notification()))
}

#[utoipa::path(post, path = "/notifications/retry/{id}", tag = "notifications",
    responses((status = 200, body = Notification), (status = 400, description = "Neither failed nor left `sending` by a sender whose claim ran out (a retry running now included)"),
        (status = 403, description = "Admins only"), (status = 404)),
    security(("bearer" = []), ("cookie" = [])))]
#[tracing::instrument(skip_all, fields(notification_id = id))]
pub async fn retry(
    State(state): State<AppState>,
    _admin: AdminUser,
    Path(id): Path<i64>,
) -> Result<Json<Notification>> {
    let updated = crate::app::consumer::retry(&state, id).await?;
    tracing::info!(
        notification_id = id,
        status = updated.status.as_str(),
        "notification retried"
    );
    Ok(Json(updated.into_notification()))
}

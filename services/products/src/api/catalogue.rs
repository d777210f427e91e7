//! The public catalogue: reads for everyone, writes for admins.

use super::Result;
use crate::{
    domain::product::{
        self as domain, ListParams, ProductInput, ProductPatch, StockAdjustment, StockUpdate,
    },
    error::Error,
    state::AppState,
    store::{
        products as repo,
        reservations::{self, LedgerSummary},
    },
};
use axum::{
    Json, Router,
    extract::State,
    http::{HeaderMap, StatusCode, header},
    response::{IntoResponse, Response},
    routing::{get, patch, post},
};
use shop_auth::AdminUser;
use shop_platform::{AppJson, Path, Query};
use shop_types::{CategoryCount, Product, ProductList};

pub fn router() -> Router<AppState> {
    Router::new()
        .route("/products", get(list).post(create))
        .route("/products/categories", get(categories))
        .route("/products/reservations", get(ledger))
        .route(
            "/products/{id}",
            get(get_one).put(replace).patch(update).delete(remove),
        )
        .route("/products/{id}/stock", patch(set_stock))
        .route("/products/{id}/stock/adjust", post(adjust_stock))
        .route("/sitemap.xml", get(sitemap))
}

fn to_json<T: serde::Serialize>(value: &T) -> Result<axum::body::Bytes> {
    serde_json::to_vec(value)
        .map(Into::into)
        .map_err(|e| Error::Internal(e.into()))
}

/// Catalogue reads are answered from this replica's copy when it has one
/// (`platform::cache`), with an `ETag` (304 for `If-None-Match`) and
/// `Cache-Control: public, no-cache`.
#[utoipa::path(get, path = "/products", tag = "products", params(ListParams),
    responses((status = 200, body = ProductList), (status = 304, description = "Not modified (`If-None-Match` named the current `ETag`)"),
        (status = 400, description = "Unknown sort_by, listing the allowed values")))]
pub async fn list(
    State(state): State<AppState>,
    Query(params): Query<ListParams>,
    headers: HeaderMap,
) -> Result<Response> {
    let q = params.parse()?;
    let key = format!("{q:?}");
    if let Some(cached) = state.catalogue.view(&key) {
        return Ok(cached.respond(&headers));
    }
    let seen = state.catalogue.generation();
    let (items, total) = repo::list(&state.pool, &q).await?;
    let body = to_json(&ProductList {
        items,
        total,
        limit: q.limit,
        offset: q.offset,
    })?;
    Ok(state.catalogue.keep_view(seen, key, body).respond(&headers))
}

/// For crawlers: the catalogue's page and every active product's, under the
/// web origin (`PUBLIC_URL`): at most 50,000 addresses, one sitemap file's
/// limit (the lowest product ids first; a larger catalogue is logged).
#[utoipa::path(get, path = "/sitemap.xml", tag = "products",
    responses((status = 200, description = "A sitemaps.org `urlset`", content_type = "application/xml")))]
pub async fn sitemap(State(state): State<AppState>) -> Result<Response> {
    let products = repo::active_ids(&state.pool).await?;
    if products.len() as i64 == repo::SITEMAP_LIMIT {
        tracing::warn!(
            listed = products.len(),
            "the sitemap is full: products past the limit are not listed"
        );
    }
    let body = domain::sitemap(&state.public_url, &products);
    Ok((
        [
            (header::CONTENT_TYPE, "application/xml; charset=utf-8"),
            (header::CACHE_CONTROL, "public, max-age=300"),
        ],
        body,
    )
        .into_response())
}

#[utoipa::path(get, path = "/products/categories", tag = "products",
    responses((status = 200, body = [CategoryCount]), (status = 304, description = "Not modified (`If-None-Match` named the current `ETag`)")))]
pub async fn categories(State(state): State<AppState>, headers: HeaderMap) -> Result<Response> {
    const KEY: &str = "categories";
    if let Some(cached) = state.catalogue.view(KEY) {
        return Ok(cached.respond(&headers));
    }
    let seen = state.catalogue.generation();
    let body = to_json(&repo::categories(&state.pool).await?)?;
    Ok(state
        .catalogue
        .keep_view(seen, KEY.to_owned(), body)
        .respond(&headers))
}

#[utoipa::path(get, path = "/products/{id}", tag = "products",
    responses((status = 200, body = Product), (status = 304, description = "Not modified (`If-None-Match` named the current `ETag`)"),
        (status = 404, description = "Product not found")))]
pub async fn get_one(
    State(state): State<AppState>,
    Path(id): Path<i64>,
    headers: HeaderMap,
) -> Result<Response> {
    if let Some(cached) = state.catalogue.item(id) {
        return Ok(cached.respond(&headers));
    }
    let seen = state.catalogue.generation();
    let row = repo::get(&state.pool, id)
        .await?
        .ok_or(Error::NoSuchProduct)?;
    let body = to_json(&row.into_product())?;
    Ok(state.catalogue.keep_item(seen, id, body).respond(&headers))
}

#[utoipa::path(post, path = "/products", tag = "products", request_body = ProductInput,
    responses((status = 201, body = Product), (status = 403, description = "Admins only"), (status = 409, description = "Duplicate SKU")),
    security(("bearer" = []), ("cookie" = [])))]
#[tracing::instrument(skip_all)]
pub async fn create(
    State(state): State<AppState>,
    _admin: AdminUser,
    AppJson(input): AppJson<ProductInput>,
) -> Result<(StatusCode, Json<Product>)> {
    let p = domain::validate(input)?;
    let created = repo::insert(&state.pool, &p).await?;
    state.catalogue.changed(Some(created.id));
    tracing::info!(product_id = created.id, "product created");
    Ok((StatusCode::CREATED, Json(created)))
}

#[utoipa::path(put, path = "/products/{id}", tag = "products", request_body = ProductInput,
    responses((status = 200, body = Product), (status = 403, description = "Admins only"), (status = 404),
        (status = 409, description = "Duplicate SKU")), security(("bearer" = []), ("cookie" = [])))]
pub async fn replace(
    State(state): State<AppState>,
    _admin: AdminUser,
    Path(id): Path<i64>,
    AppJson(input): AppJson<ProductInput>,
) -> Result<Json<Product>> {
    let p = domain::validate(input)?;
    let replaced = repo::update(&state.pool, id, &p, Some(p.stock_quantity))
        .await?
        .ok_or(Error::NoSuchProduct)?;
    state.catalogue.changed(Some(id));
    tracing::info!(product_id = id, "product replaced");
    Ok(Json(replaced))
}

#[utoipa::path(patch, path = "/products/{id}", tag = "products", request_body = ProductPatch,
    responses((status = 200, body = Product), (status = 403, description = "Admins only"), (status = 404),
        (status = 409, description = "Duplicate SKU")), security(("bearer" = []), ("cookie" = [])))]
pub async fn update(
    State(state): State<AppState>,
    _admin: AdminUser,
    Path(id): Path<i64>,
    AppJson(patch): AppJson<ProductPatch>,
) -> Result<Json<Product>> {
    // The fields not given are kept as the row holds them under its lock
    // (a concurrent deactivation is never undone); stock is written only
    // when given (a reservation may take units meanwhile).
    let stock = patch.stock_quantity;
    let updated = repo::update_with(&state.pool, id, stock, |current| current.patched(patch))
        .await?
        .ok_or(Error::NoSuchProduct)?;
    state.catalogue.changed(Some(id));
    tracing::info!(
        product_id = id,
        is_active = updated.is_active,
        "product updated"
    );
    Ok(Json(updated))
}

#[utoipa::path(delete, path = "/products/{id}", tag = "products",
    responses((status = 204, description = "Deactivated (soft delete)"), (status = 403, description = "Admins only"), (status = 404)),
    security(("bearer" = []), ("cookie" = [])))]
pub async fn remove(
    State(state): State<AppState>,
    _admin: AdminUser,
    Path(id): Path<i64>,
) -> Result<StatusCode> {
    if repo::deactivate(&state.pool, id).await? {
        state.catalogue.changed(Some(id));
        tracing::info!(product_id = id, "product deactivated");
        Ok(StatusCode::NO_CONTENT)
    } else {
        Err(Error::NoSuchProduct)
    }
}

#[utoipa::path(patch, path = "/products/{id}/stock", tag = "products", request_body = StockUpdate,
    responses((status = 200, body = Product), (status = 403, description = "Admins only"), (status = 404)), security(("bearer" = []), ("cookie" = [])))]
pub async fn set_stock(
    State(state): State<AppState>,
    _admin: AdminUser,
    Path(id): Path<i64>,
    AppJson(body): AppJson<StockUpdate>,
) -> Result<Json<Product>> {
    let stock = domain::validate_stock(body.stock_quantity)?;
    let updated = repo::set_stock(&state.pool, id, stock)
        .await?
        .ok_or(Error::NoSuchProduct)?;
    state.catalogue.changed(Some(id));
    tracing::info!(product_id = id, stock, "stock set");
    Ok(Json(updated))
}

#[utoipa::path(post, path = "/products/{id}/stock/adjust", tag = "products", request_body = StockAdjustment,
    responses((status = 200, body = Product, description = "Units added (or removed) in one step; units held by checkouts stay theirs"),
        (status = 403, description = "Admins only"), (status = 404),
        (status = 409, description = "Fewer units available than would be removed, or more than 1,000,000,000 in all")),
    security(("bearer" = []), ("cookie" = [])))]
pub async fn adjust_stock(
    State(state): State<AppState>,
    _admin: AdminUser,
    Path(id): Path<i64>,
    AppJson(body): AppJson<StockAdjustment>,
) -> Result<Json<Product>> {
    let delta = domain::validate_delta(body.delta)?;
    match repo::adjust_stock(&state.pool, id, delta).await? {
        repo::Adjusted::Done(product) => {
            state.catalogue.changed(Some(id));
            tracing::info!(
                product_id = id,
                delta,
                stock = product.stock_quantity,
                "stock adjusted"
            );
            Ok(Json(product))
        }
        repo::Adjusted::NotFound => Err(Error::NoSuchProduct),
        repo::Adjusted::OutOfRange { available } if delta < 0 => Err(Error::StockBelowZero {
            available,
            removed: delta.unsigned_abs(),
        }),
        repo::Adjusted::OutOfRange { available } => Err(Error::StockAboveMax {
            available,
            added: delta,
            max: domain::MAX_STOCK,
        }),
    }
}

#[utoipa::path(get, path = "/products/reservations", tag = "products",
    responses(
        (status = 200, body = LedgerSummary, description = "Held, overdue, expired, confirmed and released reservations"),
        (status = 401), (status = 403, description = "Admins only")),
    security(("bearer" = []), ("cookie" = [])))]
pub async fn ledger(
    State(state): State<AppState>,
    _admin: AdminUser,
) -> Result<Json<LedgerSummary>> {
    Ok(Json(reservations::summary(&state.pool).await?))
}

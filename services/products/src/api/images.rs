//! A product's picture: anyone reads it, admins set and remove it. It is
//! only ever answered as the image type it was checked to be, under a
//! policy that runs nothing.

use super::Result;
use crate::{
    domain::image::{self, version},
    error::Error,
    state::AppState,
    store::products as repo,
};
use axum::{
    Json, Router,
    body::Bytes,
    extract::State,
    http::{HeaderMap, HeaderValue, StatusCode, header},
    response::{IntoResponse, Response},
    routing::get,
};
use serde::Deserialize;
use shop_auth::AdminUser;
use shop_platform::{Path, Query, cache};
use shop_types::Product;

pub fn router() -> Router<AppState> {
    Router::new().route(
        "/products/{id}/image",
        get(picture).put(set_picture).delete(remove_picture),
    )
}

/// Nothing in a picture's answer may run or load anything, even if a
/// browser were to open it as a page.
const PICTURE_POLICY: &str = "default-src 'none'; sandbox";

/// A picture's bytes, as the request body (for the API's document).
#[derive(utoipa::ToSchema)]
#[schema(value_type = String, format = Binary)]
pub struct PictureBytes(#[allow(dead_code)] Vec<u8>);

#[derive(Debug, Deserialize, utoipa::IntoParams)]
#[into_params(parameter_in = Query)]
pub struct PictureQuery {
    /// The version in the product's `image.url`; with the current one the
    /// answer may be kept for a year.
    pub v: Option<String>,
}

#[utoipa::path(get, path = "/products/{id}/image", tag = "products", params(PictureQuery),
    responses(
        (status = 200, description = "The picture, as `image/webp`, `image/avif`, `image/png` or `image/jpeg`", content_type = "image/*"),
        (status = 304, description = "Not modified (`If-None-Match` named the current `ETag`)"),
        (status = 404, description = "No such product, or it has no picture"),
    ))]
pub async fn picture(
    State(state): State<AppState>,
    Path(id): Path<i64>,
    Query(query): Query<PictureQuery>,
    headers: HeaderMap,
) -> Result<Response> {
    // The fingerprint first: a revalidation never reads the bytes.
    let current = state.images.version(id).await?.ok_or(Error::NoImage)?;
    let tag = |digest: &str| HeaderValue::from_str(&format!("\"{digest}\"")).ok();
    let fresh = tag(&current.digest).is_some_and(|etag| cache::not_modified(&headers, &etag));
    let (mut response, digest) = if fresh {
        (StatusCode::NOT_MODIFIED.into_response(), current.digest)
    } else {
        // Read again with the bytes: if the picture was replaced in between,
        // the tag and the caching follow the bytes answered.
        let stored = state.images.get(id).await?.ok_or(Error::NoImage)?;
        let format = image::Format::from_content_type(&stored.content_type)
            .ok_or_else(|| Error::Internal(anyhow::anyhow!("stored picture of an unknown type")))?;
        let response = (
            [
                (header::CONTENT_TYPE, format.content_type().to_owned()),
                (
                    header::CONTENT_DISPOSITION,
                    format!("inline; filename=\"product-{id}.{}\"", format.extension()),
                ),
            ],
            stored.bytes,
        )
            .into_response();
        (response, stored.digest)
    };
    // Only the current version's address may be kept without asking again.
    let cache = if query.v.as_deref() == Some(version(&digest)) {
        "public, max-age=31536000, immutable"
    } else {
        "public, no-cache"
    };
    let h = response.headers_mut();
    h.insert(header::CACHE_CONTROL, HeaderValue::from_static(cache));
    h.insert(
        header::CONTENT_SECURITY_POLICY,
        HeaderValue::from_static(PICTURE_POLICY),
    );
    if let Some(etag) = tag(&digest) {
        h.insert(header::ETAG, etag);
    }
    Ok(response)
}

#[utoipa::path(put, path = "/products/{id}/image", tag = "products",
    request_body(description = "The picture's bytes as `image/webp`, `image/avif`, `image/png` or `image/jpeg`: at most 1,000,000 bytes and 8192 pixels a side",
        content((PictureBytes = "image/webp"), (PictureBytes = "image/avif"), (PictureBytes = "image/png"), (PictureBytes = "image/jpeg"))),
    responses(
        (status = 200, description = "The product, with its new `image`", body = Product),
        (status = 403, description = "Admins only"),
        (status = 404, description = "Product not found"),
        (status = 413, description = "More than 1,000,000 bytes"),
        (status = 415, description = "Not one of the four picture types"),
        (status = 422, description = "The bytes are not a picture of the declared type, or it is too large in pixels"),
    ),
    security(("bearer" = []), ("cookie" = [])))]
#[tracing::instrument(skip_all, fields(product_id = id))]
pub async fn set_picture(
    State(state): State<AppState>,
    _admin: AdminUser,
    Path(id): Path<i64>,
    headers: HeaderMap,
    body: Bytes,
) -> Result<Json<Product>> {
    let declared = headers
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok());
    let checked = image::check(declared, &body)?;
    if !state.images.put(id, &checked, &body).await? {
        return Err(Error::NoSuchProduct);
    }
    state.catalogue.changed(Some(id));
    tracing::info!(
        bytes = body.len(),
        width = checked.width,
        height = checked.height,
        "picture set"
    );
    let row = repo::get(&state.pool, id)
        .await?
        .ok_or(Error::NoSuchProduct)?;
    Ok(Json(row.into_product()))
}

#[utoipa::path(delete, path = "/products/{id}/image", tag = "products",
    responses(
        (status = 204, description = "The picture is gone"),
        (status = 403, description = "Admins only"),
        (status = 404, description = "No such product, or it has no picture"),
    ),
    security(("bearer" = []), ("cookie" = [])))]
#[tracing::instrument(skip_all, fields(product_id = id))]
pub async fn remove_picture(
    State(state): State<AppState>,
    _admin: AdminUser,
    Path(id): Path<i64>,
) -> Result<StatusCode> {
    if !state.images.delete(id).await? {
        return Err(Error::NoImage);
    }
    state.catalogue.changed(Some(id));
    tracing::info!("picture removed");
    Ok(StatusCode::NO_CONTENT)
}

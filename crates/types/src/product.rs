//! The catalogue.

use crate::Money;
use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "server", derive(utoipa::ToSchema))]
pub struct Product {
    pub id: i64,
    pub name: String,
    pub description: Option<String>,
    pub price: Money,
    /// What can still be bought: reserved units are not included.
    pub stock_quantity: i32,
    pub sku: String,
    pub category: Option<String>,
    pub is_active: bool,
    pub created_at: DateTime<Utc>,
    pub updated_at: DateTime<Utc>,
    /// The product's picture, when it has one.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub image: Option<ProductImage>,
}

/// Where a product's picture is and its size in pixels, so a page can keep
/// its room before it arrives.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "server", derive(utoipa::ToSchema))]
pub struct ProductImage {
    /// The gateway path, with the picture's version: `/products/7/image?v=…`.
    pub url: String,
    pub width: i32,
    pub height: i32,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "server", derive(utoipa::ToSchema))]
pub struct ProductList {
    pub items: Vec<Product>,
    pub total: i64,
    pub limit: i64,
    pub offset: i64,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "server", derive(utoipa::ToSchema))]
pub struct CategoryCount {
    pub category: String,
    pub count: i64,
}

/// `GET /products` sort keys; anything else is a 400 listing these.
pub const PRODUCT_SORT_KEYS: [&str; 6] = [
    "price",
    "-price",
    "name",
    "-name",
    "created_at",
    "-created_at",
];

//! SQL for the catalogue. Filters are bound parameters; `ORDER BY` comes from
//! the `Sort` whitelist only.

use crate::domain::product::{ListQuery, ValidProduct, like_pattern};
use crate::error::Error;
use chrono::{DateTime, Utc};
use rust_decimal::Decimal;
use shop_types::{CategoryCount, Money, Product, ProductImage};
use sqlx::{PgPool, Postgres, QueryBuilder, postgres::PgArguments};

#[derive(Debug, sqlx::FromRow)]
pub struct ProductRow {
    pub id: i64,
    pub name: String,
    pub description: Option<String>,
    pub price: Decimal,
    pub stock_quantity: i32,
    pub sku: String,
    pub category: Option<String>,
    pub is_active: bool,
    pub created_at: DateTime<Utc>,
    pub updated_at: DateTime<Utc>,
    /// The picture's size and fingerprint (`product_images`), when it has one.
    pub image_width: Option<i32>,
    pub image_height: Option<i32>,
    pub image_digest: Option<String>,
}

impl ProductRow {
    pub fn into_product(self) -> Product {
        Product {
            id: self.id,
            name: self.name,
            description: self.description,
            price: Money::new(self.price).unwrap_or(Money::ZERO),
            stock_quantity: self.stock_quantity,
            sku: self.sku,
            category: self.category,
            is_active: self.is_active,
            created_at: self.created_at,
            updated_at: self.updated_at,
            image: match (self.image_width, self.image_height, self.image_digest) {
                (Some(width), Some(height), Some(digest)) => Some(ProductImage {
                    url: crate::domain::image::url(self.id, &digest),
                    width,
                    height,
                }),
                _ => None,
            },
        }
    }

    pub fn into_valid(self) -> ValidProduct {
        ValidProduct {
            name: self.name,
            description: self.description,
            price: Money::new(self.price).unwrap_or(Money::ZERO),
            stock_quantity: self.stock_quantity,
            sku: self.sku,
            category: self.category,
            is_active: self.is_active,
        }
    }
}

/// The product's own columns and its picture's size and fingerprint, in one
/// row (a subquery each, so the same list serves `RETURNING`).
const COLUMNS: &str = "id, name, description, price, stock_quantity, sku, category, is_active, created_at, updated_at, \
    (SELECT i.width FROM product_images i WHERE i.product_id = products.id) AS image_width, \
    (SELECT i.height FROM product_images i WHERE i.product_id = products.id) AS image_height, \
    (SELECT i.digest FROM product_images i WHERE i.product_id = products.id) AS image_digest";

fn filters<'a>(qb: &mut QueryBuilder<'a, Postgres>, q: &'a ListQuery) {
    qb.push(" WHERE TRUE");
    if let Some(c) = &q.category {
        qb.push(" AND category = ").push_bind(c);
    }
    if let Some(n) = &q.name {
        qb.push(" AND name ILIKE ").push_bind(like_pattern(n));
    }
    if let Some(a) = q.is_active {
        qb.push(" AND is_active = ").push_bind(a);
    }
}

pub async fn list(pool: &PgPool, q: &ListQuery) -> Result<(Vec<Product>, i64), Error> {
    let mut count = QueryBuilder::new("SELECT count(*) FROM products");
    filters(&mut count, q);
    let total: i64 = count.build_query_scalar().fetch_one(pool).await?;

    let mut select = QueryBuilder::new(format!("SELECT {COLUMNS} FROM products"));
    filters(&mut select, q);
    select
        .push(" ORDER BY ")
        .push(q.sort.sql())
        .push(" LIMIT ")
        .push_bind(q.limit)
        .push(" OFFSET ")
        .push_bind(q.offset);
    let rows: Vec<ProductRow> = select.build_query_as().fetch_all(pool).await?;
    Ok((
        rows.into_iter().map(ProductRow::into_product).collect(),
        total,
    ))
}

pub async fn get(pool: &PgPool, id: i64) -> Result<Option<ProductRow>, Error> {
    Ok(
        sqlx::query_as(&format!("SELECT {COLUMNS} FROM products WHERE id = $1"))
            .bind(id)
            .fetch_optional(pool)
            .await?,
    )
}

/// The most products one sitemap file lists: sitemaps.org allows 50,000
/// addresses, and the catalogue's page is one of them.
pub const SITEMAP_LIMIT: i64 = 49_999;

/// Each active product's id and last change, lowest id first, at most
/// [`SITEMAP_LIMIT`].
pub async fn active_ids(pool: &PgPool) -> Result<Vec<(i64, DateTime<Utc>)>, Error> {
    Ok(
        sqlx::query_as("SELECT id, updated_at FROM products WHERE is_active ORDER BY id LIMIT $1")
            .bind(SITEMAP_LIMIT)
            .fetch_all(pool)
            .await?,
    )
}

pub async fn categories(pool: &PgPool) -> Result<Vec<CategoryCount>, Error> {
    let rows: Vec<(String, i64)> = sqlx::query_as(
        "SELECT category, count(*) FROM products
         WHERE is_active AND category IS NOT NULL
         GROUP BY category ORDER BY category",
    )
    .fetch_all(pool)
    .await?;
    Ok(rows
        .into_iter()
        .map(|(category, count)| CategoryCount { category, count })
        .collect())
}

fn map_write_error(e: sqlx::Error) -> Error {
    if let sqlx::Error::Database(db) = &e
        && db.constraint() == Some("products_sku_key")
    {
        return Error::DuplicateSku;
    }
    e.into()
}

type ProductQuery<'q> = sqlx::query::QueryAs<'q, Postgres, ProductRow, PgArguments>;

/// The product's fields as `$1`…`$7`, in column order; `$4` is the stock to
/// set, if any.
fn bind_fields<'q>(
    q: ProductQuery<'q>,
    p: &'q ValidProduct,
    stock: Option<i32>,
) -> ProductQuery<'q> {
    q.bind(&p.name)
        .bind(&p.description)
        .bind(Decimal::from(p.price))
        .bind(stock)
        .bind(&p.sku)
        .bind(&p.category)
        .bind(p.is_active)
}

pub async fn insert(pool: &PgPool, p: &ValidProduct) -> Result<Product, Error> {
    let sql = format!(
        "INSERT INTO products (name, description, price, stock_quantity, sku, category, is_active)
         VALUES ($1, $2, $3, $4, $5, $6, $7) RETURNING {COLUMNS}"
    );
    let row = bind_fields(sqlx::query_as(&sql), p, Some(p.stock_quantity))
        .fetch_one(pool)
        .await
        .map_err(map_write_error)?;
    Ok(row.into_product())
}

/// Writes the product's fields. Stock is written only when `stock` is given,
/// as an absolute value set by this one statement under the row lock: a
/// stock level read earlier is never written back, so a reservation that
/// committed in between is never undone.
pub async fn update(
    pool: &PgPool,
    id: i64,
    p: &ValidProduct,
    stock: Option<i32>,
) -> Result<Option<Product>, Error> {
    let row = bind_fields(sqlx::query_as(&update_sql()), p, stock)
        .bind(id)
        .fetch_optional(pool)
        .await
        .map_err(map_write_error)?;
    Ok(row.map(ProductRow::into_product))
}

fn update_sql() -> String {
    format!(
        "UPDATE products SET name = $1, description = $2, price = $3,
                stock_quantity = COALESCE($4, stock_quantity),
                sku = $5, category = $6, is_active = $7, updated_at = now()
         WHERE id = $8 RETURNING {COLUMNS}"
    )
}

/// Changes some fields of a product: `change` gets the row as it is, under
/// its lock, and returns what to write. A concurrent write (a deactivation,
/// another edit) is either seen by `change` or waits for this one: no field
/// the caller did not give is ever written back over a newer value.
pub async fn update_with(
    pool: &PgPool,
    id: i64,
    stock: Option<i32>,
    change: impl FnOnce(ValidProduct) -> Result<ValidProduct, Error>,
) -> Result<Option<Product>, Error> {
    let mut tx = pool.begin().await?;
    let current: Option<ProductRow> = sqlx::query_as(&format!(
        "SELECT {COLUMNS} FROM products WHERE id = $1 FOR UPDATE"
    ))
    .bind(id)
    .fetch_optional(&mut *tx)
    .await?;
    let Some(current) = current else {
        return Ok(None);
    };
    let p = change(current.into_valid())?;
    let row = bind_fields(sqlx::query_as(&update_sql()), &p, stock)
        .bind(id)
        .fetch_optional(&mut *tx)
        .await
        .map_err(map_write_error)?;
    tx.commit().await?;
    Ok(row.map(ProductRow::into_product))
}

pub async fn deactivate(pool: &PgPool, id: i64) -> Result<bool, Error> {
    let r = sqlx::query("UPDATE products SET is_active = FALSE, updated_at = now() WHERE id = $1")
        .bind(id)
        .execute(pool)
        .await?;
    Ok(r.rows_affected() == 1)
}

/// What adjusting a product's stock came to.
#[derive(Debug)]
pub enum Adjusted {
    Done(Product),
    NotFound,
    /// Removing that many would take units that are not there, or adding
    /// them would pass [`crate::domain::product::MAX_STOCK`].
    OutOfRange {
        available: i32,
    },
}

/// Adds `delta` units (or removes them, when negative) in one statement, so
/// a reservation taking units at the same moment is never overwritten.
pub async fn adjust_stock(pool: &PgPool, id: i64, delta: i32) -> Result<Adjusted, Error> {
    let row: Option<ProductRow> = sqlx::query_as(&format!(
        "UPDATE products SET stock_quantity = (stock_quantity::BIGINT + $2)::INT, updated_at = now()
         WHERE id = $1 AND stock_quantity::BIGINT + $2 BETWEEN 0 AND $3
         RETURNING {COLUMNS}"
    ))
    .bind(id)
    .bind(i64::from(delta))
    .bind(i64::from(crate::domain::product::MAX_STOCK))
    .fetch_optional(pool)
    .await?;
    if let Some(row) = row {
        return Ok(Adjusted::Done(row.into_product()));
    }
    let available: Option<i32> =
        sqlx::query_scalar("SELECT stock_quantity FROM products WHERE id = $1")
            .bind(id)
            .fetch_optional(pool)
            .await?;
    Ok(match available {
        Some(available) => Adjusted::OutOfRange { available },
        None => Adjusted::NotFound,
    })
}

pub async fn set_stock(pool: &PgPool, id: i64, stock: i32) -> Result<Option<Product>, Error> {
    let row: Option<ProductRow> = sqlx::query_as(&format!(
        "UPDATE products SET stock_quantity = $2, updated_at = now() WHERE id = $1 RETURNING {COLUMNS}"
    ))
    .bind(id)
    .bind(stock)
    .fetch_optional(pool)
    .await?;
    Ok(row.map(ProductRow::into_product))
}

//! Helpers shared by the products service's tests.

use sqlx::PgPool;

/// A product's available stock, read from its row.
pub async fn stock_of(pool: &PgPool, id: i64) -> i32 {
    sqlx::query_scalar("SELECT stock_quantity FROM products WHERE id = $1")
        .bind(id)
        .fetch_one(pool)
        .await
        .unwrap()
}

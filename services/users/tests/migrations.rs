//! The schema applies, reverts to nothing, and applies again.

#[sqlx::test(migrations = false)]
async fn migrations_apply_and_revert(pool: sqlx::PgPool) {
    shop_platform::db::assert_reversible(&shop_users::MIGRATOR, &pool).await;
}

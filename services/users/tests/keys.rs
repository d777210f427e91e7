//! The development signing key: several replicas starting together on a
//! fresh database end up with one key.

use sqlx::PgPool;

#[sqlx::test(migrator = "shop_users::MIGRATOR")]
async fn replicas_starting_together_share_one_key(pool: PgPool) {
    let starts = futures::future::join_all(
        (0..4).map(|_| shop_users::store::keys::load_or_create(&pool, None)),
    )
    .await;

    let kids: Vec<String> = starts
        .into_iter()
        .map(|k| k.expect("a key").kid().to_owned())
        .collect();
    assert!(kids.iter().all(|k| *k == kids[0]), "{kids:?}");
    let stored: i64 = sqlx::query_scalar("SELECT count(*) FROM signing_keys")
        .fetch_one(&pool)
        .await
        .unwrap();
    assert_eq!(stored, 1);
}

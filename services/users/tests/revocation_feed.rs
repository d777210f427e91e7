//! The revocation feed, read by its cursor: a revocation whose transaction
//! commits after later ones, and after answers that came meanwhile, is
//! still listed to a reader that follows the cursor.

use shop_users::store::sessions;
use sqlx::PgPool;

/// A user with one live session; returns (user id, session id).
async fn session(pool: &PgPool, name: &str) -> (i64, String) {
    let user: i64 =
        sqlx::query_scalar("INSERT INTO users (email, username) VALUES ($1, $2) RETURNING id")
            .bind(format!("{name}@example.com"))
            .bind(name)
            .fetch_one(pool)
            .await
            .expect("a user");
    let jti = uuid::Uuid::new_v4();
    sqlx::query(
        "INSERT INTO sessions (jti, user_id, expires_at) VALUES ($1, $2, now() + interval '1 hour')",
    )
    .bind(jti)
    .bind(user)
    .execute(pool)
    .await
    .expect("a session");
    (user, jti.to_string())
}

fn listed(batch: &shop_types::internal::RevocationBatch, jti: &str) -> bool {
    batch.revoked.iter().any(|t| t.jti == jti)
}

#[sqlx::test]
async fn a_revocation_that_commits_late_is_still_read(pool: PgPool) {
    let (ann, ann_session) = session(&pool, "ann").await;
    let (_, bob_session) = session(&pool, "bob").await;
    let first = sessions::feed(&pool, None).await.expect("the feed answers");

    // Ann's deactivation begins and takes its time.
    let mut slow = pool.begin().await.expect("begin");
    sessions::revoke_all(&mut slow, ann)
        .await
        .expect("revoked in the open transaction");
    // Bob logs out meanwhile, and the feed answers twice.
    sessions::revoke(&pool, &bob_session).await.expect("logout");
    let second = sessions::feed(&pool, Some(first.cursor))
        .await
        .expect("the feed answers");
    assert!(
        listed(&second, &bob_session),
        "bob's logout is read at once"
    );
    assert!(!listed(&second, &ann_session), "not before it commits");
    let third = sessions::feed(&pool, Some(second.cursor))
        .await
        .expect("the feed answers");
    assert!(second.cursor <= third.cursor, "the cursor never goes back");

    // Ann's deactivation commits last of all.
    slow.commit().await.expect("commit");
    let fourth = sessions::feed(&pool, Some(third.cursor))
        .await
        .expect("the feed answers");
    assert!(
        listed(&fourth, &ann_session),
        "a revocation that committed late is read by the next answer"
    );
}

//! The queue consumer over a real database: claim, then send; a repeated
//! event sends nothing; an email whose sender died is sent by the next
//! delivery, once.

use serde_json::json;
use shop_auth::{Auth, JwkSet, SigningKey, TokenRules, Verifier};
use shop_notifications::{
    AppState, Mailer,
    app::{
        consumer::{self, Outcome},
        hub::Hub,
    },
};
use sqlx::PgPool;
use std::sync::{Arc, Mutex};
use tokio_util::sync::CancellationToken;

fn state(
    pool: PgPool,
) -> (
    AppState,
    Arc<Mutex<Vec<shop_notifications::domain::messages::Email>>>,
) {
    let key = SigningKey::generate().unwrap();
    let verifier = Verifier::with_keys(
        &JwkSet {
            keys: vec![key.public_jwk()],
        },
        &TokenRules::default(),
    );
    let sent = Arc::new(Mutex::new(Vec::new()));
    let state = AppState {
        pool,
        auth: Auth::new(verifier, vec![]),
        mailer: Mailer::Memory(sent.clone()),
        hub: Arc::new(Hub::default()),
        sockets: CancellationToken::new(),
        socket_limits: shop_notifications::SocketLimits::default(),
    };
    (state, sent)
}

fn order_created(event_id: uuid::Uuid) -> String {
    order_created_for(event_id, 7)
}

fn order_created_for(event_id: uuid::Uuid, order_id: i64) -> String {
    json!({
        "event_id": event_id, "event_type": "order.created", "timestamp": chrono::Utc::now(),
        "correlation_id": "consumer-test",
        "data": {"order_id": order_id, "user_id": 3, "user_email": "ann@example.com", "total_amount": "9.99",
                 "status": "confirmed",
                 "items": [{"product_id": 1, "product_name": "Lamp", "quantity": 1, "price": "9.99"}],
                 "subject": format!("Order #{order_id} confirmed")}
    })
    .to_string()
}

async fn status_of(pool: &PgPool, event_id: uuid::Uuid) -> (String, Option<String>) {
    sqlx::query_as("SELECT status, error_message FROM notifications WHERE event_id = $1")
        .bind(event_id)
        .fetch_one(pool)
        .await
        .unwrap()
}

#[sqlx::test(migrator = "shop_notifications::MIGRATOR")]
async fn an_event_is_sent_once_however_often_it_arrives(pool: PgPool) {
    let (state, sent) = state(pool.clone());
    let event = uuid::Uuid::new_v4();
    let body = order_created(event);

    let first = consumer::handle(&state, &body).await.unwrap();
    let again = consumer::handle(&state, &body).await.unwrap();

    assert_eq!((first, again), (Outcome::Sent, Outcome::Duplicate));
    assert_eq!(sent.lock().unwrap().len(), 1);
    assert_eq!(status_of(&pool, event).await, ("sent".to_owned(), None));
}

/// A handler claimed the event and died while sending.
async fn died_while_sending(pool: &PgPool, event: uuid::Uuid, claim_left_secs: f64) {
    sqlx::query("INSERT INTO processed_events (event_id, event_type) VALUES ($1, 'order.created')")
        .bind(event)
        .execute(pool)
        .await
        .unwrap();
    sqlx::query(
        "INSERT INTO notifications (type, recipient_email, subject, order_id, user_id, status, event_id, claimed_until)
         VALUES ('order_confirmation', 'ann@example.com', 'Order #7 confirmed', 7, 3, 'sending', $1,
                 now() + make_interval(secs => $2))",
    )
    .bind(event)
    .bind(claim_left_secs)
    .execute(pool)
    .await
    .unwrap();
}

#[sqlx::test(migrator = "shop_notifications::MIGRATOR")]
async fn the_next_delivery_takes_over_an_email_whose_sender_died(pool: PgPool) {
    let (state, sent) = state(pool.clone());
    let event = uuid::Uuid::new_v4();
    died_while_sending(&pool, event, -1.0).await;

    let outcome = consumer::handle(&state, &order_created(event))
        .await
        .unwrap();
    let again = consumer::handle(&state, &order_created(event))
        .await
        .unwrap();

    assert_eq!((outcome, again), (Outcome::Sent, Outcome::Duplicate));
    assert_eq!(sent.lock().unwrap().len(), 1, "sent once, by the taker");
    assert_eq!(status_of(&pool, event).await.0, "sent");
    let notifications: i64 = sqlx::query_scalar("SELECT count(*) FROM notifications")
        .fetch_one(&pool)
        .await
        .unwrap();
    assert_eq!(notifications, 1);
}

/// The mail server accepted the email, then its outcome could not be
/// recorded and the sender died: the next delivery, after the claim ran out,
/// must not send a second copy.
#[sqlx::test(migrator = "shop_notifications::MIGRATOR")]
async fn an_email_whose_outcome_was_never_recorded_is_not_sent_again(pool: PgPool) {
    let (state, sent) = state(pool.clone());
    let event = uuid::Uuid::new_v4();
    // Every outcome write fails while this trigger stands.
    sqlx::raw_sql(
        "CREATE FUNCTION refuse_outcome() RETURNS trigger LANGUAGE plpgsql AS
           $$ BEGIN RAISE EXCEPTION 'outcome refused by the test'; END $$;
         CREATE TRIGGER refuse_outcome BEFORE UPDATE ON notifications FOR EACH ROW
           WHEN (NEW.status <> 'sending') EXECUTE FUNCTION refuse_outcome();",
    )
    .execute(&pool)
    .await
    .unwrap();
    let handler = {
        let (state, body) = (state.clone(), order_created(event));
        tokio::spawn(async move { consumer::handle(&state, &body).await })
    };
    // The server has the email; the handler is retrying its outcome. It dies.
    let deadline = tokio::time::Instant::now() + std::time::Duration::from_secs(10);
    while sent.lock().unwrap().is_empty() {
        assert!(
            tokio::time::Instant::now() < deadline,
            "the email was never sent"
        );
        tokio::task::yield_now().await;
        tokio::time::sleep(std::time::Duration::from_millis(5)).await;
    }
    handler.abort();
    assert!(handler.await.unwrap_err().is_cancelled());
    sqlx::raw_sql(
        "DROP TRIGGER refuse_outcome ON notifications;
         UPDATE notifications SET claimed_until = now() - interval '1 second';",
    )
    .execute(&pool)
    .await
    .unwrap();

    let redelivered = consumer::handle(&state, &order_created(event))
        .await
        .unwrap();

    assert_eq!(redelivered, Outcome::Duplicate);
    assert_eq!(sent.lock().unwrap().len(), 1, "the recipient got one email");
    let (status, error) = status_of(&pool, event).await;
    assert_eq!(status, "failed", "settled, for an admin to decide");
    assert_eq!(
        error.as_deref(),
        Some(shop_notifications::store::notifications::OUTCOME_UNKNOWN)
    );
}

/// A sender whose claim ran out and was taken over while it was paused sends
/// nothing when it wakes, and cannot overwrite the new holder's outcome.
#[sqlx::test(migrator = "shop_notifications::MIGRATOR")]
async fn a_sender_whose_claim_was_taken_over_neither_sends_nor_records(pool: PgPool) {
    use shop_notifications::store::notifications as repo;
    let event = uuid::Uuid::new_v4();
    died_while_sending(&pool, event, -1.0).await;
    let stale = repo::Claim {
        id: sqlx::query_scalar("SELECT id FROM notifications WHERE event_id = $1")
            .bind(event)
            .fetch_one(&pool)
            .await
            .unwrap(),
        attempt: 1,
    };
    let lease = shop_notifications::app::consumer::SENDING_LEASE;
    let repo::Claimed::TakenOver(current) = repo::take_over(&pool, event, lease).await.unwrap()
    else {
        panic!("an expired claim whose exchange never began is taken over")
    };

    assert!(!repo::begin_send(&pool, stale, lease).await.unwrap());
    assert!(
        repo::set_outcome(&pool, stale, None)
            .await
            .unwrap()
            .is_none()
    );
    assert!(repo::begin_send(&pool, current, lease).await.unwrap());
    let row = repo::set_outcome(&pool, current, None)
        .await
        .unwrap()
        .unwrap();
    assert_eq!(row.status.as_str(), "sent");
}

#[sqlx::test(migrator = "shop_notifications::MIGRATOR")]
async fn a_copy_arriving_while_the_email_is_being_sent_sends_nothing(pool: PgPool) {
    let (state, sent) = state(pool.clone());
    let event = uuid::Uuid::new_v4();
    died_while_sending(&pool, event, 30.0).await;

    let outcome = consumer::handle(&state, &order_created(event))
        .await
        .unwrap();

    assert_eq!(outcome, Outcome::Duplicate);
    assert!(sent.lock().unwrap().is_empty());
    assert_eq!(
        status_of(&pool, event).await.0,
        "sending",
        "left to its sender"
    );
}

#[sqlx::test(migrator = "shop_notifications::MIGRATOR")]
async fn a_push_reaches_the_owner_through_the_database(pool: PgPool) {
    let (state, _) = state(pool.clone());
    let (_socket, mut pushes) = state.hub.register(3, 10).expect("under the cap");
    let (_other, mut others) = state.hub.register(4, 10).expect("under the cap");
    let stop = CancellationToken::new();
    let listener = tokio::spawn(shop_notifications::app::push::listen(
        pool.clone(),
        state.hub.clone(),
        stop.clone(),
    ));
    // The listener is up once it is registered with the server.
    loop {
        let listening: bool = sqlx::query_scalar(
            "SELECT EXISTS (SELECT 1 FROM pg_stat_activity
             WHERE datname = current_database() AND query LIKE 'LISTEN %')",
        )
        .fetch_one(&pool)
        .await
        .unwrap();
        if listening {
            break;
        }
        tokio::task::yield_now().await;
    }

    consumer::handle(&state, &order_created(uuid::Uuid::new_v4()))
        .await
        .unwrap();

    let push = tokio::time::timeout(std::time::Duration::from_secs(10), pushes.recv())
        .await
        .expect("a push within 10 s")
        .expect("the socket is open");
    assert!(matches!(
        push,
        shop_types::ServerMessage::Notification { .. }
    ));
    assert!(others.try_recv().is_err(), "nobody else's");
    stop.cancel();
    listener.await.unwrap().unwrap();
}

/// The listener's connection dies while new connections are refused: a
/// toast recorded in that gap still reaches its socket once the listener is
/// back (it replays from the database), and the one delivered before is not
/// pushed twice.
#[sqlx::test(migrator = "shop_notifications::MIGRATOR")]
async fn a_toast_recorded_while_the_listener_was_deaf_is_still_pushed(pool: PgPool) {
    let (state, _) = state(pool.clone());
    let (_socket, mut pushes) = state.hub.register(3, 10).expect("under the cap");
    let stop = CancellationToken::new();
    let listener = tokio::spawn(shop_notifications::app::push::listen(
        pool.clone(),
        state.hub.clone(),
        stop.clone(),
    ));
    let listening = |pool: PgPool| async move {
        let deadline = tokio::time::Instant::now() + std::time::Duration::from_secs(30);
        loop {
            let n: i64 = sqlx::query_scalar(
                "SELECT count(*) FROM pg_stat_activity
                 WHERE datname = current_database() AND query LIKE 'LISTEN %'",
            )
            .fetch_one(&pool)
            .await
            .unwrap();
            if n == 1 {
                return;
            }
            assert!(tokio::time::Instant::now() < deadline, "never listening");
            tokio::task::yield_now().await;
        }
    };
    listening(pool.clone()).await;
    consumer::handle(&state, &order_created(uuid::Uuid::new_v4()))
        .await
        .unwrap();
    let first = tokio::time::timeout(std::time::Duration::from_secs(10), pushes.recv())
        .await
        .expect("the first toast")
        .expect("open");
    assert!(matches!(
        first,
        shop_types::ServerMessage::Notification { .. }
    ));

    let db: String = sqlx::query_scalar("SELECT current_database()")
        .fetch_one(&pool)
        .await
        .unwrap();
    // A database's connections are switched off from another database.
    let mut admin = {
        use sqlx::Connection;
        let options = pool.connect_options().as_ref().clone().database("postgres");
        sqlx::PgConnection::connect_with(&options).await.unwrap()
    };
    sqlx::query(&format!("ALTER DATABASE \"{db}\" ALLOW_CONNECTIONS false"))
        .execute(&mut admin)
        .await
        .unwrap();
    let killed: i64 = sqlx::query_scalar(
        "SELECT count(*) FROM (SELECT pg_terminate_backend(pid) FROM pg_stat_activity
         WHERE datname = current_database() AND query LIKE 'LISTEN %') AS k",
    )
    .fetch_one(&pool)
    .await
    .unwrap();
    assert_eq!(killed, 1, "the listener's connection");
    // Recorded (and announced) while nobody listens.
    consumer::handle(&state, &order_created_for(uuid::Uuid::new_v4(), 8))
        .await
        .unwrap();
    sqlx::query(&format!("ALTER DATABASE \"{db}\" ALLOW_CONNECTIONS true"))
        .execute(&mut admin)
        .await
        .unwrap();

    let order_of = |m: shop_types::ServerMessage| match m {
        shop_types::ServerMessage::Notification { data } => data.order_id,
        other => panic!("not a toast: {other:?}"),
    };
    let missed = tokio::time::timeout(std::time::Duration::from_secs(30), pushes.recv())
        .await
        .expect("the toast of the gap arrives")
        .expect("open");
    assert_eq!(order_of(missed), Some(8), "the gap's toast, not a repeat");
    // Nothing else: the toast delivered before the gap is not replayed.
    listening(pool.clone()).await;
    consumer::handle(&state, &order_created_for(uuid::Uuid::new_v4(), 9))
        .await
        .unwrap();
    let after = tokio::time::timeout(std::time::Duration::from_secs(10), pushes.recv())
        .await
        .expect("a later toast arrives")
        .expect("open");
    assert_eq!(
        order_of(after),
        Some(9),
        "nothing was pushed twice in between"
    );
    assert!(pushes.try_recv().is_err(), "no toast was pushed twice");
    stop.cancel();
    listener.await.unwrap().unwrap();
}

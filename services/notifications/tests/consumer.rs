//! The queue consumer over a real database: claim, then send; a repeated
//! event sends nothing; an email whose sender died is sent by the next
//! delivery, once.

use serde_json::json;
use shop_auth::{Auth, JwkSet, SigningKey, TokenRules, Verifier};
use shop_notifications::{
    AppState, Mailer,
    consumer::{self, Outcome},
    hub::Hub,
};
use sqlx::PgPool;
use std::sync::{Arc, Mutex};
use tokio_util::sync::CancellationToken;

fn state(pool: PgPool) -> (AppState, Arc<Mutex<Vec<shop_notifications::mailer::Email>>>) {
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
    json!({
        "event_id": event_id, "event_type": "order.created", "timestamp": chrono::Utc::now(),
        "correlation_id": "consumer-test",
        "data": {"order_id": 7, "user_id": 3, "user_email": "ann@example.com", "total_amount": "9.99",
                 "status": "confirmed",
                 "items": [{"product_id": 1, "product_name": "Lamp", "quantity": 1, "price": "9.99"}]}
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
    let listener = tokio::spawn(shop_notifications::push::listen(
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

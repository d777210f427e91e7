//! The checkout use case against a scripted products service (the `Products`
//! trait, no HTTP): for each answer the products service can give, what the
//! orders database holds afterwards and which calls were made.

use shop_auth::{Auth, Identity, JwkSet, TokenRules, Verifier};
use shop_orders::{
    AppState, Products,
    app::checkout::{self, Checkout},
    error::{Error, Refusal},
};
use shop_platform::RequestId;
use shop_types::{
    Role,
    internal::{Reservation, ReserveLine, ReservedLine},
};
use sqlx::PgPool;
use std::{
    sync::{Arc, Mutex},
    time::Duration,
};
use tokio::sync::Notify;

/// How the scripted products service answers a call.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Says {
    Yes,
    /// A refusal: nothing was held.
    No,
    /// Down: the call may or may not have happened.
    Down,
}

#[derive(Debug)]
struct Scripted {
    reserve: Says,
    confirm: Says,
    release: Says,
    /// Holds for good when asked to (a products service that can); else
    /// answers with a plain hold, to be confirmed separately.
    for_good: bool,
    calls: Mutex<Vec<&'static str>>,
}

impl Scripted {
    /// A products service that holds for good in the reserving call.
    fn new(reserve: Says) -> Arc<Self> {
        Self::releasing(reserve, Says::Yes)
    }

    fn releasing(reserve: Says, release: Says) -> Arc<Self> {
        Arc::new(Self {
            reserve,
            confirm: Says::No,
            release,
            for_good: true,
            calls: Mutex::default(),
        })
    }

    /// A products service from before the reserving call could hold for
    /// good: it refuses the `confirm` field (422), holds plainly when asked
    /// without it, and confirms in a second call.
    fn older(reserve: Says, confirm: Says) -> Arc<Self> {
        Arc::new(Self {
            reserve,
            confirm,
            release: Says::Yes,
            for_good: false,
            calls: Mutex::default(),
        })
    }

    fn calls(&self) -> Vec<&'static str> {
        self.calls.lock().unwrap().clone()
    }

    fn answer(&self, call: &'static str, says: Says) -> Result<(), Error> {
        self.calls.lock().unwrap().push(call);
        match says {
            Says::Yes => Ok(()),
            Says::No => Err(Error::Refused(Refusal::Conflict(
                "Insufficient stock for product 'Lamp'".into(),
            ))),
            Says::Down => Err(Error::ProductsUnavailable),
        }
    }
}

#[async_trait::async_trait]
impl Products for Scripted {
    async fn reserve(
        &self,
        order_id: i64,
        items: &[ReserveLine],
        confirm: bool,
        _: &RequestId,
    ) -> Result<Reservation, Error> {
        if confirm && !self.for_good {
            self.calls.lock().unwrap().push("reserve for good");
            return Err(Error::Refused(Refusal::Invalid(
                "body: unknown field `confirm`".into(),
            )));
        }
        self.answer(
            if confirm {
                "reserve for good"
            } else {
                "reserve"
            },
            self.reserve,
        )?;
        Ok(Reservation {
            order_id,
            lines: items
                .iter()
                .map(|l| ReservedLine {
                    product_id: l.product_id,
                    product_name: format!("Product {}", l.product_id),
                    product_price: "2.50".parse().unwrap(),
                    quantity: l.quantity,
                })
                .collect(),
            confirmed: confirm,
        })
    }

    async fn confirm(&self, _: i64, _: &RequestId) -> Result<(), Error> {
        self.answer("confirm", self.confirm)
    }

    async fn release(&self, _: i64, _: &RequestId) -> anyhow::Result<()> {
        self.answer("release", self.release)?;
        Ok(())
    }
}

fn state(pool: PgPool, products: Arc<Scripted>) -> AppState {
    let rules = TokenRules::default();
    AppState {
        pool,
        auth: Auth::new(
            Verifier::with_keys(&JwkSet { keys: vec![] }, &rules),
            vec![],
        ),
        products,
        wake: Arc::new(Notify::new()),
        pending_timeout: Duration::from_secs(120),
        idempotency_lease: Duration::from_secs(30),
    }
}

async fn place(state: &AppState, approved: bool) -> Result<i64, Error> {
    let buyer = Identity {
        user_id: 7,
        email: "ann@example.com".into(),
        role: Role::Customer,
        session: "s".into(),
        token: "t".into(),
        expires_at: i64::MAX,
    };
    let lines = [ReserveLine {
        product_id: 3,
        quantity: 2,
    }];
    let request_id = RequestId::new_random();
    let c = Checkout {
        user: &buyer,
        lines: &lines,
        approved,
        request_id: &request_id,
        key: None,
    };
    checkout::place(state, c).await.map(|s| s.order.id)
}

/// Every order row: status, total, whether its stock was given back.
async fn orders(pool: &PgPool) -> Vec<(String, String, bool)> {
    sqlx::query_as(
        "SELECT status, total_amount::text, stock_released_at IS NOT NULL FROM orders ORDER BY id",
    )
    .fetch_all(pool)
    .await
    .unwrap()
}

async fn events(pool: &PgPool) -> Vec<(String, String)> {
    sqlx::query_as("SELECT event_type, subject FROM outbox ORDER BY id")
        .fetch_all(pool)
        .await
        .unwrap()
}

#[sqlx::test(migrator = "shop_orders::MIGRATOR")]
async fn an_older_products_service_is_asked_for_a_plain_hold_and_confirmed_after(pool: PgPool) {
    let products = Scripted::older(Says::Yes, Says::Yes);
    let id = place(&state(pool.clone(), products.clone()), true)
        .await
        .unwrap();
    assert_eq!(products.calls(), ["reserve for good", "reserve", "confirm"]);
    assert_eq!(
        orders(&pool).await,
        [("confirmed".into(), "5.00".into(), false)]
    );
    assert_eq!(
        events(&pool).await,
        [("order.created".into(), format!("Order #{id} confirmed"))]
    );
}

#[sqlx::test(migrator = "shop_orders::MIGRATOR")]
async fn stock_held_for_good_in_the_reserving_call_confirms_the_order_without_a_second_call(
    pool: PgPool,
) {
    let products = Scripted::new(Says::Yes);
    let id = place(&state(pool.clone(), products.clone()), true)
        .await
        .unwrap();
    assert_eq!(products.calls(), ["reserve for good"]);
    assert_eq!(
        orders(&pool).await,
        [("confirmed".into(), "5.00".into(), false)]
    );
    assert_eq!(
        events(&pool).await,
        [("order.created".into(), format!("Order #{id} confirmed"))]
    );
}

#[sqlx::test(migrator = "shop_orders::MIGRATOR")]
async fn a_refused_reservation_leaves_nothing_and_releases_nothing(pool: PgPool) {
    let products = Scripted::new(Says::No);
    let placed = place(&state(pool.clone(), products.clone()), true).await;
    assert!(matches!(placed, Err(Error::Refused(_))), "{placed:?}");
    assert_eq!(products.calls(), ["reserve for good"]);
    assert!(orders(&pool).await.is_empty());
    assert!(events(&pool).await.is_empty());
}

#[sqlx::test(migrator = "shop_orders::MIGRATOR")]
async fn a_reservation_of_unknown_outcome_is_released_and_the_checkout_undone(pool: PgPool) {
    let products = Scripted::new(Says::Down);
    let placed = place(&state(pool.clone(), products.clone()), true).await;
    assert!(
        matches!(placed, Err(Error::ProductsUnavailable)),
        "{placed:?}"
    );
    assert_eq!(products.calls(), ["reserve for good", "release"]);
    assert!(orders(&pool).await.is_empty());
    assert!(events(&pool).await.is_empty());
}

#[sqlx::test(migrator = "shop_orders::MIGRATOR")]
async fn a_confirmation_of_unknown_outcome_is_released_and_the_checkout_undone(pool: PgPool) {
    let products = Scripted::older(Says::Yes, Says::Down);
    let placed = place(&state(pool.clone(), products.clone()), true).await;
    assert!(
        matches!(placed, Err(Error::ProductsUnavailable)),
        "{placed:?}"
    );
    assert_eq!(
        products.calls(),
        ["reserve for good", "reserve", "confirm", "release"]
    );
    assert!(orders(&pool).await.is_empty());
    assert!(events(&pool).await.is_empty());
}

#[sqlx::test(migrator = "shop_orders::MIGRATOR")]
async fn a_failed_release_leaves_the_checkout_abandoned_for_the_repair_loop(pool: PgPool) {
    let products = Scripted::releasing(Says::Down, Says::Down);
    let placed = place(&state(pool.clone(), products.clone()), true).await;
    assert!(
        matches!(placed, Err(Error::ProductsUnavailable)),
        "{placed:?}"
    );
    assert_eq!(products.calls(), ["reserve for good", "release"]);
    let left: Vec<(String, bool)> =
        sqlx::query_as("SELECT status, abandoned_at IS NOT NULL FROM orders")
            .fetch_all(&pool)
            .await
            .unwrap();
    assert_eq!(left, [("pending".into(), true)], "never to be confirmed");
    assert!(events(&pool).await.is_empty());
}

#[sqlx::test(migrator = "shop_orders::MIGRATOR")]
async fn a_declined_card_cancels_the_order_and_gives_its_stock_back(pool: PgPool) {
    let products = Scripted::older(Says::Yes, Says::Yes);
    let placed = place(&state(pool.clone(), products.clone()), false).await;
    assert!(matches!(placed, Err(Error::PaymentDeclined)), "{placed:?}");
    assert_eq!(products.calls(), ["reserve", "release"]);
    assert_eq!(
        orders(&pool).await,
        [("cancelled".into(), "5.00".into(), true)]
    );
    assert!(events(&pool).await.is_empty());
}

#[sqlx::test(migrator = "shop_orders::MIGRATOR")]
async fn a_hold_that_can_no_longer_be_confirmed_undoes_the_checkout(pool: PgPool) {
    let products = Scripted::older(Says::Yes, Says::No);
    let placed = place(&state(pool.clone(), products.clone()), true).await;
    assert!(
        matches!(placed, Err(Error::CheckoutAbandoned)),
        "{placed:?}"
    );
    assert_eq!(
        products.calls(),
        ["reserve for good", "reserve", "confirm", "release"]
    );
    assert!(orders(&pool).await.is_empty());
    assert!(events(&pool).await.is_empty());
}

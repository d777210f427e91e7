//! What every handler and task shares.

use axum::extract::FromRef;
use secrecy::SecretString;
use shop_auth::Auth;
use shop_platform::cache::Announced;
use sqlx::PgPool;
use std::{sync::Arc, time::Duration};

/// Shared by every handler.
#[derive(Debug, Clone, FromRef)]
pub struct AppState {
    pub pool: PgPool,
    pub auth: Auth,
    pub internal_token: Arc<SecretString>,
    /// How long a reservation holds its stock unconfirmed.
    #[from_ref(skip)]
    pub reservation_hold: Duration,
    /// Products and catalogue pages as served, dropped on every change.
    #[from_ref(skip)]
    pub catalogue: Announced,
    /// The web origin (`PUBLIC_URL`) the sitemap's addresses start with.
    #[from_ref(skip)]
    pub public_url: Arc<str>,
    /// Products' pictures.
    #[from_ref(skip)]
    pub images: Arc<dyn crate::store::images::Images>,
}

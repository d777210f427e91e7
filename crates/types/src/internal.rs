//! The services' internal APIs (`/internal/*`, never routed by the gateway),
//! declared once for the service that answers and the ones that call: the
//! products service's reservations (called by orders) and the users
//! service's revocation feed (followed by every verifier).

use crate::Money;
use serde::{Deserialize, Serialize};

/// The header that carries the shared `INTERNAL_API_TOKEN`.
pub const INTERNAL_TOKEN_HEADER: &str = "x-internal-token";
/// Development default of `INTERNAL_API_TOKEN`; refused in production.
pub const DEV_INTERNAL_TOKEN: &str = "dev-internal-token";

#[derive(Debug, Clone, Copy, Deserialize, Serialize, PartialEq, Eq)]
#[cfg_attr(feature = "server", derive(utoipa::ToSchema))]
#[serde(deny_unknown_fields)]
pub struct ReserveLine {
    pub product_id: i64,
    pub quantity: i32,
}

#[derive(Debug, Clone, Deserialize, Serialize, PartialEq)]
#[cfg_attr(feature = "server", derive(utoipa::ToSchema))]
#[serde(deny_unknown_fields)]
pub struct ReserveRequest {
    pub order_id: i64,
    pub items: Vec<ReserveLine>,
    /// Hold the stock for the order for good at once (its payment is
    /// already approved), instead of holding it until a confirmation or
    /// its expiry. Omitted: a plain hold.
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub confirm: bool,
}

/// One reserved line with the name and price it was reserved at.
#[derive(Debug, Clone, Deserialize, Serialize, PartialEq)]
#[cfg_attr(feature = "server", derive(utoipa::ToSchema))]
pub struct ReservedLine {
    pub product_id: i64,
    pub product_name: String,
    pub product_price: Money,
    pub quantity: i32,
}

impl ReservedLine {
    /// The line's frozen price times its quantity.
    pub fn subtotal(&self) -> Money {
        self.product_price.times(self.quantity)
    }
}

#[derive(Debug, Clone, Deserialize, Serialize, PartialEq)]
#[cfg_attr(feature = "server", derive(utoipa::ToSchema))]
pub struct Reservation {
    pub order_id: i64,
    pub lines: Vec<ReservedLine>,
    /// The stock is the order's for good: no confirmation needed.
    #[serde(default)]
    pub confirmed: bool,
}

#[derive(Debug, Clone, Deserialize, Serialize, PartialEq)]
#[cfg_attr(feature = "server", derive(utoipa::ToSchema))]
pub struct Released {
    pub order_id: i64,
    /// Units returned to stock by this call (0 when already released).
    pub units_returned: i64,
}

/// The answer to confirming a reservation: its stock now belongs to the
/// order and never expires.
#[derive(Debug, Clone, Deserialize, Serialize, PartialEq)]
#[cfg_attr(feature = "server", derive(utoipa::ToSchema))]
pub struct Confirmed {
    pub order_id: i64,
}

/// One revoked access token: its `jti`, and its `exp`, after which it is
/// refused anyway.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize, Serialize)]
#[cfg_attr(feature = "server", derive(utoipa::ToSchema))]
pub struct RevokedToken {
    pub jti: String,
    pub exp: i64,
}

/// One answer of the users service's revocation feed.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize, Serialize)]
#[cfg_attr(feature = "server", derive(utoipa::ToSchema))]
pub struct RevocationBatch {
    /// The feed's clock when it answered.
    pub as_of: chrono::DateTime<chrono::Utc>,
    /// Where the next request asks from (`?after=`): strictly increasing.
    pub cursor: u64,
    pub revoked: Vec<RevokedToken>,
}

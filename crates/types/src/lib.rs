//! The wire contract of API.md as Rust types, shared by every service and the
//! web app. This crate compiles for `wasm32-unknown-unknown`; anything that
//! only a server needs (OpenAPI schemas) sits behind the `server` feature.

pub mod error;
pub mod event;
pub mod health;
pub mod internal;
pub mod money;
pub mod notification;
pub mod order;
pub mod product;
pub mod text;
pub mod user;
pub mod whole;

/// The cookie set beside the httpOnly session cookie, with the same
/// lifetime, holding `1` and no secret: the web app asks who is signed in
/// only when it is there.
pub const SIGNED_IN_COOKIE: &str = "shop_signed_in";

pub use error::{ErrorBody, ErrorDetail, FieldError};
pub use event::EventEnvelope;
pub use health::{GatewayHealth, HealthReport, OverallStatus, ServiceHealth, ServiceStatus};
pub use money::Money;
pub use notification::{
    ClientMessage, MAX_CLIENT_MESSAGE_BYTES, MAX_WS_FRAME_BYTES, Notification, NotificationList,
    NotificationStatus, NotificationType, PushNotification, ServerMessage,
};
pub use order::{
    CreateOrderRequest, Order, OrderEvent, OrderItem, OrderLineRequest, OrderStatus,
    PaymentRequest, StatusUpdateRequest,
};
pub use product::{CategoryCount, PRODUCT_SORT_KEYS, Product, ProductImage, ProductList};
pub use user::{
    LoginRequest, RegisterRequest, Role, SignInProviders, TokenResponse, User, UserList,
};

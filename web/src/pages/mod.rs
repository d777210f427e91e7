//! One component per page of the router.

#[cfg(feature = "console")]
mod admin;
mod cart;
mod checkout;
mod console;
mod login;
mod not_found;
mod orders;
mod product;
mod products;
mod register;
#[cfg(feature = "console")]
mod status;

#[cfg(feature = "console")]
pub use admin::AdminPage;
pub use cart::CartPage;
pub use checkout::CheckoutPage;
#[cfg(feature = "console")]
pub use console::arrived as console_arrived;
#[cfg(not(feature = "console"))]
pub use console::{AdminPage, StatusPage};
pub use login::{AuthCallbackPage, LoginPage};
pub use not_found::NotFound;
pub use orders::OrdersPage;
pub use product::ProductPage;
pub use products::ProductsPage;
pub use register::RegisterPage;
#[cfg(feature = "console")]
pub use status::StatusPage;

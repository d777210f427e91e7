//! One component per page of the router.

mod admin;
mod cart;
mod checkout;
mod login;
mod not_found;
mod orders;
mod product;
mod products;
mod register;
mod status;

pub use admin::AdminPage;
pub use cart::CartPage;
pub use checkout::CheckoutPage;
pub use login::{AuthCallbackPage, LoginPage};
pub use not_found::NotFound;
pub use orders::OrdersPage;
pub use product::ProductPage;
pub use products::ProductsPage;
pub use register::RegisterPage;
pub use status::StatusPage;

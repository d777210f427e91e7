//! The shell around every page (header, footer, toasts) and the pieces
//! pages share.

mod footer;
mod header;
mod product_card;
mod quantity;
mod toasts;
pub mod ui;

pub use footer::Footer;
pub use header::Header;
pub use product_card::{Picture, ProductCard, ProductCardSkeleton, StockBadge};
pub use quantity::QuantityInput;
pub use toasts::ToastRegion;

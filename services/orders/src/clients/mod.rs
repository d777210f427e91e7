//! Other services, behind small traits so the use cases can be tested
//! without HTTP.

pub mod products;

pub use products::{Products, ProductsClient};

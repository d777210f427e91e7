pub mod catalogue;
pub mod internal;

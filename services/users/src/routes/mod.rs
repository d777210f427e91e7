pub mod account;
pub mod admin;
pub mod internal;
pub mod jwks;

pub mod account;
pub mod admin;
pub mod google;
pub mod internal;
pub mod jwks;

pub mod account;
pub mod jwks;

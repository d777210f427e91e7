//! Pure rules: what a valid registration and sign-in are ([`account`]) and
//! how passwords are hashed and checked ([`password`], on its own threads).

pub mod account;
pub mod password;

//! Use cases that take more than one store call: signing in with Google
//! ([`sign_in`]) and ending or restoring an account's access ([`accounts`]).

pub mod accounts;
pub mod sign_in;

//! Use cases that take more than one store call: signing in with Google
//! ([`sign_in`]).

pub mod sign_in;

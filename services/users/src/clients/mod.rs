//! External systems: the Google sign-in provider, behind [`google::SignIn`].

pub mod google;

//! Pure rules: what each order event's email and toast say.

pub mod messages;

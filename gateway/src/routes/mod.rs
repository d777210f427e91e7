pub mod docs;
pub mod forward;
pub mod health;

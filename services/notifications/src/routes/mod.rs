pub mod notifications;
pub mod ws;

//! One component per page of the router.

mod coming_soon;
mod home;
mod not_found;
mod status;

pub use coming_soon::ComingSoon;
pub use home::HomePage;
pub use not_found::NotFound;
pub use status::StatusPage;

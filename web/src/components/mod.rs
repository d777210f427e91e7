//! The shell around every page: header with navigation, and footer.

mod footer;
mod header;

pub use footer::Footer;
pub use header::Header;

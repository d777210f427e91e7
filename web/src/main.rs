//! The shop's browser app: a client-side rendered Leptos app mounted into
//! `<body>` of the static index.html.

mod api;
mod app;
mod cart;
mod components;
mod live;
mod pages;
mod seo;
mod session;
mod toasts;

/// A panic stops the module at once (see web/.cargo/config.toml); boot.js
/// tells the visitor the page stopped working.
fn main() {
    #[cfg(feature = "console")]
    pages::console_arrived();
    leptos::mount::mount_to_body(app::App);
}

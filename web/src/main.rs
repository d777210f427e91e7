//! The shop's browser app: a client-side rendered Leptos app mounted into
//! `<body>` of the static index.html.

mod api;
mod app;
mod components;
mod pages;

fn main() {
    // Panics otherwise vanish into an opaque "unreachable" wasm trap.
    console_error_panic_hook::set_once();
    leptos::mount::mount_to_body(app::App);
}

//! The shop's browser app: a client-side rendered Leptos app mounted into
//! `<body>` of the static index.html.

mod api;
mod app;
mod cart;
mod components;
mod live;
mod pages;
mod session;
mod toasts;

fn main() {
    std::panic::set_hook(Box::new(|info| {
        // Panics otherwise vanish into an opaque "unreachable" wasm trap.
        console_error_panic_hook::hook(info);
        show_crash();
    }));
    leptos::mount::mount_to_body(app::App);
}

/// After a panic the app no longer responds (wasm aborts), so say so instead
/// of leaving a page that silently ignores clicks. Plain DOM calls: the
/// reactive system may be what failed.
fn show_crash() {
    let Some(document) = web_sys::window().and_then(|w| w.document()) else {
        return;
    };
    let (Some(body), Ok(banner)) = (document.body(), document.create_element("div")) else {
        return;
    };
    let _ = banner.set_attribute("role", "alert");
    let _ = banner.set_attribute("data-testid", "app-crashed");
    let _ = banner.set_attribute(
        "class",
        "fixed inset-x-0 top-0 z-50 bg-red-700 px-4 py-3 text-center text-sm font-semibold text-white",
    );
    banner.set_text_content(Some(
        "Something went wrong and the page stopped working. Please reload it; your cart is kept.",
    ));
    let _ = body.append_child(&banner);
}

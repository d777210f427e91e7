//! The storefront's bundle has neither the admin console nor the status
//! page: they are the console bundle's (`console.html`, which the web front
//! serves for `/admin` and `/status`). Reaching either inside the
//! storefront's app loads that page from the server.

#[cfg(not(feature = "console"))]
use leptos::prelude::*;
#[cfg(not(feature = "console"))]
use leptos_router::hooks::use_location;

#[cfg(not(feature = "console"))]
#[component]
pub fn AdminPage() -> impl IntoView {
    load_the_console()
}

#[cfg(not(feature = "console"))]
#[component]
pub fn StatusPage() -> impl IntoView {
    load_the_console()
}

/// The key of the last address handed over, so a web front that answers it
/// with the storefront again is not asked in a loop.
const HANDED_OVER: &str = "shop:console-handover";

/// The console's page has loaded: a later hand-over is a new one.
#[cfg(feature = "console")]
pub fn arrived() {
    if let Some(storage) = web_sys::window().and_then(|w| w.session_storage().ok().flatten()) {
        let _ = storage.remove_item(HANDED_OVER);
    }
}

/// Loads the address the router is going to (the browser's may still be the
/// previous page's) from the server.
#[cfg(not(feature = "console"))]
fn load_the_console() -> impl IntoView {
    let location = use_location();
    let target = format!(
        "{}{}{}",
        location.pathname.get_untracked(),
        location.search.get_untracked(),
        location.hash.get_untracked()
    );
    let window = web_sys::window();
    let storage = window
        .as_ref()
        .and_then(|w| w.session_storage().ok().flatten());
    let again = storage
        .as_ref()
        .and_then(|s| s.get_item(HANDED_OVER).ok().flatten())
        .is_some_and(|last| last == target);
    if again {
        if let Some(s) = &storage {
            let _ = s.remove_item(HANDED_OVER);
        }
        return view! {
            <p role="alert" class="text-red-700">
                "This page could not be loaded. Please reload it."
            </p>
        }
        .into_any();
    }
    if let Some(s) = &storage {
        let _ = s.set_item(HANDED_OVER, &target);
    }
    if let Some(w) = &window {
        let _ = w.location().replace(&target);
    }
    view! { <p class="text-slate-500">"Loading…"</p> }.into_any()
}

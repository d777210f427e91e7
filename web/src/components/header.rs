//! The shop's name, the main navigation with the cart's size, and who is
//! signed in.

use leptos::{prelude::*, task::spawn_local};
use leptos_router::{NavigateOptions, components::A, hooks::use_navigate};

use super::ui::FOCUS;
use crate::{
    api,
    cart::use_cart,
    session::{Auth, use_session},
};

/// `aria-current="page"` is set by `<A>` on the active link, so the active
/// style follows the router without extra state.
const LINK: &str = "inline-flex items-center gap-1.5 rounded-md px-2 py-2 sm:px-3 text-sm font-medium \
    text-slate-600 hover:bg-slate-100 hover:text-slate-900 \
    focus-visible:outline-2 focus-visible:outline-offset-2 focus-visible:outline-indigo-600 \
    aria-[current=page]:bg-indigo-50 aria-[current=page]:text-indigo-700";

const SIGN_IN: &str = "rounded-md bg-indigo-600 px-2.5 py-2 sm:px-3 text-sm font-semibold text-white \
    shadow-sm hover:bg-indigo-500 \
    focus-visible:outline-2 focus-visible:outline-offset-2 focus-visible:outline-indigo-600";

#[component]
pub fn Header() -> impl IntoView {
    let cart = use_cart();
    let session = use_session();
    let units = move || cart.units();
    // Read as "Cart 2 items": the name a screen reader says starts with
    // what is shown ("Cart 2"), as speech control expects.
    let items = move || if units() == 1 { " item" } else { " items" };
    view! {
        <header class="border-b border-slate-200 bg-white">
            <div class="mx-auto flex max-w-5xl flex-wrap items-center justify-between gap-x-3 gap-y-2 px-4 py-3 sm:px-6">
                <A
                    href="/"
                    attr:class=format!("rounded-md text-xl font-bold tracking-tight text-indigo-700 {FOCUS}")
                >
                    "Shop"
                </A>
                <div class="order-last flex w-full items-center justify-between gap-2 sm:order-none sm:w-auto sm:justify-end">
                    <nav aria-label="Main" class="flex items-center gap-1">
                        // Exact, or "Products" would be marked current on every page.
                        <A href="/" exact=true attr:class=LINK>
                            "Products"
                        </A>
                        <A href="/cart" attr:class=LINK>
                            "Cart "
                            <span
                                data-testid="cart-count"
                                class="min-w-5 rounded-full bg-slate-200 px-1.5 text-center text-xs font-semibold text-slate-800 tabular-nums"
                            >
                                {units}
                            </span>
                            <span class="sr-only">{items}</span>
                        </A>
                        <A href="/orders" attr:class=LINK>
                            "Orders"
                        </A>
                        {move || {
                            matches!(
                                session.auth(),
                                Auth::User(u) if u.role == shop_types::Role::Admin
                            )
                                .then(|| {
                                    view! {
                                        // The console is a bundle of its own: a page load.
                                        <a
                                            href="/admin/products"
                                            rel="external"
                                            class=LINK
                                            data-testid="admin-link"
                                        >
                                            "Admin"
                                        </a>
                                    }
                                })
                        }}
                    </nav>
                </div>
                <Account />
            </div>
        </header>
    }
}

/// Sign in and register for guests; the name and sign out for a user.
#[component]
fn Account() -> impl IntoView {
    let session = use_session();
    let navigate = use_navigate();
    let signing_out = RwSignal::new(false);
    let sign_out = move |_| {
        if signing_out.get_untracked() {
            return;
        }
        signing_out.set(true);
        let navigate = navigate.clone();
        spawn_local(async move {
            let result = api::logout().await;
            signing_out.set(false);
            match result {
                // 401: the session had already ended; either way it is gone.
                Ok(()) => {}
                Err(e) if e.status() == Some(401) => {}
                Err(e) => {
                    leptos::logging::warn!("sign out failed: {e}");
                    return;
                }
            }
            session.ended();
            navigate("/", NavigateOptions::default());
        });
    };
    view! {
        <div class="flex items-center gap-2">
            {move || match session.auth() {
                Auth::Checking => {
                    view! { <span class="text-sm text-slate-400">"…"</span> }.into_any()
                }
                Auth::Guest => {
                    view! {
                        <A href="/register" attr:class=LINK>
                            "Register"
                        </A>
                        <A href="/login" attr:class=SIGN_IN attr:data-testid="sign-in-link">
                            "Sign in"
                        </A>
                    }
                        .into_any()
                }
                Auth::User(user) => {
                    view! {
                        <span
                            data-testid="account-name"
                            class="max-w-36 truncate text-sm font-medium text-slate-700"
                            title=user.email.clone()
                        >
                            {user.username.clone()}
                        </span>
                        <button
                            type="button"
                            data-testid="sign-out"
                            class=format!(
                                "rounded-md px-2.5 py-2 text-sm font-semibold text-slate-700 ring-1 ring-slate-300 hover:bg-slate-50 disabled:opacity-50 {FOCUS}",
                            )
                            disabled=move || signing_out.get()
                            on:click=sign_out.clone()
                        >
                            {move || if signing_out.get() { "Signing out…" } else { "Sign out" }}
                        </button>
                    }
                        .into_any()
                }
            }}
        </div>
    }
}

//! The shop's name and the main navigation.

use leptos::prelude::*;
use leptos_router::components::A;

/// `aria-current="page"` is set by `<A>` on the active link, so the active
/// style follows the router without extra state.
const LINK: &str = "rounded-md px-2 py-2 sm:px-3 text-sm font-medium text-slate-600 \
    hover:bg-slate-100 hover:text-slate-900 \
    focus-visible:outline-2 focus-visible:outline-offset-2 focus-visible:outline-indigo-600 \
    aria-[current=page]:bg-indigo-50 aria-[current=page]:text-indigo-700";

const SIGN_IN: &str = "rounded-md bg-indigo-600 px-2.5 py-2 sm:px-3 text-sm font-semibold text-white \
    shadow-sm hover:bg-indigo-500 \
    focus-visible:outline-2 focus-visible:outline-offset-2 focus-visible:outline-indigo-600";

#[component]
pub fn Header() -> impl IntoView {
    view! {
        <header class="border-b border-slate-200 bg-white">
            <div class="mx-auto flex max-w-5xl flex-wrap items-center justify-between gap-3 px-4 py-3 sm:px-6">
                <A
                    href="/"
                    attr:class="rounded-md text-xl font-bold tracking-tight text-indigo-700 focus-visible:outline-2 focus-visible:outline-offset-2 focus-visible:outline-indigo-600"
                >
                    "Shop"
                </A>
                <nav aria-label="Main" class="flex flex-wrap items-center gap-1">
                    // Exact, or "Products" would be marked current on every page.
                    <A href="/" exact=true attr:class=LINK>
                        "Products"
                    </A>
                    <A href="/cart" attr:class=LINK>
                        "Cart"
                    </A>
                    <A href="/orders" attr:class=LINK>
                        "Orders"
                    </A>
                    <A href="/status" attr:class=LINK>
                        "Status"
                    </A>
                    <A href="/login" attr:class=SIGN_IN>
                        "Sign in"
                    </A>
                </nav>
            </div>
        </header>
    }
}

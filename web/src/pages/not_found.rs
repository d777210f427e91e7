//! Shown for any path the router does not know.

use leptos::prelude::*;
use leptos_router::components::A;

#[component]
pub fn NotFound() -> impl IntoView {
    crate::components::ui::page_title("Page not found");
    let generation = crate::seo::not_found();
    on_cleanup(move || crate::seo::leave(generation));
    view! {
        <section data-testid="not-found" class="rounded-2xl bg-white p-6 shadow-sm ring-1 ring-slate-200 sm:p-10">
            <h1 class="text-2xl font-bold tracking-tight">"Page not found"</h1>
            <p class="mt-3 text-slate-600">
                "There is nothing at this address. "
                <A
                    href="/"
                    attr:class="rounded font-medium text-indigo-700 underline underline-offset-4 focus-visible:outline-2 focus-visible:outline-offset-2 focus-visible:outline-indigo-600"
                >
                    "Back to the shop"
                </A>
            </p>
        </section>
    }
}

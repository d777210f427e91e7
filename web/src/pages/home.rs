//! `/`: the welcome page (the product catalogue will live here).

use leptos::prelude::*;
use leptos_router::components::A;

#[component]
pub fn HomePage() -> impl IntoView {
    view! {
        <section class="rounded-2xl bg-white p-6 shadow-sm ring-1 ring-slate-200 sm:p-10">
            <h1 class="text-3xl font-bold tracking-tight sm:text-4xl">"Welcome to Shop"</h1>
            <p class="mt-4 max-w-2xl text-lg text-slate-600">
                "Browse the catalogue, fill your cart and follow your orders as they ship."
            </p>
            <p class="mt-6 text-slate-600">
                "Something not working? "
                <A
                    href="/status"
                    attr:class="rounded font-medium text-indigo-700 underline underline-offset-4 hover:text-indigo-500 focus-visible:outline-2 focus-visible:outline-offset-2 focus-visible:outline-indigo-600"
                >
                    "See the system status"
                </A>
                "."
            </p>
        </section>
    }
}

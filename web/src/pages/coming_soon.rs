//! Placeholder for shop pages that are not built yet.

use leptos::prelude::*;

#[component]
pub fn ComingSoon(title: &'static str) -> impl IntoView {
    view! {
        <section class="rounded-2xl bg-white p-6 shadow-sm ring-1 ring-slate-200 sm:p-10">
            <h1 class="text-2xl font-bold tracking-tight">{title}</h1>
            <p class="mt-3 text-slate-600">"Coming soon."</p>
        </section>
    }
}

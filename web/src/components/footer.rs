//! The footer under every page.

use leptos::prelude::*;

use super::ui::FOCUS;

#[component]
pub fn Footer() -> impl IntoView {
    view! {
        <footer class="border-t border-slate-200 bg-white">
            <div class="mx-auto flex max-w-5xl flex-col gap-2 px-4 py-6 text-sm text-slate-500 sm:flex-row sm:items-center sm:justify-between sm:px-6">
                <p>"Shop: products, orders and notifications."</p>
                // The status page is in the console's bundle: a page load.
                <a
                    href="/status"
                    rel="external"
                    class=format!("rounded underline-offset-4 hover:text-slate-900 hover:underline {FOCUS}")
                >
                    "System status"
                </a>
            </div>
        </footer>
    }
}

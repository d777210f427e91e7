//! Where pushed notifications appear: a polite live region, so screen
//! readers announce each toast without interrupting.

use leptos::prelude::*;
use leptos_router::components::A;

use super::ui::FOCUS;
use crate::toasts::{Toast, use_toasts};

#[component]
pub fn ToastRegion() -> impl IntoView {
    let toasts = use_toasts();
    view! {
        <section
            aria-label="Notifications"
            data-testid="toast-region"
            data-live=move || toasts.live().as_str()
            class="pointer-events-none fixed inset-x-0 bottom-0 z-50 flex justify-center p-4 sm:inset-x-auto sm:right-0 sm:justify-end"
        >
            <ol aria-live="polite" aria-relevant="additions" class="flex w-full max-w-sm flex-col gap-3">
                <For each=move || toasts.items() key=|t| t.id let:toast>
                    <ToastCard toast />
                </For>
            </ol>
        </section>
    }
}

#[component]
fn ToastCard(toast: Toast) -> impl IntoView {
    let toasts = use_toasts();
    let id = toast.id;
    view! {
        <li
            data-testid="toast"
            data-order-id=toast.order_id
            class="pointer-events-auto rounded-xl bg-slate-900 p-4 text-white shadow-lg ring-1 ring-black/10"
        >
            <div class="flex items-start gap-3">
                <span aria-hidden="true" class="mt-1.5 size-2 shrink-0 rounded-full bg-emerald-400"></span>
                <div class="min-w-0 flex-1">
                    <p class="font-semibold">{toast.title}</p>
                    <p class="mt-1 text-sm text-slate-300">{toast.body}</p>
                    {toast
                        .order_id
                        .map(|_| {
                            view! {
                                <A
                                    href="/orders"
                                    attr:class=format!("mt-2 inline-block rounded text-sm font-medium text-indigo-300 underline underline-offset-4 hover:text-indigo-200 {FOCUS}")
                                >
                                    "View your orders"
                                </A>
                            }
                        })}
                </div>
                <button
                    type="button"
                    aria-label="Dismiss notification"
                    class=format!("-m-1 rounded p-1 text-slate-400 hover:text-white {FOCUS}")
                    on:click=move |_| toasts.dismiss(id)
                >
                    <span aria-hidden="true">"✕"</span>
                </button>
            </div>
        </li>
    }
}

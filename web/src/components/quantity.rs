//! A quantity field with − and + buttons, kept between 1 and a maximum.

use leptos::prelude::*;

use super::ui::FOCUS;

const STEP: &str = "flex size-9 items-center justify-center text-lg font-semibold text-slate-700 \
    hover:bg-slate-100 disabled:cursor-not-allowed disabled:text-slate-300";

#[component]
pub fn QuantityInput(
    /// Names the product, for the labels of the three controls.
    #[prop(into)]
    label: String,
    #[prop(into)] value: Signal<i32>,
    /// The highest quantity that may be chosen.
    #[prop(into)]
    max: Signal<i32>,
    on_change: Callback<i32>,
) -> impl IntoView {
    let set = move |q: i32| on_change.run(q.clamp(1, max.get_untracked().max(1)));
    let fewer = move |_: leptos::ev::MouseEvent| set(value.get_untracked() - 1);
    let more = move |_: leptos::ev::MouseEvent| set(value.get_untracked() + 1);
    view! {
        <div class="inline-flex items-center overflow-hidden rounded-md ring-1 ring-slate-300">
            <button
                type="button"
                class=format!("{STEP} {FOCUS}")
                aria-label=format!("One fewer {label}")
                disabled=move || { value.get() <= 1 }
                on:click=fewer
            >
                "−"
            </button>
            <input
                type="number"
                inputmode="numeric"
                min="1"
                max=move || max.get().max(1)
                data-testid="quantity"
                aria-label=format!("Quantity of {label}")
                class="h-9 w-14 border-x border-slate-300 text-center text-sm tabular-nums focus:outline-2 focus:-outline-offset-2 focus:outline-indigo-600"
                prop:value=move || value.get().to_string()
                on:change=move |ev| {
                    if let Ok(q) = event_target_value(&ev).trim().parse::<i32>() {
                        set(q);
                    }
                    // The value may be unchanged after clamping, which would
                    // leave the typed text on screen: write it back.
                    event_target::<web_sys::HtmlInputElement>(&ev)
                        .set_value(&value.get_untracked().to_string());
                }
            />
            <button
                type="button"
                class=format!("{STEP} {FOCUS}")
                aria-label=format!("One more {label}")
                disabled=move || { value.get() >= max.get() }
                on:click=more
            >
                "+"
            </button>
        </div>
    }
}

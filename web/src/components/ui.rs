//! Small pieces every page uses: the shared styles, loading and error
//! states, and how money and dates are written.

use chrono::{DateTime, Utc};
use leptos::prelude::*;
use shop_types::Money;

/// Every control shows the same focus ring when reached by keyboard.
pub const FOCUS: &str =
    "focus-visible:outline-2 focus-visible:outline-offset-2 focus-visible:outline-indigo-600";

pub const BUTTON: &str = "inline-flex items-center justify-center gap-2 rounded-md bg-indigo-600 \
    px-3.5 py-2 text-sm font-semibold text-white shadow-sm hover:bg-indigo-500 \
    focus-visible:outline-2 focus-visible:outline-offset-2 focus-visible:outline-indigo-600 \
    disabled:cursor-not-allowed disabled:bg-slate-300 disabled:text-slate-600 disabled:shadow-none";

pub const BUTTON_SECONDARY: &str = "inline-flex items-center justify-center gap-2 rounded-md \
    bg-white px-3 py-2 text-sm font-semibold text-slate-900 shadow-sm ring-1 ring-slate-300 \
    hover:bg-slate-50 focus-visible:outline-2 focus-visible:outline-offset-2 \
    focus-visible:outline-indigo-600 disabled:cursor-not-allowed disabled:opacity-50";

pub const LINK: &str = "rounded font-medium text-indigo-700 underline underline-offset-4 \
    hover:text-indigo-500 focus-visible:outline-2 focus-visible:outline-offset-2 \
    focus-visible:outline-indigo-600";

pub const INPUT: &str = "block w-full rounded-md bg-white px-3 py-2 text-base text-slate-900 \
    outline-1 -outline-offset-1 outline-slate-300 placeholder:text-slate-400 \
    focus:outline-2 focus:-outline-offset-2 focus:outline-indigo-600 \
    aria-invalid:outline-red-500 sm:text-sm";

pub const LABEL: &str = "block text-sm font-medium text-slate-700";

pub const CARD: &str = "rounded-xl bg-white p-5 shadow-sm ring-1 ring-slate-200";

/// Names the page in the tab, bookmarks and history: `"{page} · Shop"`.
pub fn page_title(page: &str) {
    if let Some(document) = web_sys::window().and_then(|w| w.document()) {
        document.set_title(&format!("{page} · Shop"));
    }
}

/// `$29.99`: the currency the emails use too.
pub fn money(amount: Money) -> String {
    format!("${amount}")
}

/// The visitor's local date and time, written by the browser's own `Intl`
/// (chrono's formatting would add to the wasm and know no time zones).
pub fn local_time(at: DateTime<Utc>) -> String {
    let date = js_sys::Date::new(&(at.timestamp_millis() as f64).into());
    let options = js_sys::Object::new();
    for (key, value) in [("dateStyle", "medium"), ("timeStyle", "short")] {
        let _ = js_sys::Reflect::set(&options, &key.into(), &value.into());
    }
    date.to_locale_string("default", &options).into()
}

#[component]
pub fn Loading(#[prop(into)] label: String) -> impl IntoView {
    view! {
        <p
            role="status"
            data-state="loading"
            class="flex items-center gap-3 rounded-xl bg-white p-6 text-slate-500 shadow-sm ring-1 ring-slate-200"
        >
            <span
                aria-hidden="true"
                class="size-4 animate-spin rounded-full border-2 border-slate-300 border-t-indigo-600"
            ></span>
            {label}
        </p>
    }
}

/// The frame of everything loaded from the API: a loading state until the
/// data first arrives (the last view stays while it reloads), the failure
/// with a retry, or `render` applied to the data.
#[component]
pub fn Loaded<T, V, F>(
    data: LocalResource<Result<T, crate::api::ApiError>>,
    /// Shown while the data first loads.
    #[prop(into)]
    loading: String,
    /// The failure's heading.
    #[prop(into)]
    failed: String,
    /// The view of the data.
    render: F,
) -> impl IntoView
where
    T: Clone + 'static,
    V: IntoView + 'static,
    F: Fn(T) -> V + Clone + Send + Sync + 'static,
{
    let retry = Callback::new(move |()| data.refetch());
    view! {
        <Transition fallback=move || view! { <Loading label=loading.clone() /> }>
            <ErrorBoundary fallback=move |errors| {
                view! { <Failed errors title=failed.clone() retry /> }
            }>
                {move || {
                    let render = render.clone();
                    Suspend::new(async move { data.await.map(render) })
                }}
            </ErrorBoundary>
        </Transition>
    }
}

/// The fallback of an `ErrorBoundary`: what went wrong, and a way to retry.
#[component]
pub fn Failed(
    errors: ArcRwSignal<Errors>,
    #[prop(into)] title: String,
    #[prop(optional)] retry: Option<Callback<()>>,
) -> impl IntoView {
    let reasons = move || {
        errors
            .get()
            .into_iter()
            .map(|(_, e)| {
                let text = match e.downcast_ref::<crate::api::ApiError>() {
                    Some(api) => api.for_people(),
                    None => e.to_string(),
                };
                view! { <li>{text}</li> }
            })
            .collect_view()
    };
    view! {
        <div
            role="alert"
            data-state="error"
            class="rounded-xl border border-red-200 bg-red-50 p-6 text-red-900"
        >
            <h2 class="text-lg font-semibold">{title}</h2>
            <ul class="mt-2 space-y-1 text-sm">{reasons}</ul>
            {retry
                .map(|retry| {
                    view! {
                        <button
                            type="button"
                            class=format!("mt-4 {BUTTON_SECONDARY}")
                            on:click=move |_| retry.run(())
                        >
                            "Try again"
                        </button>
                    }
                })}
        </div>
    }
}

/// A short message in a coloured box: `tone` is "info", "success", "warning"
/// or "error"; errors are announced at once.
#[component]
pub fn Notice(tone: &'static str, children: Children) -> impl IntoView {
    let colours = match tone {
        "success" => "border-emerald-200 bg-emerald-50 text-emerald-900",
        "warning" => "border-amber-200 bg-amber-50 text-amber-900",
        "error" => "border-red-200 bg-red-50 text-red-900",
        _ => "border-indigo-200 bg-indigo-50 text-indigo-900",
    };
    let role = if tone == "error" { "alert" } else { "status" };
    view! {
        <div role=role class=format!("rounded-lg border px-4 py-3 text-sm {colours}")>
            {children()}
        </div>
    }
}

/// The title row of a page; `id` names the heading for `aria-labelledby`.
#[component]
pub fn PageTitle(
    id: &'static str,
    #[prop(into)] title: String,
    #[prop(optional)] children: Option<Children>,
) -> impl IntoView {
    view! {
        <div class="flex flex-wrap items-baseline justify-between gap-2">
            <h1 id=id class="text-2xl font-bold tracking-tight sm:text-3xl">
                {title}
            </h1>
            {children.map(|c| c())}
        </div>
    }
}

/// A labelled text input whose error, when there is one, is shown under it
/// and announced with it.
#[component]
pub fn TextField(
    id: &'static str,
    #[prop(into)] label: String,
    #[prop(default = "text")] kind: &'static str,
    #[prop(default = "off")] autocomplete: &'static str,
    value: RwSignal<String>,
    #[prop(optional, into)] error: MaybeProp<String>,
    #[prop(optional)] hint: Option<&'static str>,
    #[prop(optional)] minlength: Option<u32>,
) -> impl IntoView {
    let error_id = format!("{id}-error");
    let hint_id = format!("{id}-hint");
    let described_by = {
        let (error_id, hint_id) = (error_id.clone(), hint_id.clone());
        move || {
            let mut ids = Vec::new();
            if hint.is_some() {
                ids.push(hint_id.clone());
            }
            if error.get().is_some() {
                ids.push(error_id.clone());
            }
            (!ids.is_empty()).then(|| ids.join(" "))
        }
    };
    view! {
        <div>
            <label for=id class=LABEL>
                {label}
            </label>
            <input
                id=id
                name=id
                type=kind
                required
                minlength=minlength
                autocomplete=autocomplete
                data-testid=id
                aria-invalid=move || error.get().is_some().then_some("true")
                aria-describedby=described_by
                class=format!("mt-1 {INPUT}")
                bind:value=value
            />
            {hint.map(|hint| view! { <p id=hint_id class="mt-1 text-xs text-slate-500">{hint}</p> })}
            <p id=error_id data-testid="field-error" class="mt-1 text-sm text-red-700" hidden=move || error.get().is_none()>
                {move || error.get()}
            </p>
        </div>
    }
}

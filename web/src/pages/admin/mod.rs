//! `/admin`: the console of the people who run the shop — products (create,
//! edit, set and adjust stock, deactivate and restore), orders (every status, the allowed
//! moves, each order's timeline), failed emails (retry), dead events
//! (requeue) and accounts (deactivate, reactivate). Shown only to admins;
//! every call is checked again by the service that owns the data.

use leptos::{prelude::*, task::spawn_local};
use leptos_router::{components::A, hooks::use_params_map};
use shop_types::Role;

use crate::{
    api::ApiError,
    components::ui::{LINK, Loading, Notice, PageTitle},
    session::{Auth, use_session},
};

const SECTIONS: [(&str, &str); 5] = [
    ("products", "Products"),
    ("orders", "Orders"),
    ("notifications", "Failed emails"),
    ("events", "Dead events"),
    ("users", "Accounts"),
];

const SMALL_BUTTON: &str = "rounded-md bg-white px-2.5 py-1 text-xs font-semibold text-slate-800 \
    shadow-sm ring-1 ring-slate-300 hover:bg-slate-50 disabled:opacity-50";

/// What the last action did, shown above the section.
#[derive(Clone, Copy)]
struct Outcome {
    message: RwSignal<Option<(bool, String)>>,
    /// Bumped after every change, so the lists read again.
    version: RwSignal<u32>,
}

impl Outcome {
    /// Runs `call`; reports its result and refreshes the lists.
    fn run<T: 'static>(
        self,
        done: impl FnOnce(&T) -> String + 'static,
        call: impl std::future::Future<Output = Result<T, ApiError>> + 'static,
    ) {
        spawn_local(async move {
            match call.await {
                Ok(value) => self.message.set(Some((true, done(&value)))),
                Err(e) => self.message.set(Some((false, e.for_people()))),
            }
            self.version.update(|v| *v += 1);
        });
    }
}

#[component]
pub fn AdminPage() -> impl IntoView {
    let session = use_session();
    let params = use_params_map();
    let section = move || {
        params
            .read()
            .get("section")
            .unwrap_or_else(|| "products".to_owned())
    };
    view! {
        <section aria-labelledby="admin-title" class="space-y-6">
            <PageTitle id="admin-title" title="Shop admin" />
            {move || match session.auth() {
                Auth::Checking => view! { <Loading label="Checking who you are…" /> }.into_any(),
                Auth::User(user) if user.role == Role::Admin => {
                    view! { <Console section=Signal::derive(section) /> }.into_any()
                }
                Auth::User(_) => {
                    view! {
                        <div data-testid="admin-forbidden">
                            <Notice tone="error">"This page is for the shop's administrators."</Notice>
                        </div>
                    }
                        .into_any()
                }
                Auth::Guest => {
                    view! {
                        <p>
                            <A href="/login?next=/admin" attr:class=LINK>
                                "Sign in as an administrator"
                            </A>
                        </p>
                    }
                        .into_any()
                }
            }}
        </section>
    }
}

#[component]
fn Console(section: Signal<String>) -> impl IntoView {
    let outcome = Outcome {
        message: RwSignal::new(None),
        version: RwSignal::new(0),
    };
    view! {
        <nav aria-label="Admin sections" class="flex flex-wrap gap-2">
            {SECTIONS
                .iter()
                .map(|(key, label)| {
                    view! {
                        <A
                            href=format!("/admin/{key}")
                            attr:data-testid=format!("admin-tab-{key}")
                            attr:class="rounded-md px-3 py-1.5 text-sm font-medium text-slate-700 ring-1 ring-slate-200 aria-[current=page]:bg-indigo-600 aria-[current=page]:text-white"
                        >
                            {*label}
                        </A>
                    }
                })
                .collect_view()}
        </nav>
        {move || {
            outcome
                .message
                .get()
                .map(|(ok, text)| {
                    view! {
                        <div data-testid="admin-outcome" data-ok=ok.to_string()>
                            <Notice tone=if ok { "success" } else { "error" }>{text}</Notice>
                        </div>
                    }
                })
        }}
        {move || match section.get().as_str() {
            "orders" => view! { <OrdersAdmin outcome /> }.into_any(),
            "notifications" => view! { <NotificationsAdmin outcome /> }.into_any(),
            "events" => view! { <EventsAdmin outcome /> }.into_any(),
            "users" => view! { <UsersAdmin outcome /> }.into_any(),
            _ => view! { <ProductsAdmin outcome /> }.into_any(),
        }}
    }
}

/// A list that reads again after every action (defined before the screens,
/// which use it).
macro_rules! listing {
    ($outcome:expr, $load:expr, $title:expr, $render:expr) => {{
        let outcome: Outcome = $outcome;
        let data = LocalResource::new(move || {
            outcome.version.get();
            $load
        });
        view! { <Loaded data loading="Loading…" failed=$title render=$render /> }
    }};
}

mod accounts;
mod emails;
mod events;
mod orders;
mod products;

use accounts::UsersAdmin;
use emails::NotificationsAdmin;
use events::EventsAdmin;
use orders::OrdersAdmin;
use products::ProductsAdmin;

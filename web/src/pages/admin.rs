//! `/admin`: the console of the people who run the shop — products (create,
//! edit, set and adjust stock, deactivate and restore), orders (every status, the allowed
//! moves, each order's timeline), failed emails (retry), dead events
//! (requeue) and accounts (deactivate, reactivate). Shown only to admins;
//! every call is checked again by the service that owns the data.

use leptos::{prelude::*, task::spawn_local};
use leptos_router::{components::A, hooks::use_params_map};
use shop_types::{Order, OrderStatus, Product, Role, User};

use super::orders::steps;
use crate::{
    api::{self, ApiError},
    components::ui::{
        BUTTON, BUTTON_SECONDARY, CARD, Failed, INPUT, LABEL, LINK, Loading, Notice, PageTitle,
        local_time, money,
    },
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

/// A list that reads again after every action.
macro_rules! listing {
    ($outcome:expr, $load:expr, $title:expr, $render:expr) => {{
        let outcome: Outcome = $outcome;
        let data = LocalResource::new(move || {
            outcome.version.get();
            $load
        });
        view! {
            <Transition fallback=|| view! { <Loading label="Loading…" /> }>
                <ErrorBoundary fallback=move |errors| {
                    view! {
                        <Failed errors title=$title retry=Callback::new(move |()| data.refetch()) />
                    }
                }>
                    {move || Suspend::new(async move { data.await.map($render) })}
                </ErrorBoundary>
            </Transition>
        }
    }};
}

#[component]
fn ProductsAdmin(outcome: Outcome) -> impl IntoView {
    let name = RwSignal::new(String::new());
    let sku = RwSignal::new(String::new());
    let price = RwSignal::new(String::new());
    let stock = RwSignal::new(String::from("0"));
    let category = RwSignal::new(String::new());
    let create = move |ev: leptos::ev::SubmitEvent| {
        ev.prevent_default();
        let body = serde_json::json!({
            "name": name.get_untracked(),
            "sku": sku.get_untracked(),
            "price": price.get_untracked(),
            "stock_quantity": stock.get_untracked().parse::<i64>().unwrap_or(-1),
            "category": Some(category.get_untracked()).filter(|c| !c.trim().is_empty()),
        });
        outcome.run(
            |p: &Product| format!("Created {} (#{})", p.name, p.id),
            async move { api::admin::create_product(&body).await },
        );
    };
    let field = |id: &'static str, label: &'static str, value: RwSignal<String>| {
        view! {
            <div>
                <label for=id class=LABEL>{label}</label>
                <input
                    id=id
                    class=INPUT
                    prop:value=move || value.get()
                    on:input=move |ev| value.set(event_target_value(&ev))
                />
            </div>
        }
    };
    view! {
        <form class=format!("{CARD} grid gap-3 sm:grid-cols-6 items-end") on:submit=create data-testid="admin-new-product">
            <div class="sm:col-span-2">{field("admin-new-name", "Name", name)}</div>
            {field("admin-new-sku", "SKU", sku)}
            {field("admin-new-price", "Price", price)}
            {field("admin-new-stock", "Stock", stock)}
            {field("admin-new-category", "Category", category)}
            <button type="submit" class=BUTTON data-testid="admin-create">"Create product"</button>
        </form>
        {listing!(
            outcome,
            api::admin::products(),
            "The products could not be loaded",
            move |list: shop_types::ProductList| view! {
                <table class=format!("{CARD} w-full text-left text-sm [&_td]:px-3 [&_th]:px-3 [&_th]:py-2") data-testid="admin-products">
                    <thead class="text-xs text-slate-500 uppercase">
                        <tr><th>"Product"</th><th>"SKU"</th><th class="text-right">"Price"</th><th>"Stock: set, or add/remove"</th><th>"State"</th></tr>
                    </thead>
                    <tbody class="divide-y divide-slate-100">
                        {list.items.into_iter().map(|p| view! { <ProductRow product=p outcome /> }).collect_view()}
                    </tbody>
                </table>
            }
        )}
    }
}

#[component]
fn ProductRow(product: Product, outcome: Outcome) -> impl IntoView {
    let id = product.id;
    let stock = RwSignal::new(product.stock_quantity.to_string());
    let delta = RwSignal::new(String::new());
    let name_edit = RwSignal::new(product.name.clone());
    let price_edit = RwSignal::new(product.price.to_string());
    let active = product.is_active;
    let adjust = move |_| {
        let Ok(d) = delta.get_untracked().trim().parse::<i32>() else {
            outcome.message.set(Some((
                false,
                "Units must be a whole number, e.g. 5 or -2".into(),
            )));
            return;
        };
        outcome.run(
            move |p: &Product| format!("Stock of {} is now {}", p.name, p.stock_quantity),
            api::admin::adjust_stock(id, d),
        );
    };
    let save_edit = move |_| {
        let (name, price) = (name_edit.get_untracked(), price_edit.get_untracked());
        outcome.run(
            |p: &Product| format!("Saved {} at {}", p.name, money(p.price)),
            async move { api::admin::edit_product(id, &name, &price).await },
        );
    };
    let save = move |_| {
        let Ok(q) = stock.get_untracked().trim().parse::<i32>() else {
            outcome
                .message
                .set(Some((false, "Stock must be a whole number".into())));
            return;
        };
        outcome.run(
            move |p: &Product| format!("Stock of {} is now {}", p.name, p.stock_quantity),
            api::admin::set_stock(id, q),
        );
    };
    let name = product.name.clone();
    let toggle = move |_| {
        let name = name.clone();
        outcome.run(
            move |()| {
                if active {
                    format!("{name} is deactivated")
                } else {
                    format!("{name} is back on sale")
                }
            },
            api::admin::set_product_active(id, !active),
        );
    };
    view! {
        <tr data-testid="admin-product-row" data-product-id=id data-active=active.to_string()>
            <td class="py-2">
                <label class="sr-only" for=format!("name-{id}")>"Name"</label>
                <input
                    id=format!("name-{id}")
                    data-testid="admin-name-input"
                    class="w-40 rounded-md px-2 py-1 ring-1 ring-slate-300"
                    prop:value=move || name_edit.get()
                    on:input=move |ev| name_edit.set(event_target_value(&ev))
                />
            </td>
            <td>{product.sku}</td>
            <td class="text-right tabular-nums">
                <label class="sr-only" for=format!("price-{id}")>"Price"</label>
                <input
                    id=format!("price-{id}")
                    data-testid="admin-price-input"
                    class="w-24 rounded-md px-2 py-1 text-right ring-1 ring-slate-300"
                    prop:value=move || price_edit.get()
                    on:input=move |ev| price_edit.set(event_target_value(&ev))
                />
                <button type="button" class=SMALL_BUTTON data-testid="admin-product-save" on:click=save_edit>"Save"</button>
            </td>
            <td>
                <label class="sr-only" for=format!("stock-{id}")>"Stock"</label>
                <input
                    id=format!("stock-{id}")
                    data-testid="admin-stock-input"
                    class="w-20 rounded-md px-2 py-1 ring-1 ring-slate-300"
                    prop:value=move || stock.get()
                    on:input=move |ev| stock.set(event_target_value(&ev))
                />
                <button type="button" class=SMALL_BUTTON data-testid="admin-stock-save" on:click=save>"Set"</button>
                <label class="sr-only" for=format!("delta-{id}")>"Units to add or remove"</label>
                <input
                    id=format!("delta-{id}")
                    data-testid="admin-adjust-input"
                    placeholder="±"
                    class="ml-2 w-16 rounded-md px-2 py-1 ring-1 ring-slate-300"
                    prop:value=move || delta.get()
                    on:input=move |ev| delta.set(event_target_value(&ev))
                />
                <button type="button" class=SMALL_BUTTON data-testid="admin-adjust-save" on:click=adjust>"Adjust"</button>
            </td>
            <td>
                <button type="button" class=SMALL_BUTTON data-testid="admin-product-toggle" on:click=toggle>
                    {if active { "Deactivate" } else { "Restore" }}
                </button>
            </td>
        </tr>
    }
}

const NEXT: [OrderStatus; 4] = [
    OrderStatus::Confirmed,
    OrderStatus::Shipped,
    OrderStatus::Delivered,
    OrderStatus::Cancelled,
];

const FILTERS: [Option<OrderStatus>; 6] = [
    None,
    Some(OrderStatus::Pending),
    Some(OrderStatus::Confirmed),
    Some(OrderStatus::Shipped),
    Some(OrderStatus::Delivered),
    Some(OrderStatus::Cancelled),
];

#[component]
fn OrdersAdmin(outcome: Outcome) -> impl IntoView {
    let filter = RwSignal::new(None::<OrderStatus>);
    view! {
        <div class="flex flex-wrap gap-2" role="group" aria-label="Order status">
            {FILTERS
                .iter()
                .map(|f| {
                    let f = *f;
                    let label = f.map_or("all", |s| s.as_str());
                    view! {
                        <button
                            type="button"
                            data-testid=format!("admin-filter-{label}")
                            aria-pressed=move || (filter.get() == f).to_string()
                            class="rounded-full px-3 py-1 text-xs font-semibold ring-1 ring-slate-300 aria-[pressed=true]:bg-slate-800 aria-[pressed=true]:text-white"
                            on:click=move |_| filter.set(f)
                        >
                            {label}
                        </button>
                    }
                })
                .collect_view()}
        </div>
        {move || {
            let status = filter.get();
            listing!(
                outcome,
                api::admin::orders(status),
                "The orders could not be loaded",
                move |orders: Vec<Order>| view! {
                    <ul class="space-y-3" data-testid="admin-orders">
                        {if orders.is_empty() {
                            view! { <li class="text-slate-500">"No orders."</li> }.into_any()
                        } else {
                            orders.into_iter().map(|o| view! { <OrderAdminRow order=o outcome /> }).collect_view().into_any()
                        }}
                    </ul>
                }
            )
        }}
    }
}

#[component]
fn OrderAdminRow(order: Order, outcome: Outcome) -> impl IntoView {
    let id = order.id;
    let timeline = steps(&order, &[]);
    let moves: Vec<OrderStatus> = NEXT
        .into_iter()
        .filter(|n| order.status != OrderStatus::Pending && order.status.can_move_to(*n))
        .collect();
    view! {
        <li class=CARD data-testid="admin-order" data-order-id=id data-status=order.status.as_str()>
            <div class="flex flex-wrap items-center gap-3">
                <span class="font-semibold">{format!("Order #{id}")}</span>
                <span class="text-sm text-slate-500">{format!("customer #{}", order.user_id)}</span>
                <span class="rounded-full bg-slate-100 px-2 py-0.5 text-xs font-semibold">{order.status.as_str()}</span>
                <span class="font-semibold tabular-nums">{money(order.total_amount)}</span>
                <span class="ml-auto flex gap-2">
                    {moves
                        .into_iter()
                        .map(|to| {
                            view! {
                                <button
                                    type="button"
                                    class=SMALL_BUTTON
                                    data-testid="admin-move"
                                    data-to=to.as_str()
                                    on:click=move |_| {
                                        outcome.run(
                                            |o: &Order| format!("Order #{} is now {}", o.id, o.status),
                                            api::admin::move_order(id, to),
                                        )
                                    }
                                >
                                    {format!("Mark {}", to.as_str())}
                                </button>
                            }
                        })
                        .collect_view()}
                </span>
            </div>
            <ol class="mt-2 flex flex-wrap gap-x-4 text-xs text-slate-600" data-testid="admin-order-timeline">
                {timeline
                    .into_iter()
                    .map(|s| view! { <li data-step=s.key>{format!("{} {}", s.label, local_time(s.at))}</li> })
                    .collect_view()}
            </ol>
        </li>
    }
}

#[component]
fn NotificationsAdmin(outcome: Outcome) -> impl IntoView {
    listing!(
        outcome,
        api::admin::failed_notifications(),
        "The failed emails could not be loaded",
        move |list: shop_types::NotificationList| view! {
            <ul class="space-y-2" data-testid="admin-failed-notifications">
                {if list.notifications.is_empty() {
                    view! { <li class="text-slate-500">"No failed emails."</li> }.into_any()
                } else {
                    list.notifications.into_iter().map(|n| {
                        let id = n.id;
                        view! {
                            <li class=format!("{CARD} flex flex-wrap items-center gap-3") data-testid="admin-notification" data-notification-id=id>
                                <span class="font-medium">{n.subject}</span>
                                <span class="text-sm text-slate-500">{n.recipient_email}</span>
                                <span class="text-sm text-slate-500">{local_time(n.created_at)}</span>
                                <button type="button" class=format!("{SMALL_BUTTON} ml-auto") data-testid="admin-retry"
                                    on:click=move |_| outcome.run(
                                        |n: &shop_types::Notification| format!("Email #{} is {:?}", n.id, n.status).to_lowercase(),
                                        api::admin::retry_notification(id),
                                    )>
                                    "Retry"
                                </button>
                            </li>
                        }
                    }).collect_view().into_any()
                }}
            </ul>
        }
    )
}

#[component]
fn EventsAdmin(outcome: Outcome) -> impl IntoView {
    listing!(
        outcome,
        api::admin::outbox(),
        "The event backlog could not be loaded",
        move |backlog: serde_json::Value| {
            let dead = backlog["dead_events"]
                .as_array()
                .cloned()
                .unwrap_or_default();
            view! {
                <p class="text-sm text-slate-600" data-testid="admin-backlog">
                    {format!("{} waiting to be published, {} dead", backlog["waiting"], backlog["dead"])}
                </p>
                <ul class="space-y-2" data-testid="admin-dead-events">
                    {dead.into_iter().map(|e| {
                        let id = e["id"].as_i64().unwrap_or_default();
                        view! {
                            <li class=format!("{CARD} flex flex-wrap items-center gap-3") data-testid="admin-dead-event" data-event-id=id>
                                <span class="font-medium">{format!("#{id} {}", e["event_type"].as_str().unwrap_or(""))}</span>
                                <span class="text-sm text-slate-500">{e["last_error"].as_str().unwrap_or("").to_owned()}</span>
                                <button type="button" class=format!("{SMALL_BUTTON} ml-auto") data-testid="admin-requeue"
                                    on:click=move |_| outcome.run(move |()| format!("Event #{id} is back in line"), api::admin::requeue(id))>
                                    "Requeue"
                                </button>
                            </li>
                        }
                    }).collect_view()}
                </ul>
            }
        }
    )
}

#[component]
fn UsersAdmin(outcome: Outcome) -> impl IntoView {
    listing!(
        outcome,
        api::admin::users(),
        "The accounts could not be loaded",
        move |list: shop_types::UserList| view! {
            <table class=format!("{CARD} w-full text-left text-sm [&_td]:px-3 [&_th]:px-3 [&_th]:py-2") data-testid="admin-users">
                <thead class="text-xs text-slate-500 uppercase">
                    <tr><th>"#"</th><th>"Email"</th><th>"Username"</th><th>"Role"</th><th>"Access"</th></tr>
                </thead>
                <tbody class="divide-y divide-slate-100">
                    {list.users.into_iter().map(|u| view! { <UserRow user=u outcome /> }).collect_view()}
                </tbody>
            </table>
        }
    )
}

#[component]
fn UserRow(user: User, outcome: Outcome) -> impl IntoView {
    let (id, active) = (user.id, user.is_active);
    view! {
        <tr data-testid="admin-user" data-user-id=id data-active=active.to_string()>
            <td class="py-2">{id}</td>
            <td>{user.email}</td>
            <td>{user.username}</td>
            <td>{user.role.as_str()}</td>
            <td>
                <button type="button" class=if active { SMALL_BUTTON } else { BUTTON_SECONDARY } data-testid="admin-user-toggle"
                    on:click=move |_| outcome.run(
                        |u: &User| format!("{} can {} sign in", u.email, if u.is_active { "now" } else { "no longer" }),
                        api::admin::set_user_active(id, !active),
                    )>
                    {if active { "Deactivate" } else { "Reactivate" }}
                </button>
            </td>
        </tr>
    }
}

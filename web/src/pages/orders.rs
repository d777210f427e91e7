//! `/orders`: the signed-in customer's orders, newest first. Each row opens
//! to the lines as they were frozen when the order was placed. A pushed
//! notification refreshes the list, so a status change shows without reload.

use leptos::prelude::*;
use leptos_router::{components::A, hooks::use_query_map};
use shop_types::{Order, OrderStatus};

use crate::{
    api,
    components::ui::{
        BUTTON, CARD, FOCUS, Failed, LINK, Loading, Notice, PageTitle, local_time, money,
    },
    session::{Auth, use_session},
    toasts::use_toasts,
};

#[component]
pub fn OrdersPage() -> impl IntoView {
    let session = use_session();
    view! {
        <section aria-labelledby="orders-title" class="space-y-6">
            <PageTitle id="orders-title" title="Your orders" />
            {move || match session.auth() {
                Auth::Checking => view! { <Loading label="Checking your session…" /> }.into_any(),
                Auth::Guest => view! { <SignInToSee /> }.into_any(),
                Auth::User(_) => view! { <OrderList /> }.into_any(),
            }}
        </section>
    }
}

#[component]
fn SignInToSee() -> impl IntoView {
    view! {
        <div data-testid="orders-signin" class=format!("{CARD} space-y-3")>
            <p class="text-slate-600">"Sign in to see your orders."</p>
            <A href="/login?next=/orders" attr:class=BUTTON>
                "Sign in"
            </A>
        </div>
    }
}

#[component]
fn OrderList() -> impl IntoView {
    let toasts = use_toasts();
    let query = use_query_map();
    let placed =
        query.with_untracked(|q| q.get_str("placed").and_then(|id| id.parse::<i64>().ok()));
    let orders = LocalResource::new(move || {
        toasts.received();
        api::orders()
    });
    // Which rows are open, kept here so a refresh (after a push) keeps them
    // open. The order just placed starts open.
    let open = RwSignal::new(placed.into_iter().collect::<Vec<i64>>());

    view! {
        {placed
            .map(|id| {
                view! {
                    <div data-testid="order-placed" data-order-id=id>
                        <Notice tone="success">
                            {format!(
                                "Thank you! Order #{id} is placed. A confirmation email is on its way.",
                            )}
                        </Notice>
                    </div>
                }
            })}
        <Transition fallback=|| view! { <Loading label="Loading your orders…" /> }>
            <ErrorBoundary fallback=move |errors| {
                view! {
                    <Failed
                        errors
                        title="Your orders could not be loaded"
                        retry=Callback::new(move |()| orders.refetch())
                    />
                }
            }>
                {move || Suspend::new(async move {
                    orders.await.map(|orders| view! { <Orders orders open /> })
                })}
            </ErrorBoundary>
        </Transition>
    }
}

#[component]
fn Orders(orders: Vec<Order>, open: RwSignal<Vec<i64>>) -> impl IntoView {
    if orders.is_empty() {
        return view! {
            <div data-testid="orders-empty" class=format!("{CARD} text-center")>
                <p class="text-slate-600">"You have not ordered anything yet."</p>
                <p class="mt-3">
                    <A href="/" attr:class=LINK>
                        "Browse the products"
                    </A>
                </p>
            </div>
        }
        .into_any();
    }
    view! {
        <ul class="space-y-3" data-testid="order-list">
            {orders
                .into_iter()
                .map(|order| view! { <OrderRow order open /> })
                .collect_view()}
        </ul>
    }
    .into_any()
}

#[component]
fn OrderRow(order: Order, open: RwSignal<Vec<i64>>) -> impl IntoView {
    let id = order.id;
    let expanded = move || open.with(|ids| ids.contains(&id));
    let toggle = move |_| {
        open.update(|ids| match ids.iter().position(|&i| i == id) {
            Some(at) => {
                ids.remove(at);
            }
            None => ids.push(id),
        })
    };
    let panel = format!("order-{id}-lines");
    let units: i32 = order.items.iter().map(|i| i.quantity).sum();
    let (badge, colours) = status_look(order.status);

    view! {
        <li
            data-testid="order"
            data-order-id=id
            data-status=order.status.as_str()
            class="overflow-hidden rounded-xl bg-white shadow-sm ring-1 ring-slate-200"
        >
            <h2>
                <button
                    type="button"
                    data-testid="order-toggle"
                    aria-expanded=move || expanded().to_string()
                    aria-controls=panel.clone()
                    class=format!("flex w-full flex-wrap items-center gap-x-4 gap-y-1 p-4 text-left hover:bg-slate-50 {FOCUS} focus-visible:-outline-offset-2")
                    on:click=toggle
                >
                    <span class="font-semibold">{format!("Order #{id}")}</span>
                    <span class="text-sm text-slate-500">{local_time(order.created_at)}</span>
                    <span class=format!("rounded-full px-2.5 py-0.5 text-xs font-semibold {colours}")>{badge}</span>
                    <span class="ml-auto flex items-center gap-4">
                        <span class="text-sm text-slate-500">
                            {if units == 1 { "1 item".to_owned() } else { format!("{units} items") }}
                        </span>
                        <span data-testid="order-summary-total" class="font-semibold tabular-nums">
                            {money(order.total_amount)}
                        </span>
                        <span
                            aria-hidden="true"
                            class="text-slate-400 transition-transform"
                            class:rotate-180=expanded
                        >
                            "▾"
                        </span>
                    </span>
                </button>
            </h2>
            <div id=panel hidden=move || !expanded() class="border-t border-slate-200 px-4 pb-4">
                <table class="mt-3 w-full text-left text-sm">
                    <caption class="sr-only">{format!("Items of order #{id}")}</caption>
                    <thead class="text-xs text-slate-500 uppercase">
                        <tr>
                            <th scope="col" class="py-2 pr-2 font-medium">"Product"</th>
                            <th scope="col" class="px-2 py-2 text-right font-medium">"Price"</th>
                            <th scope="col" class="px-2 py-2 text-right font-medium">"Qty"</th>
                            <th scope="col" class="py-2 pl-2 text-right font-medium">"Subtotal"</th>
                        </tr>
                    </thead>
                    <tbody class="divide-y divide-slate-100">
                        {order
                            .items
                            .into_iter()
                            .map(|item| {
                                view! {
                                    <tr
                                        data-testid="order-line"
                                        data-product-id=item.product_id
                                        data-quantity=item.quantity
                                    >
                                        <td class="py-2 pr-2" data-testid="order-line-name">{item.product_name}</td>
                                        <td class="px-2 py-2 text-right tabular-nums">{money(item.product_price)}</td>
                                        <td class="px-2 py-2 text-right tabular-nums">{item.quantity}</td>
                                        <td class="py-2 pl-2 text-right font-medium tabular-nums" data-testid="order-line-subtotal">
                                            {money(item.subtotal)}
                                        </td>
                                    </tr>
                                }
                            })
                            .collect_view()}
                    </tbody>
                    <tfoot>
                        <tr class="border-t border-slate-200">
                            <th scope="row" colspan="3" class="pt-3 text-right font-semibold">"Total"</th>
                            <td data-testid="order-total" class="pt-3 pl-2 text-right font-semibold tabular-nums">
                                {money(order.total_amount)}
                            </td>
                        </tr>
                    </tfoot>
                </table>
            </div>
        </li>
    }
}

fn status_look(status: OrderStatus) -> (&'static str, &'static str) {
    let colours = match status {
        OrderStatus::Pending => "bg-amber-100 text-amber-900",
        OrderStatus::Confirmed => "bg-indigo-100 text-indigo-800",
        OrderStatus::Shipped => "bg-sky-100 text-sky-800",
        OrderStatus::Delivered => "bg-emerald-100 text-emerald-800",
        OrderStatus::Cancelled => "bg-slate-200 text-slate-700",
    };
    (status.as_str(), colours)
}

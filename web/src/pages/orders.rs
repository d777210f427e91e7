//! `/orders`: the signed-in customer's orders, newest first. Each row opens
//! to the lines as they were frozen when the order was placed, and to its
//! timeline: placed, confirmed, emailed, and every status change after. A
//! pushed notification refreshes the list, so a status change shows without
//! reload.

use chrono::{DateTime, Utc};
use leptos::prelude::*;
use leptos_router::{components::A, hooks::use_query_map};
use shop_types::{Notification, NotificationStatus, NotificationType, Order, OrderStatus};

use crate::{
    api,
    components::ui::{
        BUTTON, CARD, FOCUS, LINK, Loaded, Loading, Notice, PageTitle, local_time, money,
    },
    session::{Auth, use_session},
    toasts::use_toasts,
};

#[component]
pub fn OrdersPage() -> impl IntoView {
    crate::components::ui::page_title("Your orders");
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
        async move {
            let (orders, emails) = futures::future::join(api::orders(), api::notifications()).await;
            // Without the emails the timelines still show every status.
            orders.map(|orders| (orders, emails.map(|e| e.notifications).unwrap_or_default()))
        }
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
        <Loaded
            data=orders
            loading="Loading your orders…"
            failed="Your orders could not be loaded"
            render=move |(orders, emails)| view! { <Orders orders emails open /> }
        />
    }
}

#[component]
fn Orders(
    orders: Vec<Order>,
    emails: Vec<Notification>,
    open: RwSignal<Vec<i64>>,
) -> impl IntoView {
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
                .map(|order| {
                    let steps = steps(&order, &emails);
                    view! { <OrderRow order steps open /> }
                })
                .collect_view()}
        </ul>
    }
    .into_any()
}

#[component]
fn OrderRow(order: Order, steps: Vec<Step>, open: RwSignal<Vec<i64>>) -> impl IntoView {
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
                <h3 class="mt-4 text-xs font-medium text-slate-500 uppercase">"Timeline"</h3>
                <ol data-testid="order-timeline" class="mt-2 space-y-1 border-l-2 border-slate-200 pl-4 text-sm">
                    {steps
                        .into_iter()
                        .map(|step| {
                            view! {
                                <li data-testid="timeline-step" data-step=step.key>
                                    <span class="font-medium">{step.label}</span>
                                    <span class="ml-2 text-slate-500">{local_time(step.at)}</span>
                                </li>
                            }
                        })
                        .collect_view()}
                </ol>
            </div>
        </li>
    }
}

/// One line of an order's timeline.
#[derive(Debug, Clone, PartialEq)]
pub struct Step {
    /// `placed`, a status, `emailed` or `email-failed`.
    pub key: &'static str,
    pub label: String,
    pub at: DateTime<Utc>,
}

/// The order's statuses and its emails, oldest first.
pub fn steps(order: &Order, emails: &[Notification]) -> Vec<Step> {
    let mut steps: Vec<Step> = order
        .timeline
        .iter()
        .map(|e| {
            let (key, label) = match e.status {
                OrderStatus::Pending => ("placed", "Placed"),
                OrderStatus::Confirmed => ("confirmed", "Confirmed"),
                OrderStatus::Shipped => ("shipped", "Shipped"),
                OrderStatus::Delivered => ("delivered", "Delivered"),
                OrderStatus::Cancelled => ("cancelled", "Cancelled"),
            };
            Step {
                key,
                label: label.to_owned(),
                at: e.at,
            }
        })
        .collect();
    steps.extend(
        emails
            .iter()
            .filter(|n| n.order_id == Some(order.id))
            .map(|n| {
                let what = match n.kind {
                    NotificationType::OrderConfirmation => "Confirmation",
                    NotificationType::OrderStatusUpdate => "Status update",
                };
                match n.status {
                    NotificationStatus::Sent => Step {
                        key: "emailed",
                        label: format!("{what} emailed to {}", n.recipient_email),
                        at: n.created_at,
                    },
                    NotificationStatus::Failed => Step {
                        key: "email-failed",
                        label: format!("{what} email could not be delivered"),
                        at: n.created_at,
                    },
                    NotificationStatus::Sending => Step {
                        key: "email-sending",
                        label: format!("{what} email is being sent"),
                        at: n.created_at,
                    },
                }
            }),
    );
    steps.sort_by_key(|s| s.at);
    steps
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

#[cfg(test)]
mod tests {
    use super::*;
    use chrono::TimeZone;
    use shop_types::{Money, OrderEvent};

    fn at(minute: u32) -> DateTime<Utc> {
        Utc.with_ymd_and_hms(2026, 12, 2, 10, minute, 0).unwrap()
    }

    #[test]
    fn statuses_and_emails_are_merged_oldest_first() {
        let order = Order {
            id: 7,
            user_id: 1,
            status: OrderStatus::Shipped,
            total_amount: Money::from_cents(1000),
            created_at: at(0),
            updated_at: at(9),
            items: Vec::new(),
            timeline: [
                (OrderStatus::Pending, 0),
                (OrderStatus::Confirmed, 1),
                (OrderStatus::Shipped, 9),
            ]
            .into_iter()
            .map(|(status, m)| OrderEvent { status, at: at(m) })
            .collect(),
        };
        let email = |id, order_id, kind, status, m| Notification {
            id,
            kind,
            recipient_email: "ann@example.com".into(),
            subject: "s".into(),
            order_id: Some(order_id),
            user_id: Some(1),
            status,
            error_message: None,
            created_at: at(m),
        };
        let emails = [
            email(
                1,
                7,
                NotificationType::OrderConfirmation,
                NotificationStatus::Sent,
                2,
            ),
            email(
                2,
                8,
                NotificationType::OrderConfirmation,
                NotificationStatus::Sent,
                3,
            ),
            email(
                3,
                7,
                NotificationType::OrderStatusUpdate,
                NotificationStatus::Failed,
                10,
            ),
        ];
        let keys: Vec<&str> = steps(&order, &emails).iter().map(|s| s.key).collect();
        assert_eq!(
            keys,
            ["placed", "confirmed", "emailed", "shipped", "email-failed"]
        );
    }
}

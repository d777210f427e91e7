//! The orders screen: every status, the moves the lifecycle allows (asked
//! of the orders service), each order's timeline.

use leptos::prelude::*;
use shop_types::{Order, OrderStatus};

use super::{Outcome, SMALL_BUTTON};
use crate::{
    api::{self, ApiError},
    components::ui::{CARD, Loaded, local_time, money},
    pages::orders::steps,
};

const FILTERS: [Option<OrderStatus>; 6] = [
    None,
    Some(OrderStatus::Pending),
    Some(OrderStatus::Confirmed),
    Some(OrderStatus::Shipped),
    Some(OrderStatus::Delivered),
    Some(OrderStatus::Cancelled),
];

#[component]
pub fn OrdersAdmin(outcome: Outcome) -> impl IntoView {
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
                async move {
                    // The orders show even when the moves cannot be had.
                    let (orders, lifecycle) =
                        futures::join!(api::admin::orders(status), api::admin::lifecycle());
                    Ok::<_, ApiError>((orders?, lifecycle.ok()))
                },
                "The orders could not be loaded",
                move |(orders, lifecycle): (Vec<Order>, Option<Vec<api::admin::Move>>)| view! {
                    {lifecycle.is_none().then(|| view! {
                        <p class="text-sm text-red-700" data-testid="admin-moves-unavailable">
                            "The allowed moves could not be loaded; reload to try again."
                        </p>
                    })}
                    <ul class="space-y-3" data-testid="admin-orders">
                        {if orders.is_empty() {
                            view! { <li class="text-slate-500">"No orders."</li> }.into_any()
                        } else {
                            orders
                                .into_iter()
                                .map(|o| {
                                    let moves = lifecycle
                                        .as_deref()
                                        .map(|l| api::admin::admin_moves(l, o.status))
                                        .unwrap_or_default();
                                    view! { <OrderAdminRow order=o moves outcome /> }
                                })
                                .collect_view()
                                .into_any()
                        }}
                    </ul>
                }
            )
        }}
    }
}

#[component]
fn OrderAdminRow(order: Order, moves: Vec<OrderStatus>, outcome: Outcome) -> impl IntoView {
    let id = order.id;
    let timeline = steps(&order, &[]);
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

//! The failed-emails screen: retry.

use leptos::prelude::*;

use super::{Outcome, SMALL_BUTTON};
use crate::{
    api,
    components::ui::{CARD, Loaded, local_time},
};

#[component]
pub fn NotificationsAdmin(outcome: Outcome) -> impl IntoView {
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

//! The dead-events screen: requeue.

use leptos::prelude::*;

use super::{Outcome, SMALL_BUTTON};
use crate::{
    api,
    components::ui::{CARD, Loaded},
};

#[component]
pub fn EventsAdmin(outcome: Outcome) -> impl IntoView {
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

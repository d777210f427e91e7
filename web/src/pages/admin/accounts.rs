//! The accounts screen: deactivate and reactivate.

use leptos::prelude::*;
use shop_types::User;

use super::{Outcome, SMALL_BUTTON};
use crate::{
    api,
    components::ui::{BUTTON_SECONDARY, CARD, Loaded},
};

#[component]
pub fn UsersAdmin(outcome: Outcome) -> impl IntoView {
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

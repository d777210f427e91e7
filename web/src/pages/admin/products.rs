//! The products screen: create, edit, set and adjust stock, deactivate and
//! restore.

use leptos::{prelude::*, wasm_bindgen::JsCast};
use shop_types::Product;

use super::{Outcome, SMALL_BUTTON};
use crate::{
    api,
    components::{
        Picture,
        ui::{BUTTON, CARD, INPUT, LABEL, Loaded, money},
    },
};

#[component]
pub fn ProductsAdmin(outcome: Outcome) -> impl IntoView {
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
                        <tr><th>"Picture"</th><th>"Product"</th><th>"SKU"</th><th class="text-right">"Price"</th><th>"Stock: set, or add/remove"</th><th>"State"</th></tr>
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
    let picked = {
        let name = product.name.clone();
        move |ev: leptos::ev::Event| {
            let input: Option<web_sys::HtmlInputElement> =
                ev.target().and_then(|t| t.dyn_into().ok());
            let Some(file) = input
                .as_ref()
                .and_then(|i| i.files())
                .and_then(|f| f.item(0))
            else {
                return;
            };
            let name = name.clone();
            outcome.run(
                move |_: &Product| format!("The picture of {name} is set"),
                api::admin::set_picture(id, file),
            );
        }
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
                <div class="flex items-center gap-2">
                    <Picture image=product.image.clone() alt="" class="w-16 shrink-0 rounded" />
                    <label class=SMALL_BUTTON>
                        "Upload"
                        <span class="sr-only">{format!(" a picture of {}", product.name)}</span>
                        <input
                            type="file"
                            accept="image/webp,image/avif,image/png,image/jpeg"
                            data-testid="admin-picture-input"
                            class="sr-only"
                            on:change=picked
                        />
                    </label>
                </div>
            </td>
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

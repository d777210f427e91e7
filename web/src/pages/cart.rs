//! `/cart`: the cart's lines at today's prices and stock, quantities that
//! cannot pass the stock, and the total.

use leptos::prelude::*;
use leptos_router::components::A;
use shop_types::Product;

use crate::{
    api,
    cart::{self, CartLine, PricedLine, use_cart},
    components::{
        QuantityInput,
        ui::{BUTTON, CARD, FOCUS, LINK, Loaded, PageTitle, money},
    },
};

#[component]
pub fn CartPage() -> impl IntoView {
    crate::components::ui::page_title("Your cart");
    let cart = use_cart();
    let products = cart_products();
    let lines = priced_lines(products);

    view! {
        <section aria-labelledby="cart-title" class="space-y-6">
            <PageTitle id="cart-title" title="Your cart" />
            <Show when=move || !cart.is_empty() fallback=EmptyCart>
                <Loaded
                    data=products
                    loading="Checking prices and stock…"
                    failed="Your cart could not be checked"
                    render=move |_| view! { <CartLines lines /> }
                />
            </Show>
        </section>
    }
}

/// Each cart line's product as the catalogue has it now (`None`: removed).
pub type CartProducts = LocalResource<Result<Vec<(i64, Option<Product>)>, api::ApiError>>;

/// The products of the cart's lines, fetched again whenever a product is
/// added or removed (not when a quantity changes).
pub fn cart_products() -> CartProducts {
    let cart = use_cart();
    let ids = Memo::new(move |_| cart.product_ids());
    LocalResource::new(move || {
        // `try_`: a change that lands while the page is being left (the
        // cart is emptied by a placed order) may re-run this after the page's
        // signals are gone.
        let ids = ids.try_get().unwrap_or_default();
        async move { api::products_by_id(&ids).await }
    })
}

/// The cart's lines at the latest known prices. Made once per page, outside
/// the `Suspense` and `Show` that swap the views reading it, so no view can
/// outlive it.
pub fn priced_lines(products: CartProducts) -> Memo<Vec<PricedLine>> {
    let cart = use_cart();
    Memo::new(move |_| {
        products
            .get()
            .and_then(Result::ok)
            .map(|found| cart::price(&cart.lines(), &found))
            .unwrap_or_default()
    })
}

#[component]
pub fn EmptyCart() -> impl IntoView {
    view! {
        <div data-testid="cart-empty" class=format!("{CARD} text-center")>
            <p class="text-slate-600">"Your cart is empty."</p>
            <p class="mt-3">
                <A href="/" attr:class=LINK>
                    "Browse the products"
                </A>
            </p>
        </div>
    }
}

#[component]
fn CartLines(lines: Memo<Vec<PricedLine>>) -> impl IntoView {
    let total = move || lines.with(|l| cart::total(l));
    let blocked = move || lines.with(|l| l.iter().any(|l| l.problem().is_some()));
    view! {
        <div class="grid gap-6 lg:grid-cols-[2fr_1fr] lg:items-start">
            <ul class="min-w-0 divide-y divide-slate-200 rounded-xl bg-white shadow-sm ring-1 ring-slate-200">
                <For
                    each=move || lines.get()
                    key=|l| l.line.product_id
                    children=move |l| view! { <LineRow id=l.line.product_id product=l.product /> }
                />
            </ul>
            <aside aria-label="Summary" class=format!("{CARD} space-y-4")>
                <div class="flex items-baseline justify-between gap-3">
                    <p class="text-base font-semibold">"Total"</p>
                    <p data-testid="cart-total" class="text-2xl font-semibold tabular-nums">
                        {move || money(total())}
                    </p>
                </div>
                <p class="text-xs text-slate-500">"Prices and stock as of now; the order fixes them."</p>
                <Show
                    when=move || !blocked()
                    fallback=|| {
                        view! {
                            <p data-testid="cart-blocked" class="text-sm text-amber-800">
                                "Fix the marked items to check out."
                            </p>
                        }
                    }
                >
                    <A href="/checkout" attr:class=format!("w-full {BUTTON}") attr:data-testid="checkout-link">
                        "Check out"
                    </A>
                </Show>
            </aside>
        </div>
    }
}

/// One line. Only the quantity, subtotal and warning react to changes, so
/// the quantity buttons keep keyboard focus while they are used.
#[component]
fn LineRow(id: i64, product: Option<Product>) -> impl IntoView {
    let cart = use_cart();
    let (name, price, stock) = match &product {
        Some(p) => (p.name.clone(), Some(p.price), p.stock_quantity),
        None => (format!("Product {id}"), None, 0),
    };
    let quantity = Signal::derive(move || cart.quantity_of(id));
    let priced = Memo::new(move |_| PricedLine {
        line: CartLine {
            product_id: id,
            quantity: quantity.get(),
        },
        product: product.clone(),
    });
    let problem = move || priced.with(PricedLine::problem);
    let remove_label = format!("Remove {name} from the cart");
    let link_text = name.clone();
    view! {
        <li
            data-testid="cart-line"
            data-product-id=id
            data-problem=move || problem().is_some()
            class="flex flex-col gap-3 p-4 sm:flex-row sm:items-center sm:justify-between"
        >
            <div class="min-w-0">
                <A
                    href=format!("/products/{id}")
                    attr:class=format!("rounded font-semibold hover:text-indigo-700 {FOCUS}")
                >
                    {link_text}
                </A>
                <p class="text-sm text-slate-500 tabular-nums">
                    {price.map(|p| format!("{} each", money(p)))}
                </p>
                <p data-testid="line-problem" aria-live="polite" class="mt-1 text-sm font-medium text-amber-800">
                    {move || problem().map(|p| p.describe())}
                </p>
            </div>
            <div class="flex items-center justify-between gap-3 sm:justify-end sm:gap-4">
                {(stock > 0)
                    .then(|| {
                        view! {
                            <QuantityInput
                                label=name.clone()
                                value=quantity
                                max=Signal::stored(stock)
                                on_change=Callback::new(move |q| cart.set(id, q, stock))
                            />
                        }
                    })}
                <p data-testid="line-subtotal" class="w-20 text-right font-semibold tabular-nums sm:w-24">
                    {move || priced.with(PricedLine::subtotal).map(money)}
                </p>
                <button
                    type="button"
                    data-testid="remove-line"
                    aria-label=remove_label
                    class=format!("rounded px-2 py-1 text-sm font-medium text-red-700 hover:bg-red-50 {FOCUS}")
                    on:click=move |_| cart.remove(id)
                >
                    "Remove"
                </button>
            </div>
        </li>
    }
}

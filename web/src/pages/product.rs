//! `/products/:id`: one product with its description, and a quantity to add.

use leptos::prelude::*;
use leptos_router::{components::A, hooks::use_params_map};
use shop_types::Product;

use crate::{
    api::{self, ApiError},
    cart::use_cart,
    components::{
        Picture, QuantityInput, StockBadge,
        ui::{BUTTON, CARD, Failed, LINK, money, page_title},
    },
};

#[component]
pub fn ProductPage() -> impl IntoView {
    let params = use_params_map();
    let id =
        Memo::new(move |_| params.with(|p| p.get_str("id").and_then(|id| id.parse::<i64>().ok())));
    let product = LocalResource::new(move || {
        // `try_`: this may re-run while the page is being left.
        let id = id.try_get().flatten();
        async move {
            match id {
                Some(id) => api::product(id).await.map(Some),
                None => Ok(None),
            }
        }
    });

    view! {
        <section class="space-y-6">
            <nav aria-label="Breadcrumb" class="text-sm">
                <A href="/" attr:class=LINK>
                    "← All products"
                </A>
            </nav>
            <Suspense fallback=|| view! { <Skeleton /> }>
                <ErrorBoundary fallback=move |errors| {
                    view! {
                        <Failed
                            errors
                            title="Product unavailable"
                            retry=Callback::new(move |()| product.refetch())
                        />
                    }
                }>
                    {move || Suspend::new(async move {
                        match product.await {
                            Ok(Some(product)) => Ok(view! { <Details product /> }.into_any()),
                            Ok(None) => Ok(view! { <Missing /> }.into_any()),
                            Err(e) if e.status() == Some(404) => Ok(view! { <Missing /> }.into_any()),
                            Err(e) => Err::<AnyView, ApiError>(e),
                        }
                    })}
                </ErrorBoundary>
            </Suspense>
        </section>
    }
}

/// Until the product arrives: its frame at the size the details take, so
/// the page does not jump when they come.
#[component]
fn Skeleton() -> impl IntoView {
    let bar = |class: &'static str| {
        view! {
            <span class=format!("inline-block animate-pulse rounded bg-slate-200 text-transparent select-none {class}")>
                "\u{a0}"
            </span>
        }
    };
    view! {
        <p role="status" data-state="loading" class="sr-only">
            "Loading the product…"
        </p>
        <div
            aria-hidden="true"
            class="grid gap-6 rounded-2xl bg-white p-6 shadow-sm ring-1 ring-slate-200 sm:p-8 md:grid-cols-[2fr_1fr]"
        >
            <div>
                <div class="mb-6 aspect-[4/3] animate-pulse rounded-xl bg-slate-100"></div>
                <p class="text-xs">{bar("w-20")}</p>
                <p class="mt-1 text-2xl sm:text-3xl">{bar("w-64 max-w-full")}</p>
                <p class="mt-1 text-xs">{bar("w-24")}</p>
                <p class="mt-4">{bar("w-full")}</p>
                <p>{bar("w-2/3")}</p>
            </div>
            <div class="space-y-4 rounded-xl bg-slate-50 p-5 ring-1 ring-slate-200">
                <p class="text-2xl">{bar("w-24")}</p>
                <p class="text-sm">{bar("h-9 w-full")}</p>
                <p class="text-sm">{bar("w-28")}</p>
            </div>
        </div>
    }
}

#[component]
fn Missing() -> impl IntoView {
    page_title("Product not found");
    let generation = crate::seo::not_found();
    on_cleanup(move || crate::seo::leave(generation));
    view! {
        <div data-testid="product-missing" class=CARD>
            <h1 class="text-2xl font-bold tracking-tight">"Product not found"</h1>
            <p class="mt-2 text-slate-600">"It may have been removed from the catalogue."</p>
        </div>
    }
}

#[component]
fn Details(product: Product) -> impl IntoView {
    page_title(&product.name);
    let generation = crate::seo::product(&product);
    on_cleanup(move || crate::seo::leave(generation));
    let cart = use_cart();
    let id = product.id;
    let stock = product.stock_quantity;
    let in_cart = move || cart.quantity_of(id);
    let room = Signal::derive(move || (stock - in_cart()).max(0));
    let quantity = RwSignal::new(1);
    let added = RwSignal::new(0);
    let name = product.name.clone();
    let add = {
        let product = product.clone();
        move |_| {
            let n = cart.add(&product, quantity.get_untracked());
            added.set(n);
            quantity.set(1);
        }
    };

    view! {
        <article
            data-testid="product-detail"
            data-product-id=id
            class="grid gap-6 rounded-2xl bg-white p-6 shadow-sm ring-1 ring-slate-200 sm:p-8 md:grid-cols-[2fr_1fr]"
        >
            <div>
                <Picture image=product.image.clone() alt=product.name.clone() eager=true class="mb-6 rounded-xl" />
                <p class="text-xs font-medium tracking-wide text-slate-500 uppercase">
                    {product.category.clone().unwrap_or_default()}
                </p>
                <h1 class="mt-1 text-2xl font-bold tracking-tight sm:text-3xl">{product.name.clone()}</h1>
                <p class="mt-1 font-mono text-xs text-slate-500">{format!("SKU {}", product.sku)}</p>
                <p class="mt-4 whitespace-pre-line text-slate-700">
                    {product.description.clone().unwrap_or_else(|| "No description yet.".to_owned())}
                </p>
            </div>
            <div class="space-y-4 rounded-xl bg-slate-50 p-5 ring-1 ring-slate-200">
                <div class="flex items-center justify-between gap-3">
                    <p data-testid="price" class="text-2xl font-semibold tabular-nums">
                        {money(product.price)}
                    </p>
                    <StockBadge stock />
                </div>
                <Show
                    when=move || { room.get() > 0 }
                    fallback=move || {
                        view! {
                            <p class="text-sm text-slate-600">
                                {if stock <= 0 {
                                    "This product is sold out."
                                } else {
                                    "All available units are in your cart."
                                }}
                            </p>
                        }
                    }
                >
                    <div class="flex flex-wrap items-center gap-3">
                        <QuantityInput
                            label=name.clone()
                            value=quantity
                            max=room
                            on_change=Callback::new(move |q| quantity.set(q))
                        />
                        <button
                            type="button"
                            data-testid="add-to-cart"
                            class=BUTTON
                            on:click=add.clone()
                        >
                            "Add to cart"
                        </button>
                    </div>
                </Show>
                <p aria-live="polite" class="text-sm text-slate-600" data-testid="in-cart">
                    {move || match (added.get(), in_cart()) {
                        (_, 0) => String::new(),
                        (0, n) => format!("{n} in your cart."),
                        (a, n) => format!("Added {a}. {n} in your cart."),
                    }}
                </p>
                <A href="/cart" attr:class=LINK>
                    "Go to your cart"
                </A>
            </div>
        </article>
    }
}

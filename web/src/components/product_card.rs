//! A product in the catalogue grid, and the stock badge product views share.

use leptos::prelude::*;
use leptos_router::components::A;
use shop_types::{Product, ProductImage};

use super::ui::{BUTTON, FOCUS, money};
use crate::cart::use_cart;

/// At or below this many units the badge warns that few are left.
const FEW_LEFT: i32 = 5;

#[component]
pub fn StockBadge(stock: i32) -> impl IntoView {
    let (text, colours) = match stock {
        s if s <= 0 => ("Out of stock".to_owned(), "bg-red-100 text-red-800"),
        s if s <= FEW_LEFT => (format!("Only {s} left"), "bg-amber-100 text-amber-900"),
        s => (format!("{s} in stock"), "bg-emerald-100 text-emerald-800"),
    };
    view! {
        <span
            data-testid="stock"
            data-stock=stock
            class=format!("rounded-full px-2.5 py-0.5 text-xs font-semibold whitespace-nowrap {colours}")
        >
            {text}
        </span>
    }
}

/// A product's picture filling a 4:3 box that keeps its room before the
/// picture arrives (and when there is none). `eager` for what the first
/// screen shows; the rest loads as it scrolls into view.
#[component]
pub fn Picture(
    image: Option<ProductImage>,
    /// Empty when the product's name is beside it.
    #[prop(into)]
    alt: String,
    #[prop(optional)] eager: bool,
    #[prop(into)] class: String,
) -> impl IntoView {
    view! {
        <div class=format!("aspect-[4/3] overflow-hidden bg-slate-100 {class}")>
            {image
                .map(|image| {
                    view! {
                        <img
                            src=format!("/api{}", image.url)
                            width=image.width
                            height=image.height
                            alt=alt
                            loading=if eager { "eager" } else { "lazy" }
                            fetchpriority=if eager { "high" } else { "auto" }
                            decoding="async"
                            class="h-full w-full object-cover"
                        />
                    }
                })}
        </div>
    }
}

#[component]
pub fn ProductCard(
    product: Product,
    /// On the first screen: its picture loads at once.
    #[prop(optional)]
    eager: bool,
) -> impl IntoView {
    let cart = use_cart();
    let id = product.id;
    let stock = product.stock_quantity;
    let in_cart = move || cart.quantity_of(id);
    let can_add = move || in_cart() < stock;
    let label = move || {
        if stock <= 0 {
            "Out of stock".to_owned()
        } else if !can_add() {
            "All in your cart".to_owned()
        } else {
            "Add to cart".to_owned()
        }
    };
    let href = format!("/products/{id}");
    let name = product.name.clone();
    let title = product.name.clone();
    let add = {
        let product = product.clone();
        move |_| {
            cart.add(&product, 1);
        }
    };
    view! {
        <li
            data-testid="product-card"
            data-product-id=id
            data-sku=product.sku.clone()
            class="flex flex-col rounded-xl bg-white p-5 shadow-sm ring-1 ring-slate-200"
        >
            <Picture image=product.image.clone() alt="" eager class="-mx-5 -mt-5 mb-4 rounded-t-xl" />
            <p class="text-xs font-medium tracking-wide text-slate-500 uppercase">
                {product.category.clone().unwrap_or_default()}
            </p>
            <h2 class="mt-1 truncate text-base font-semibold text-slate-900" title=title>
                <A href=href attr:class=format!("rounded hover:text-indigo-700 {FOCUS}") attr:data-testid="product-link">
                    {product.name.clone()}
                </A>
            </h2>
            <p class="mt-2 line-clamp-2 h-10 text-sm text-slate-600">
                {product.description.clone().unwrap_or_default()}
            </p>
            <div class="mt-auto flex items-center justify-between gap-3 pt-4">
                <p data-testid="price" class="text-lg font-semibold tabular-nums">
                    {money(product.price)}
                </p>
                <StockBadge stock />
            </div>
            <button
                type="button"
                data-testid="add-to-cart"
                class=format!("mt-4 w-full {BUTTON}")
                aria-label=move || format!("{}: {}", label(), name)
                disabled=move || !can_add()
                on:click=add
            >
                {label}
            </button>
            <p
                aria-live="polite"
                data-testid="in-cart"
                class="mt-2 h-5 text-center text-xs text-slate-500"
            >
                {move || match in_cart() {
                    0 => String::new(),
                    n => format!("{n} in your cart"),
                }}
            </p>
        </li>
    }
}

/// A card's outline while the catalogue loads: the same boxes and line
/// heights as [`ProductCard`], each line a grey bar.
#[component]
pub fn ProductCardSkeleton() -> impl IntoView {
    let bar = |width: &'static str| {
        view! {
            <span class=format!("inline-block {width} animate-pulse rounded bg-slate-200 text-transparent select-none")>
                "\u{a0}"
            </span>
        }
    };
    view! {
        <li class="flex flex-col rounded-xl bg-white p-5 shadow-sm ring-1 ring-slate-200">
            <div class="-mx-5 -mt-5 mb-4 aspect-[4/3] animate-pulse rounded-t-xl bg-slate-100"></div>
            <p class="text-xs font-medium">{bar("w-16")}</p>
            <h2 class="mt-1 text-base font-semibold">{bar("w-40")}</h2>
            <p class="mt-2 h-10 text-sm">{bar("w-full")}</p>
            <div class="mt-auto flex items-center justify-between gap-3 pt-4">
                <p class="text-lg font-semibold">{bar("w-16")}</p>
                <span class="rounded-full px-2.5 py-0.5 text-xs">{bar("w-14")}</span>
            </div>
            // BUTTON's box: the same padding and line height.
            <span class="mt-4 inline-flex w-full animate-pulse rounded-md bg-slate-200 px-3.5 py-2 text-sm font-semibold text-transparent select-none">
                "\u{a0}"
            </span>
            <p class="mt-2 h-5"></p>
        </li>
    }
}

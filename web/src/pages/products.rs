//! `/`: the catalogue as a grid, with category filter, name search, sort
//! and pages. The filters live in the address (`?category=&q=&sort=&page=`)
//! so a reload, a shared link and the back button keep them.

use std::sync::atomic::{AtomicBool, Ordering};

use leptos::prelude::*;
use leptos_router::{
    NavigateOptions,
    components::A,
    hooks::{use_navigate, use_query_map},
    params::ParamsMap,
};
use shop_types::{PRODUCT_SORT_KEYS, ProductList};

use crate::{
    api::{self, PAGE_SIZE, ProductQuery},
    components::{
        ProductCard, ProductCardSkeleton,
        ui::{BUTTON, BUTTON_SECONDARY, Failed, INPUT, LABEL, LINK, PageTitle},
    },
};

/// Sort choices as shown; the first is the server's default.
const SORTS: [(&str, &str); 5] = [
    ("", "Newest first"),
    ("price", "Price: low to high"),
    ("-price", "Price: high to low"),
    ("name", "Name: A to Z"),
    ("-name", "Name: Z to A"),
];

#[component]
pub fn ProductsPage() -> impl IntoView {
    crate::components::ui::page_title("Products");
    let generation = crate::seo::page(Some("/"));
    on_cleanup(move || crate::seo::leave(generation));
    let params = use_query_map();
    let query = Memo::new(move |_| params.with(query_from));
    let products = LocalResource::new(move || {
        // `try_`: this may re-run while the page is being left.
        let query = query.try_get().unwrap_or_default();
        async move { api::products(&query).await }
    });
    let updating = RwSignal::new(false);

    view! {
        <section aria-labelledby="products-title" class="space-y-6">
            <PageTitle id="products-title" title="Products">
                <p class="text-sm text-slate-500" aria-live="polite">
                    {move || updating.get().then_some("Updating…")}
                </p>
            </PageTitle>
            <Filters query />
            <Transition fallback=|| view! { <Skeleton /> } set_pending=updating>
                <ErrorBoundary fallback=move |errors| {
                    view! {
                        <Failed
                            errors
                            title="Products unavailable"
                            retry=Callback::new(move |()| products.refetch())
                        />
                    }
                }>
                    {move || Suspend::new(async move {
                        products.await.map(|list| view! { <Grid list query=query.get_untracked() /> })
                    })}
                </ErrorBoundary>
            </Transition>
        </section>
    }
}

fn query_from(params: &ParamsMap) -> ProductQuery {
    ProductQuery {
        page: params
            .get_str("page")
            .and_then(|p| p.parse().ok())
            .unwrap_or(1)
            .max(1),
        category: params.get("category").filter(|c| !c.is_empty()),
        name: params
            .get("q")
            .map(|q| q.trim().to_owned())
            .filter(|q| !q.is_empty()),
        sort_by: params
            .get("sort")
            .filter(|s| PRODUCT_SORT_KEYS.contains(&s.as_str())),
    }
}

/// The address of a catalogue page; defaults are left out.
fn href_for(query: &ProductQuery) -> String {
    let mut params = ParamsMap::new();
    for (key, value) in [
        ("category", &query.category),
        ("q", &query.name),
        ("sort", &query.sort_by),
    ] {
        if let Some(value) = value {
            params.insert(key, value.clone());
        }
    }
    if query.page > 1 {
        params.insert("page", query.page.to_string());
    }
    format!("/{}", params.to_query_string())
}

#[component]
fn Filters(query: Memo<ProductQuery>) -> impl IntoView {
    let navigate = use_navigate();
    let categories = LocalResource::new(api::categories);
    let search = RwSignal::new(query.with_untracked(|q| q.name.clone().unwrap_or_default()));
    // Back and forward change the address: the search box follows.
    Effect::new(move |_| search.set(query.with(|q| q.name.clone().unwrap_or_default())));

    // Any change of filter starts again from the first page.
    let go = move |change: &dyn Fn(&mut ProductQuery)| {
        let mut next = query.get_untracked();
        change(&mut next);
        next.page = 1;
        navigate(
            &href_for(&next),
            NavigateOptions {
                scroll: false,
                ..Default::default()
            },
        );
    };
    let on_search = {
        let go = go.clone();
        move |ev: leptos::ev::SubmitEvent| {
            ev.prevent_default();
            let text = search.get_untracked().trim().to_owned();
            go(&move |q| q.name = Some(text.clone()).filter(|t| !t.is_empty()));
        }
    };
    let on_category = {
        let go = go.clone();
        move |ev| {
            let value = event_target_value(&ev);
            go(&move |q| q.category = Some(value.clone()).filter(|v| !v.is_empty()));
        }
    };
    let on_sort = move |ev| {
        let value = event_target_value(&ev);
        go(&move |q| q.sort_by = Some(value.clone()).filter(|v| !v.is_empty()));
    };

    let category_options = move || {
        let current = query.with(|q| q.category.clone());
        let mut known: Vec<(String, Option<i64>)> = categories
            .get()
            .and_then(Result::ok)
            .unwrap_or_default()
            .into_iter()
            .map(|c| (c.category, Some(c.count)))
            .collect();
        // Before the list arrives, a category from the address still shows.
        if let Some(c) = &current
            && !known.iter().any(|(name, _)| name == c)
        {
            known.push((c.clone(), None));
        }
        known
            .into_iter()
            .map(|(name, count)| {
                let selected = current.as_deref() == Some(name.as_str());
                let text = match count {
                    Some(n) => format!("{name} ({n})"),
                    None => name.clone(),
                };
                view! {
                    <option value=name selected=selected>
                        {text}
                    </option>
                }
            })
            .collect_view()
    };
    let sort_options = move || {
        let current = query.with(|q| q.sort_by.clone().unwrap_or_default());
        SORTS
            .iter()
            .map(|(value, text)| {
                view! {
                    <option value=*value selected=current == *value>
                        {*text}
                    </option>
                }
            })
            .collect_view()
    };

    view! {
        <div class="grid gap-4 rounded-xl bg-white p-4 shadow-sm ring-1 ring-slate-200 sm:grid-cols-[2fr_1fr_1fr] sm:items-end">
            <form role="search" class="flex items-end gap-2" on:submit=on_search>
                <div class="min-w-0 flex-1">
                    <label for="product-search" class=LABEL>
                        "Search by name"
                    </label>
                    <input
                        id="product-search"
                        type="search"
                        data-testid="search-input"
                        placeholder="e.g. coffee"
                        autocomplete="off"
                        class=format!("mt-1 {INPUT}")
                        bind:value=search
                    />
                </div>
                <button type="submit" data-testid="search-submit" class=BUTTON>
                    "Search"
                </button>
            </form>
            <div>
                <label for="product-category" class=LABEL>
                    "Category"
                </label>
                <select
                    id="product-category"
                    data-testid="category-filter"
                    class=format!("mt-1 {INPUT}")
                    on:change=on_category
                >
                    <option value="" selected=move || query.with(|q| q.category.is_none())>
                        "All categories"
                    </option>
                    {category_options}
                </select>
            </div>
            <div>
                <label for="product-sort" class=LABEL>
                    "Sort by"
                </label>
                <select
                    id="product-sort"
                    data-testid="sort-select"
                    class=format!("mt-1 {INPUT}")
                    on:change=on_sort
                >
                    {sort_options}
                </select>
            </div>
        </div>
    }
}

/// Until the first page arrives: a page of cards of the real cards' size,
/// so nothing moves when they come (no layout shift).
#[component]
fn Skeleton() -> impl IntoView {
    view! {
        <p role="status" data-state="loading" class="text-sm text-slate-500">
            "Loading products…"
        </p>
        <ul aria-hidden="true" class="grid grid-cols-1 gap-4 sm:grid-cols-2 lg:grid-cols-3">
            {(0..PAGE_SIZE).map(|_| view! { <ProductCardSkeleton /> }).collect_view()}
        </ul>
    }
}

#[component]
fn Grid(list: ProductList, query: ProductQuery) -> impl IntoView {
    let pages = (list.total.max(0) as u32).div_ceil(PAGE_SIZE).max(1);
    let filtered = query.category.is_some() || query.name.is_some();
    let summary = match list.total {
        0 => String::new(),
        1 => "1 product".to_owned(),
        n => format!("{n} products"),
    };
    Effect::new(|_| mark_interactive());

    if list.items.is_empty() {
        let message = if filtered {
            "No products match these filters."
        } else {
            "The catalogue is empty for now."
        };
        return view! {
            <div data-testid="no-products" class="rounded-xl bg-white p-8 text-center shadow-sm ring-1 ring-slate-200">
                <p class="text-slate-600">{message}</p>
                {filtered
                    .then(|| {
                        view! {
                            <p class="mt-3">
                                <A href="/" attr:class=LINK>
                                    "Show all products"
                                </A>
                            </p>
                        }
                    })}
            </div>
        }
        .into_any();
    }

    view! {
        <p class="text-sm text-slate-500" data-testid="result-count">
            {summary}
        </p>
        <ul data-testid="product-grid" class="grid grid-cols-1 gap-4 sm:grid-cols-2 lg:grid-cols-3">
            // The first row (three cards on a wide screen) is on the first
            // screen: its pictures load at once.
            {list
                .items
                .into_iter()
                .enumerate()
                .map(|(i, product)| view! { <ProductCard product eager=i < 3 /> })
                .collect_view()}
        </ul>
        <Pagination query pages />
    }
    .into_any()
}

#[component]
fn Pagination(query: ProductQuery, pages: u32) -> impl IntoView {
    if pages <= 1 {
        return None;
    }
    let page = query.page.min(pages);
    let link = |target: u32, text: &'static str, testid: &'static str| {
        if (1..=pages).contains(&target) && target != page {
            let href = href_for(&ProductQuery {
                page: target,
                ..query.clone()
            });
            view! {
                <A href=href attr:class=BUTTON_SECONDARY attr:data-testid=testid>
                    {text}
                </A>
            }
            .into_any()
        } else {
            view! {
                <span aria-disabled="true" class=format!("{BUTTON_SECONDARY} opacity-50")>
                    {text}
                </span>
            }
            .into_any()
        }
    };
    Some(view! {
        <nav aria-label="Pages" data-testid="pagination" class="flex items-center justify-between gap-3 pt-2">
            {link(page.saturating_sub(1), "Previous", "page-previous")}
            <p class="text-sm text-slate-600">
                {format!("Page {page} of {pages}")}
            </p>
            {link(page + 1, "Next", "page-next")}
        </nav>
    })
}

/// Records, once per page load, when the catalogue first became usable, as
/// a User Timing mark that monitoring and the browser tests read.
fn mark_interactive() {
    static MARKED: AtomicBool = AtomicBool::new(false);
    if MARKED.swap(true, Ordering::Relaxed) {
        return;
    }
    if let Some(performance) = web_sys::window().and_then(|w| w.performance()) {
        let _ = performance.mark("shop:products-interactive");
    }
}

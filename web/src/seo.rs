//! What a page tells search engines and link previews about itself, in the
//! document's head: its description, canonical address, OpenGraph tags and,
//! for a product, schema.org `Product` data (JSON-LD). The app sets them as
//! it renders a page; crawlers that run scripts read them. They never run:
//! JSON-LD is a data block, which the Content-Security-Policy allows.

use std::sync::atomic::{AtomicU64, Ordering};

use leptos::wasm_bindgen::JsCast;
use shop_types::Product;
use web_sys::{Document, Element};

/// The marker of everything set here, so the next page replaces it.
const MARK: &str = "data-shop-meta";

/// Which page set the head last. A page left is cleaned up after the next
/// one has rendered, so its cleanup ([`leave`]) must not undo the newer
/// page's tags.
static GENERATION: AtomicU64 = AtomicU64::new(0);

const DESCRIPTION: &str = "Shop: browse the catalogue, order, and follow your orders live.";

fn document() -> Option<Document> {
    web_sys::window()?.document()
}

fn origin() -> String {
    web_sys::window()
        .and_then(|w| w.location().origin().ok())
        .unwrap_or_default()
}

/// Drops what the previous page set.
fn clear(document: &Document) {
    if let Ok(set) = document.query_selector_all(&format!("[{MARK}]")) {
        for i in 0..set.length() {
            if let Some(node) = set.item(i).and_then(|n| n.dyn_into::<Element>().ok()) {
                node.remove();
            }
        }
    }
}

fn add(document: &Document, tag: &str, attributes: &[(&str, &str)], text: Option<&str>) {
    let (Some(head), Ok(element)) = (document.head(), document.create_element(tag)) else {
        return;
    };
    let _ = element.set_attribute(MARK, "");
    for (name, value) in attributes {
        let _ = element.set_attribute(name, value);
    }
    if let Some(text) = text {
        element.set_text_content(Some(text));
    }
    let _ = head.append_child(&element);
}

fn describe(document: &Document, description: &str) {
    if let Ok(Some(meta)) = document.query_selector("meta[name=\"description\"]") {
        let _ = meta.set_attribute("content", description);
    }
}

/// Starts a page's tags: the previous page's go.
fn begin(document: &Document) -> u64 {
    clear(document);
    GENERATION.fetch_add(1, Ordering::Relaxed) + 1
}

/// For a page's cleanup: its tags go, unless a newer page has set its own.
pub fn leave(generation: u64) {
    if GENERATION.load(Ordering::Relaxed) != generation {
        return;
    }
    if let Some(document) = document() {
        clear(&document);
        describe(&document, DESCRIPTION);
    }
}

/// A product's page: its description, canonical address, OpenGraph card and
/// schema.org `Product` with its price and availability. Returns the
/// generation to [`leave`] with.
pub fn product(product: &Product) -> u64 {
    let Some(document) = document() else { return 0 };
    let generation = begin(&document);
    let origin = origin();
    let url = format!("{origin}/products/{}", product.id);
    let description = product
        .description
        .clone()
        .filter(|d| !d.trim().is_empty())
        .unwrap_or_else(|| format!("{} at the Shop.", product.name));
    let image = product
        .image
        .as_ref()
        .map(|i| format!("{origin}/api{}", i.url));
    describe(&document, &description);
    add(
        &document,
        "link",
        &[("rel", "canonical"), ("href", &url)],
        None,
    );
    let mut og = vec![
        ("og:type", "product".to_owned()),
        ("og:title", product.name.clone()),
        ("og:description", description.clone()),
        ("og:url", url.clone()),
    ];
    if let Some(image) = &image {
        og.push(("og:image", image.clone()));
    }
    for (property, content) in &og {
        add(
            &document,
            "meta",
            &[("property", property), ("content", content)],
            None,
        );
    }
    let available = if product.is_active && product.stock_quantity > 0 {
        "https://schema.org/InStock"
    } else {
        "https://schema.org/OutOfStock"
    };
    let mut data = serde_json::json!({
        "@context": "https://schema.org",
        "@type": "Product",
        "name": product.name,
        "description": description,
        "sku": product.sku,
        "url": url,
        "offers": {
            "@type": "Offer",
            "price": product.price.to_string(),
            "priceCurrency": "USD",
            "availability": available,
            "url": url,
        },
    });
    if let Some(image) = image {
        data["image"] = image.into();
    }
    if let Some(category) = &product.category {
        data["category"] = category.as_str().into();
    }
    // `</` would end the script element early.
    let json = data.to_string().replace("</", "<\\/");
    add(
        &document,
        "script",
        &[("type", "application/ld+json")],
        Some(&json),
    );
    generation
}

/// Any other page: the shop's own description and, for the catalogue, its
/// canonical address. Returns the generation to [`leave`] with.
pub fn page(canonical_path: Option<&str>) -> u64 {
    let Some(document) = document() else { return 0 };
    let generation = begin(&document);
    describe(&document, DESCRIPTION);
    if let Some(path) = canonical_path {
        let url = format!("{}{path}", origin());
        add(
            &document,
            "link",
            &[("rel", "canonical"), ("href", &url)],
            None,
        );
    }
    generation
}

/// A page that shows "not found" (an unknown address or product): crawlers
/// that run the page are told not to index it, as a 404 would tell those
/// that do not. Returns the generation to [`leave`] with.
pub fn not_found() -> u64 {
    let Some(document) = document() else { return 0 };
    let generation = begin(&document);
    describe(&document, DESCRIPTION);
    add(
        &document,
        "meta",
        &[("name", "robots"), ("content", "noindex")],
        None,
    );
    generation
}

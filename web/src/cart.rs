//! The cart: product ids and quantities, kept in `localStorage` so it
//! survives reloads and is shared by the tabs of one browser. Prices and
//! stock are never stored: pages read the products again and show what is
//! true now.

use leptos::{ev, prelude::*};
use serde::{Deserialize, Serialize};
use shop_types::{Money, Product};

const STORAGE_KEY: &str = "shop.cart.v1";

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct CartLine {
    pub product_id: i64,
    pub quantity: i32,
}

/// The lines, with the rules on quantities. Free of the browser so the rules
/// are tested natively.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Lines(Vec<CartLine>);

impl Lines {
    /// Keeps only sensible lines of stored data: positive quantities, one
    /// line per product.
    pub fn from_stored(lines: Vec<CartLine>) -> Self {
        let mut clean = Lines::default();
        for line in lines.into_iter().filter(|l| l.quantity > 0) {
            if clean.quantity_of(line.product_id) == 0 {
                clean.0.push(line);
            }
        }
        clean
    }

    pub fn as_slice(&self) -> &[CartLine] {
        &self.0
    }

    pub fn quantity_of(&self, product_id: i64) -> i32 {
        self.0
            .iter()
            .find(|l| l.product_id == product_id)
            .map_or(0, |l| l.quantity)
    }

    /// Units over all lines.
    pub fn units(&self) -> i32 {
        self.0.iter().map(|l| l.quantity).sum()
    }

    /// Adds up to `quantity` units without passing `stock`; returns how many
    /// were added.
    pub fn add(&mut self, product_id: i64, quantity: i32, stock: i32) -> i32 {
        let held = self.quantity_of(product_id);
        let added = quantity.min(stock - held).max(0);
        if added > 0 {
            self.set(product_id, held + added, stock);
        }
        added
    }

    /// Sets a line's quantity, kept between 1 and `stock`.
    pub fn set(&mut self, product_id: i64, quantity: i32, stock: i32) {
        let quantity = quantity.clamp(1, stock.max(1));
        match self.0.iter_mut().find(|l| l.product_id == product_id) {
            Some(line) => line.quantity = quantity,
            None => self.0.push(CartLine {
                product_id,
                quantity,
            }),
        }
    }

    pub fn remove(&mut self, product_id: i64) {
        self.0.retain(|l| l.product_id != product_id);
    }
}

/// Why a line cannot be ordered as it is.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Problem {
    /// The product was removed from the catalogue.
    Unavailable,
    SoldOut,
    /// Fewer units left than the line asks for.
    TooFew {
        available: i32,
    },
}

impl Problem {
    pub fn describe(&self) -> String {
        match self {
            Self::Unavailable => "No longer available. Remove it to check out.".into(),
            Self::SoldOut => "Sold out. Remove it to check out.".into(),
            Self::TooFew { available } => {
                format!("Only {available} left. Lower the quantity to check out.")
            }
        }
    }
}

/// A cart line with the product as the catalogue has it now.
#[derive(Debug, Clone, PartialEq)]
pub struct PricedLine {
    pub line: CartLine,
    pub product: Option<Product>,
}

impl PricedLine {
    pub fn problem(&self) -> Option<Problem> {
        match &self.product {
            Some(p) if !p.is_active => Some(Problem::Unavailable),
            None => Some(Problem::Unavailable),
            Some(p) if p.stock_quantity <= 0 => Some(Problem::SoldOut),
            Some(p) if p.stock_quantity < self.line.quantity => Some(Problem::TooFew {
                available: p.stock_quantity,
            }),
            Some(_) => None,
        }
    }

    pub fn subtotal(&self) -> Option<Money> {
        self.product
            .as_ref()
            .map(|p| p.price.times(self.line.quantity))
    }
}

/// Pairs each cart line with its product (if it still exists).
pub fn price(lines: &[CartLine], products: &[(i64, Option<Product>)]) -> Vec<PricedLine> {
    lines
        .iter()
        .map(|&line| PricedLine {
            line,
            product: products
                .iter()
                .find(|(id, _)| *id == line.product_id)
                .and_then(|(_, p)| p.clone()),
        })
        .collect()
}

/// What the lines that can be ordered cost at today's prices.
pub fn total(lines: &[PricedLine]) -> Money {
    lines.iter().filter_map(PricedLine::subtotal).sum()
}

/// The cart shared by every page, in context.
#[derive(Clone, Copy)]
pub struct Cart {
    lines: RwSignal<Lines>,
}

impl Cart {
    pub fn provide() -> Self {
        let cart = Self {
            lines: RwSignal::new(load()),
        };
        // Another tab changed the cart: show the same thing here.
        let listener = window_event_listener(ev::storage, move |e| {
            if e.key().as_deref() == Some(STORAGE_KEY) {
                cart.lines.set(load());
            }
        });
        on_cleanup(move || listener.remove());
        provide_context(cart);
        cart
    }

    pub fn lines(&self) -> Vec<CartLine> {
        self.lines.with(|l| l.as_slice().to_vec())
    }

    /// The product ids, sorted: changes only when a product is added or
    /// removed, not when a quantity changes.
    pub fn product_ids(&self) -> Vec<i64> {
        let mut ids: Vec<i64> = self
            .lines
            .with(|l| l.as_slice().iter().map(|l| l.product_id).collect());
        ids.sort_unstable();
        ids
    }

    pub fn is_empty(&self) -> bool {
        self.lines.with(|l| l.as_slice().is_empty())
    }

    pub fn units(&self) -> i32 {
        self.lines.with(Lines::units)
    }

    pub fn quantity_of(&self, product_id: i64) -> i32 {
        self.lines.with(|l| l.quantity_of(product_id))
    }

    pub fn add(&self, product: &Product, quantity: i32) -> i32 {
        self.change(|l| l.add(product.id, quantity, product.stock_quantity))
    }

    pub fn set(&self, product_id: i64, quantity: i32, stock: i32) {
        self.change(|l| l.set(product_id, quantity, stock));
    }

    pub fn remove(&self, product_id: i64) {
        self.change(|l| l.remove(product_id));
    }

    pub fn clear(&self) {
        self.change(|l| *l = Lines::default());
    }

    fn change<R>(&self, f: impl FnOnce(&mut Lines) -> R) -> R {
        let result = self
            .lines
            .try_update(f)
            .expect("the cart lives as long as the app");
        self.lines.with_untracked(save);
        result
    }
}

pub fn use_cart() -> Cart {
    expect_context()
}

fn storage() -> Option<web_sys::Storage> {
    // Unavailable when the visitor blocks site data: the cart then lasts
    // as long as the page.
    web_sys::window()?.local_storage().ok().flatten()
}

fn load() -> Lines {
    storage()
        .and_then(|s| s.get_item(STORAGE_KEY).ok().flatten())
        .and_then(|text| serde_json::from_str::<Vec<CartLine>>(&text).ok())
        .map(Lines::from_stored)
        .unwrap_or_default()
}

fn save(lines: &Lines) {
    let Some(storage) = storage() else { return };
    let written = match serde_json::to_string(lines.as_slice()) {
        Ok(text) => storage.set_item(STORAGE_KEY, &text),
        Err(_) => return,
    };
    if written.is_err() {
        leptos::logging::warn!("the cart could not be saved in this browser");
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn adding_never_passes_the_stock() {
        let mut lines = Lines::default();
        assert_eq!(lines.add(1, 2, 3), 2);
        assert_eq!(lines.add(1, 5, 3), 1);
        assert_eq!(lines.add(1, 1, 3), 0);
        assert_eq!(lines.quantity_of(1), 3);
    }

    #[test]
    fn nothing_is_added_when_sold_out() {
        let mut lines = Lines::default();
        assert_eq!(lines.add(7, 1, 0), 0);
        assert!(lines.as_slice().is_empty());
    }

    #[test]
    fn setting_a_quantity_keeps_it_between_one_and_the_stock() {
        let mut lines = Lines::default();
        lines.add(1, 1, 5);
        lines.set(1, 9, 5);
        assert_eq!(lines.quantity_of(1), 5);
        lines.set(1, 0, 5);
        assert_eq!(lines.quantity_of(1), 1);
    }

    #[test]
    fn stored_data_is_cleaned() {
        let stored = vec![
            CartLine {
                product_id: 1,
                quantity: 2,
            },
            CartLine {
                product_id: 1,
                quantity: 4,
            },
            CartLine {
                product_id: 2,
                quantity: 0,
            },
        ];
        let lines = Lines::from_stored(stored);
        assert_eq!(lines.as_slice().len(), 1);
        assert_eq!(lines.units(), 2);
    }
}

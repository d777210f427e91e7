//! An order's lines: what a valid order request is (its lines by the rules
//! of `shop_types::order::lines`, and the card), checked at the edge of the
//! orders service; how the total comes from the frozen line prices; the
//! simulated payment.

use crate::error::Error;
use shop_types::internal::{ReserveLine, ReservedLine};
use shop_types::{CreateOrderRequest, FieldError, Money, order, text};

/// The card number the payment simulator always declines.
pub const DECLINED_CARD: &str = "4000000000000002";

/// Checks the lines (by the rules of [`shop_types::order::lines`]) and the
/// card, and merges repeated products (sorted by product id).
pub fn lines(req: &CreateOrderRequest) -> Result<Vec<ReserveLine>, Error> {
    // Too few or too many lines: nothing else is looked at.
    order::lines::count(req.items.len())?;
    let merged = order::lines::merge(req.items.iter().map(|l| (l.product_id, l.quantity)));
    let (merged, mut errors) = match merged {
        Ok(merged) => (merged, Vec::new()),
        Err(errors) => (Vec::new(), errors),
    };
    if let Some(card) = &req.payment {
        let loc = ["body", "payment", "card_number"];
        if let Err(e) = text::check(loc, &card.card_number, false) {
            errors.push(e);
        } else if !(1..=64).contains(&card.card_number.chars().count()) {
            errors.push(FieldError::value_error(
                loc,
                "card_number must be 1 to 64 characters",
            ));
        } else if !shop_types::text::is_card_number(&card.card_number) {
            errors.push(FieldError::value_error(
                loc,
                "card_number must be digits only",
            ));
        }
    }
    if !errors.is_empty() {
        return Err(Error::Invalid(errors));
    }
    Ok(merged
        .into_iter()
        .map(|(product_id, quantity)| ReserveLine {
            product_id,
            quantity,
        })
        .collect())
}

/// The simulated payment: one test card is declined, everything else passes.
pub fn payment_approved(req: &CreateOrderRequest) -> bool {
    req.payment.as_ref().is_none_or(|p| {
        let digits: String = p
            .card_number
            .chars()
            .filter(|c| !matches!(c, ' ' | '-'))
            .collect();
        digits != DECLINED_CARD
    })
}

/// The total is the sum of the frozen subtotals, never today's prices.
pub fn total(lines: &[ReservedLine]) -> Money {
    lines.iter().map(ReservedLine::subtotal).sum()
}

/// A stable fingerprint of a request, so a reused `Idempotency-Key` with a
/// different body is noticed.
pub fn fingerprint(lines: &[ReserveLine], approved: bool) -> String {
    let mut s = String::new();
    for l in lines {
        s.push_str(&format!("{}x{};", l.product_id, l.quantity));
    }
    s.push_str(if approved { "pay" } else { "decline" });
    s
}

#[cfg(test)]
mod tests {
    use super::*;
    use shop_types::{OrderLineRequest, PaymentRequest};

    fn req(items: &[(i64, i32)], card: Option<&str>) -> CreateOrderRequest {
        CreateOrderRequest {
            items: items
                .iter()
                .map(|&(product_id, quantity)| OrderLineRequest {
                    product_id,
                    quantity,
                })
                .collect(),
            payment: card.map(|c| PaymentRequest {
                card_number: c.into(),
            }),
        }
    }

    #[test]
    fn repeated_products_are_merged_and_sorted() {
        let l = lines(&req(&[(3, 1), (1, 2), (3, 4)], None)).unwrap();
        assert_eq!(
            l,
            [
                ReserveLine {
                    product_id: 1,
                    quantity: 2
                },
                ReserveLine {
                    product_id: 3,
                    quantity: 5
                }
            ]
        );
    }

    #[test]
    fn zero_quantity_is_located() {
        match lines(&req(&[(1, 1), (2, 0)], None)) {
            Err(Error::Invalid(f)) => assert_eq!(
                serde_json::Value::from(f[0].loc.clone()),
                serde_json::json!(["body", "items", 1, "quantity"])
            ),
            other => panic!("{other:?}"),
        }
    }

    #[test]
    fn empty_order_is_refused() {
        assert!(lines(&req(&[], None)).is_err());
    }

    #[test]
    fn only_the_test_card_is_declined() {
        assert!(payment_approved(&req(&[(1, 1)], None)));
        assert!(payment_approved(&req(&[(1, 1)], Some("4242424242424242"))));
        assert!(!payment_approved(&req(&[(1, 1)], Some(DECLINED_CARD))));
    }

    #[test]
    fn total_comes_from_the_frozen_prices() {
        let l = |price: &str, quantity| ReservedLine {
            product_id: 1,
            product_name: "x".into(),
            product_price: price.parse().unwrap(),
            quantity,
        };
        assert_eq!(total(&[l("19.99", 3), l("0.01", 1)]).to_string(), "59.98");
    }
}

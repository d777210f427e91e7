//! Reservation rules: the states of a hold, how an order's lines are merged,
//! and what one order may hold. The lines' shape (positive ids, quantities
//! 1–1000, 1–100 lines) is checked by the rules of `shop_types::order::lines`,
//! the same the orders service applies at its edge: this API answers
//! whoever holds the internal token.

use crate::error::Error;
use shop_types::{Money, internal::ReservedLine, order::lines};
use std::collections::BTreeMap;

pub use shop_types::internal::ReserveLine;

/// Where an order's reservation stands (the `reservations.status` column).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Hold {
    /// Stock taken, waiting for the order; expires at `expires_at`.
    Held,
    /// The order's for good.
    Confirmed,
    /// Given back (or refused before it came: the mark of a release).
    Released,
    /// Not confirmed in time; the sweeper gave it back.
    Expired,
}

impl Hold {
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Held => "held",
            Self::Confirmed => "confirmed",
            Self::Released => "released",
            Self::Expired => "expired",
        }
    }

    /// Still holding its stock (held or confirmed).
    pub fn is_live(self) -> bool {
        matches!(self, Self::Held | Self::Confirmed)
    }
}

impl std::fmt::Display for Hold {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

/// For database rows: an unknown state is an error, never a guess.
impl TryFrom<String> for Hold {
    type Error = Error;
    fn try_from(s: String) -> Result<Self, Error> {
        Ok(match s.as_str() {
            "held" => Self::Held,
            "confirmed" => Self::Confirmed,
            "released" => Self::Released,
            "expired" => Self::Expired,
            other => return Err(anyhow::anyhow!("unknown reservation state `{other}`").into()),
        })
    }
}

/// Checks the lines by the rules of an order's lines
/// ([`shop_types::order::lines`], the orders service's words too) and
/// merges repeated products.
pub fn normalise(items: &[ReserveLine]) -> Result<BTreeMap<i64, i32>, Error> {
    lines::count(items.len())?;
    let merged =
        lines::merge(items.iter().map(|l| (l.product_id, l.quantity))).map_err(Error::Invalid)?;
    Ok(merged.into_iter().collect())
}

/// The order's total (and so each subtotal) must fit the orders service's
/// money column: refused before anything is held or written.
pub fn fits_one_order(lines: &[ReservedLine]) -> Result<(), Error> {
    let total: rust_decimal::Decimal = lines.iter().map(|l| l.subtotal().amount()).sum();
    if Money::new(total).is_err() {
        return Err(Error::invalid_field(
            &["body", "items"],
            format!("the order's total {total} is more than one order can hold (9999999999.99)"),
        ));
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn repeated_products_are_merged() {
        let m = normalise(&[
            ReserveLine {
                product_id: 2,
                quantity: 1,
            },
            ReserveLine {
                product_id: 1,
                quantity: 2,
            },
            ReserveLine {
                product_id: 2,
                quantity: 3,
            },
        ])
        .unwrap();
        assert_eq!(m.into_iter().collect::<Vec<_>>(), [(1, 2), (2, 4)]);
    }

    #[test]
    fn lines_beyond_the_rules_of_an_order_are_refused() {
        let line = |product_id, quantity| ReserveLine {
            product_id,
            quantity,
        };
        assert!(normalise(&[line(0, 1)]).is_err());
        assert!(normalise(&[line(1, 1001)]).is_err());
        let too_many: Vec<_> = (1..=101).map(|id| line(id, 1)).collect();
        assert!(normalise(&too_many).is_err());
        assert!(normalise(&too_many[..100]).is_ok());
    }

    #[test]
    fn empty_or_non_positive_lines_are_refused() {
        assert!(normalise(&[]).is_err());
        assert!(
            normalise(&[ReserveLine {
                product_id: 1,
                quantity: 0
            }])
            .is_err()
        );
    }
}

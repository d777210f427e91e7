//! Money: an exact decimal with two places. Responses carry it as a string
//! (`"29.99"`); requests may send a JSON number or a decimal string. Never a float.

use rust_decimal::Decimal;
use serde::{Deserialize, Deserializer, Serialize, Serializer, de};
use std::{fmt, str::FromStr};

#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Default)]
pub struct Money(Decimal);

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum MoneyError {
    NotANumber,
    TooManyDecimals,
    OutOfRange,
}

impl fmt::Display for MoneyError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Self::NotANumber => "must be a decimal amount such as 29.99",
            Self::TooManyDecimals => "must have at most two decimal places",
            Self::OutOfRange => "is too large",
        })
    }
}

/// The largest amount NUMERIC(12, 2) holds.
const MAX: Decimal = Decimal::from_parts(3_567_587_327, 232, 0, false, 2); // 9_999_999_999.99

impl Money {
    pub const ZERO: Money = Money(Decimal::ZERO);

    /// Checks the scale and range; keeps exactly two places.
    pub fn new(value: Decimal) -> Result<Self, MoneyError> {
        let normalized = value.normalize();
        if normalized.scale() > 2 {
            return Err(MoneyError::TooManyDecimals);
        }
        if normalized.abs() > MAX {
            return Err(MoneyError::OutOfRange);
        }
        let mut v = normalized;
        v.rescale(2);
        Ok(Self(v))
    }

    pub fn from_cents(cents: i64) -> Self {
        Self(Decimal::new(cents, 2))
    }

    pub fn amount(&self) -> Decimal {
        self.0
    }

    pub fn is_positive(&self) -> bool {
        self.0 > Decimal::ZERO
    }

    /// `self × quantity`, exact.
    pub fn times(&self, quantity: i32) -> Money {
        let mut v = self.0 * Decimal::from(quantity);
        v.rescale(2);
        Money(v)
    }
}

impl std::ops::Add for Money {
    type Output = Money;
    fn add(self, rhs: Money) -> Money {
        let mut v = self.0 + rhs.0;
        v.rescale(2);
        Money(v)
    }
}

impl std::iter::Sum for Money {
    fn sum<I: Iterator<Item = Money>>(iter: I) -> Money {
        iter.fold(Money::ZERO, |a, b| a + b)
    }
}

impl fmt::Display for Money {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{:.2}", self.0)
    }
}

/// The one spelling of an amount: an optional `-`, digits without a
/// leading zero, and at most two places (`29.99`, `30`, `0.5`) — what
/// [`PATTERN`] says.
fn well_formed(s: &str) -> Result<(), MoneyError> {
    let digits = s.strip_prefix('-').unwrap_or(s);
    let (whole, cents) = match digits.split_once('.') {
        Some((w, c)) => (w, Some(c)),
        None => (digits, None),
    };
    let all_digits = |t: &str| !t.is_empty() && t.bytes().all(|b| b.is_ascii_digit());
    if !all_digits(whole) || (whole.len() > 1 && whole.starts_with('0')) {
        return Err(MoneyError::NotANumber);
    }
    match cents {
        None => Ok(()),
        Some(c) if !all_digits(c) => Err(MoneyError::NotANumber),
        Some(c) if c.len() > 2 => Err(MoneyError::TooManyDecimals),
        Some(_) => Ok(()),
    }
}

/// A positive amount written as a string, as the API's documents describe
/// it: `0.01` up to `9999999999.99`, at most two places, no leading zero.
pub const POSITIVE_PATTERN: &str = r"^(0\.(0[1-9]|[1-9][0-9]?)|[1-9][0-9]{0,9}(\.[0-9]{1,2})?)$";

impl FromStr for Money {
    type Err = MoneyError;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        well_formed(s)?;
        let d = Decimal::from_str(s).map_err(|_| MoneyError::NotANumber)?;
        Money::new(d)
    }
}

impl From<Money> for Decimal {
    fn from(m: Money) -> Decimal {
        m.0
    }
}

impl TryFrom<Decimal> for Money {
    type Error = MoneyError;
    fn try_from(d: Decimal) -> Result<Self, Self::Error> {
        Money::new(d)
    }
}

impl Serialize for Money {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.collect_str(self)
    }
}

impl<'de> Deserialize<'de> for Money {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        #[derive(Deserialize)]
        #[serde(untagged)]
        enum Raw {
            // serde_json prints a parsed number back in its shortest exact
            // form, so "29.99" stays 29.99 and never passes through binary math.
            Number(serde_json::Number),
            Text(String),
        }
        let text = match Raw::deserialize(d)? {
            Raw::Number(n) => n.to_string(),
            Raw::Text(t) => t,
        };
        text.parse::<Money>().map_err(de::Error::custom)
    }
}

#[cfg(feature = "server")]
mod schema {
    use super::Money;
    use utoipa::openapi::{ObjectBuilder, OneOfBuilder, RefOr, Schema, Type};

    impl utoipa::PartialSchema for Money {
        /// A decimal string; requests may also send a JSON number.
        fn schema() -> RefOr<Schema> {
            OneOfBuilder::new()
                .item(
                    ObjectBuilder::new()
                        .schema_type(Type::String)
                        .pattern(Some(super::POSITIVE_PATTERN))
                        .examples([serde_json::json!("29.99")]),
                )
                .item(
                    ObjectBuilder::new()
                        .schema_type(Type::Number)
                        .exclusive_minimum(Some(0))
                        .maximum(Some(9_999_999_999.99))
                        .multiple_of(Some(0.01)),
                )
                .description(Some(
                    "An amount with at most two decimal places: answered as a string (\"29.99\"); \
                     a request may send a string or a JSON number",
                ))
                .into()
        }
    }

    impl utoipa::ToSchema for Money {}
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn serialises_with_two_places() {
        let m: Money = "30".parse().unwrap();
        assert_eq!(serde_json::to_string(&m).unwrap(), r#""30.00""#);
    }

    #[test]
    fn accepts_number_or_string() {
        let a: Money = serde_json::from_str("29.99").unwrap();
        let b: Money = serde_json::from_str(r#""29.99""#).unwrap();
        assert_eq!(a, b);
        assert_eq!(a.to_string(), "29.99");
    }

    #[test]
    fn rejects_fractions_of_a_cent() {
        assert_eq!("19.999".parse::<Money>(), Err(MoneyError::TooManyDecimals));
        assert!(serde_json::from_str::<Money>("0.001").is_err());
    }

    #[test]
    fn arithmetic_is_exact() {
        let p: Money = "0.10".parse().unwrap();
        let total: Money = [p.times(3), "0.20".parse().unwrap()].into_iter().sum();
        assert_eq!(total.to_string(), "0.50");
    }

    #[test]
    fn only_one_spelling_is_read() {
        for bad in [
            " 1.00", "1.00 ", "01.5", "1.", ".5", "1e3", "+1", "1,00", "", "-",
        ] {
            assert!(bad.parse::<Money>().is_err(), "{bad:?}");
        }
        for good in ["0", "0.5", "30", "29.99", "-3.10"] {
            assert!(good.parse::<Money>().is_ok(), "{good:?}");
        }
    }

    #[test]
    fn rejects_amounts_beyond_the_column() {
        assert_eq!("10000000000".parse::<Money>(), Err(MoneyError::OutOfRange));
        assert!("9999999999.99".parse::<Money>().is_ok());
    }
}

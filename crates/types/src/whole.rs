//! Whole numbers in request bodies: a JSON integer, or a number written with
//! a zero fraction (`3.0`) — both are an `integer` to JSON Schema, and the
//! system this replaces accepted both. `1.5`, a string or an overflow is
//! refused. Use with `#[serde(deserialize_with = "...")]`.

use serde::{Deserialize, Deserializer, de};

/// The largest whole number a binary float holds exactly.
const EXACT: f64 = 9_007_199_254_740_992.0;

fn whole<'de, D: Deserializer<'de>>(d: D) -> Result<i64, D::Error> {
    let n = serde_json::Number::deserialize(d)?;
    if let Some(v) = n.as_i64() {
        return Ok(v);
    }
    match n.as_f64() {
        Some(f) if f.fract() == 0.0 && f.abs() <= EXACT => Ok(f as i64),
        _ => Err(de::Error::custom(format!(
            "invalid value: {n}, expected a whole number"
        ))),
    }
}

fn narrow<E: de::Error>(v: i64) -> Result<i32, E> {
    i32::try_from(v).map_err(|_| {
        E::custom(format!(
            "invalid value: {v}, expected a whole number from {} to {}",
            i32::MIN,
            i32::MAX
        ))
    })
}

pub fn i64<'de, D: Deserializer<'de>>(d: D) -> Result<i64, D::Error> {
    whole(d)
}

pub fn i32<'de, D: Deserializer<'de>>(d: D) -> Result<i32, D::Error> {
    narrow(whole(d)?)
}

/// For an optional field: also needs `#[serde(default)]`. `null` is `None`.
pub fn option_i32<'de, D: Deserializer<'de>>(d: D) -> Result<Option<i32>, D::Error> {
    #[derive(Deserialize)]
    struct Whole(#[serde(deserialize_with = "i32")] i32);
    Ok(Option::<Whole>::deserialize(d)?.map(|w| w.0))
}

#[cfg(test)]
mod tests {
    use serde::Deserialize;

    #[derive(Debug, Deserialize)]
    struct Line {
        #[serde(deserialize_with = "super::i64")]
        id: i64,
        #[serde(deserialize_with = "super::i32")]
        quantity: i32,
        #[serde(default, deserialize_with = "super::option_i32")]
        stock: Option<i32>,
    }

    fn read(json: &str) -> Result<Line, serde_json::Error> {
        serde_json::from_str(json)
    }

    #[test]
    fn integers_and_zero_fractions_are_read() {
        let l = read(r#"{"id": 7.0, "quantity": 3, "stock": 2.0}"#).unwrap();
        assert_eq!((l.id, l.quantity, l.stock), (7, 3, Some(2)));
        let l = read(r#"{"id": 7, "quantity": 3, "stock": null}"#).unwrap();
        assert_eq!(l.stock, None);
        assert_eq!(read(r#"{"id": 7, "quantity": 3}"#).unwrap().stock, None);
    }

    #[test]
    fn fractions_strings_and_overflows_are_refused() {
        for bad in [
            r#"{"id": 1.5, "quantity": 1}"#,
            r#"{"id": "1", "quantity": 1}"#,
            r#"{"id": 1, "quantity": 3000000000}"#,
            r#"{"id": 1e300, "quantity": 1}"#,
            r#"{"id": 18446744073709551615, "quantity": 1}"#,
            r#"{"id": 1, "quantity": 1, "stock": 0.5}"#,
        ] {
            assert!(read(bad).is_err(), "{bad}");
        }
    }
}

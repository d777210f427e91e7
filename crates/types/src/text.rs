//! Text that may be stored or searched: no NUL and no other control
//! characters (PostgreSQL refuses NUL in text, and no field of the API means
//! one). Multi-line fields may hold tab, line feed and carriage return.

use crate::FieldError;

/// One line of text: no control character. (Patterns are written for
/// JSON Schema readers: `\u` escapes, no Rust-only syntax.)
pub const SINGLE_LINE: &str = r"^[^\u0000-\u001f\u007f-\u009f]*$";
/// Text that may span lines: tab, line feed and carriage return allowed.
pub const MULTI_LINE: &str = r"^[^\u0000-\u0008\u000b\u000c\u000e-\u001f\u007f-\u009f]*$";
/// One line with at least one character that is not a space.
pub const NOT_BLANK: &str = r"^[^\u0000-\u001f\u007f-\u009f]*[^\s\u0000-\u001f\u007f-\u009f][^\u0000-\u001f\u007f-\u009f]*$";
/// No spaces and no control characters at all.
pub const NO_SPACES: &str = r"^[^\s\u0000-\u001f\u007f-\u009f]*$";

/// A card number: digits only (a form strips the spaces people type).
pub const CARD_NUMBER: &str = r"^[0-9]+$";

/// Whether `value` is a card number as [`CARD_NUMBER`] describes it.
pub fn is_card_number(value: &str) -> bool {
    !value.is_empty() && value.bytes().all(|b| b.is_ascii_digit())
}

/// A string schema with a length range and one of the patterns above.
#[cfg(feature = "server")]
pub fn schema(min: usize, max: usize, pattern: &str) -> utoipa::openapi::Object {
    utoipa::openapi::ObjectBuilder::new()
        .schema_type(utoipa::openapi::Type::String)
        .min_length((min > 0).then_some(min))
        .max_length(Some(max))
        .pattern(Some(pattern))
        .build()
}

/// Whether `value` holds a character that `check` refuses.
pub fn has_control(value: &str, multiline: bool) -> bool {
    value
        .chars()
        .any(|c| c.is_control() && !(multiline && matches!(c, '\t' | '\n' | '\r')))
}

/// `Err` with a field error at `loc` (e.g. `["body", "name"]` or
/// `["query", "category"]`) when `value` holds NUL or a control character.
pub fn check<'a>(
    loc: impl IntoIterator<Item = &'a str>,
    value: &str,
    multiline: bool,
) -> Result<(), FieldError> {
    if !has_control(value, multiline) {
        return Ok(());
    }
    let loc: Vec<&str> = loc.into_iter().collect();
    let name = loc.last().copied().unwrap_or("value");
    Err(FieldError::value_error(
        loc.iter().copied(),
        format!("{name} must not contain NUL or control characters"),
    ))
}

/// A string that is one of `values`.
#[cfg(feature = "server")]
pub fn choice(values: &[&str]) -> utoipa::openapi::Object {
    utoipa::openapi::ObjectBuilder::new()
        .schema_type(utoipa::openapi::Type::String)
        .enum_values(Some(values.iter().copied()))
        .build()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn nul_and_controls_are_refused_and_located() {
        for bad in ["a\0b", "tab\there", "bell\u{7}", "del\u{7f}", "c1\u{85}"] {
            let e = check(["body", "name"], bad, false).unwrap_err();
            assert_eq!(e.loc, vec!["body", "name"], "{bad:?}");
            assert!(e.msg.starts_with("name must not contain"), "{}", e.msg);
        }
    }

    #[test]
    fn multiline_text_keeps_its_line_breaks_but_not_nul() {
        assert!(check(["body", "description"], "one\r\ntwo\tthree", true).is_ok());
        assert!(check(["body", "description"], "one\0", true).is_err());
        assert!(check(["query", "name"], "Ünïcödé ✓ text", false).is_ok());
    }
}

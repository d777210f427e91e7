//! Registration rules: what makes an email, a username and a password valid.

use crate::error::Error;
use shop_types::{FieldError, LoginRequest, RegisterRequest, text};

#[derive(Debug, Clone, PartialEq)]
pub struct NewUser {
    /// Trimmed and lower-case.
    pub email: String,
    pub username: String,
    pub password: String,
}

fn field(name: &str, msg: &str) -> FieldError {
    FieldError::value_error(["body", name], msg)
}

/// Lower-cases and checks an email address.
pub fn normalize_email(raw: &str) -> Option<String> {
    let email = raw.trim().to_lowercase();
    (email.len() <= 254 && email_address::EmailAddress::is_valid(&email)).then_some(email)
}

/// What a sign-in can be refused for before any account is looked at:
/// control characters, or a password longer than any account can have.
pub fn check_login(req: &LoginRequest) -> Result<(), Error> {
    let mut errors = Vec::new();
    for (name, value) in [("email", &req.email), ("password", &req.password)] {
        if let Err(e) = text::check(["body", name], value, false) {
            errors.push(e);
        }
    }
    if req.email.chars().count() > 254 {
        errors.push(field("email", "email must be at most 254 characters"));
    }
    if req.password.chars().count() > 128 {
        errors.push(field("password", "password must be at most 128 characters"));
    }
    if errors.is_empty() {
        Ok(())
    } else {
        Err(Error::Invalid(errors))
    }
}

/// Every broken rule at once, so a form can show them together.
pub fn parse_registration(req: RegisterRequest) -> Result<NewUser, Error> {
    let mut errors = Vec::new();
    let email = normalize_email(&req.email);
    if let Err(e) = text::check(["body", "email"], &req.email, false) {
        errors.push(e);
    } else if email.is_none() {
        errors.push(field("email", "value is not a valid email address"));
    }
    let username = req.username;
    let len = username.chars().count();
    if let Err(e) = text::check(["body", "username"], &username, false) {
        errors.push(e);
    } else if !(3..=50).contains(&len) {
        errors.push(field("username", "username must be 3 to 50 characters"));
    } else if username
        .chars()
        .any(|c| c.is_whitespace() || c.is_control())
    {
        errors.push(field("username", "username must not contain spaces"));
    }
    let pw_len = req.password.chars().count();
    if let Err(e) = text::check(["body", "password"], &req.password, false) {
        errors.push(e);
    } else if pw_len < 8 {
        errors.push(field("password", "password must be at least 8 characters"));
    } else if pw_len > 128 {
        errors.push(field("password", "password must be at most 128 characters"));
    }
    match (errors.is_empty(), email) {
        (true, Some(email)) => Ok(NewUser {
            email,
            username,
            password: req.password,
        }),
        _ => Err(Error::Invalid(errors)),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn req(email: &str, username: &str, password: &str) -> RegisterRequest {
        RegisterRequest {
            email: email.into(),
            username: username.into(),
            password: password.into(),
        }
    }

    fn failing_fields(r: Result<NewUser, Error>) -> Vec<String> {
        match r {
            Err(Error::Invalid(f)) => f
                .iter()
                .map(|e| e.loc[1].as_str().unwrap().to_owned())
                .collect(),
            other => panic!("expected validation errors, got {other:?}"),
        }
    }

    #[test]
    fn email_is_stored_lower_case_and_trimmed() {
        let u = parse_registration(req("  Ann@Example.COM ", "ann", "long enough")).unwrap();
        assert_eq!(u.email, "ann@example.com");
    }

    #[test]
    fn all_broken_rules_are_reported_together() {
        let f = failing_fields(parse_registration(req("not-an-email", "ab", "short")));
        assert_eq!(f, ["email", "username", "password"]);
    }

    #[test]
    fn username_bounds_are_3_to_50() {
        assert!(parse_registration(req("a@b.co", "abc", "12345678")).is_ok());
        assert!(parse_registration(req("a@b.co", &"x".repeat(50), "12345678")).is_ok());
        assert!(parse_registration(req("a@b.co", &"x".repeat(51), "12345678")).is_err());
    }

    #[test]
    fn nul_and_control_characters_are_refused_in_every_field() {
        let f = failing_fields(parse_registration(req(
            "a\0@b.co",
            "ab\u{7}c",
            "pass\0word",
        )));
        assert_eq!(f, ["email", "username", "password"]);
    }

    #[test]
    fn password_needs_eight_characters() {
        assert!(parse_registration(req("a@b.co", "abc", "1234567")).is_err());
        assert!(parse_registration(req("a@b.co", "abc", "12345678")).is_ok());
    }
}

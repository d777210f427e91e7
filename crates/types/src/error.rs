//! The error body every endpoint returns: `{"detail": "..."}`, or for
//! validation failures `{"detail": [{"loc": [...], "msg": "...", "type": "..."}]}`.

use serde::{Deserialize, Serialize};

/// `{"detail": ...}`: a message, or a list of field errors for a 422.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "server", derive(utoipa::ToSchema))]
pub struct ErrorBody {
    pub detail: ErrorDetail,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "server", derive(utoipa::ToSchema))]
#[serde(untagged)]
pub enum ErrorDetail {
    Message(String),
    Fields(Vec<FieldError>),
}

/// One failed field, located by its path from the body root.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "server", derive(utoipa::ToSchema))]
pub struct FieldError {
    /// Where the failure is: `body`, `query` or `path`, then field names
    /// and list indexes.
    #[cfg_attr(feature = "server", schema(schema_with = loc_schema))]
    pub loc: Vec<serde_json::Value>,
    pub msg: String,
    #[serde(rename = "type")]
    pub kind: String,
}

#[cfg(feature = "server")]
fn loc_schema() -> utoipa::openapi::Array {
    use utoipa::openapi::{ArrayBuilder, ObjectBuilder, OneOfBuilder, Type};
    ArrayBuilder::new()
        .items(
            OneOfBuilder::new()
                .item(ObjectBuilder::new().schema_type(Type::String))
                .item(ObjectBuilder::new().schema_type(Type::Integer)),
        )
        .build()
}

impl FieldError {
    /// A `value_error` at `loc`, e.g. `["body", "email"]` or
    /// `["body", "items", 0, "quantity"]`.
    pub fn value_error<L: Into<serde_json::Value>>(
        loc: impl IntoIterator<Item = L>,
        msg: impl Into<String>,
    ) -> Self {
        Self {
            loc: loc.into_iter().map(Into::into).collect(),
            msg: msg.into(),
            kind: "value_error".into(),
        }
    }
}

impl ErrorBody {
    pub fn message(msg: impl Into<String>) -> Self {
        Self {
            detail: ErrorDetail::Message(msg.into()),
        }
    }

    pub fn fields(errors: Vec<FieldError>) -> Self {
        Self {
            detail: ErrorDetail::Fields(errors),
        }
    }

    /// A one-line summary for people: the message, or the first field error.
    pub fn summary(&self) -> String {
        match &self.detail {
            ErrorDetail::Message(m) => m.clone(),
            ErrorDetail::Fields(f) => f
                .iter()
                .map(|e| e.msg.clone())
                .collect::<Vec<_>>()
                .join("; "),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn message_body_is_a_plain_detail_string() {
        let json = serde_json::to_value(ErrorBody::message("Product not found")).unwrap();
        assert_eq!(json, serde_json::json!({"detail": "Product not found"}));
    }

    #[test]
    fn field_errors_use_loc_msg_type() {
        let body = ErrorBody::fields(vec![FieldError {
            loc: vec!["body".into(), "items".into(), 0.into(), "quantity".into()],
            msg: "must be at least 1".into(),
            kind: "value_error".into(),
        }]);
        let json = serde_json::to_value(&body).unwrap();
        assert_eq!(
            json,
            serde_json::json!({"detail": [{"loc": ["body", "items", 0, "quantity"], "msg": "must be at least 1", "type": "value_error"}]})
        );
        let back: ErrorBody = serde_json::from_value(json).unwrap();
        assert_eq!(back, body);
    }
}

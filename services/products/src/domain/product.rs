//! Catalogue rules: what a valid product is, and how a listing is asked for.

use crate::error::Error;
use serde::{Deserialize, Deserializer};
use shop_types::{FieldError, Money, PRODUCT_SORT_KEYS, text, whole};

fn field(loc: &str, name: &str, msg: &str) -> FieldError {
    FieldError::value_error([loc, name], msg)
}

/// `null` and absent differ for PATCH: `Some(None)` clears, `None` keeps.
fn double_option<'de, D, T>(d: D) -> Result<Option<Option<T>>, D::Error>
where
    D: Deserializer<'de>,
    T: Deserialize<'de>,
{
    Option::<T>::deserialize(d).map(Some)
}

/// The body of `POST /products` and `PUT /products/{id}`.
#[derive(Debug, Clone, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct ProductInput {
    #[schema(schema_with = schemas::name)]
    pub name: String,
    #[serde(default)]
    #[schema(schema_with = schemas::description)]
    pub description: Option<String>,
    /// Greater than 0.
    pub price: Money,
    #[schema(minimum = 0, maximum = 1_000_000_000)]
    #[serde(deserialize_with = "whole::i32")]
    pub stock_quantity: i32,
    /// Stored upper-case; unique.
    #[schema(schema_with = schemas::sku)]
    pub sku: String,
    #[serde(default)]
    #[schema(schema_with = schemas::category)]
    pub category: Option<String>,
    /// Default `true`.
    #[serde(default)]
    pub is_active: Option<bool>,
}

/// The rules of [`validate`], for the API's document.
mod schemas {
    use shop_types::text::{MULTI_LINE, NOT_BLANK, SINGLE_LINE, choice, schema};
    use utoipa::openapi::{Object, ObjectBuilder, Type, schema::SchemaType};

    fn nullable(o: Object) -> Object {
        ObjectBuilder::from(o)
            .schema_type(SchemaType::from_iter([Type::String, Type::Null]))
            .build()
    }

    pub fn name() -> Object {
        schema(3, 200, NOT_BLANK)
    }

    pub fn description() -> Object {
        nullable(schema(0, 1000, MULTI_LINE))
    }

    pub fn category() -> Object {
        nullable(schema(0, 100, SINGLE_LINE))
    }

    pub fn sku() -> Object {
        schema(3, 50, "^[A-Za-z0-9_-]*$")
    }

    pub fn category_query() -> Object {
        schema(0, 100, SINGLE_LINE)
    }

    pub fn name_query() -> Object {
        schema(0, 200, SINGLE_LINE)
    }

    pub fn is_active_query() -> Object {
        choice(&["true", "false", "1", "0", "all", "any"])
    }

    pub fn sort_by_query() -> Object {
        choice(&shop_types::PRODUCT_SORT_KEYS)
    }

    pub fn patch_name() -> Object {
        nullable(name())
    }

    pub fn patch_sku() -> Object {
        nullable(sku())
    }
}

/// The body of `PATCH /products/{id}`: any subset.
#[derive(Debug, Clone, Default, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct ProductPatch {
    /// `null` or absent keeps it, as for every field here.
    #[schema(schema_with = schemas::patch_name)]
    pub name: Option<String>,
    /// `null` clears it.
    #[serde(default, deserialize_with = "double_option")]
    #[schema(schema_with = schemas::description)]
    pub description: Option<Option<String>>,
    pub price: Option<Money>,
    #[schema(minimum = 0, maximum = 1_000_000_000)]
    #[serde(default, deserialize_with = "whole::option_i32")]
    pub stock_quantity: Option<i32>,
    #[schema(schema_with = schemas::patch_sku)]
    pub sku: Option<String>,
    /// `null` clears it.
    #[serde(default, deserialize_with = "double_option")]
    #[schema(schema_with = schemas::category)]
    pub category: Option<Option<String>>,
    pub is_active: Option<bool>,
}

/// `POST /products/{id}/stock/adjust`: units received (positive) or
/// written off (negative).
#[derive(Debug, Clone, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct StockAdjustment {
    #[schema(minimum = -1_000_000, maximum = 1_000_000)]
    #[serde(deserialize_with = "whole::i32")]
    pub delta: i32,
}

#[derive(Debug, Clone, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct StockUpdate {
    #[schema(minimum = 0, maximum = 1_000_000_000)]
    #[serde(deserialize_with = "whole::i32")]
    pub stock_quantity: i32,
}

/// A product that passed every rule, ready to store.
#[derive(Debug, Clone, PartialEq)]
pub struct ValidProduct {
    pub name: String,
    pub description: Option<String>,
    pub price: Money,
    pub stock_quantity: i32,
    /// Upper-case.
    pub sku: String,
    pub category: Option<String>,
    pub is_active: bool,
}

impl ValidProduct {
    /// Applies a patch to the stored product and checks the result.
    pub fn patched(mut self, p: ProductPatch) -> Result<Self, Error> {
        if let Some(v) = p.name {
            self.name = v;
        }
        if let Some(v) = p.description {
            self.description = v;
        }
        if let Some(v) = p.price {
            self.price = v;
        }
        if let Some(v) = p.stock_quantity {
            self.stock_quantity = v;
        }
        if let Some(v) = p.sku {
            self.sku = v;
        }
        if let Some(v) = p.category {
            self.category = v;
        }
        if let Some(v) = p.is_active {
            self.is_active = v;
        }
        validate(ProductInput {
            name: self.name,
            description: self.description,
            price: self.price,
            stock_quantity: self.stock_quantity,
            sku: self.sku,
            category: self.category,
            is_active: Some(self.is_active),
        })
    }
}

pub fn validate_delta(delta: i32) -> Result<i32, Error> {
    if !(-1_000_000..=1_000_000).contains(&delta) {
        return Err(Error::Invalid(vec![field(
            "body",
            "delta",
            "delta must be from -1000000 to 1000000",
        )]));
    }
    Ok(delta)
}

/// The most units one product may hold: far above any shelf, and far enough
/// below the column's limit that returning held units can never overflow it.
pub const MAX_STOCK: i32 = 1_000_000_000;

pub fn validate_stock(q: i32) -> Result<i32, Error> {
    if !(0..=MAX_STOCK).contains(&q) {
        return Err(Error::Invalid(vec![field(
            "body",
            "stock_quantity",
            "stock_quantity must be from 0 to 1000000000",
        )]));
    }
    Ok(q)
}

/// Every broken rule at once. Lengths count the characters as sent;
/// an optional text that is only spaces is stored as absent.
pub fn validate(input: ProductInput) -> Result<ValidProduct, Error> {
    let mut errors = Vec::new();
    let name = input.name;
    if let Err(e) = text::check(["body", "name"], &name, false) {
        errors.push(e);
    } else if !(3..=200).contains(&name.chars().count()) {
        errors.push(field("body", "name", "name must be 3 to 200 characters"));
    } else if name.trim().is_empty() {
        errors.push(field("body", "name", "name must not be blank"));
    }
    if let Some(Err(e)) = input
        .description
        .as_ref()
        .map(|d| text::check(["body", "description"], d, true))
    {
        errors.push(e);
    } else if input
        .description
        .as_ref()
        .is_some_and(|d| d.chars().count() > 1000)
    {
        errors.push(field(
            "body",
            "description",
            "description must be at most 1000 characters",
        ));
    }
    let description = input
        .description
        .map(|d| d.trim().to_owned())
        .filter(|d| !d.is_empty());
    if !input.price.is_positive() {
        errors.push(field("body", "price", "price must be greater than 0"));
    }
    if !(0..=MAX_STOCK).contains(&input.stock_quantity) {
        errors.push(field(
            "body",
            "stock_quantity",
            "stock_quantity must be from 0 to 1000000000",
        ));
    }
    if !(3..=50).contains(&input.sku.chars().count()) {
        errors.push(field("body", "sku", "sku must be 3 to 50 characters"));
    } else if !input
        .sku
        .chars()
        .all(|c| c.is_ascii_alphanumeric() || c == '-' || c == '_')
    {
        errors.push(field(
            "body",
            "sku",
            "sku may contain letters, digits, '-' and '_' only",
        ));
    }
    let sku = input.sku.to_ascii_uppercase();
    if let Some(Err(e)) = input
        .category
        .as_ref()
        .map(|c| text::check(["body", "category"], c, false))
    {
        errors.push(e);
    } else if input
        .category
        .as_ref()
        .is_some_and(|c| c.chars().count() > 100)
    {
        errors.push(field(
            "body",
            "category",
            "category must be at most 100 characters",
        ));
    }
    let category = input
        .category
        .map(|c| c.trim().to_owned())
        .filter(|c| !c.is_empty());
    if !errors.is_empty() {
        return Err(Error::Invalid(errors));
    }
    Ok(ValidProduct {
        name,
        description,
        price: input.price,
        stock_quantity: input.stock_quantity,
        sku,
        category,
        is_active: input.is_active.unwrap_or(true),
    })
}

/// `GET /products` query, as received.
#[derive(Debug, Clone, Default, Deserialize, utoipa::IntoParams)]
#[into_params(parameter_in = Query)]
pub struct ListParams {
    /// 1–100, default 20.
    #[param(value_type = Option<i64>, minimum = 1, maximum = 100)]
    pub limit: Option<String>,
    /// Default 0.
    #[param(value_type = Option<i64>, minimum = 0)]
    pub offset: Option<String>,
    /// 1-based page; an alternative to `offset`.
    #[param(value_type = Option<i64>, minimum = 1)]
    pub page: Option<String>,
    /// Exact category.
    #[param(schema_with = schemas::category_query)]
    pub category: Option<String>,
    /// Case-insensitive substring of the name.
    #[param(schema_with = schemas::name_query)]
    pub name: Option<String>,
    /// Default `true`; `all` lists both.
    #[param(schema_with = schemas::is_active_query)]
    pub is_active: Option<String>,
    /// Default `-created_at`.
    #[param(schema_with = schemas::sort_by_query)]
    pub sort_by: Option<String>,
}

/// `ORDER BY` comes only from this whitelist.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Sort {
    PriceAsc,
    PriceDesc,
    NameAsc,
    NameDesc,
    CreatedAsc,
    CreatedDesc,
}

impl Sort {
    pub fn sql(&self) -> &'static str {
        match self {
            Self::PriceAsc => "price ASC, id ASC",
            Self::PriceDesc => "price DESC, id DESC",
            Self::NameAsc => "lower(name) ASC, id ASC",
            Self::NameDesc => "lower(name) DESC, id DESC",
            Self::CreatedAsc => "created_at ASC, id ASC",
            Self::CreatedDesc => "created_at DESC, id DESC",
        }
    }
}

#[derive(Debug, Clone, PartialEq)]
pub struct ListQuery {
    pub limit: i64,
    pub offset: i64,
    pub category: Option<String>,
    pub name: Option<String>,
    pub is_active: Option<bool>,
    pub sort: Sort,
}

/// Like `int_param`, collecting the failure so all of them are reported.
fn int_param(
    name: &str,
    raw: Option<&str>,
    min: i64,
    max: i64,
    errors: &mut Vec<FieldError>,
) -> Option<i64> {
    shop_platform::int_param(name, raw, min, max)
        .map_err(|e| errors.push(e))
        .ok()
        .flatten()
}

impl ListParams {
    pub fn parse(self) -> Result<ListQuery, Error> {
        let sort = match self.sort_by.as_deref().unwrap_or("-created_at") {
            "price" => Sort::PriceAsc,
            "-price" => Sort::PriceDesc,
            "name" => Sort::NameAsc,
            "-name" => Sort::NameDesc,
            "created_at" => Sort::CreatedAsc,
            "-created_at" => Sort::CreatedDesc,
            other => {
                return Err(Error::BadQuery(format!(
                    "Invalid sort_by '{other}'. Allowed values: {}",
                    PRODUCT_SORT_KEYS.join(", ")
                )));
            }
        };
        let mut errors = Vec::new();
        let limit = int_param("limit", self.limit.as_deref(), 1, 100, &mut errors).unwrap_or(20);
        let offset = int_param("offset", self.offset.as_deref(), 0, i64::MAX, &mut errors);
        let page = int_param("page", self.page.as_deref(), 1, i64::MAX, &mut errors);
        let is_active = match self.is_active.as_deref() {
            None => Some(true),
            Some("true" | "1") => Some(true),
            Some("false" | "0") => Some(false),
            Some("all" | "any") => None,
            Some(_) => {
                errors.push(field(
                    "query",
                    "is_active",
                    "is_active must be true or false",
                ));
                None
            }
        };
        for (name, value, max) in [("category", &self.category, 100), ("name", &self.name, 200)] {
            let Some(value) = value else { continue };
            if let Err(e) = text::check(["query", name], value, false) {
                errors.push(e);
            } else if value.chars().count() > max {
                errors.push(field(
                    "query",
                    name,
                    &format!("{name} must be at most {max} characters"),
                ));
            }
        }
        if !errors.is_empty() {
            return Err(Error::Invalid(errors));
        }
        let offset = match (offset, page) {
            (Some(o), _) => o,
            (None, Some(p)) => (p - 1).saturating_mul(limit),
            (None, None) => 0,
        };
        let clean = |s: Option<String>| s.map(|v| v.trim().to_owned()).filter(|v| !v.is_empty());
        Ok(ListQuery {
            limit,
            offset,
            category: clean(self.category),
            name: clean(self.name),
            is_active,
            sort,
        })
    }
}

/// `%` and `_` in a search are literal characters, not wildcards.
pub fn like_pattern(needle: &str) -> String {
    let escaped = needle
        .replace('\\', "\\\\")
        .replace('%', "\\%")
        .replace('_', "\\_");
    format!("%{escaped}%")
}

/// A sitemaps.org `urlset`: the catalogue's page under `origin`, then each
/// product's page with the day it last changed.
pub fn sitemap(origin: &str, products: &[(i64, chrono::DateTime<chrono::Utc>)]) -> String {
    let origin = xml_escape(origin.trim_end_matches('/'));
    let mut xml = String::with_capacity(120 + products.len() * 110);
    xml.push_str("<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n");
    xml.push_str("<urlset xmlns=\"http://www.sitemaps.org/schemas/sitemap/0.9\">\n");
    xml.push_str(&format!("  <url><loc>{origin}/</loc></url>\n"));
    for (id, changed) in products {
        xml.push_str(&format!(
            "  <url><loc>{origin}/products/{id}</loc><lastmod>{}</lastmod></url>\n",
            changed.format("%Y-%m-%d")
        ));
    }
    xml.push_str("</urlset>\n");
    xml
}

fn xml_escape(text: &str) -> String {
    text.replace('&', "&amp;")
        .replace('<', "&lt;")
        .replace('>', "&gt;")
        .replace('"', "&quot;")
        .replace('\'', "&apos;")
}

#[cfg(test)]
mod tests {
    use super::*;

    fn input() -> ProductInput {
        ProductInput {
            name: "Desk Lamp".into(),
            description: None,
            price: "19.99".parse().unwrap(),
            stock_quantity: 4,
            sku: "lamp-01".into(),
            category: Some("Home".into()),
            is_active: None,
        }
    }

    #[test]
    fn sku_is_stored_upper_case_and_active_by_default() {
        let p = validate(input()).unwrap();
        assert_eq!(p.sku, "LAMP-01");
        assert!(p.is_active);
    }

    #[test]
    fn price_must_be_positive_and_stock_not_negative() {
        let mut i = input();
        i.price = Money::ZERO;
        i.stock_quantity = -1;
        match validate(i) {
            Err(Error::Invalid(f)) => assert_eq!(f.len(), 2),
            other => panic!("{other:?}"),
        }
    }

    #[test]
    fn control_characters_in_text_are_refused_field_by_field() {
        let mut i = input();
        i.name = "Desk\0Lamp".into();
        i.description = Some("line one\nline two".into());
        i.category = Some("Ho\u{1b}me".into());
        match validate(i) {
            Err(Error::Invalid(f)) => {
                let fields: Vec<_> = f.iter().map(|e| e.loc[1].clone()).collect();
                assert_eq!(fields, ["name", "category"]);
            }
            other => panic!("{other:?}"),
        }
        let p = ListParams {
            name: Some("lamp\0".into()),
            category: Some("x".repeat(101)),
            ..Default::default()
        };
        match p.parse() {
            Err(Error::Invalid(f)) => {
                let fields: Vec<_> = f.iter().map(|e| e.loc[1].clone()).collect();
                assert_eq!(fields, ["category", "name"]);
            }
            other => panic!("{other:?}"),
        }
    }

    #[test]
    fn unknown_sort_is_400_listing_the_allowed_values() {
        let p = ListParams {
            sort_by: Some("price; DROP TABLE products".into()),
            ..Default::default()
        };
        match p.parse() {
            Err(Error::BadQuery(m)) => assert!(
                m.contains("price, -price, name, -name, created_at, -created_at"),
                "{m}"
            ),
            other => panic!("{other:?}"),
        }
    }

    #[test]
    fn page_turns_into_an_offset() {
        let q = ListParams {
            page: Some("3".into()),
            limit: Some("10".into()),
            ..Default::default()
        }
        .parse()
        .unwrap();
        assert_eq!((q.limit, q.offset), (10, 20));
    }

    #[test]
    fn limit_outside_1_to_100_is_422() {
        for bad in ["0", "101", "abc"] {
            let p = ListParams {
                limit: Some(bad.into()),
                ..Default::default()
            };
            assert!(matches!(p.parse(), Err(Error::Invalid(_))), "{bad}");
        }
    }

    #[test]
    fn defaults_are_20_active_newest_first() {
        let q = ListParams::default().parse().unwrap();
        assert_eq!(
            (q.limit, q.offset, q.is_active, q.sort),
            (20, 0, Some(true), Sort::CreatedDesc)
        );
    }

    #[test]
    fn wildcards_in_a_search_are_literal() {
        assert_eq!(like_pattern("50%_off"), "%50\\%\\_off%");
    }

    #[test]
    fn patch_null_clears_and_absent_keeps() {
        let stored = validate(input()).unwrap();
        let patch: ProductPatch =
            serde_json::from_str(r#"{"category": null, "price": "5.00"}"#).unwrap();
        let p = stored.clone().patched(patch).unwrap();
        assert_eq!(p.category, None);
        assert_eq!(p.price.to_string(), "5.00");
        assert_eq!(p.name, stored.name);
    }

    #[test]
    fn the_sitemap_lists_the_catalogue_and_each_product_under_the_origin() {
        let day = chrono::DateTime::parse_from_rfc3339("2026-12-01T10:00:00Z")
            .unwrap()
            .to_utc();
        let xml = sitemap("https://shop.example/?a=1&b=2/", &[(3, day), (17, day)]);
        assert!(xml.starts_with("<?xml version=\"1.0\" encoding=\"UTF-8\"?>"));
        assert!(
            xml.contains("<loc>https://shop.example/?a=1&amp;b=2/</loc>"),
            "{xml}"
        );
        assert!(xml.contains(
            "<url><loc>https://shop.example/?a=1&amp;b=2/products/17</loc><lastmod>2026-12-01</lastmod></url>"
        ));
        assert_eq!(xml.matches("<url>").count(), 3);
        assert!(xml.trim_end().ends_with("</urlset>"));
    }
}

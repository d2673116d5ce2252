//! OpenAPI schemas of the wire enums (the `openapi` feature, for the server's document). A
//! wire enum keeps a value it does not know (`Other`), so its schema says exactly that: one
//! of the known texts, or another string. Where the server accepts only the known texts (a
//! request field), [`closed_set`] says so instead.

use utoipa::openapi::schema::{AnyOfBuilder, ObjectBuilder, OneOfBuilder, Schema, Type};
use utoipa::openapi::RefOr;

/// The schema of an answer's wire enum: a known text, or one a newer version may send.
pub fn open_set(known: &[&str], description: &str) -> RefOr<Schema> {
    let description = format!(
        "{description} One of the known values, or another string: a value this version does \
         not know (sent by a newer server), to be treated as none of the known cases."
    );
    AnyOfBuilder::new()
        .item(closed_set(known, None))
        .item(ObjectBuilder::new().schema_type(Type::String))
        .description(Some(description))
        .into()
}

/// The schema of a field that accepts only the known texts.
pub fn closed_set(known: &[&str], description: Option<&str>) -> RefOr<Schema> {
    ObjectBuilder::new()
        .schema_type(Type::String)
        .enum_values(Some(known.iter().copied()))
        .description(description)
        .into()
}

/// [`closed_set`], or `null` (an optional request field, where `null` leaves it as it is).
pub fn closed_set_or_null(known: &[&str], description: Option<&str>) -> RefOr<Schema> {
    OneOfBuilder::new()
        .item(closed_set(known, None))
        .item(ObjectBuilder::new().schema_type(Type::Null))
        .description(description)
        .into()
}

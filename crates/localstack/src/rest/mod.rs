//! The PostgREST-compatible table API: the schema it serves and its query language.

pub mod query;
pub mod schema;

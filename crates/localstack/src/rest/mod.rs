//! The PostgREST-compatible table API: the schema it serves and its query language.

pub mod handlers;
pub mod lifecycle;
pub mod query;
pub mod schema;

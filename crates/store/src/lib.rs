//! Viva's local SQLite file: sessions, transcript lines, the outbox that syncs them to the
//! backend, full-text search and export.
//!
//! Final transcript lines are committed here before anything else acts on them. It does not talk
//! to the network itself; the outbox hands batches to a sender the caller provides.

//! Viva's local SQLite file: sessions, transcript lines, the outbox that syncs them to the
//! backend, full-text search and export.
//!
//! Final transcript lines are committed here before anything else acts on them. It does not talk
//! to the network itself; the outbox hands batches to a [`Remote`] the caller provides.

pub mod error;
pub mod export;
pub mod insights;
pub mod model;
mod open;
pub mod outbox;
mod schema;
pub mod search;
mod store;

/// The file name of the transcript database inside the app's data folder.
pub const FILE_NAME: &str = "transcripts.sqlite3";

pub use error::StoreError;
pub use export::{Format, export};
pub use insights::{Insights, insights};
pub use model::{
    Ending, NewSession, SessionList, SessionStatus, StoredLine, StoredSession, SyncFilter,
    SyncState,
};
pub use open::{private_file, private_folder};
pub use outbox::{Refused, Remote, SyncTarget, Syncer, Work, spawn_syncer};
pub use search::{Fragment, Hit, SearchQuery};
pub use store::{MovedAside, OpenReport, Recorded, Store};

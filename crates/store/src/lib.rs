//! Viva's local SQLite file (WAL): sessions, transcript lines, the outbox that syncs them to the
//! backend, full-text search, insights and export.
//!
//! It owns the file and everything in it: opening and recovering it (a damaged file moved aside,
//! sessions a crash left live closed as interrupted), the lock held per live session, lines
//! (final ones committed and fsync'd before anything else acts on them), sessions, cached copies
//! of a backend's sessions, and settings; errors are classified into [`StoreError`] by SQLite's
//! codes. It does not talk to the network (the outbox hands batches to a [`Remote`] the caller
//! provides), does not decide when a session counts as completed (`viva-session` does), and knows
//! nothing of calls, audio or the UI.

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
    Consent, Ending, NewSession, SessionList, SessionStatus, StoredLine, StoredSession, SyncFilter,
    SyncState,
};
pub use open::{private_file, private_folder};
pub use outbox::{Refused, Remote, SyncTarget, Syncer, Work, spawn_syncer};
pub use search::{Fragment, Hit, SearchQuery};
pub use store::{MovedAside, OpenReport, Recorded, Store};

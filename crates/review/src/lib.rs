//! Reviewing interviews after the fact: which copy of a transcript to show, the list of
//! sessions, search, export and scheduling — the policy the desktop app's review screens follow.
//!
//! What it owns:
//! - **Which copy** ([`open()`]): the transcript recorded on this computer is the original and
//!   always wins; else the backend's (an interviewer reading a candidate's interview), kept on
//!   this computer for reading offline; else — the backend cannot be asked — the copy kept
//!   from an earlier read, marked with when it was read and why it may be out of date. A
//!   session gone from the backend shows no copy; a copy from another backend is never
//!   refreshed from this one.
//! - **The list** ([`list()`]): the backend's sessions when signed in, else (or when the backend
//!   cannot be reached) those kept on this computer, saying why.
//! - **The record check** ([`RecordCheck`]): a transcript read from the backend is held against
//!   the signalling service's record of the interview, and the lines it contradicts are
//!   flagged ([`LineFlag`]).
//! - **Search** over this computer's transcripts, **export** (the text and a file name), and
//!   checking and sending **scheduling** requests.
//! - The shapes review hands out (camelCase for the UI, with `specta::Type` under the
//!   `specta` feature), built on the domain types ([`Speaker`], [`SyncState`]).
//!
//! What it does not own: the SQLite file, sync and the export formats (`viva-store`), HTTP,
//! sign-in and tokens (`viva-backend`), and anything of Tauri — dialogs, IPC error codes and
//! managed state stay in the desktop shell, which calls these functions and nothing more.

mod export;
mod list;
mod open;
mod record;
mod schedule;
mod search;

pub use export::{ExportFormat, Exported, export};
pub use list::{ListSource, SessionListRequest, SessionListView, SessionRowView, list};
pub use open::{Opened, ReviewLineView, ReviewSessionView, TranscriptSource, TranscriptView, open};
pub use record::{Checked, LineFlag, RecordCheck};
pub use schedule::{ScheduleRequest, cancel, schedule};
pub use search::{FragmentView, SearchHitView, SearchRequest, search};
pub use viva_realtime::Speaker;
pub use viva_store::SyncState;

use viva_store::StoreError;

/// What review could not do, one variant per thing the caller tells the user differently.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum ReviewError {
    /// No such transcript here, or none visible to this account on the backend.
    #[error("{0}")]
    NotFound(String),
    /// The transcript store could not be opened, or reading it failed.
    #[error("{0}")]
    StoreUnavailable(String),
    /// What was asked for cannot be used (an unknown filter, an empty title).
    #[error("{0}")]
    InvalidInput(String),
    /// Not signed in (any more), for something only the backend can do.
    #[error("{0}")]
    SignedOut(String),
    /// The backend refused or could not be reached.
    #[error(transparent)]
    Backend(#[from] viva_backend::BackendError),
    /// Work handed to a blocking thread did not finish.
    #[error("{0}")]
    Interrupted(String),
}

impl From<StoreError> for ReviewError {
    fn from(error: StoreError) -> Self {
        match error {
            StoreError::NoSuchSession(id) => {
                Self::NotFound(format!("No transcript {id} is kept on this computer."))
            }
            other => Self::StoreUnavailable(other.to_string()),
        }
    }
}

/// The store, or the error review gives when it could not be opened.
fn readable(store: Option<&viva_store::Store>) -> Result<&viva_store::Store, ReviewError> {
    store.ok_or_else(|| {
        ReviewError::StoreUnavailable("Transcripts on this computer cannot be read.".into())
    })
}

/// A count as the UI's 32-bit number, saturating.
fn clamp(n: u64) -> u32 {
    u32::try_from(n).unwrap_or(u32::MAX)
}

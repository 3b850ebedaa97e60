//! The store's records: sessions, their lines and how far each session has synced.

use serde::{Deserialize, Serialize};
use viva_realtime::Speaker;

/// Which sessions [`crate::Store::list`] returns; every field set narrows the list.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct SessionList {
    pub status: Option<SessionStatus>,
    /// Part of the title, case-insensitive.
    pub title_contains: Option<String>,
    /// Started at or after (Unix ms).
    pub from_ms: Option<i64>,
    /// Started before (Unix ms).
    pub before_ms: Option<i64>,
    pub sync: Option<SyncFilter>,
    pub oldest_first: bool,
    pub limit: u32,
    pub offset: u32,
}

/// Sessions by where their lines are.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SyncFilter {
    /// Offline practice: never leaves this computer.
    LocalOnly,
    /// Everything is on the backend.
    Synced,
    /// Lines (or the closing) still waiting to go, or failing.
    Unsynced,
    /// Copies of a backend's sessions, kept for reading offline.
    Cached,
}

impl SyncFilter {
    pub fn as_str(self) -> &'static str {
        match self {
            Self::LocalOnly => "local_only",
            Self::Synced => "synced",
            Self::Unsynced => "unsynced",
            Self::Cached => "cached",
        }
    }
}

/// A session about to be recorded.
#[derive(Debug, Clone, PartialEq)]
pub struct NewSession {
    /// The backend's session id (the `interview_sessions` row).
    pub id: String,
    /// The backend the lines sync to (its base URL); `None` for a session whose backend
    /// does not outlive the run (offline practice): it is kept on this device only.
    pub remote: Option<String>,
    /// Who took it (the backend's user id), so another account's lines never go out
    /// under this one.
    pub user_id: Option<String>,
    pub title: String,
    /// `practice` or `interview`.
    pub mode: String,
    /// Unix milliseconds.
    pub started_at_ms: i64,
    /// The recording notice the candidate agreed to before the first word (none for offline
    /// practice, which stays on this computer).
    pub consent: Option<Consent>,
}

/// The recording notice a candidate agreed to, and when.
#[cfg_attr(feature = "specta", derive(specta::Type))]
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Consent {
    /// The notice's version.
    pub notice: String,
    /// Unix milliseconds.
    pub agreed_at_ms: i64,
}

/// Where a session stands.
#[cfg_attr(feature = "specta", derive(specta::Type))]
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum SessionStatus {
    Active,
    Completed,
    /// Viva stopped (crash, power loss, killed) while it was live.
    Interrupted,
    Failed,
    Cancelled,
}

impl SessionStatus {
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Active => "active",
            Self::Completed => "completed",
            Self::Interrupted => "interrupted",
            Self::Failed => "failed",
            Self::Cancelled => "cancelled",
        }
    }

    /// A status by its name; the name itself when there is none such.
    pub fn parse_known(text: &str) -> Result<Self, String> {
        match text {
            "active" => Ok(Self::Active),
            "completed" => Ok(Self::Completed),
            "interrupted" => Ok(Self::Interrupted),
            "failed" => Ok(Self::Failed),
            "cancelled" => Ok(Self::Cancelled),
            other => Err(other.to_owned()),
        }
    }

    pub(crate) fn parse(text: &str) -> Self {
        match text {
            "active" => Self::Active,
            "completed" => Self::Completed,
            "failed" => Self::Failed,
            "cancelled" => Self::Cancelled,
            _ => Self::Interrupted,
        }
    }
}

/// How a session ended.
#[derive(Debug, Clone, PartialEq)]
pub struct Ending {
    pub status: SessionStatus,
    /// Unix milliseconds.
    pub ended_at_ms: i64,
    pub duration_ms: i64,
    /// `None` when the cost could not be priced.
    pub cost_usd: Option<f64>,
}

/// How far a session's lines have reached its backend.
#[cfg_attr(feature = "specta", derive(specta::Type))]
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "state", rename_all = "snake_case")]
pub enum SyncState {
    /// Every line is on the backend and the session is closed there (or still live).
    Synced,
    /// Lines (or the closing) wait to go out; nothing has failed yet.
    Pending { lines: u64 },
    /// The last attempt failed; it is retried with backoff.
    Failing { lines: u64, reason: String },
    /// The session's backend did not outlive the run (offline practice).
    LocalOnly,
    /// A copy of a backend's session, read from it at `at_ms` (Unix ms); nothing to send.
    Cached { at_ms: i64 },
}

/// A session as stored.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct StoredSession {
    pub id: String,
    pub remote: Option<String>,
    pub user_id: Option<String>,
    pub title: String,
    pub mode: String,
    pub status: SessionStatus,
    pub started_at_ms: i64,
    pub ended_at_ms: Option<i64>,
    pub duration_ms: Option<i64>,
    pub cost_usd: Option<f64>,
    /// Final lines kept.
    pub lines: u64,
    pub sync: SyncState,
    /// Lines the backend refused (kept here; see [`StoredLine::refused`]).
    #[serde(default)]
    pub refused_lines: u64,
    /// What the candidate agreed to before it started, and when.
    #[serde(default)]
    pub consent: Option<Consent>,
}

/// A line as stored.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct StoredLine {
    pub item_id: String,
    pub seq: u32,
    pub speaker: Speaker,
    pub text: String,
    /// Milliseconds since the session started.
    pub started_ms: u64,
    pub ended_ms: Option<u64>,
    /// `false` for the latest words of a line still being spoken.
    pub is_final: bool,
    /// The candidate's words could not be transcribed (the server's code).
    pub inaudible: Option<String>,
    /// Cut off: the interviewer was interrupted, or Viva stopped mid-line.
    pub interrupted: bool,
    /// The backend refused this line, and why; it is kept here and not sent again.
    #[serde(default)]
    pub refused: Option<String>,
    /// A server copy's line that reached the server well after the session closed (synced
    /// from a computer that was offline).
    #[serde(default)]
    pub late: bool,
}

pub(crate) fn speaker_str(speaker: Speaker) -> &'static str {
    match speaker {
        Speaker::Candidate => "candidate",
        Speaker::Interviewer => "interviewer",
    }
}

pub(crate) fn parse_speaker(text: &str) -> Speaker {
    if text == "interviewer" {
        Speaker::Interviewer
    } else {
        Speaker::Candidate
    }
}

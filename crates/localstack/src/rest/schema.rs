//! The tables the PostgREST-compatible API serves, column by column. Column names in SQL come
//! only from here, never from a request, so a filter can name a column but never inject one.

/// How a column's values are compared, bound and returned.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ColumnType {
    Text,
    Uuid,
    Integer,
    Numeric,
    /// RFC 3339 text in UTC, so text order is time order.
    Timestamp,
    /// Text limited to the listed values.
    Enum(&'static [&'static str]),
    /// Stored as 0 or 1, returned as `false` or `true`.
    Boolean,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Column {
    pub name: &'static str,
    pub kind: ColumnType,
    pub nullable: bool,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Table {
    pub name: &'static str,
    pub columns: &'static [Column],
    /// The unique keys an upsert may name in `on_conflict`.
    pub unique_keys: &'static [&'static [&'static str]],
}

impl Table {
    pub fn column(&self, name: &str) -> Option<&'static Column> {
        self.columns.iter().find(|c| c.name == name)
    }
}

const fn col(name: &'static str, kind: ColumnType, nullable: bool) -> Column {
    Column {
        name,
        kind,
        nullable,
    }
}

pub const SESSION_MODES: &[&str] = &["practice", "interview"];
/// Which voice API an interview speaks (`viva_contract::grant::VoiceApi`).
pub const VOICE_APIS: &[&str] = &["live", "realtime"];
pub const SESSION_STATUSES: &[&str] = &[
    "scheduled",
    "active",
    "completed",
    "interrupted",
    "failed",
    "cancelled",
];
pub const SPEAKERS: &[&str] = &["candidate", "interviewer"];

use ColumnType::{Boolean, Enum, Integer, Numeric, Text, Timestamp, Uuid};

pub const INTERVIEW_SESSIONS: Table = Table {
    name: "interview_sessions",
    columns: &[
        col("id", Uuid, false),
        col("tenant_id", Uuid, false),
        col("candidate_id", Uuid, true),
        col("candidate_email", Text, true),
        col("interviewer_id", Uuid, true),
        col("title", Text, false),
        col("question_set", Text, false),
        col("mode", Enum(SESSION_MODES), false),
        col("status", Enum(SESSION_STATUSES), false),
        col("scheduled_at", Timestamp, true),
        col("started_at", Timestamp, true),
        col("ended_at", Timestamp, true),
        col("duration_ms", Integer, true),
        col("model", Text, true),
        col("realtime_cost_usd", Numeric, true),
        col("created_at", Timestamp, false),
        // When the server saw the session end (its own clock, not the client's `ended_at`).
        col("closed_at", Timestamp, true),
        // The voice API chosen for this interview; none: the tenant's default.
        col("voice_api", Enum(VOICE_APIS), true),
        // When the candidate agreed to which recording notice (`interview-start` writes them).
        col("consent_at", Timestamp, true),
        col("consent_notice", Text, true),
    ],
    unique_keys: &[&["id"]],
};

pub const TRANSCRIPT_ENTRIES: Table = Table {
    name: "transcript_entries",
    columns: &[
        col("id", Uuid, false),
        col("tenant_id", Uuid, false),
        col("session_id", Uuid, false),
        col("item_id", Text, false),
        col("seq", Integer, false),
        col("speaker", Enum(SPEAKERS), false),
        col("text", Text, false),
        col("started_ms", Integer, false),
        col("ended_ms", Integer, true),
        col("created_at", Timestamp, false),
        // Who reported the line, when it arrived, and whether that was long after the close.
        col("reported_by", Uuid, true),
        col("received_at", Timestamp, true),
        col("late", Boolean, false),
    ],
    unique_keys: &[&["id"], &["session_id", "item_id"]],
};

/// Organisations: members read their own (the candidate's home names who scheduled them);
/// nobody writes them through the API.
pub const TENANTS: Table = Table {
    name: "tenants",
    columns: &[
        col("id", Uuid, false),
        col("name", Text, false),
        // The voice API its interviews speak unless one chooses otherwise.
        col("voice_api", Enum(VOICE_APIS), false),
    ],
    unique_keys: &[&["id"]],
};

/// Why an observation window ended (`viva_proxy::observe::WindowEnd`).
pub const WINDOW_ENDS: &[&str] = &["closed", "drain", "lost"];

/// The SDP proxy's record of a session: the stretches of each provider session it listened
/// to. Written by the proxy only; read by the tenant's interviewers.
pub const OBSERVED_WINDOWS: Table = Table {
    name: "observed_windows",
    columns: &[
        col("id", Uuid, false),
        col("tenant_id", Uuid, false),
        col("session_id", Uuid, false),
        col("provider_session", Text, false),
        col("api", Enum(VOICE_APIS), false),
        col("instance", Text, false),
        col("from_ms", Integer, false),
        col("to_ms", Integer, false),
        col("started_at", Timestamp, false),
        col("ended_at", Timestamp, true),
        col("end_reason", Enum(WINDOW_ENDS), true),
    ],
    unique_keys: &[&["id"]],
};

/// The words the SDP proxy heard, in the order it received them (`id`). Written by the proxy
/// only; read by the tenant's interviewers.
pub const OBSERVED_FRAGMENTS: Table = Table {
    name: "observed_fragments",
    columns: &[
        col("id", Integer, false),
        col("window_id", Uuid, false),
        col("tenant_id", Uuid, false),
        col("session_id", Uuid, false),
        col("provider_session", Text, false),
        col("speaker", Enum(SPEAKERS), false),
        col("text", Text, false),
        col("start_ms", Integer, false),
        col("end_ms", Integer, false),
        // The provider's item (a Realtime call's transcripts); none on GPT-Live.
        col("item_id", Text, true),
    ],
    unique_keys: &[&["id"]],
};

pub const TABLES: &[Table] = &[
    INTERVIEW_SESSIONS,
    TRANSCRIPT_ENTRIES,
    TENANTS,
    OBSERVED_WINDOWS,
    OBSERVED_FRAGMENTS,
];

pub fn table(name: &str) -> Option<&'static Table> {
    TABLES.iter().find(|t| t.name == name)
}

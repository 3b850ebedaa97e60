//! Which copy of a transcript to show: this computer's original, else the backend's (kept for
//! reading offline), else the kept copy marked as possibly out of date.

use std::ops::Deref;

use serde::Serialize;
use viva_backend::{Account, SessionQuery};
use viva_realtime::Speaker;
use viva_store::{Insights, SessionStatus, Store, StoredLine, StoredSession, SyncState};

use crate::record::{self, Checked, LineFlag, RecordCheck};
use crate::{ReviewError, clamp, readable};

/// A session as review shows it.
#[derive(Debug, Clone, PartialEq, Serialize)]
#[cfg_attr(feature = "specta", derive(specta::Type))]
#[serde(rename_all = "camelCase")]
pub struct ReviewSessionView {
    pub id: String,
    pub title: String,
    /// `practice` or `interview`.
    pub mode: String,
    /// As its source names it (the backend also knows `scheduled`).
    pub status: String,
    /// Unix milliseconds (a JS number: exact far beyond any date Viva meets).
    pub started_at_ms: f64,
    pub duration_ms: Option<f64>,
    pub cost_usd: Option<f64>,
    pub lines: u32,
    pub sync: SyncState,
    /// Lines the backend refused; they are kept on this computer.
    pub refused_lines: u32,
}

/// One final line.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[cfg_attr(feature = "specta", derive(specta::Type))]
#[serde(rename_all = "camelCase")]
pub struct ReviewLineView {
    pub item_id: String,
    pub speaker: Speaker,
    pub text: String,
    /// Milliseconds from the session's start.
    pub at_ms: u32,
    pub end_ms: Option<u32>,
    /// The words could not be transcribed.
    pub inaudible: bool,
    /// Cut off mid-line.
    pub interrupted: bool,
    /// The backend refused this line (why); it is kept on this computer only.
    pub refused: Option<String>,
    /// It reached the server well after the interview ended (synced later from a computer
    /// that was offline).
    pub late: bool,
    /// The signalling service's record of the interview contradicts this line.
    pub flag: Option<LineFlag>,
}

impl From<&StoredLine> for ReviewLineView {
    fn from(line: &StoredLine) -> Self {
        Self {
            item_id: line.item_id.clone(),
            speaker: line.speaker,
            text: line.text.clone(),
            at_ms: clamp(line.started_ms),
            end_ms: line.ended_ms.map(clamp),
            inaudible: line.inaudible.is_some(),
            interrupted: line.interrupted,
            refused: line.refused.clone(),
            late: line.late,
            flag: None,
        }
    }
}

/// A transcript: its session, its final lines in order, what they say about the interview,
/// and where it was read from.
#[derive(Debug, Clone, PartialEq, Serialize)]
#[cfg_attr(feature = "specta", derive(specta::Type))]
#[serde(rename_all = "camelCase")]
pub struct TranscriptView {
    pub session: ReviewSessionView,
    pub lines: Vec<ReviewLineView>,
    pub insights: Insights,
    pub source: TranscriptSource,
    /// Whether the lines were checked against the signalling service's record.
    pub record: RecordCheck,
}

/// Where a transcript on screen was read from.
#[derive(Debug, Clone, PartialEq, Serialize)]
#[cfg_attr(feature = "specta", derive(specta::Type))]
#[serde(tag = "kind", rename_all = "snake_case")]
pub enum TranscriptSource {
    /// Recorded on this computer: the original.
    ThisComputer,
    /// Read from the backend just now (and kept for reading offline).
    Server,
    /// The copy kept when it was last read from the backend (`read_at_ms`, Unix ms); the
    /// backend could not be asked now (`reason`), so it may be out of date.
    #[serde(rename_all = "camelCase")]
    Copy { read_at_ms: f64, reason: String },
}

/// A transcript as opened for review or export.
#[derive(Debug, Clone, PartialEq)]
pub struct Opened {
    pub session: StoredSession,
    pub lines: Vec<StoredLine>,
    /// The status as its source names it (the backend knows `scheduled`, the store does not).
    pub status: String,
    pub source: TranscriptSource,
    /// The lines held against the signalling service's record.
    pub record: Checked,
}

impl Opened {
    fn kept((session, lines): (StoredSession, Vec<StoredLine>), source: TranscriptSource) -> Self {
        let record = match &source {
            TranscriptSource::ThisComputer => Checked::without(RecordCheck::Original),
            TranscriptSource::Copy { reason, .. } => Checked::without(RecordCheck::NotChecked {
                reason: reason.clone(),
            }),
            // Never built from a kept copy.
            TranscriptSource::Server => Checked::without(RecordCheck::NoRecord),
        };
        Self {
            status: session.status.as_str().to_owned(),
            session,
            lines,
            source,
            record,
        }
    }

    /// The kept copy, marked as possibly out of date because of `reason`.
    fn stale(kept: (StoredSession, Vec<StoredLine>), reason: &str) -> Self {
        let read_at_ms = match kept.0.sync {
            SyncState::Cached { at_ms } => at_ms as f64,
            _ => 0.0,
        };
        let source = TranscriptSource::Copy {
            read_at_ms,
            reason: reason.to_owned(),
        };
        Self::kept(kept, source)
    }

    /// The transcript as review shows it, with its insights.
    pub fn view(&self) -> TranscriptView {
        let session = &self.session;
        TranscriptView {
            session: ReviewSessionView {
                id: session.id.clone(),
                title: session.title.clone(),
                mode: session.mode.clone(),
                status: self.status.clone(),
                started_at_ms: session.started_at_ms as f64,
                duration_ms: session.duration_ms.map(|d| d as f64),
                cost_usd: session.cost_usd,
                lines: clamp(session.lines),
                sync: session.sync.clone(),
                refused_lines: clamp(session.refused_lines),
            },
            lines: self
                .lines
                .iter()
                .map(|line| ReviewLineView {
                    flag: self.record.flags.get(&line.item_id).cloned(),
                    ..ReviewLineView::from(line)
                })
                .collect(),
            insights: viva_store::insights(&self.lines),
            source: self.source.clone(),
            record: self.record.check.clone(),
        }
    }
}

fn read(
    store: Option<&Store>,
    session_id: &str,
) -> Result<(StoredSession, Vec<StoredLine>), ReviewError> {
    let store = readable(store)?;
    Ok((store.session(session_id)?, store.lines(session_id, true)?))
}

/// The session recorded on this computer; else the backend's (`account`: who is signed in to
/// the organisation's backend, asked only when this computer has no original), kept in `store`
/// for reading offline; else (the backend cannot be asked) the copy kept from an earlier read,
/// marked as such. The copy is written off the caller's path: a failure only costs the copy.
pub async fn open<A: Deref<Target = Account>>(
    store: Option<&Store>,
    account: impl Future<Output = Option<A>>,
    session_id: &str,
) -> Result<Opened, ReviewError> {
    let kept = read(store, session_id);
    if let Ok((session, _)) = &kept
        && !matches!(session.sync, SyncState::Cached { .. })
    {
        return kept.map(|kept| Opened::kept(kept, TranscriptSource::ThisComputer));
    }
    let Some(account) = account.await else {
        return kept.map(|copy| Opened::stale(copy, "You are not signed in."));
    };
    if let Ok((copy, _)) = &kept
        && copy.remote.as_deref() != Some(account.backend().base_url())
    {
        return kept.map(|copy| Opened::stale(copy, "It came from another backend."));
    }
    match from_server(&account, session_id).await {
        Ok(opened) => {
            if let Some(store) = store {
                keep_copy(store, &opened);
            }
            Ok(opened)
        }
        // Gone from the backend (or no longer visible to this account): no copy is shown.
        Err(error @ ReviewError::NotFound(_)) => Err(error),
        Err(error) => match kept {
            Ok(copy) => Ok(Opened::stale(copy, &error.to_string())),
            Err(_) => Err(error),
        },
    }
}

/// Keeps what was read from the backend for reading offline, on a blocking thread.
fn keep_copy(store: &Store, opened: &Opened) {
    // A status the store does not know (`scheduled`) has no transcript worth keeping.
    if SessionStatus::parse_known(&opened.status).is_err() {
        return;
    }
    let store = store.clone();
    let session = opened.session.clone();
    let lines = opened.lines.clone();
    tokio::task::spawn_blocking(move || {
        let now = chrono::Utc::now().timestamp_millis();
        if let Err(error) = store.cache_remote(&session, &lines, now) {
            tracing::warn!(event = "transcript_copy_failed", session = %session.id, %error);
        }
    });
}

/// A session and its lines as the backend has them, in the store's shapes.
async fn from_server(account: &Account, session_id: &str) -> Result<Opened, ReviewError> {
    let query = SessionQuery {
        id: Some(session_id.to_owned()),
        limit: 1,
        ..SessionQuery::default()
    };
    let query = &query;
    let page = account
        .with_backend(|backend, token| async move { backend.sessions(&token, query).await })
        .await?;
    let row = page.rows.into_iter().next().ok_or_else(|| {
        ReviewError::NotFound(format!("No interview {session_id} is visible to you."))
    })?;
    let entries = account
        .with_backend(|backend, token| async move { backend.transcript(&token, session_id).await })
        .await?;
    let at_ms = |value: Option<&String>| {
        value
            .and_then(|v| chrono::DateTime::parse_from_rfc3339(v).ok())
            .map(|t| t.timestamp_millis())
    };
    let started_at_ms = at_ms(row.started_at.as_ref())
        .or_else(|| at_ms(row.created_at.as_ref()))
        .unwrap_or(0);
    let ms = |value: Option<i64>| value.map(|v| u64::try_from(v).unwrap_or(0));
    let lines = entries
        .into_iter()
        .map(|entry| StoredLine {
            item_id: entry.item_id,
            seq: u32::try_from(entry.seq).unwrap_or(0),
            speaker: if entry.speaker == "candidate" {
                Speaker::Candidate
            } else {
                Speaker::Interviewer
            },
            text: entry.text,
            started_ms: ms(entry.started_ms).unwrap_or(0),
            ended_ms: ms(entry.ended_ms),
            is_final: true,
            inaudible: None,
            interrupted: false,
            refused: None,
            late: entry.late,
        })
        .collect::<Vec<_>>();
    let session = StoredSession {
        id: row.id,
        remote: Some(account.backend().base_url().to_owned()),
        user_id: row.candidate_id,
        title: row.title.unwrap_or_else(|| "Interview".into()),
        mode: row.mode,
        status: SessionStatus::parse_known(&row.status).unwrap_or(SessionStatus::Active),
        started_at_ms,
        ended_at_ms: at_ms(row.ended_at.as_ref()),
        duration_ms: row.duration_ms,
        cost_usd: row.realtime_cost_usd,
        lines: lines.len() as u64,
        sync: SyncState::Synced,
        refused_lines: 0,
        consent: None,
    };
    // The record is a check on the transcript, not part of it: when it cannot be read the
    // transcript is still shown, marked as not checked.
    let record = match account
        .with_backend(
            |backend, token| async move { backend.observed_record(&token, session_id).await },
        )
        .await
    {
        Ok(record) => record::check(&lines, &record),
        Err(error) => {
            tracing::warn!(event = "observed_record_unreadable", session = %session_id, %error);
            Checked::without(RecordCheck::NotChecked {
                reason: format!("The service's record could not be read: {error}"),
            })
        }
    };
    Ok(Opened {
        session,
        lines,
        status: row.status,
        source: TranscriptSource::Server,
        record,
    })
}

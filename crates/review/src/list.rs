//! The sessions list: the backend's when signed in, else — or when the backend cannot be
//! reached — those kept on this computer, saying why.

use serde::{Deserialize, Serialize};
use viva_backend::{Account, AuthState, BackendError, SessionQuery, SessionRow};
use viva_store::{SessionList, SessionStatus, Store, StoredSession, SyncFilter, SyncState};

use crate::{ReviewError, clamp, readable};

/// Which sessions to list: every filter set narrows it; one page at a time.
#[derive(Debug, Clone, Default, PartialEq, Deserialize)]
#[cfg_attr(feature = "specta", derive(specta::Type))]
#[serde(rename_all = "camelCase")]
pub struct SessionListRequest {
    pub status: Option<String>,
    pub title_contains: Option<String>,
    /// Part of the candidate's email (the backend's list only).
    pub candidate_contains: Option<String>,
    /// Started (created, on the backend) at or after, Unix ms.
    pub from_ms: Option<f64>,
    /// Started before, Unix ms.
    pub before_ms: Option<f64>,
    /// `local_only`, `synced`, `unsynced` or `cached` (this computer's list only).
    pub sync: Option<String>,
    pub oldest_first: bool,
    pub offset: u32,
    pub limit: u32,
}

/// Where a list came from.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[cfg_attr(feature = "specta", derive(specta::Type))]
#[serde(rename_all = "snake_case")]
pub enum ListSource {
    /// The organisation's backend: what the signed-in user may see there.
    Server,
    /// The transcripts kept on this computer.
    Local,
}

/// One session in a list.
#[derive(Debug, Clone, PartialEq, Serialize)]
#[cfg_attr(feature = "specta", derive(specta::Type))]
#[serde(rename_all = "camelCase")]
pub struct SessionRowView {
    pub id: String,
    pub title: String,
    pub candidate: Option<String>,
    pub mode: String,
    pub status: String,
    /// Unix ms: when it started, else when it was created or scheduled.
    pub at_ms: Option<f64>,
    pub duration_ms: Option<f64>,
    /// Its transcript is kept on this computer (readable offline), with this sync state.
    pub sync: Option<SyncState>,
}

/// A page of sessions.
#[derive(Debug, Clone, PartialEq, Serialize)]
#[cfg_attr(feature = "specta", derive(specta::Type))]
#[serde(rename_all = "camelCase")]
pub struct SessionListView {
    pub rows: Vec<SessionRowView>,
    /// How many match in all (`Prefer: count=exact` on the backend).
    pub total: Option<u32>,
    pub source: ListSource,
    /// Why this computer's list is shown instead of the backend's (it may be out of date).
    pub stale_reason: Option<String>,
    /// The user may schedule interviews here: an interviewer, with the backend reachable.
    pub can_schedule: bool,
}

/// Sessions for review: the backend's (the interviewer's tenant, or the candidate's own) when
/// `account` is signed in to it, else — or when it cannot be reached — those in `store`.
/// Signed out by the backend meanwhile is an error, not a fallback.
pub async fn list(
    store: Option<&Store>,
    account: Option<&Account>,
    request: &SessionListRequest,
) -> Result<SessionListView, ReviewError> {
    let mut stale_reason = None;
    if let Some(account) = account {
        match server_page(account, request).await {
            Ok((rows, total)) => {
                let can_schedule = matches!(
                    account.state(),
                    AuthState::SignedIn { role: Some(role), .. } if role == "interviewer"
                );
                return Ok(SessionListView {
                    rows: rows.iter().map(|row| server_row(row, store)).collect(),
                    total,
                    source: ListSource::Server,
                    stale_reason: None,
                    can_schedule,
                });
            }
            Err(BackendError::SignedOut(reason)) => return Err(ReviewError::SignedOut(reason)),
            Err(error) => stale_reason = Some(error.to_string()),
        }
    }
    let store = readable(store)?;
    let local = |rows, total| SessionListView {
        rows,
        total: Some(total),
        source: ListSource::Local,
        stale_reason: stale_reason.clone(),
        can_schedule: false,
    };
    let status = match request.status.as_deref() {
        None => None,
        Some(status) => match SessionStatus::parse_known(status) {
            Ok(status) => Some(status),
            // Only the backend knows scheduled interviews: none are kept here.
            Err(status) if status == "scheduled" => return Ok(local(Vec::new(), 0)),
            Err(status) => {
                return Err(ReviewError::InvalidInput(format!("No status {status:?}.")));
            }
        },
    };
    let sync = match request.sync.as_deref() {
        None => None,
        Some("local_only") => Some(SyncFilter::LocalOnly),
        Some("synced") => Some(SyncFilter::Synced),
        Some("unsynced") => Some(SyncFilter::Unsynced),
        Some("cached") => Some(SyncFilter::Cached),
        Some(other) => {
            return Err(ReviewError::InvalidInput(format!(
                "No sync state {other:?}."
            )));
        }
    };
    let query = SessionList {
        status,
        title_contains: request
            .title_contains
            .clone()
            .filter(|t| !t.trim().is_empty()),
        from_ms: request.from_ms.map(|ms| ms as i64),
        before_ms: request.before_ms.map(|ms| ms as i64),
        sync,
        oldest_first: request.oldest_first,
        limit: request.limit.clamp(1, 500),
        offset: request.offset,
    };
    let (rows, total) = store.list(&query)?;
    Ok(local(rows.iter().map(local_row).collect(), clamp(total)))
}

async fn server_page(
    account: &Account,
    request: &SessionListRequest,
) -> Result<(Vec<SessionRow>, Option<u32>), BackendError> {
    let rfc3339 =
        |ms: f64| chrono::DateTime::from_timestamp_millis(ms as i64).map(|t| t.to_rfc3339());
    let text = |value: &Option<String>| value.clone().filter(|v| !v.trim().is_empty());
    let query = SessionQuery {
        statuses: request.status.iter().cloned().collect(),
        candidate_email_contains: text(&request.candidate_contains),
        title_contains: text(&request.title_contains),
        created_from: request.from_ms.and_then(rfc3339),
        created_before: request.before_ms.and_then(rfc3339),
        oldest_first: request.oldest_first,
        limit: request.limit.clamp(1, 500),
        offset: request.offset,
        ..SessionQuery::default()
    };
    let query = &query;
    let page = account
        .with_backend(|backend, token| async move { backend.sessions(&token, query).await })
        .await?;
    Ok((page.rows, page.total.map(clamp)))
}

fn parse_ms(rfc3339: Option<&String>) -> Option<f64> {
    chrono::DateTime::parse_from_rfc3339(rfc3339?)
        .ok()
        .map(|t| t.timestamp_millis() as f64)
}

fn server_row(row: &SessionRow, store: Option<&Store>) -> SessionRowView {
    let kept = store.and_then(|store| store.session(&row.id).ok());
    let untitled = if row.mode == "practice" {
        "Practice"
    } else {
        "Interview"
    };
    SessionRowView {
        id: row.id.clone(),
        title: row.title.clone().unwrap_or_else(|| untitled.into()),
        candidate: row.candidate_email.clone(),
        mode: row.mode.clone(),
        status: row.status.clone(),
        at_ms: parse_ms(row.started_at.as_ref())
            .or_else(|| parse_ms(row.created_at.as_ref()))
            .or_else(|| parse_ms(row.scheduled_at.as_ref())),
        duration_ms: row.duration_ms.map(|d| d as f64),
        sync: kept.map(|session| session.sync),
    }
}

fn local_row(session: &StoredSession) -> SessionRowView {
    SessionRowView {
        id: session.id.clone(),
        title: session.title.clone(),
        candidate: None,
        mode: session.mode.clone(),
        status: session.status.as_str().to_owned(),
        at_ms: Some(session.started_at_ms as f64),
        duration_ms: session.duration_ms.map(|d| d as f64),
        sync: Some(session.sync.clone()),
    }
}

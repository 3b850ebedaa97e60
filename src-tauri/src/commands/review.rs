//! Reviewing a transcript kept on this computer: the session, its lines with speakers and
//! times, and exports saved where the user chooses in the system's save dialog.

use serde::{Deserialize, Serialize};
use tauri::{AppHandle, State};
use tauri_plugin_dialog::DialogExt;
use viva_realtime::Speaker;
use viva_store::{Format, StoreError, StoredLine, StoredSession};

use crate::error::{AppError, ErrorCode};
use crate::live::SyncView;
use crate::transcripts::TranscriptState;

/// A session as review shows it.
#[derive(Debug, Clone, PartialEq, Serialize, specta::Type)]
#[serde(rename_all = "camelCase")]
pub struct ReviewSessionView {
    pub id: String,
    pub title: String,
    /// `practice` or `interview`.
    pub mode: String,
    pub status: String,
    /// Unix milliseconds (a JS number: exact far beyond any date Viva meets).
    pub started_at_ms: f64,
    pub duration_ms: Option<f64>,
    pub cost_usd: Option<f64>,
    pub lines: u32,
    pub sync: SyncView,
    /// Lines the backend refused; they are kept on this computer.
    pub refused_lines: u32,
}

impl From<&StoredSession> for ReviewSessionView {
    fn from(session: &StoredSession) -> Self {
        Self {
            id: session.id.clone(),
            title: session.title.clone(),
            mode: session.mode.clone(),
            status: session.status.as_str().to_owned(),
            started_at_ms: session.started_at_ms as f64,
            duration_ms: session.duration_ms.map(|d| d as f64),
            cost_usd: session.cost_usd,
            lines: u32::try_from(session.lines).unwrap_or(u32::MAX),
            sync: Ok(session.sync.clone()).into(),
            refused_lines: u32::try_from(session.refused_lines).unwrap_or(u32::MAX),
        }
    }
}

/// One final line.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, specta::Type)]
#[serde(rename_all = "camelCase")]
pub struct ReviewLineView {
    pub item_id: String,
    /// `candidate` or `interviewer`.
    pub speaker: String,
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
}

impl From<&StoredLine> for ReviewLineView {
    fn from(line: &StoredLine) -> Self {
        let ms = |value: u64| u32::try_from(value).unwrap_or(u32::MAX);
        Self {
            item_id: line.item_id.clone(),
            speaker: match line.speaker {
                Speaker::Candidate => "candidate",
                Speaker::Interviewer => "interviewer",
            }
            .to_owned(),
            text: line.text.clone(),
            at_ms: ms(line.started_ms),
            end_ms: line.ended_ms.map(ms),
            inaudible: line.inaudible.is_some(),
            interrupted: line.interrupted,
            refused: line.refused.clone(),
            late: line.late,
        }
    }
}

/// A transcript: its session, its final lines in order, what they say about the interview,
/// and where it was read from.
#[derive(Debug, Clone, PartialEq, Serialize, specta::Type)]
#[serde(rename_all = "camelCase")]
pub struct TranscriptView {
    pub session: ReviewSessionView,
    pub lines: Vec<ReviewLineView>,
    pub insights: InsightsView,
    pub source: TranscriptSource,
}

/// Where a transcript on screen was read from.
#[derive(Debug, Clone, PartialEq, Serialize, specta::Type)]
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

/// A transcript as loaded for review or export.
struct Loaded {
    session: StoredSession,
    lines: Vec<StoredLine>,
    /// The status as its source names it (the backend knows `scheduled`, the store does not).
    status: String,
    source: TranscriptSource,
}

impl Loaded {
    fn kept((session, lines): (StoredSession, Vec<StoredLine>), source: TranscriptSource) -> Self {
        Self {
            status: session.status.as_str().to_owned(),
            session,
            lines,
            source,
        }
    }

    /// The kept copy, marked as possibly out of date because of `reason`.
    fn stale(kept: (StoredSession, Vec<StoredLine>), reason: &str) -> Self {
        let read_at_ms = match kept.0.sync {
            viva_store::SyncState::Cached { at_ms } => at_ms as f64,
            _ => 0.0,
        };
        Self::kept(
            kept,
            TranscriptSource::Copy {
                read_at_ms,
                reason: reason.to_owned(),
            },
        )
    }
}

/// [`viva_store::Insights`] for the UI; times in milliseconds.
#[derive(Debug, Clone, PartialEq, Serialize, specta::Type)]
#[serde(rename_all = "camelCase")]
pub struct InsightsView {
    pub candidate_talk_ms: f64,
    pub interviewer_talk_ms: f64,
    pub candidate_share: Option<f64>,
    pub words_per_minute: Option<f64>,
    pub average_latency_ms: Option<f64>,
    pub longest_pause_ms: f64,
    pub longest_pause_at_ms: Option<f64>,
    pub fillers: Vec<FillerView>,
    pub filler_total: u32,
    pub questions: Vec<QuestionView>,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, specta::Type)]
pub struct FillerView {
    pub filler: String,
    pub count: u32,
}

#[derive(Debug, Clone, PartialEq, Serialize, specta::Type)]
#[serde(rename_all = "camelCase")]
pub struct QuestionView {
    pub question: String,
    pub asked_ms: f64,
    pub latency_ms: Option<f64>,
    pub answer_ms: f64,
    pub answer_words: u32,
}

impl From<viva_store::Insights> for InsightsView {
    fn from(found: viva_store::Insights) -> Self {
        let ms = |value: u64| value as f64;
        Self {
            candidate_talk_ms: ms(found.candidate_talk_ms),
            interviewer_talk_ms: ms(found.interviewer_talk_ms),
            candidate_share: found.candidate_share,
            words_per_minute: found.words_per_minute,
            average_latency_ms: found.average_latency_ms.map(ms),
            longest_pause_ms: ms(found.longest_pause_ms),
            longest_pause_at_ms: found.longest_pause_at_ms.map(ms),
            fillers: found
                .fillers
                .into_iter()
                .map(|f| FillerView {
                    filler: f.filler,
                    count: f.count,
                })
                .collect(),
            filler_total: found.filler_total,
            questions: found
                .questions
                .into_iter()
                .map(|q| QuestionView {
                    question: q.question,
                    asked_ms: ms(q.asked_ms),
                    latency_ms: q.latency_ms.map(ms),
                    answer_ms: ms(q.answer_ms),
                    answer_words: q.answer_words,
                })
                .collect(),
        }
    }
}

/// The export formats (W1-8's), as the UI names them.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize, specta::Type)]
#[serde(rename_all = "snake_case")]
pub enum ExportFormat {
    Markdown,
    Json,
    Text,
    Srt,
    Vtt,
}

impl From<ExportFormat> for Format {
    fn from(format: ExportFormat) -> Self {
        match format {
            ExportFormat::Markdown => Self::Markdown,
            ExportFormat::Json => Self::Json,
            ExportFormat::Text => Self::Text,
            ExportFormat::Srt => Self::Srt,
            ExportFormat::Vtt => Self::Vtt,
        }
    }
}

fn store_error(error: StoreError) -> AppError {
    match error {
        StoreError::NoSuchSession(id) => AppError::new(
            ErrorCode::NotFound,
            format!("No transcript {id} is kept on this computer."),
        ),
        other => AppError::new(ErrorCode::StoreUnavailable, other.to_string()),
    }
}

fn read(
    transcripts: &TranscriptState,
    session_id: &str,
) -> Result<(StoredSession, Vec<StoredLine>), AppError> {
    let store = transcripts.readable()?;
    let session = store.session(session_id).map_err(store_error)?;
    let lines = store.lines(session_id, true).map_err(store_error)?;
    Ok((session, lines))
}

/// A transcript: the one kept on this computer, else the backend's (an interviewer reading a
/// candidate's interview).
#[tauri::command]
#[specta::specta]
pub async fn open_transcript(
    accounts: State<'_, crate::account::AccountState>,
    transcripts: State<'_, TranscriptState>,
    session_id: String,
) -> Result<TranscriptView, AppError> {
    let loaded = load(&accounts, &transcripts, &session_id).await?;
    let mut session = ReviewSessionView::from(&loaded.session);
    session.status = loaded.status;
    Ok(TranscriptView {
        session,
        lines: loaded.lines.iter().map(ReviewLineView::from).collect(),
        insights: viva_store::insights(&loaded.lines).into(),
        source: loaded.source,
    })
}

/// The session recorded on this computer; else the backend's, kept for reading offline; else
/// (the backend cannot be asked) the copy kept from an earlier read, marked as such.
async fn load(
    accounts: &crate::account::AccountState,
    transcripts: &TranscriptState,
    session_id: &str,
) -> Result<Loaded, AppError> {
    let kept = read(transcripts, session_id);
    if let Ok((session, _)) = &kept
        && !matches!(session.sync, viva_store::SyncState::Cached { .. })
    {
        return kept.map(|kept| Loaded::kept(kept, TranscriptSource::ThisComputer));
    }
    let Some(account) = accounts.signed_in().await else {
        return kept.map(|copy| Loaded::stale(copy, "You are not signed in."));
    };
    if let Ok((copy, _)) = &kept
        && copy.remote.as_deref() != Some(account.backend().base_url())
    {
        return kept.map(|copy| Loaded::stale(copy, "It came from another backend."));
    }
    match from_server(&account, session_id).await {
        Ok(loaded) => {
            keep_copy(transcripts, &loaded);
            Ok(loaded)
        }
        // Gone from the backend (or no longer visible to this account): no copy is shown.
        Err(error) if error.code == ErrorCode::NotFound => Err(error),
        Err(error) => match kept {
            Ok(copy) => Ok(Loaded::stale(copy, &error.message)),
            Err(_) => Err(error),
        },
    }
}

/// Keeps what was read from the backend for reading offline, off the command's path (a
/// failure only costs the offline copy).
fn keep_copy(transcripts: &TranscriptState, loaded: &Loaded) {
    let Some(store) = transcripts.store().cloned() else {
        return;
    };
    // A status the store does not know (`scheduled`) has no transcript worth keeping.
    if viva_store::SessionStatus::parse_known(&loaded.status).is_err() {
        return;
    }
    let session = loaded.session.clone();
    let lines = loaded.lines.clone();
    tauri::async_runtime::spawn_blocking(move || {
        let now = chrono::Utc::now().timestamp_millis();
        if let Err(error) = store.cache_remote(&session, &lines, now) {
            tracing::warn!(event = "transcript_copy_failed", session = %session.id, %error);
        }
    });
}

/// A session and its lines as the backend has them, in the store's shapes.
async fn from_server(
    account: &std::sync::Arc<viva_backend::Account>,
    session_id: &str,
) -> Result<Loaded, AppError> {
    let query = viva_backend::SessionQuery {
        id: Some(session_id.to_owned()),
        limit: 1,
        ..viva_backend::SessionQuery::default()
    };
    let query = &query;
    let page = account
        .with_backend(|backend, token| async move { backend.sessions(&token, query).await })
        .await?;
    let row = page.rows.into_iter().next().ok_or_else(|| {
        AppError::new(
            ErrorCode::NotFound,
            format!("No interview {session_id} is visible to you."),
        )
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
        status: viva_store::SessionStatus::parse_known(&row.status)
            .unwrap_or(viva_store::SessionStatus::Active),
        started_at_ms,
        ended_at_ms: at_ms(row.ended_at.as_ref()),
        duration_ms: row.duration_ms,
        cost_usd: row.realtime_cost_usd,
        lines: lines.len() as u64,
        sync: viva_store::SyncState::Synced,
        refused_lines: 0,
    };
    Ok(Loaded {
        session,
        lines,
        status: row.status,
        source: TranscriptSource::Server,
    })
}

/// Asks where to save the transcript in `format` (the system's save dialog) and writes it
/// there. Returns the path written, or `None` when the user cancelled.
#[tauri::command]
#[specta::specta]
pub async fn export_transcript(
    app: AppHandle,
    accounts: State<'_, crate::account::AccountState>,
    transcripts: State<'_, TranscriptState>,
    session_id: String,
    format: ExportFormat,
) -> Result<Option<String>, AppError> {
    let Loaded { session, lines, .. } = load(&accounts, &transcripts, &session_id).await?;
    let format = Format::from(format);
    let text = viva_store::export(&session, &lines, format);
    let (chosen, answer) = tokio::sync::oneshot::channel();
    app.dialog()
        .file()
        .set_title("Export transcript")
        .set_file_name(suggested_name(&session, format))
        .add_filter(format_name(format), &[format.extension()])
        .save_file(move |path| {
            let _ = chosen.send(path);
        });
    let Some(path) = answer.await.ok().flatten() else {
        return Ok(None);
    };
    let path = path.into_path().map_err(|error| {
        AppError::new(
            ErrorCode::InvalidInput,
            format!("That place cannot be saved to: {error}"),
        )
    })?;
    tokio::fs::write(&path, text).await.map_err(|error| {
        AppError::new(
            ErrorCode::Unavailable,
            format!(
                "The transcript could not be saved to {}: {error}",
                path.display()
            ),
        )
    })?;
    tracing::info!(event = "transcript_exported", session = %session.id, format = format.extension());
    Ok(Some(path.display().to_string()))
}

fn format_name(format: Format) -> &'static str {
    match format {
        Format::Markdown => "Markdown",
        Format::Json => "JSON",
        Format::Text => "Plain text",
        Format::Srt => "SubRip subtitles",
        Format::Vtt => "WebVTT subtitles",
    }
}

/// `Practice 2026-11-23.md`: the title and the day, with nothing a file system refuses.
fn suggested_name(session: &StoredSession, format: Format) -> String {
    let day = chrono::DateTime::from_timestamp_millis(session.started_at_ms)
        .map(|t| t.format("%Y-%m-%d").to_string())
        .unwrap_or_default();
    let title: String = session
        .title
        .chars()
        .map(|c| {
            if "/\\:*?\"<>|".contains(c) || c.is_control() {
                '-'
            } else {
                c
            }
        })
        .collect();
    format!("{} {day}.{}", title.trim(), format.extension())
        .trim()
        .to_owned()
}

/// Which sessions to list: every filter set narrows it; one page at a time.
#[derive(Debug, Clone, PartialEq, Deserialize, specta::Type)]
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
    /// `local_only`, `synced` or `unsynced` (this computer's list only).
    pub sync: Option<String>,
    pub oldest_first: bool,
    pub offset: u32,
    pub limit: u32,
}

/// Where a list came from.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, specta::Type)]
#[serde(rename_all = "snake_case")]
pub enum ListSource {
    /// The organisation's backend: what the signed-in user may see there.
    Server,
    /// The transcripts kept on this computer.
    Local,
}

/// One session in a list.
#[derive(Debug, Clone, PartialEq, Serialize, specta::Type)]
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
    pub sync: Option<SyncView>,
}

/// A page of sessions.
#[derive(Debug, Clone, PartialEq, Serialize, specta::Type)]
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
/// signed in, else — or when the backend cannot be reached — those kept on this computer.
#[tauri::command]
#[specta::specta]
pub async fn list_sessions(
    accounts: State<'_, crate::account::AccountState>,
    transcripts: State<'_, TranscriptState>,
    request: SessionListRequest,
) -> Result<SessionListView, AppError> {
    let account = accounts.signed_in().await;
    let mut stale_reason = None;
    if let Some(account) = account {
        match server_page(&account, &request).await {
            Ok((rows, total)) => {
                let rows = rows
                    .iter()
                    .map(|row| server_row(row, transcripts.store()))
                    .collect();
                let can_schedule = matches!(
                    account.state(),
                    viva_backend::AuthState::SignedIn { role: Some(role), .. } if role == "interviewer"
                );
                return Ok(SessionListView {
                    rows,
                    total,
                    source: ListSource::Server,
                    stale_reason: None,
                    can_schedule,
                });
            }
            Err(viva_backend::BackendError::SignedOut(reason)) => {
                return Err(AppError::new(ErrorCode::SignedOut, reason));
            }
            Err(error) => stale_reason = Some(error.to_string()),
        }
    }
    let store = transcripts.readable()?;
    let status = match request.status.as_deref() {
        None => None,
        Some(status) => match viva_store::SessionStatus::parse_known(status) {
            Ok(status) => Some(status),
            // Only the backend knows scheduled interviews: none are kept here.
            Err(status) if status == "scheduled" => {
                return Ok(SessionListView {
                    rows: Vec::new(),
                    total: Some(0),
                    source: ListSource::Local,
                    stale_reason,
                    can_schedule: false,
                });
            }
            Err(status) => {
                return Err(AppError::new(
                    ErrorCode::InvalidInput,
                    format!("No status {status:?}."),
                ));
            }
        },
    };
    let sync = match request.sync.as_deref() {
        None => None,
        Some("local_only") => Some(viva_store::SyncFilter::LocalOnly),
        Some("synced") => Some(viva_store::SyncFilter::Synced),
        Some("unsynced") => Some(viva_store::SyncFilter::Unsynced),
        Some("cached") => Some(viva_store::SyncFilter::Cached),
        Some(other) => {
            return Err(AppError::new(
                ErrorCode::InvalidInput,
                format!("No sync state {other:?}."),
            ));
        }
    };
    let query = viva_store::SessionList {
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
    let (rows, total) = store.list(&query).map_err(store_error)?;
    Ok(SessionListView {
        rows: rows.iter().map(local_row).collect(),
        total: Some(u32::try_from(total).unwrap_or(u32::MAX)),
        source: ListSource::Local,
        stale_reason,
        can_schedule: false,
    })
}

async fn server_page(
    account: &std::sync::Arc<viva_backend::Account>,
    request: &SessionListRequest,
) -> Result<(Vec<viva_backend::SessionRow>, Option<u32>), viva_backend::BackendError> {
    let rfc3339 =
        |ms: f64| chrono::DateTime::from_timestamp_millis(ms as i64).map(|t| t.to_rfc3339());
    let text = |value: &Option<String>| value.clone().filter(|v| !v.trim().is_empty());
    let query = viva_backend::SessionQuery {
        statuses: request.status.iter().cloned().collect(),
        candidate_email_contains: text(&request.candidate_contains),
        title_contains: text(&request.title_contains),
        created_from: request.from_ms.and_then(rfc3339),
        created_before: request.before_ms.and_then(rfc3339),
        oldest_first: request.oldest_first,
        limit: request.limit.clamp(1, 500),
        offset: request.offset,
        ..viva_backend::SessionQuery::default()
    };
    let query = &query;
    let page = account
        .with_backend(|backend, token| async move { backend.sessions(&token, query).await })
        .await?;
    let total = page.total.map(|t| u32::try_from(t).unwrap_or(u32::MAX));
    Ok((page.rows, total))
}

fn parse_ms(rfc3339: Option<&String>) -> Option<f64> {
    chrono::DateTime::parse_from_rfc3339(rfc3339?)
        .ok()
        .map(|t| t.timestamp_millis() as f64)
}

fn server_row(row: &viva_backend::SessionRow, store: Option<&viva_store::Store>) -> SessionRowView {
    let kept = store.and_then(|store| store.session(&row.id).ok());
    SessionRowView {
        id: row.id.clone(),
        title: row.title.clone().unwrap_or_else(|| {
            if row.mode == "practice" {
                "Practice"
            } else {
                "Interview"
            }
            .into()
        }),
        candidate: row.candidate_email.clone(),
        mode: row.mode.clone(),
        status: row.status.clone(),
        at_ms: parse_ms(row.started_at.as_ref())
            .or_else(|| parse_ms(row.created_at.as_ref()))
            .or_else(|| parse_ms(row.scheduled_at.as_ref())),
        duration_ms: row.duration_ms.map(|d| d as f64),
        sync: kept.map(|session| Ok(session.sync).into()),
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
        sync: Some(Ok(session.sync.clone()).into()),
    }
}

/// What to search for across the transcripts on this computer.
#[derive(Debug, Clone, PartialEq, Deserialize, specta::Type)]
#[serde(rename_all = "camelCase")]
pub struct SearchRequest {
    /// Words (all must appear), `"phrases"` and `prefix*`.
    pub text: String,
    /// `candidate` or `interviewer`.
    pub speaker: Option<String>,
    pub title_contains: Option<String>,
    pub from_ms: Option<f64>,
    pub before_ms: Option<f64>,
}

/// A piece of a snippet; `hit` pieces are the words that matched.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, specta::Type)]
pub struct FragmentView {
    pub text: String,
    pub hit: bool,
}

/// One matching line, to open the transcript at.
#[derive(Debug, Clone, PartialEq, Serialize, specta::Type)]
#[serde(rename_all = "camelCase")]
pub struct SearchHitView {
    pub session_id: String,
    pub session_title: String,
    pub session_started_at_ms: f64,
    pub item_id: String,
    pub speaker: String,
    pub at_ms: u32,
    pub snippet: Vec<FragmentView>,
}

/// Searches every transcript kept on this computer (full-text, ranked, newest matches first
/// among equals), at most 100 hits.
#[tauri::command]
#[specta::specta]
pub async fn search_transcripts(
    transcripts: State<'_, TranscriptState>,
    request: SearchRequest,
) -> Result<Vec<SearchHitView>, AppError> {
    let store = transcripts.readable()?;
    let speaker = match request.speaker.as_deref() {
        None | Some("") => None,
        Some("candidate") => Some(Speaker::Candidate),
        Some("interviewer") => Some(Speaker::Interviewer),
        Some(other) => {
            return Err(AppError::new(
                ErrorCode::InvalidInput,
                format!("No speaker {other:?}."),
            ));
        }
    };
    let query = viva_store::SearchQuery {
        text: request.text,
        speaker,
        title_contains: request.title_contains.filter(|t| !t.trim().is_empty()),
        from_ms: request.from_ms.map(|ms| ms as i64),
        until_ms: request.before_ms.map(|ms| ms as i64),
        limit: 100,
    };
    let store = store.clone();
    let hits = tokio::task::spawn_blocking(move || store.search(&query))
        .await
        .map_err(|e| AppError::new(ErrorCode::Unavailable, e.to_string()))?
        .map_err(store_error)?;
    Ok(hits
        .into_iter()
        .map(|hit| SearchHitView {
            session_id: hit.session_id,
            session_title: hit.session_title,
            session_started_at_ms: hit.session_started_at_ms as f64,
            item_id: hit.item_id,
            speaker: match hit.speaker {
                Speaker::Candidate => "candidate",
                Speaker::Interviewer => "interviewer",
            }
            .to_owned(),
            at_ms: u32::try_from(hit.started_ms).unwrap_or(u32::MAX),
            snippet: hit
                .snippet
                .into_iter()
                .map(|f| FragmentView {
                    text: f.text,
                    hit: f.hit,
                })
                .collect(),
        })
        .collect())
}

/// A new interview, as the scheduling form sends it.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize, specta::Type)]
#[serde(rename_all = "camelCase")]
pub struct ScheduleRequest {
    pub candidate_email: String,
    pub title: String,
    /// The interviewer's question set (role), e.g. `software_engineer`.
    pub question_set: String,
    /// RFC 3339, with the user's offset.
    pub scheduled_at: String,
}

async fn signed_in_account(
    accounts: &crate::account::AccountState,
) -> Result<std::sync::Arc<viva_backend::Account>, AppError> {
    accounts.signed_in().await.ok_or_else(|| {
        AppError::new(
            ErrorCode::SignedOut,
            "Sign in to your organisation to schedule interviews.",
        )
    })
}

/// Schedules an interview for a candidate of the interviewer's organisation; returns its id.
#[tauri::command]
#[specta::specta]
pub async fn schedule_interview(
    accounts: State<'_, crate::account::AccountState>,
    request: ScheduleRequest,
) -> Result<String, AppError> {
    let email = request.candidate_email.trim();
    if !email.contains('@') || request.title.trim().is_empty() {
        return Err(AppError::new(
            ErrorCode::InvalidInput,
            "Give the candidate's email address and a title.",
        ));
    }
    if chrono::DateTime::parse_from_rfc3339(&request.scheduled_at).is_err() {
        return Err(AppError::new(
            ErrorCode::InvalidInput,
            "Choose a date and time.",
        ));
    }
    let account = signed_in_account(&accounts).await?;
    let interview = viva_backend::NewInterview {
        title: request.title.trim().to_owned(),
        question_set: request.question_set,
        scheduled_at: request.scheduled_at,
        candidate_email: email.to_owned(),
    };
    let interview = &interview;
    let row = account
        .with_backend(|backend, token| async move { backend.schedule(&token, interview).await })
        .await?;
    tracing::info!(event = "interview_scheduled", session = %row.id);
    Ok(row.id)
}

/// Cancels a scheduled interview; `false` when it had already started (or was not visible).
#[tauri::command]
#[specta::specta]
pub async fn cancel_interview(
    accounts: State<'_, crate::account::AccountState>,
    session_id: String,
) -> Result<bool, AppError> {
    let account = signed_in_account(&accounts).await?;
    let id = &session_id;
    let cancelled = account
        .with_backend(|backend, token| async move { backend.cancel_interview(&token, id).await })
        .await?;
    Ok(cancelled)
}

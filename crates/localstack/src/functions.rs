//! The edge functions (docs/protocols.md §1): `interview-start` opens (or re-opens) an interview's
//! session and mints a short-lived client secret for the realtime connection;
//! `transcript-processor` stores lines idempotently by `(session_id, item_id)`.

use axum::Json;
use axum::body::Bytes;
use axum::extract::State;
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use rusqlite::{OptionalExtension, params};
use serde::Deserialize;
use serde_json::{Value, json};

use crate::caller::{Caller, CallerError, Role};
use crate::error::FunctionError;
use crate::rest::query::format_timestamp;
use crate::server::{AppState, Signaling};
use viva_contract::grant::VoiceApi;

/// The model name the local interviewer reports on the Realtime API.
pub const LOCAL_MODEL: &str = "viva-local";
/// The model name the local interviewer reports on GPT-Live.
pub const LOCAL_LIVE_MODEL: &str = "viva-local-live";

/// The local interviewer's model for `api`.
pub fn local_model(api: VoiceApi) -> &'static str {
    match api {
        VoiceApi::Realtime => LOCAL_MODEL,
        VoiceApi::Live => LOCAL_LIVE_MODEL,
    }
}
/// The longest an interview session may last before a planned re-session (seconds).
pub const MAX_DURATION_S: u64 = 55 * 60;
/// Lines one `transcript-processor` call may carry (the contract's limit).
pub const MAX_ENTRIES_PER_CALL: usize = viva_contract::MAX_ENTRIES_PER_CALL;

type FnResult<T> = Result<T, FunctionError>;

fn internal(error: impl std::fmt::Display) -> FunctionError {
    let (status, message) = crate::error::internal(error);
    FunctionError::new(status, "internal_error", message)
}

impl From<crate::db::DbError> for FunctionError {
    fn from(error: crate::db::DbError) -> Self {
        internal(error)
    }
}

async fn caller(state: &AppState, headers: &HeaderMap) -> FnResult<Caller> {
    crate::caller::from_headers(state, headers)
        .await
        .map(|(caller, _)| caller)
        .map_err(|error| {
            let message = match error {
                CallerError::Missing => "sign in first: this function needs a bearer token",
                CallerError::Expired => "your sign-in has expired; refresh the token and try again",
                CallerError::Invalid | CallerError::Revoked => "this sign-in is not valid any more",
            };
            FunctionError::new(StatusCode::UNAUTHORIZED, "unauthorized", message)
        })
}

fn parse<T: for<'de> Deserialize<'de>>(body: &Bytes) -> FnResult<T> {
    serde_json::from_slice(body).map_err(|error| {
        FunctionError::new(
            StatusCode::BAD_REQUEST,
            "invalid_request",
            format!("the request body is not valid: {error}"),
        )
    })
}

/// The parts of an interview row `interview-start` decides on.
struct Scheduled {
    tenant: String,
    candidate: Option<String>,
    email: Option<String>,
    status: String,
    question_set: String,
    started_at: Option<String>,
    mode: String,
    consented: bool,
}

/// `consent`: the recording notice the candidate agreed to.
#[derive(Debug, Deserialize)]
struct ConsentBody {
    notice: String,
}

#[derive(Debug, Deserialize)]
struct StartBody {
    interview_id: Option<String>,
    #[serde(default)]
    mode: String,
    /// Practice runs may choose their question set.
    question_set: Option<String>,
    /// Practice runs may choose their voice API (Realtime unless said); an interview's is the
    /// organisation's choice and cannot be picked here.
    api: Option<VoiceApi>,
    /// The candidate agreed to this version of the recording notice (required to start an
    /// interview unless already recorded).
    consent: Option<ConsentBody>,
}

/// The voice API session `session_id` speaks: its own choice, else its tenant's default.
pub fn session_voice_api(
    conn: &rusqlite::Connection,
    session_id: &str,
) -> Result<VoiceApi, crate::db::DbError> {
    let api: String = conn.query_row(
        "SELECT coalesce(s.voice_api, t.voice_api) FROM interview_sessions s JOIN tenants t ON t.id = s.tenant_id WHERE s.id = ?1",
        [session_id],
        |r| r.get(0),
    )?;
    // The column's CHECK allows only the two names.
    Ok(api.parse().unwrap_or_default())
}

/// [`session_voice_api`] off the async threads.
pub async fn voice_api_of(db: &crate::db::Db, session_id: &str) -> Result<VoiceApi, String> {
    let id = session_id.to_owned();
    db.call(move |conn| session_voice_api(conn, &id))
        .await
        .map_err(|error: crate::db::DbError| error.to_string())
}

/// Whether this user talks to the AI by voice or by text: a stable bucket of the user id, so a
/// rollout percentage moves users over one way and never flips anyone back and forth.
pub fn rollout_mode(user_id: &str, voice_percent: u8) -> &'static str {
    // FNV-1a: tiny, stable across releases and platforms, well spread for UUID text.
    let hash = user_id.bytes().fold(0xcbf2_9ce4_8422_2325_u64, |h, b| {
        (h ^ u64::from(b)).wrapping_mul(0x0100_0000_01b3)
    });
    if hash % 100 < u64::from(voice_percent) {
        "voice"
    } else {
        "text"
    }
}

/// The first sentence of every interview's instructions. The emulated `client_secrets`
/// endpoint reads the question set back from it ([`crate::calls::question_set_of`]).
pub fn instructions(question_set: &str) -> String {
    format!(
        "You are Viva's interviewer for the `{question_set}` question set. Ask its questions one at a time, listen to each answer, then close the interview politely."
    )
}

/// A question set's name: lower-case letters, digits and `_`, at most 64.
fn valid_question_set(name: &str) -> bool {
    (1..=64).contains(&name.len())
        && name
            .bytes()
            .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'_')
}

/// `POST /functions/v1/interview-start`
pub async fn interview_start(
    State(state): State<AppState>,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    match start(&state, &headers, &body).await {
        Ok(body) => Json(body).into_response(),
        Err(error) => error.into_response(),
    }
}

fn bad_request(message: impl Into<String>) -> FunctionError {
    FunctionError::new(StatusCode::BAD_REQUEST, "invalid_request", message)
}

/// What the database part of `interview-start` settled.
struct Started {
    session_id: String,
    question_set: String,
    started_at: String,
    api: VoiceApi,
    voice_enabled: bool,
    voice_percent: u8,
}

/// Refuses a new practice session when the caller started `limit` in the last hour.
fn check_practice_limit(tx: &rusqlite::Transaction<'_>, user_id: &str, limit: u32) -> FnResult<()> {
    let now = chrono::Utc::now();
    let since = format_timestamp(now - chrono::Duration::hours(1));
    let (count, oldest): (u32, Option<String>) = tx
        .query_row(
            "SELECT COUNT(*), MIN(created_at) FROM interview_sessions WHERE candidate_id = ?1 AND mode = 'practice' AND created_at > ?2",
            params![user_id, since],
            |r| Ok((r.get(0)?, r.get(1)?)),
        )
        .map_err(internal)?;
    if count < limit {
        return Ok(());
    }
    let wait = oldest
        .and_then(|at| chrono::DateTime::parse_from_rfc3339(&at).ok())
        .map_or(3600, |at| {
            (at.timestamp() + 3600 - now.timestamp()).clamp(1, 3600)
        });
    Err(FunctionError {
        retry_after_s: u64::try_from(wait).ok(),
        ..FunctionError::new(
            StatusCode::TOO_MANY_REQUESTS,
            "too_many_sessions",
            format!("you started {count} practice interviews in the last hour; try again later"),
        )
    })
}

fn start_practice(
    tx: &rusqlite::Transaction<'_>,
    caller: &Caller,
    body: StartBody,
    limit: u32,
) -> FnResult<(String, String, String)> {
    let set = body
        .question_set
        .unwrap_or_else(|| "general_behavioural".into());
    if !valid_question_set(&set) {
        return Err(bad_request(
            "question_set must be 1-64 lower-case letters, digits or _",
        ));
    }
    check_practice_limit(tx, &caller.user_id, limit)?;
    let id = uuid::Uuid::new_v4().to_string();
    let now = format_timestamp(chrono::Utc::now());
    let api = body.api.unwrap_or(VoiceApi::Realtime);
    let notice = body.consent.map(|c| c.notice);
    let consent_at = notice.as_ref().map(|_| now.clone());
    tx.execute(
        "INSERT INTO interview_sessions (id, tenant_id, candidate_id, candidate_email, title, question_set, mode, status, started_at, model, created_at, voice_api, consent_at, consent_notice)
         VALUES (?1, ?2, ?3, ?4, 'Practice interview', ?5, 'practice', 'active', ?6, ?7, ?6, ?8, ?9, ?10)",
        params![id, caller.tenant_id, caller.user_id, caller.email, set, now, local_model(api), api.as_str(), consent_at, notice],
    )
    .map_err(internal)?;
    Ok((id, set, now))
}

/// A scheduled interview, or any session of the caller's being resumed for a new connection
/// (a reconnect, a renewed secret, a re-session): the same caller always gets it again.
fn resume_interview(
    tx: &rusqlite::Transaction<'_>,
    caller: &Caller,
    interview_id: &str,
    notice: Option<&str>,
) -> FnResult<(String, String, String)> {
    let row = tx
        .query_row(
            "SELECT tenant_id, candidate_id, candidate_email, status, question_set, started_at, mode, consent_at IS NOT NULL FROM interview_sessions WHERE id = ?1",
            [interview_id],
            |r| {
                Ok(Scheduled {
                    tenant: r.get(0)?,
                    candidate: r.get(1)?,
                    email: r.get(2)?,
                    status: r.get(3)?,
                    question_set: r.get(4)?,
                    started_at: r.get(5)?,
                    mode: r.get(6)?,
                    consented: r.get(7)?,
                })
            },
        )
        .optional()
        .map_err(internal)?;
    let Some(row) = row else {
        return Err(FunctionError::new(
            StatusCode::NOT_FOUND,
            "not_found",
            "there is no such interview",
        ));
    };
    // Bound to the caller, or (not started yet, so bound to nobody) addressed to them: an
    // interviewer's change of address leaves the first candidate out.
    let mine = caller.role == Role::Candidate
        && match row.candidate.as_deref() {
            Some(bound) => bound == caller.user_id,
            None => row
                .email
                .as_deref()
                .is_some_and(|e| e.eq_ignore_ascii_case(&caller.email)),
        };
    if row.tenant != caller.tenant_id || !mine {
        return Err(FunctionError::new(
            StatusCode::FORBIDDEN,
            "forbidden",
            "this interview belongs to someone else",
        ));
    }
    if !matches!(row.status.as_str(), "scheduled" | "active" | "interrupted") {
        return Err(FunctionError::new(
            StatusCode::CONFLICT,
            "interview_closed",
            format!("this interview is {}", row.status),
        ));
    }
    // Checked last, so a caller who may not start it learns nothing more from this answer.
    if row.mode == "interview" && !row.consented && notice.is_none() {
        return Err(FunctionError::new(
            StatusCode::FORBIDDEN,
            "consent_required",
            "the candidate has not agreed to the recording notice; show it, then start again with their consent",
        ));
    }
    let now = format_timestamp(chrono::Utc::now());
    let started = row.started_at.unwrap_or_else(|| now.clone());
    let api = session_voice_api(tx, interview_id).map_err(internal)?;
    // Bound only if nobody else was meanwhile: the database decides a race of two users. The
    // first agreement stays: a later call's notice does not replace it.
    let consent_at = notice.map(|_| now);
    let changed = tx
        .execute(
            "UPDATE interview_sessions SET status = 'active', started_at = ?1, candidate_id = ?2, model = ?3, closed_at = NULL,
                 consent_at = coalesce(consent_at, ?5), consent_notice = coalesce(consent_notice, ?6)
             WHERE id = ?4 AND (candidate_id IS NULL OR candidate_id = ?2)",
            params![started, caller.user_id, local_model(api), interview_id, consent_at, notice],
        )
        .map_err(internal)?;
    if changed == 0 {
        return Err(FunctionError::new(
            StatusCode::CONFLICT,
            "interview_taken",
            "another candidate has started this interview",
        ));
    }
    Ok((interview_id.to_owned(), row.question_set, started))
}

async fn start(state: &AppState, headers: &HeaderMap, body: &Bytes) -> FnResult<Value> {
    let caller = caller(state, headers).await?;
    let body: StartBody = parse(body)?;
    if body.mode != "practice" && body.api.is_some() {
        return Err(bad_request(
            "an interview's voice API is chosen by its organisation, not by the client",
        ));
    }
    if let Some(consent) = &body.consent
        && !viva_contract::consent::is_notice_version(&consent.notice)
    {
        return Err(bad_request(
            "consent.notice must be 1 to 64 of A-Z, a-z, 0-9, . _ -",
        ));
    }
    let limit = state.practice_sessions_per_hour;
    let lifetime = state.client_secret_lifetime_s;
    let caller2 = caller.clone();
    let started = state
        .db
        .call(move |conn| {
            let tx = conn.transaction().map_err(internal)?;
            let (session_id, question_set, started_at) =
                match (body.mode.as_str(), body.interview_id.clone()) {
                    ("practice", None) => start_practice(&tx, &caller2, body, limit)?,
                    ("interview" | "practice", Some(interview_id)) => {
                        let notice = body.consent.as_ref().map(|c| c.notice.as_str());
                        resume_interview(&tx, &caller2, &interview_id, notice)?
                    }
                    _ => {
                        return Err(bad_request(
                            "mode must be \"practice\", or \"interview\" with an interview_id",
                        ));
                    }
                };
            let api = session_voice_api(&tx, &session_id).map_err(internal)?;
            let (voice_enabled, voice_percent): (bool, u8) = tx
                .query_row(
                    "SELECT voice_enabled, voice_rollout_percent FROM tenants WHERE id = ?1",
                    [&caller2.tenant_id],
                    |r| Ok((r.get(0)?, r.get(1)?)),
                )
                .map_err(internal)?;
            tx.commit().map_err(internal)?;
            Ok(Started {
                session_id,
                question_set,
                started_at,
                api,
                voice_enabled,
                voice_percent,
            })
        })
        .await?;
    let percent = started.voice_percent.min(state.voice_rollout_percent);
    let mode = if started.voice_enabled {
        rollout_mode(&caller.user_id, percent)
    } else {
        "text"
    };
    let session = json!({"id": started.session_id, "tenant_id": caller.tenant_id, "status": "active", "started_at": started.started_at, "max_duration_s": MAX_DURATION_S});
    let expires_at = chrono::Utc::now().timestamp() + lifetime;
    if started.api == VoiceApi::Live {
        // Live sessions are created by a server holding the project key: always the proxy,
        // which builds the session config and authenticates the user's own token. No secret.
        return Ok(json!({
            "session": session,
            "mode": mode,
            "realtime": {
                "api": "live",
                "signaling": "websocket",
                "url": state.proxy_url,
                "client_secret": {"value": "", "expires_at": expires_at},
                "model": LOCAL_LIVE_MODEL,
            },
        }));
    }
    let secret = format!("ek_{}", uuid::Uuid::new_v4().simple());
    let stored = (
        secret.clone(),
        started.session_id.clone(),
        caller.user_id.clone(),
    );
    state
        .db
        .call(move |conn| {
            conn.execute(
                "INSERT INTO client_secrets (value, session_id, user_id, expires_at) VALUES (?1, ?2, ?3, ?4)",
                params![stored.0, stored.1, stored.2, expires_at],
            )
            .map_err(internal)
        })
        .await?;
    let (signaling, url) = match state.signaling {
        Signaling::WebSocket => ("websocket", state.proxy_url.clone()),
        Signaling::Http => ("http", format!("{}/v1/realtime/calls", state.public_url)),
    };
    Ok(json!({
        "session": session,
        "mode": mode,
        "realtime": {
            "api": "realtime",
            "signaling": signaling,
            "url": url,
            "client_secret": {"value": secret, "expires_at": expires_at},
            "model": LOCAL_MODEL,
            "session": {
                "type": "realtime",
                "model": LOCAL_MODEL,
                "instructions": instructions(&started.question_set),
                "output_modalities": ["audio"],
                "audio": {
                    "input": {
                        "transcription": {"model": "whisper-tiny.en", "language": "en"},
                        "turn_detection": {"type": "server_vad", "threshold": 0.5, "prefix_padding_ms": 300, "silence_duration_ms": 500},
                    },
                    "output": {"voice": "en-us"},
                },
            },
        },
    }))
}

/// The caller's own session (its tenant, bound to the caller) or why not: 404 when there is
/// none, 403 when it is someone else's. Its `closed_at`, the reference for late lines.
fn own_session(
    tx: &rusqlite::Transaction<'_>,
    caller: &Caller,
    session_id: &str,
) -> FnResult<Option<String>> {
    let owner: Option<(String, Option<String>, Option<String>)> = tx
        .query_row(
            "SELECT tenant_id, candidate_id, closed_at FROM interview_sessions WHERE id = ?1",
            [session_id],
            |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?)),
        )
        .optional()
        .map_err(internal)?;
    match owner {
        None => Err(FunctionError::new(
            StatusCode::NOT_FOUND,
            "not_found",
            "there is no such session",
        )),
        Some((tenant, candidate, _))
            if tenant != caller.tenant_id
                || candidate.as_deref() != Some(caller.user_id.as_str()) =>
        {
            Err(FunctionError::new(
                StatusCode::FORBIDDEN,
                "forbidden",
                "this session belongs to someone else",
            ))
        }
        Some((_, _, closed_at)) => Ok(closed_at),
    }
}

#[derive(Debug, Deserialize)]
struct ProcessorBody {
    session_id: String,
    /// Read as raw values: one malformed entry is rejected on its own, never the batch.
    entries: Vec<Value>,
}

/// `POST /functions/v1/transcript-processor`: the lines of the caller's own session, each
/// checked by the contract's rules ([`viva_contract::check_entry`]); a bad one is listed in
/// `rejected` and the rest are stored. A line already stored is never overwritten. Each line
/// records who reported it, when it arrived, and whether that was long after the server saw
/// the session close (`late`), exactly as the hosted pipeline does.
pub async fn transcript_processor(
    State(state): State<AppState>,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    let result = async {
        let caller = caller(&state, &headers).await?;
        let body: ProcessorBody = parse(&body)?;
        if body.entries.len() > MAX_ENTRIES_PER_CALL {
            return Err(FunctionError::new(StatusCode::BAD_REQUEST, "too_many_entries", format!("send at most {MAX_ENTRIES_PER_CALL} entries per call")));
        }
        let mut rejected = Vec::new();
        let mut entries = Vec::new();
        for value in &body.entries {
            match viva_contract::check_entry(value) {
                Ok(entry) => entries.push(entry),
                Err(rejection) => rejected.push(rejection),
            }
        }
        state
            .db
            .call(move |conn| {
                let tx = conn.transaction().map_err(internal)?;
                let closed_at = own_session(&tx, &caller, &body.session_id)?;
                let now = chrono::Utc::now();
                let late = closed_at
                    .and_then(|at| chrono::DateTime::parse_from_rfc3339(&at).ok())
                    .is_some_and(|at| now.signed_duration_since(at).num_seconds() > viva_contract::LATE_AFTER_S);
                let now = format_timestamp(now);
                let mut accepted = 0;
                {
                    let mut insert = tx
                        .prepare(
                            "INSERT INTO transcript_entries (id, tenant_id, session_id, item_id, seq, speaker, text, started_ms, ended_ms, created_at, reported_by, received_at, late)
                             VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11, ?10, ?12) ON CONFLICT (session_id, item_id) DO NOTHING",
                        )
                        .map_err(internal)?;
                    for entry in &entries {
                        accepted += insert
                            .execute(params![
                                uuid::Uuid::new_v4().to_string(),
                                caller.tenant_id,
                                body.session_id,
                                entry.item_id,
                                entry.seq,
                                entry.speaker,
                                entry.text,
                                entry.started_ms,
                                entry.ended_ms,
                                now,
                                caller.user_id,
                                late,
                            ])
                            .map_err(internal)?;
                    }
                }
                tx.commit().map_err(internal)?;
                Ok(json!({"accepted": accepted, "duplicates": entries.len() - accepted, "rejected": rejected}))
            })
            .await
    }
    .await;
    match result {
        Ok(body) => Json(body).into_response(),
        Err(error) => error.into_response(),
    }
}

#[derive(Debug, Deserialize)]
struct EndBody {
    session_id: String,
    status: String,
    ended_at: String,
    duration_ms: Option<i64>,
    realtime_cost_usd: Option<f64>,
}

/// `POST /functions/v1/interview-end`: the caller closes their own live session (status
/// completed / interrupted / failed, when it ended, how long it ran, what it cost). 200
/// `{"closed": true}`, or `{"closed": false}` when it was not live (closing twice is harmless).
/// The close goes through the functions, so it lands in the same database as the transcript
/// wherever the functions run.
pub async fn interview_end(
    State(state): State<AppState>,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    let result = async {
        let caller = caller(&state, &headers).await?;
        let body: EndBody = parse(&body)?;
        if !matches!(body.status.as_str(), "completed" | "interrupted" | "failed") {
            return Err(bad_request(
                "status must be \"completed\", \"interrupted\" or \"failed\"",
            ));
        }
        let Ok(ended_at) = chrono::DateTime::parse_from_rfc3339(&body.ended_at) else {
            return Err(bad_request("ended_at must be an RFC 3339 time"));
        };
        if body.duration_ms.is_some_and(|d| d < 0) {
            return Err(bad_request("duration_ms must be a whole number, not negative"));
        }
        if body
            .realtime_cost_usd
            .is_some_and(|c| !c.is_finite() || c < 0.0)
        {
            return Err(bad_request("realtime_cost_usd must be a number, not negative"));
        }
        let ended_at = format_timestamp(ended_at.with_timezone(&chrono::Utc));
        state
            .db
            .call(move |conn| {
                let tx = conn.transaction().map_err(internal)?;
                own_session(&tx, &caller, &body.session_id)?;
                let closed = tx
                    .execute(
                        "UPDATE interview_sessions SET status = ?1, ended_at = ?2, duration_ms = ?3, realtime_cost_usd = ?4, closed_at = ?5
                         WHERE id = ?6 AND status = 'active'",
                        params![body.status, ended_at, body.duration_ms, body.realtime_cost_usd, format_timestamp(chrono::Utc::now()), body.session_id],
                    )
                    .map_err(internal)?;
                tx.commit().map_err(internal)?;
                Ok(json!({"closed": closed == 1}))
            })
            .await
    }
    .await;
    match result {
        Ok(body) => Json(body).into_response(),
        Err(error) => error.into_response(),
    }
}

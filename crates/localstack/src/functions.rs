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

async fn start(state: &AppState, headers: &HeaderMap, body: &Bytes) -> FnResult<Value> {
    let caller = caller(state, headers).await?;
    let body: StartBody = parse(body)?;
    let live = state.live.clone();
    let lifetime = state.client_secret_lifetime_s;
    let caller2 = caller.clone();
    if body.mode != "practice" && body.api.is_some() {
        return Err(FunctionError::new(
            StatusCode::BAD_REQUEST,
            "invalid_request",
            "an interview's voice API is chosen by its organisation, not by the client",
        ));
    }
    let (session_id, question_set, started_at, secret, expires_at, api) = state
        .db
        .call(move |conn| {
            let tx = conn.transaction().map_err(internal)?;
            let now = format_timestamp(chrono::Utc::now());
            let (session_id, question_set, started_at) = match (body.mode.as_str(), body.interview_id) {
                ("practice", None) => {
                    let id = uuid::Uuid::new_v4().to_string();
                    let set = body.question_set.unwrap_or_else(|| "general_behavioural".into());
                    let api = body.api.unwrap_or(VoiceApi::Realtime);
                    tx.execute(
                        "INSERT INTO interview_sessions (id, tenant_id, candidate_id, candidate_email, title, question_set, mode, status, started_at, model, created_at, voice_api)
                         VALUES (?1, ?2, ?3, ?4, 'Practice interview', ?5, 'practice', 'active', ?6, ?7, ?6, ?8)",
                        params![id, caller2.tenant_id, caller2.user_id, caller2.email, set, now, local_model(api), api.as_str()],
                    )
                    .map_err(internal)?;
                    (id, set, now.clone())
                }
                // A scheduled interview, or any session of the caller's being resumed for a
                // new connection (a reconnect whose client secret expired).
                ("interview" | "practice", Some(interview_id)) => {
                    let row = tx
                        .query_row(
                            "SELECT tenant_id, candidate_id, candidate_email, status, question_set, started_at FROM interview_sessions WHERE id = ?1",
                            [&interview_id],
                            |r| {
                                Ok(Scheduled {
                                    tenant: r.get(0)?,
                                    candidate: r.get(1)?,
                                    email: r.get(2)?,
                                    status: r.get(3)?,
                                    question_set: r.get(4)?,
                                    started_at: r.get(5)?,
                                })
                            },
                        )
                        .optional()
                        .map_err(internal)?;
                    let Some(Scheduled { tenant, candidate, email, status, question_set: set, started_at: started }) = row else {
                        return Err(FunctionError::new(StatusCode::NOT_FOUND, "not_found", "there is no such interview"));
                    };
                    // Bound to the caller, or (not started yet, so bound to nobody) addressed to
                    // them: an interviewer's change of address leaves the first candidate out.
                    let mine = caller2.role == Role::Candidate
                        && match candidate.as_deref() {
                            Some(bound) => bound == caller2.user_id,
                            None => email.is_some_and(|e| e.eq_ignore_ascii_case(&caller2.email)),
                        };
                    if tenant != caller2.tenant_id || !mine {
                        return Err(FunctionError::new(StatusCode::FORBIDDEN, "forbidden", "this interview belongs to someone else"));
                    }
                    if !matches!(status.as_str(), "scheduled" | "active" | "interrupted") {
                        return Err(FunctionError::new(StatusCode::CONFLICT, "interview_closed", format!("this interview is {status}")));
                    }
                    if live.lock().map(|l| l.contains(&interview_id)).unwrap_or(false) {
                        return Err(FunctionError::new(StatusCode::CONFLICT, "already_live", "this interview is already connected on another device"));
                    }
                    let started = started.unwrap_or_else(|| now.clone());
                    let api = session_voice_api(&tx, &interview_id).map_err(internal)?;
                    tx.execute(
                        "UPDATE interview_sessions SET status = 'active', started_at = ?1, candidate_id = ?2, model = ?3, closed_at = NULL WHERE id = ?4",
                        params![started, caller2.user_id, local_model(api), interview_id],
                    )
                    .map_err(internal)?;
                    (interview_id, set, started)
                }
                _ => {
                    return Err(FunctionError::new(
                        StatusCode::BAD_REQUEST,
                        "invalid_request",
                        "mode must be \"practice\", or \"interview\" with an interview_id",
                    ));
                }
            };
            let secret = format!("ek_{}", uuid::Uuid::new_v4().simple());
            let expires_at = chrono::Utc::now().timestamp() + lifetime;
            tx.execute(
                "INSERT INTO client_secrets (value, session_id, user_id, expires_at) VALUES (?1, ?2, ?3, ?4)",
                params![secret, session_id, caller2.user_id, expires_at],
            )
            .map_err(internal)?;
            let api = session_voice_api(&tx, &session_id).map_err(internal)?;
            tx.commit().map_err(internal)?;
            Ok((session_id, question_set, started_at, secret, expires_at, api))
        })
        .await?;

    let proxy = (
        "websocket",
        format!("{}/ws", state.public_url.replacen("http", "ws", 1)),
    );
    let (signaling, url) = match (api, state.signaling) {
        // Live sessions are created by a server holding the project key: always the proxy.
        (VoiceApi::Live, _) | (VoiceApi::Realtime, Signaling::WebSocket) => proxy,
        (VoiceApi::Realtime, Signaling::Http) => {
            ("http", format!("{}/v1/realtime/calls", state.public_url))
        }
    };
    if api == VoiceApi::Live {
        // The session config is the proxy's to build: the client gets none to send.
        return Ok(json!({
            "session": {"id": session_id, "tenant_id": caller.tenant_id, "status": "active", "started_at": started_at, "max_duration_s": MAX_DURATION_S},
            "mode": rollout_mode(&caller.user_id, state.voice_rollout_percent),
            "realtime": {
                "api": "live",
                "signaling": signaling,
                "url": url,
                "client_secret": {"value": secret, "expires_at": expires_at},
                "model": LOCAL_LIVE_MODEL,
            },
        }));
    }
    Ok(json!({
        "session": {"id": session_id, "tenant_id": caller.tenant_id, "status": "active", "started_at": started_at, "max_duration_s": MAX_DURATION_S},
        "mode": rollout_mode(&caller.user_id, state.voice_rollout_percent),
        "realtime": {
            "api": "realtime",
            "signaling": signaling,
            "url": url,
            "client_secret": {"value": secret, "expires_at": expires_at},
            "model": LOCAL_MODEL,
            "session": {
                "type": "realtime",
                "model": LOCAL_MODEL,
                "instructions": format!("You are Viva's interviewer. Ask the questions of the `{question_set}` set one at a time, listen to each answer, then close the interview politely."),
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
                let owner: Option<(String, Option<String>, Option<String>)> = tx
                    .query_row("SELECT tenant_id, candidate_id, closed_at FROM interview_sessions WHERE id = ?1", [&body.session_id], |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?)))
                    .optional()
                    .map_err(internal)?;
                let closed_at = match owner {
                    None => return Err(FunctionError::new(StatusCode::NOT_FOUND, "not_found", "there is no such session")),
                    Some((tenant, candidate, _)) if tenant != caller.tenant_id || candidate.as_deref() != Some(caller.user_id.as_str()) => {
                        return Err(FunctionError::new(StatusCode::FORBIDDEN, "forbidden", "this session belongs to someone else"));
                    }
                    Some((_, _, closed_at)) => closed_at,
                };
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

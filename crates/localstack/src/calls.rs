//! `POST /v1/realtime/calls` (docs/protocols.md §2): the hosted Realtime API's WebRTC signaling, in
//! front of the local interviewer. The bearer is the `ek_` client secret `interview-start`
//! minted for the session; the body is the offer; the answer comes back as 201
//! `application/sdp` with a `Location`. `POST /v1/realtime/calls/{id}/hangup` ends a call.
//! `GET /v1/realtime?call_id={id}` is a server's connection to a call (the project key): its
//! server events. Errors are the OpenAI error JSON.

use axum::body::Bytes;
use axum::extract::{Path, State};
use axum::http::{HeaderMap, StatusCode, header};
use axum::response::{IntoResponse, Response};
use rusqlite::OptionalExtension;

use crate::interviewer::{CallApi, CallError, CallSetup};
use crate::server::AppState;

fn openai_error(status: StatusCode, kind: &str, code: &str, message: &str) -> Response {
    crate::live_sessions::openai_error(status, kind, code, message, None)
}

fn unauthorized(message: &str) -> Response {
    openai_error(
        StatusCode::UNAUTHORIZED,
        "invalid_request_error",
        "invalid_api_key",
        message,
    )
}

/// 500 in OpenAI's shape for a database that could not be read (logged, details kept here).
fn database_failed(error: crate::db::DbError) -> Response {
    tracing::error!(event = "realtime_calls_db_failed", %error);
    openai_error(
        StatusCode::INTERNAL_SERVER_ERROR,
        "server_error",
        "internal_error",
        "the local stack could not read its database",
    )
}

/// What a valid client secret opens.
struct Grant {
    /// The local stack's session the secret was minted for; `None` for a secret a server
    /// minted through [`create_client_secret`] (its session lives in that server's database).
    session_id: Option<String>,
    question_set: String,
}

/// Looks up the bearer secret: unknown, expired or for a session that is not active → `Err`.
async fn grant(state: &AppState, headers: &HeaderMap) -> Result<Grant, Response> {
    let Some(secret) = headers
        .get(header::AUTHORIZATION)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.strip_prefix("Bearer "))
        .map(str::trim)
        .filter(|s| s.starts_with("ek_"))
        .map(str::to_owned)
    else {
        return Err(unauthorized(
            "missing bearer client secret: send `Authorization: Bearer ek_...` from interview-start",
        ));
    };
    let lookup = secret.clone();
    let row = state
        .db
        .call(move |conn| {
            conn.query_row(
                "SELECT c.session_id, c.expires_at, s.status, s.question_set FROM client_secrets c
                 JOIN interview_sessions s ON s.id = c.session_id WHERE c.value = ?1",
                [&lookup],
                |r| {
                    Ok((
                        r.get::<_, String>(0)?,
                        r.get::<_, i64>(1)?,
                        r.get::<_, String>(2)?,
                        r.get::<_, String>(3)?,
                    ))
                },
            )
            .optional()
            .map_err(crate::db::DbError::from)
        })
        .await
        .map_err(database_failed)?;
    let Some((session_id, expires_at, status, question_set)) = row else {
        return provider_grant(state, secret).await;
    };
    if expires_at <= chrono::Utc::now().timestamp() {
        return Err(unauthorized(
            "this client secret has expired; call interview-start again for a new one",
        ));
    }
    if status != "active" {
        return Err(openai_error(
            StatusCode::CONFLICT,
            "invalid_request_error",
            "session_not_active",
            &format!("this interview session is {status}"),
        ));
    }
    Ok(Grant {
        session_id: Some(session_id),
        question_set,
    })
}

/// A secret minted through `POST /v1/realtime/client_secrets`, unless unknown or expired.
async fn provider_grant(state: &AppState, secret: String) -> Result<Grant, Response> {
    let row = state
        .db
        .call(move |conn| {
            conn.query_row(
                "SELECT question_set, expires_at FROM provider_client_secrets WHERE value = ?1",
                [&secret],
                |r| Ok((r.get::<_, String>(0)?, r.get::<_, i64>(1)?)),
            )
            .optional()
            .map_err(crate::db::DbError::from)
        })
        .await
        .map_err(database_failed)?;
    match row {
        None => Err(unauthorized("this client secret is not valid")),
        Some((_, expires_at)) if expires_at <= chrono::Utc::now().timestamp() => Err(unauthorized(
            "this client secret has expired; call interview-start again for a new one",
        )),
        Some((question_set, _)) => Ok(Grant {
            session_id: None,
            question_set,
        }),
    }
}

/// The question set a Viva interview's instructions name: they start with "You are Viva's
/// interviewer for the `<set>` question set." (both implementations of `interview-start` write
/// it so); anything else gets the general set.
pub fn question_set_of(instructions: &str) -> String {
    instructions
        .strip_prefix("You are Viva's interviewer for the `")
        .and_then(|rest| rest.split_once('`'))
        .map(|(set, _)| set)
        .filter(|set| {
            !set.is_empty()
                && set.len() <= 64
                && set
                    .bytes()
                    .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'_')
        })
        .unwrap_or("general_behavioural")
        .to_owned()
}

/// `POST /v1/realtime/client_secrets`: a short-lived `ek_` secret for one Realtime session with
/// the config given, minted for a server holding the project key (the hosted `interview-start`
/// function). 200 `{"value","expires_at","session"}`; errors in OpenAI's shape.
pub async fn create_client_secret(
    State(state): State<AppState>,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    if let Err(message) = crate::live_sessions::authorize(&state, &headers) {
        return unauthorized(message);
    }
    let invalid = |param: &str, message: &str| {
        crate::live_sessions::openai_error(
            StatusCode::BAD_REQUEST,
            "invalid_request_error",
            "invalid_value",
            message,
            Some(param),
        )
    };
    let Ok(request) = serde_json::from_slice::<serde_json::Value>(&body) else {
        return invalid("body", "the body must be a JSON object");
    };
    let seconds = match request.pointer("/expires_after/seconds") {
        None => 600,
        Some(value) => match value.as_i64() {
            Some(s) if (10..=7200).contains(&s) => s,
            _ => {
                return invalid(
                    "expires_after.seconds",
                    "expires_after.seconds must be a whole number from 10 to 7200",
                );
            }
        },
    };
    let session = request.get("session").cloned().unwrap_or_default();
    if session.get("type").and_then(|t| t.as_str()) != Some("realtime") {
        return invalid("session.type", "session.type must be \"realtime\"");
    }
    let question_set = question_set_of(
        session
            .get("instructions")
            .and_then(|i| i.as_str())
            .unwrap_or_default(),
    );
    let value = format!("ek_{}", uuid::Uuid::new_v4().simple());
    let expires_at = chrono::Utc::now().timestamp() + seconds;
    let stored = (value.clone(), session.to_string());
    let saved = state
        .db
        .call(move |conn| {
            conn.execute(
                "INSERT INTO provider_client_secrets (value, question_set, session, expires_at) VALUES (?1, ?2, ?3, ?4)",
                rusqlite::params![stored.0, question_set, stored.1, expires_at],
            )
            .map_err(crate::db::DbError::from)
        })
        .await;
    if let Err(error) = saved {
        tracing::error!(event = "client_secret_not_saved", %error);
        return openai_error(
            StatusCode::INTERNAL_SERVER_ERROR,
            "server_error",
            "internal_error",
            "the local stack could not save the client secret",
        );
    }
    axum::Json(serde_json::json!({"value": value, "expires_at": expires_at, "session": session}))
        .into_response()
}

/// `POST /v1/realtime/calls`
pub async fn create(State(state): State<AppState>, headers: HeaderMap, body: Bytes) -> Response {
    let grant = match grant(&state, &headers).await {
        Ok(grant) => grant,
        Err(response) => return response,
    };
    let offer = String::from_utf8_lossy(&body);
    if let Err(problem) = crate::proxy::validate_offer(&offer) {
        return openai_error(
            StatusCode::BAD_REQUEST,
            "invalid_request_error",
            "invalid_offer",
            &problem.to_string(),
        );
    }
    let setup = CallSetup {
        session_id: grant.session_id,
        question_set: grant.question_set,
        api: CallApi::Realtime,
    };
    match state.interviewer.answer(setup, &offer).await {
        Ok(answer) => (
            StatusCode::CREATED,
            [
                (header::CONTENT_TYPE, "application/sdp".to_owned()),
                (
                    header::LOCATION,
                    format!("/v1/realtime/calls/{}", answer.call_id),
                ),
            ],
            answer.sdp,
        )
            .into_response(),
        Err(error @ CallError::Offer(_)) => openai_error(
            StatusCode::BAD_REQUEST,
            "invalid_request_error",
            "invalid_offer",
            &error.to_string(),
        ),
        Err(error) => {
            tracing::error!(event = "realtime_call_failed", %error);
            openai_error(
                StatusCode::INTERNAL_SERVER_ERROR,
                "server_error",
                "call_failed",
                &error.to_string(),
            )
        }
    }
}

/// `POST /v1/realtime/calls/{call_id}/hangup`
pub async fn hang_up(
    State(state): State<AppState>,
    Path(call_id): Path<String>,
    headers: HeaderMap,
) -> Response {
    let grant = match grant(&state, &headers).await {
        Ok(grant) => grant,
        Err(response) => return response,
    };
    // A server-minted secret has no session here: it may end only calls that have none either.
    if state.interviewer.session_of(&call_id) != grant.session_id {
        return openai_error(
            StatusCode::NOT_FOUND,
            "invalid_request_error",
            "call_not_found",
            "there is no such live call for this session",
        );
    }
    state.interviewer.hang_up(&call_id);
    StatusCode::OK.into_response()
}

/// The local interviewer behind the SDP proxy, answering in-process in the call's voice API
/// (a Live call with the session config the proxy built).
#[derive(Debug)]
pub struct LocalUpstream {
    pub state_db: crate::db::Db,
    pub interviewer: std::sync::Arc<crate::interviewer::Interviewer>,
}

impl crate::proxy::Upstream for LocalUpstream {
    fn answer<'a>(
        &'a self,
        session_id: &'a str,
        offer: &'a str,
        api: &'a CallApi,
    ) -> viva_proxy::auth::BoxFuture<'a, Result<crate::proxy::Answered, crate::proxy::UpstreamError>>
    {
        use crate::proxy::{Answered, UpstreamCall, UpstreamError};
        Box::pin(async move {
            let id = session_id.to_owned();
            let question_set = self
                .state_db
                .call(move |conn| {
                    conn.query_row(
                        "SELECT question_set FROM interview_sessions WHERE id = ?1",
                        [&id],
                        |r| r.get::<_, String>(0),
                    )
                    .map_err(crate::db::DbError::from)
                })
                .await
                .map_err(|_| UpstreamError::Unreachable)?;
            let setup = CallSetup {
                session_id: Some(session_id.to_owned()),
                question_set,
                api: api.clone(),
            };
            let answer = self
                .interviewer
                .answer(setup, offer)
                .await
                .map_err(|error| {
                    tracing::warn!(event = "local_interviewer_refused_offer", %error);
                    UpstreamError::Refused {
                        code: "offer_not_usable".into(),
                    }
                })?;
            Ok(Answered {
                sdp: answer.sdp,
                call: UpstreamCall {
                    session_id: session_id.to_owned(),
                    live: matches!(api, CallApi::Live(_)),
                    id: answer.call_id,
                },
            })
        })
    }

    fn typed_answer<'a>(
        &'a self,
        call: &'a crate::proxy::UpstreamCall,
        text: &'a str,
    ) -> viva_proxy::auth::BoxFuture<'a, Result<(), crate::proxy::UpstreamError>> {
        Box::pin(async move {
            self.interviewer
                .typed_answer(&call.session_id, text)
                .await
                .map_err(|_| crate::proxy::UpstreamError::CallEnded)
        })
    }

    fn observe<'a>(
        &'a self,
        call: &'a crate::proxy::UpstreamCall,
    ) -> viva_proxy::auth::BoxFuture<
        'a,
        Result<viva_proxy::observe::EventStream, crate::proxy::UpstreamError>,
    > {
        // In-process, as a sideband to the call would hear it: every event the call sends its
        // client from now on (one that falls behind is told by a gap).
        Box::pin(async move {
            match self.interviewer.observe(&call.id) {
                Some(events) => Ok(Box::new(events) as viva_proxy::observe::EventStream),
                None => Err(crate::proxy::UpstreamError::CallEnded),
            }
        })
    }

    fn hang_up(&self, call: &crate::proxy::UpstreamCall) {
        self.interviewer.hang_up(&call.id);
    }
}

/// The query of `GET /v1/realtime`.
#[derive(Debug, serde::Deserialize)]
pub struct SidebandQuery {
    call_id: Option<String>,
}

/// `GET /v1/realtime?call_id={id}`: a server's connection to a Realtime call a client set up
/// over WebRTC (OpenAI's "sideband"; the project key only, as `POST /v1/live/sessions`). It
/// receives every server event the call sends its client from now on, and closes when the call
/// ends. The local interviewer takes no instructions on it: anything sent is answered with an
/// `error` event. A bad key is 401, a call that is not a live Realtime one 404.
pub async fn sideband(
    State(state): State<AppState>,
    axum::extract::Query(query): axum::extract::Query<SidebandQuery>,
    headers: HeaderMap,
    upgrade: axum::extract::ws::WebSocketUpgrade,
) -> Response {
    if let Err(message) = crate::live_sessions::authorize(&state, &headers) {
        return unauthorized(message);
    }
    // A Live session's events are its own `/attach`'s.
    let events = query
        .call_id
        .filter(|id| id.starts_with("rtc_"))
        .and_then(|id| state.interviewer.observe(&id));
    let Some(events) = events else {
        return openai_error(
            StatusCode::NOT_FOUND,
            "invalid_request_error",
            "call_id_not_found",
            "No session found for the provided call_id",
        );
    };
    upgrade.on_upgrade(move |socket| forward_events(socket, events))
}

/// Passes the call's events to a sideband until either ends.
async fn forward_events(
    mut socket: axum::extract::ws::WebSocket,
    mut events: tokio::sync::broadcast::Receiver<String>,
) {
    use axum::extract::ws::Message;
    use tokio::sync::broadcast::error::RecvError;
    loop {
        tokio::select! {
            event = events.recv() => match event {
                Ok(text) => {
                    if socket.send(Message::Text(text.into())).await.is_err() {
                        return;
                    }
                }
                // Fell behind: the events it missed are gone; it stays connected.
                Err(RecvError::Lagged(_)) => {}
                // The call ended.
                Err(RecvError::Closed) => {
                    let _ = socket.send(Message::Close(None)).await;
                    return;
                }
            },
            message = socket.recv() => match message {
                Some(Ok(Message::Text(_))) => {
                    let reply = serde_json::json!({"type": "error", "error": {
                        "type": "invalid_request_error", "code": "unsupported_event",
                        "message": "the local interviewer's sideband only listens",
                    }});
                    if socket.send(Message::Text(reply.to_string().into())).await.is_err() {
                        return;
                    }
                }
                Some(Ok(Message::Close(_)) | Err(_)) | None => return,
                Some(Ok(_)) => {}
            },
        }
    }
}

//! `POST /v1/realtime/calls` (docs/protocols.md §2): the hosted Realtime API's WebRTC signaling, in
//! front of the local interviewer. The bearer is the `ek_` client secret `interview-start`
//! minted for the session; the body is the offer; the answer comes back as 201
//! `application/sdp` with a `Location`. `POST /v1/realtime/calls/{id}/hangup` ends a call.
//! Errors are the OpenAI error JSON.

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

/// What a valid client secret opens.
struct Grant {
    session_id: String,
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
    let row = state
        .db
        .call(move |conn| {
            conn.query_row(
                "SELECT c.session_id, c.expires_at, s.status, s.question_set FROM client_secrets c
                 JOIN interview_sessions s ON s.id = c.session_id WHERE c.value = ?1",
                [&secret],
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
        .map_err(|error| {
            tracing::error!(event = "realtime_calls_db_failed", %error);
            openai_error(
                StatusCode::INTERNAL_SERVER_ERROR,
                "server_error",
                "internal_error",
                "the local stack could not read its database",
            )
        })?;
    let Some((session_id, expires_at, status, question_set)) = row else {
        return Err(unauthorized("this client secret is not valid"));
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
        session_id,
        question_set,
    })
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
        session_id: Some(grant.session_id),
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
    if state.interviewer.session_of(&call_id).as_deref() != Some(grant.session_id.as_str()) {
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
    ) -> std::pin::Pin<Box<dyn std::future::Future<Output = Result<String, String>> + Send + 'a>>
    {
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
                .map_err(|e| e.to_string())?;
            let setup = CallSetup {
                session_id: Some(session_id.to_owned()),
                question_set,
                api: api.clone(),
            };
            self.interviewer
                .answer(setup, offer)
                .await
                .map(|a| a.sdp)
                .map_err(|e| e.to_string())
        })
    }

    fn typed_answer<'a>(
        &'a self,
        session_id: &'a str,
        text: &'a str,
    ) -> crate::proxy::UpstreamFuture<'a, ()> {
        Box::pin(self.interviewer.typed_answer(session_id, text))
    }

    fn hang_up(&self, session_id: &str) {
        self.interviewer.hang_up_session(session_id);
    }
}

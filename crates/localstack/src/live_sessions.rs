//! GPT-Live sessions (docs/protocols.md §4; names from OpenAI's `openai` 3.63.0 SDK,
//! `openai/types/live/`): the create form a server holding the project key posts, typed and
//! checked as strictly as the hosted service documents it (unknown fields, more than 128 `input`
//! messages or 8,192 tokens of them, a part of the wrong type refused); the resolved session a
//! `session.started` describes; the session an interview's call asks for, built from its
//! question set and the transcript stored so far; and the local stack's own
//! `POST /v1/live/sessions` in front of the local interviewer.
//!
//! The Realtime API's signaling is `calls.rs`'s; the SDP proxy, which creates Live sessions
//! server-side for a candidate's client, is `proxy.rs`'s.

use axum::body::Bytes;
use axum::extract::{Path, State};
use axum::http::{HeaderMap, StatusCode, header};
use axum::response::{IntoResponse, Response};
use serde_json::json;

use crate::interviewer::script::question_set_named_in;
use crate::interviewer::{CallApi, CallError, CallSetup};
use crate::server::AppState;

pub use viva_proxy::live::*;

/// An error in OpenAI's shape.
pub(crate) fn openai_error(
    status: StatusCode,
    kind: &str,
    code: &str,
    message: &str,
    param: Option<&str>,
) -> Response {
    let body = json!({"error": {"message": message, "type": kind, "code": code, "param": param}});
    (status, axum::Json(body)).into_response()
}

/// A project key; `Debug` never shows it.
#[derive(Clone)]
pub struct ProjectKey(pub String);

impl std::fmt::Debug for ProjectKey {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("ProjectKey(..)")
    }
}

/// The bearer must be the stack's Live API key (the project key a hosted service would hold);
/// a refusal says why.
pub(crate) fn authorize(state: &AppState, headers: &HeaderMap) -> Result<(), &'static str> {
    let Some(ProjectKey(expected)) = &state.live_api_key else {
        return Err(
            "this local stack has no Live API key configured, so it creates no Live sessions",
        );
    };
    let given = headers
        .get(header::AUTHORIZATION)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.strip_prefix("Bearer "))
        .map(str::trim);
    match given {
        None => Err("missing bearer API key: send `Authorization: Bearer <key>`"),
        Some(key) if constant_time_eq(key.as_bytes(), expected.as_bytes()) => Ok(()),
        Some(_) => Err("incorrect API key provided"),
    }
}

/// 401 in OpenAI's shape.
fn unauthorized(message: &str) -> Response {
    openai_error(
        StatusCode::UNAUTHORIZED,
        "invalid_request_error",
        "invalid_api_key",
        message,
        None,
    )
}

fn constant_time_eq(a: &[u8], b: &[u8]) -> bool {
    a.len() == b.len() && a.iter().zip(b).fold(0u8, |acc, (x, y)| acc | (x ^ y)) == 0
}

/// `POST /v1/live/sessions`: a Live session with the local interviewer, answered 201 with its
/// id (`live_...`) and the SDP answer.
pub async fn create(State(state): State<AppState>, headers: HeaderMap, body: Bytes) -> Response {
    if let Err(message) = authorize(&state, &headers) {
        return unauthorized(message);
    }
    let request = match parse_create(&body) {
        Ok(request) => request,
        Err(error) => {
            return openai_error(
                StatusCode::BAD_REQUEST,
                "invalid_request_error",
                error.code,
                &error.message,
                error.param.as_deref(),
            );
        }
    };
    let question_set = question_set_named_in(request.session.instructions.as_deref().unwrap_or(""));
    let setup = CallSetup {
        session_id: None,
        question_set,
        api: CallApi::Live(Box::new(request.session)),
    };
    match state
        .interviewer
        .answer(setup, &request.transport.sdp)
        .await
    {
        Ok(answer) => (
            StatusCode::CREATED,
            axum::Json(json!({
                "session": {"id": answer.call_id},
                "transport": {"type": "webrtc", "sdp": answer.sdp},
            })),
        )
            .into_response(),
        Err(error @ CallError::Offer(_)) => openai_error(
            StatusCode::BAD_REQUEST,
            "invalid_request_error",
            "invalid_offer",
            &error.to_string(),
            Some("transport.sdp"),
        ),
        Err(error) => {
            tracing::error!(event = "live_session_failed", %error);
            openai_error(
                StatusCode::INTERNAL_SERVER_ERROR,
                "server_error",
                "session_failed",
                &error.to_string(),
                None,
            )
        }
    }
}

/// `POST /v1/live/sessions/{id}/hangup`: ends the session (`session.closed` with
/// `close_requested`).
pub async fn hang_up(
    State(state): State<AppState>,
    Path(id): Path<String>,
    headers: HeaderMap,
) -> Response {
    if let Err(message) = authorize(&state, &headers) {
        return unauthorized(message);
    }
    if !id.starts_with("live_") || !state.interviewer.hang_up(&id) {
        return openai_error(
            StatusCode::NOT_FOUND,
            "invalid_request_error",
            "session_not_found",
            "there is no such live session",
            None,
        );
    }
    StatusCode::OK.into_response()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn project_keys_never_show_in_debug_output() {
        assert_eq!(
            format!("{:?}", ProjectKey("sk-secret".into())),
            "ProjectKey(..)"
        );
        assert!(constant_time_eq(b"abc", b"abc"));
        assert!(!constant_time_eq(b"abc", b"abd"));
        assert!(!constant_time_eq(b"abc", b"abcd"));
    }
}

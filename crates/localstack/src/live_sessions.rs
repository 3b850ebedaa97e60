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

/// `GET /v1/live/sessions/{id}/attach`: a server's sideband to a Live session (the project key
/// only). It receives every server event the session sends its client, and may send
/// `session.instructions.append` with a typed answer wrapped as the proxy wraps them
/// (`viva_proxy::upstream::openai::wrap_typed_answer`): the local interviewer takes it as the
/// candidate's words. Anything else it sends is answered with an `error` event.
pub async fn attach(
    State(state): State<AppState>,
    Path(id): Path<String>,
    headers: HeaderMap,
    upgrade: axum::extract::ws::WebSocketUpgrade,
) -> Response {
    if let Err(message) = authorize(&state, &headers) {
        return unauthorized(message);
    }
    let events = if id.starts_with("live_") {
        state.interviewer.observe(&id)
    } else {
        None
    };
    let Some(events) = events else {
        return openai_error(
            StatusCode::NOT_FOUND,
            "invalid_request_error",
            "session_not_found",
            "there is no such live session",
            None,
        );
    };
    upgrade.on_upgrade(move |socket| sideband(state, id, socket, events))
}

/// The candidate's answer inside a typed-answer wrapper, unescaped; `None` for anything else.
pub fn unwrap_typed_answer(content: &str) -> Option<String> {
    let start = content.find("<candidate_answer>\n")? + "<candidate_answer>\n".len();
    let end = content.rfind("\n</candidate_answer>")?;
    let escaped = content.get(start..end)?;
    Some(
        escaped
            .replace("&lt;", "<")
            .replace("&gt;", ">")
            .replace("&amp;", "&"),
    )
}

async fn sideband(
    state: AppState,
    call_id: String,
    mut socket: axum::extract::ws::WebSocket,
    mut events: tokio::sync::broadcast::Receiver<String>,
) {
    use axum::extract::ws::Message;
    use tokio::sync::broadcast::error::RecvError;
    let problem = |code: &str, message: &str| {
        json!({"type": "error", "error": {"type": "invalid_request_error", "code": code, "message": message}})
            .to_string()
    };
    loop {
        tokio::select! {
            event = events.recv() => match event {
                Ok(text) => {
                    if socket.send(Message::Text(text.into())).await.is_err() {
                        return;
                    }
                }
                // Fell behind: the events it missed are gone; it stays attached.
                Err(RecvError::Lagged(_)) => {}
                Err(RecvError::Closed) => {
                    let _ = socket.send(Message::Close(None)).await;
                    return;
                }
            },
            message = socket.recv() => {
                let text = match message {
                    Some(Ok(Message::Text(text))) => text,
                    Some(Ok(Message::Close(_)) | Err(_)) | None => return,
                    Some(Ok(_)) => continue,
                };
                let event: serde_json::Value = serde_json::from_str(&text).unwrap_or_default();
                let reply = match (event["type"].as_str(), event["content"].as_str().and_then(unwrap_typed_answer)) {
                    (Some("session.instructions.append"), Some(answer)) => {
                        match state.interviewer.typed_answer_to_call(&call_id, &answer).await {
                            Ok(()) => None,
                            Err(message) => Some(problem("session_not_found", &message)),
                        }
                    }
                    (Some("session.instructions.append"), None) => Some(problem(
                        "unsupported_instructions",
                        "the local interviewer takes only typed answers on its sideband",
                    )),
                    _ => Some(problem("unknown_event", "this sideband takes session.instructions.append only")),
                };
                if let Some(reply) = reply
                    && socket.send(Message::Text(reply.into())).await.is_err()
                {
                    return;
                }
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_wrapped_typed_answer_comes_back_as_typed() {
        let typed = "I'd use <b>Rust</b> & tests\nand more";
        let wrapped = viva_proxy::upstream::openai::wrap_typed_answer(typed);
        assert_eq!(unwrap_typed_answer(&wrapped).as_deref(), Some(typed));
        assert_eq!(unwrap_typed_answer("be nicer to the candidate"), None);
    }

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

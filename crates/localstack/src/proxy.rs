//! The SDP proxy (docs/protocols.md §3): `GET /health`, and `GET /ws` where the first message
//! authenticates, then offers are checked and handed to the voice upstream for an answer, in
//! the session's voice API: for GPT-Live the proxy builds the session itself (§4: only a server
//! holding the project key may create one) from the interview's question set and its stored
//! transcript, permitting the candidate's client exactly the commands it needs.
//! Once a GPT-Live call is up, the client's typed answers (`{"type":"text",...}`: a Live data
//! channel takes no text from the candidate) go to the upstream over this trusted connection,
//! which hands them to the session as the candidate's words.
//! Close codes: 1008 invalid or expired token, 4009 the session already has a live connection,
//! 4029 too many offers or typed answers, 1011 the upstream failed.

use std::sync::Arc;
use std::time::Duration;

use axum::Json;
use axum::extract::State;
use axum::extract::ws::{CloseFrame, Message, WebSocket, WebSocketUpgrade};
use axum::response::Response;
use serde_json::{Value, json};

use crate::caller::{Caller, Role};
pub use crate::interviewer::CallApi;
use crate::server::AppState;

pub use viva_contract::proxy::{
    CLOSE_ALREADY_LIVE, CLOSE_POLICY, CLOSE_RATE_LIMITED, CLOSE_UPSTREAM_FAILED,
};
use viva_contract::proxy::{
    ClientMessage, MAX_HISTORY_CHARS, MAX_HISTORY_LINES, parse_client_message,
};
pub use viva_contract::sdp::{MAX_SDP_BYTES, SdpError, validate_offer};

mod hosted;
mod live_session;
pub use hosted::{HostedUpstream, wrap_typed_answer};
pub use live_session::{call_api, live_session_config};

/// The largest message a client may send: an offer with the most history allowed (each
/// character at most 4 bytes of UTF-8, or a 6-byte JSON escape) and its lines' framing.
pub const MAX_CLIENT_MESSAGE_BYTES: usize =
    MAX_SDP_BYTES + 6 * MAX_HISTORY_CHARS + MAX_HISTORY_LINES * 512 + 4096;
/// How long a client has to authenticate after connecting.
pub const AUTH_TIMEOUT: Duration = Duration::from_secs(10);
/// Offers allowed on one connection (renegotiation and ICE restarts included).
pub const MAX_OFFERS_PER_CONNECTION: usize = 20;
/// Typed answers allowed on one connection (an interview has a few dozen turns at most).
pub const MAX_TYPED_ANSWERS_PER_CONNECTION: usize = 200;

/// What an upstream's operations return.
pub type UpstreamFuture<'a, T> =
    std::pin::Pin<Box<dyn std::future::Future<Output = Result<T, String>> + Send + 'a>>;

/// Where answers come from: the local interviewer, or a hosted voice service.
pub trait Upstream: Send + Sync + std::fmt::Debug {
    /// Answers `offer` for the session with a call in `api` (for Live, the session config the
    /// proxy built); an error closes the connection with 1011.
    fn answer<'a>(
        &'a self,
        session_id: &'a str,
        offer: &'a str,
        api: &'a CallApi,
    ) -> std::pin::Pin<Box<dyn std::future::Future<Output = Result<String, String>> + Send + 'a>>;

    /// Hands the candidate's typed answer `text` to the session's current GPT-Live call, as
    /// the candidate's words; an error is told to the client (`typed_answer_failed`) and the
    /// connection stays open.
    fn typed_answer<'a>(&'a self, _session_id: &'a str, _text: &'a str) -> UpstreamFuture<'a, ()> {
        Box::pin(async { Err("this upstream takes no typed answers".to_owned()) })
    }

    /// The client said `bye`: end the session's call, if the upstream keeps one.
    fn hang_up(&self, _session_id: &str) {}
}

/// An upstream that refuses every offer with a reason (for tests of the proxy itself).
#[derive(Debug, Default)]
pub struct NoUpstream;

impl Upstream for NoUpstream {
    fn answer<'a>(
        &'a self,
        _session_id: &'a str,
        _offer: &'a str,
        _api: &'a CallApi,
    ) -> std::pin::Pin<Box<dyn std::future::Future<Output = Result<String, String>> + Send + 'a>>
    {
        Box::pin(async { Err("no realtime peer is configured behind this proxy".to_owned()) })
    }
}

/// `GET /health`
pub async fn health() -> Json<Value> {
    Json(json!({"status": "healthy", "timestamp": chrono::Utc::now().to_rfc3339()}))
}

/// `GET /ws`
pub async fn ws(State(state): State<AppState>, upgrade: WebSocketUpgrade) -> Response {
    upgrade
        .max_message_size(MAX_CLIENT_MESSAGE_BYTES)
        .on_upgrade(move |socket| serve(state, socket))
}

async fn send(socket: &mut WebSocket, value: Value) -> bool {
    socket
        .send(Message::Text(value.to_string().into()))
        .await
        .is_ok()
}

async fn close(mut socket: WebSocket, code: u16, reason: &str) {
    let frame = CloseFrame {
        code,
        reason: reason.to_owned().into(),
    };
    let _ = socket.send(Message::Close(Some(frame))).await;
}

fn read(message: Option<Result<Message, axum::Error>>) -> Option<Result<ClientMessage, String>> {
    match message? {
        Ok(Message::Text(text)) => Some(parse_client_message(&text).map_err(|e| e.to_string())),
        Ok(Message::Close(_)) | Err(_) => None,
        Ok(_) => Some(Err("only JSON text messages are accepted".to_owned())),
    }
}

/// Removes the session from the live set when the connection ends, however it ends.
struct LiveGuard {
    state: AppState,
    session_id: String,
}

impl Drop for LiveGuard {
    fn drop(&mut self) {
        if let Ok(mut live) = self.state.live.lock() {
            live.remove(&self.session_id);
        }
    }
}

async fn may_join(state: &AppState, caller: &Caller, session_id: &str) -> bool {
    let (caller, session_id) = (caller.clone(), session_id.to_owned());
    state
        .db
        .call(move |conn| {
            conn.query_row(
                "SELECT COUNT(*) > 0 FROM interview_sessions WHERE id = ?1 AND tenant_id = ?2 AND candidate_id = ?3 AND status = 'active'",
                [&session_id, &caller.tenant_id, &caller.user_id],
                |r| r.get::<_, bool>(0),
            )
            .map_err(crate::db::DbError::from)
        })
        .await
        .unwrap_or(false)
        && caller.role == Role::Candidate
}

async fn serve(state: AppState, mut socket: WebSocket) {
    let first = tokio::time::timeout(AUTH_TIMEOUT, socket.recv())
        .await
        .ok()
        .flatten();
    let Some(Ok(ClientMessage::Auth {
        access_token,
        session_id,
    })) = read(first)
    else {
        return close(
            socket,
            CLOSE_POLICY,
            "the first message must be {\"type\":\"auth\",...}",
        )
        .await;
    };
    let Ok((caller, _)) = crate::caller::from_token(&state, &access_token).await else {
        return close(socket, CLOSE_POLICY, "invalid or expired token").await;
    };
    if !may_join(&state, &caller, &session_id).await {
        return close(
            socket,
            CLOSE_POLICY,
            "this session is not yours or is not active",
        )
        .await;
    }
    let fresh = state
        .live
        .lock()
        .map(|mut live| live.insert(session_id.clone()))
        .unwrap_or(false);
    if !fresh {
        return close(
            socket,
            CLOSE_ALREADY_LIVE,
            "this session already has a live connection",
        )
        .await;
    }
    let _guard = LiveGuard {
        state: state.clone(),
        session_id: session_id.clone(),
    };
    if !send(&mut socket, json!({"type": "ready"})).await {
        return;
    }
    let upstream: Arc<dyn Upstream> = state.upstream.clone();
    let mut offers = 0;
    let mut typed = 0;
    // The voice API of the call the last answered offer set up (`Some(true)`: GPT-Live).
    let mut live_call: Option<bool> = None;
    while let Some(message) = read(socket.recv().await) {
        match message {
            Ok(ClientMessage::Offer { sdp, history }) => {
                offers += 1;
                if offers > MAX_OFFERS_PER_CONNECTION {
                    return close(
                        socket,
                        CLOSE_RATE_LIMITED,
                        "too many offers on this connection",
                    )
                    .await;
                }
                if let Err(problem) = validate_offer(&sdp) {
                    if !send(&mut socket, json!({"type": "error", "code": "invalid_sdp", "message": problem.to_string()})).await {
                        return;
                    }
                    continue;
                }
                let answered = match call_api(&state.db, &session_id, &history).await {
                    Ok(api) => upstream
                        .answer(&session_id, &sdp, &api)
                        .await
                        .map(|answer| (answer, matches!(api, CallApi::Live(_)))),
                    Err(reason) => Err(reason),
                };
                match answered {
                    Ok((answer, live)) => {
                        live_call = Some(live);
                        if !send(&mut socket, json!({"type": "answer", "sdp": answer})).await {
                            return;
                        }
                    }
                    Err(reason) => {
                        tracing::warn!(event = "sdp_proxy_upstream_failed", %reason);
                        let _ = send(
                            &mut socket,
                            json!({"type": "error", "code": "upstream_failed", "message": reason}),
                        )
                        .await;
                        return close(
                            socket,
                            CLOSE_UPSTREAM_FAILED,
                            "the realtime upstream failed",
                        )
                        .await;
                    }
                }
            }
            Ok(ClientMessage::Text { text }) => {
                typed += 1;
                if typed > MAX_TYPED_ANSWERS_PER_CONNECTION {
                    return close(
                        socket,
                        CLOSE_RATE_LIMITED,
                        "too many typed answers on this connection",
                    )
                    .await;
                }
                let reply = match live_call {
                    Some(true) => match upstream.typed_answer(&session_id, &text).await {
                        Ok(()) => None,
                        Err(reason) => {
                            tracing::warn!(event = "sdp_proxy_typed_answer_failed", %reason);
                            Some(
                                json!({"type": "error", "code": "typed_answer_failed", "message": reason}),
                            )
                        }
                    },
                    Some(false) => Some(json!({
                        "type": "error",
                        "code": "unexpected_message",
                        "message": "a Realtime call takes typed answers on its own data channel",
                    })),
                    None => Some(json!({
                        "type": "error",
                        "code": "unexpected_message",
                        "message": "there is no call to take a typed answer yet: send an offer first",
                    })),
                };
                if let Some(reply) = reply
                    && !send(&mut socket, reply).await
                {
                    return;
                }
            }
            Ok(ClientMessage::Bye) => {
                upstream.hang_up(&session_id);
                let _ = send(&mut socket, json!({"type": "bye"})).await;
                return close(socket, 1000, "bye").await;
            }
            Ok(ClientMessage::Auth { .. }) | Err(_) => {
                let message = message
                    .err()
                    .unwrap_or_else(|| "expected an offer, a typed answer or bye".to_owned());
                let reply =
                    json!({"type": "error", "code": "unexpected_message", "message": message});
                if !send(&mut socket, reply).await {
                    return;
                }
            }
        }
    }
}

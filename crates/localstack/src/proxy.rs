//! The SDP proxy (docs/protocols.md §3): `GET /health`, and `GET /ws` where the first message
//! authenticates, then offers are checked and handed to the realtime upstream for an answer.
//! Close codes: 1008 invalid or expired token, 4009 the session already has a live connection,
//! 4029 too many offers, 1011 the upstream failed.

use std::sync::Arc;
use std::time::Duration;

use axum::Json;
use axum::extract::State;
use axum::extract::ws::{CloseFrame, Message, WebSocket, WebSocketUpgrade};
use axum::response::Response;
use serde_json::{Value, json};

use crate::caller::{Caller, Role};
use crate::server::AppState;

pub use viva_contract::proxy::{
    CLOSE_ALREADY_LIVE, CLOSE_POLICY, CLOSE_RATE_LIMITED, CLOSE_UPSTREAM_FAILED,
};
use viva_contract::proxy::{ClientMessage, parse_client_message};
pub use viva_contract::sdp::{MAX_SDP_BYTES, SdpError, validate_offer};
/// How long a client has to authenticate after connecting.
pub const AUTH_TIMEOUT: Duration = Duration::from_secs(10);
/// Offers allowed on one connection (renegotiation and ICE restarts included).
pub const MAX_OFFERS_PER_CONNECTION: usize = 20;

/// Where answers come from: the local interviewer, or a hosted realtime endpoint.
pub trait Upstream: Send + Sync + std::fmt::Debug {
    /// Answers `offer` for the session; an error closes the connection with 1011.
    fn answer<'a>(
        &'a self,
        session_id: &'a str,
        offer: &'a str,
    ) -> std::pin::Pin<Box<dyn std::future::Future<Output = Result<String, String>> + Send + 'a>>;

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
        .max_message_size(MAX_SDP_BYTES + 4096)
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
    while let Some(message) = read(socket.recv().await) {
        match message {
            Ok(ClientMessage::Offer { sdp }) => {
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
                match upstream.answer(&session_id, &sdp).await {
                    Ok(answer) => {
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
            Ok(ClientMessage::Bye) => {
                upstream.hang_up(&session_id);
                let _ = send(&mut socket, json!({"type": "bye"})).await;
                return close(socket, 1000, "bye").await;
            }
            Ok(ClientMessage::Auth { .. }) | Err(_) => {
                let reply = json!({"type": "error", "code": "unexpected_message", "message": "expected an offer or bye"});
                if !send(&mut socket, reply).await {
                    return;
                }
            }
        }
    }
}

/// How long the hosted endpoint has to answer an offer.
const UPSTREAM_TIMEOUT: Duration = Duration::from_secs(15);

/// Forwards offers to a hosted Realtime endpoint in its "unified interface" form: a multipart
/// POST of the offer (`sdp`) and a session config (`session`) with the server's API key, which
/// never reaches the client. The client sends the full `session.update` once the data channel is
/// open, so the session posted here only names the model.
pub struct HostedUpstream {
    url: String,
    api_key: String,
    model: String,
    http: reqwest::Client,
}

impl std::fmt::Debug for HostedUpstream {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("HostedUpstream")
            .field("url", &self.url)
            .field("model", &self.model)
            .finish_non_exhaustive()
    }
}

impl HostedUpstream {
    pub fn new(url: &str, api_key: &str, model: &str) -> Result<Self, String> {
        let http = reqwest::Client::builder()
            .timeout(UPSTREAM_TIMEOUT)
            .build()
            .map_err(|error| format!("cannot build the upstream client: {error}"))?;
        Ok(Self {
            url: url.to_owned(),
            api_key: api_key.to_owned(),
            model: model.to_owned(),
            http,
        })
    }

    async fn forward(&self, offer: &str) -> Result<String, String> {
        let session = json!({"type": "realtime", "model": self.model}).to_string();
        let sdp = reqwest::multipart::Part::text(offer.to_owned())
            .mime_str("application/sdp")
            .map_err(|error| error.to_string())?;
        let form = reqwest::multipart::Form::new()
            .part("sdp", sdp)
            .text("session", session);
        let response = self
            .http
            .post(&self.url)
            .bearer_auth(&self.api_key)
            .multipart(form)
            .send()
            .await
            .map_err(|error| {
                format!(
                    "the realtime service could not be reached: {}",
                    error.without_url()
                )
            })?;
        let status = response.status();
        let body = response
            .text()
            .await
            .map_err(|error| format!("the realtime service's answer broke off: {error}"))?;
        if !status.is_success() {
            let message = serde_json::from_str::<Value>(&body)
                .ok()
                .and_then(|v| {
                    v.pointer("/error/message")
                        .and_then(Value::as_str)
                        .map(str::to_owned)
                })
                .unwrap_or_else(|| format!("HTTP {status}"));
            return Err(format!("the realtime service refused the offer: {message}"));
        }
        if !body.trim_start().starts_with("v=0") {
            return Err("the realtime service answered with something that is not SDP".to_owned());
        }
        Ok(body)
    }
}

impl Upstream for HostedUpstream {
    fn answer<'a>(
        &'a self,
        _session_id: &'a str,
        offer: &'a str,
    ) -> std::pin::Pin<Box<dyn std::future::Future<Output = Result<String, String>> + Send + 'a>>
    {
        Box::pin(self.forward(offer))
    }
}

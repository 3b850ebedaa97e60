//! One signalling connection (docs/protocols.md §3): the first message authenticates within
//! [`AUTH_TIMEOUT`]; then the connection holds its session's lease, answers offers through the
//! upstream, passes typed answers to a GPT-Live call (acknowledging each by its id, once, see
//! [`TYPED_IDS_PER_CALL`]), starts observing each Live call it records ([`crate::observe`]),
//! and is pinged so a dead socket frees the interview ([`SILENCE_LIMIT`]).

use std::sync::Arc;
use std::time::Duration;

use axum::extract::ws::{CloseFrame, Message, WebSocket};
use serde_json::{Value, json};
use tokio::time::Instant;
use viva_contract::grant::VoiceApi;
use viva_contract::proxy::{
    CLOSE_ALREADY_LIVE, CLOSE_GOING_AWAY, CLOSE_POLICY, CLOSE_RATE_LIMITED, CLOSE_UPSTREAM_FAILED,
    ClientMessage, MAX_TYPED_ANSWER_ID_CHARS, PING_EVERY, REASON_REPLACED, SILENCE_LIMIT,
    parse_client_message,
};
use viva_contract::sdp::validate_offer;

use crate::Proxy;
use crate::auth::{TokenRefusal, VerifiedUser};
use crate::lease::{Claim, LeaseError, LeaseLoss};
use crate::metrics::{Api, LeaseConflict, OfferResult, RateLimitScope, TypedResult};
use crate::observe::{self, Attached};
use crate::sessions::{SessionError, SessionInfo, StoredTurn, live_session_config, may_join};
use crate::upstream::{CallApi, UpstreamCall, UpstreamError};

mod typed_ids;

use typed_ids::{CallKey, Claimed, TYPED_IDS};
pub use typed_ids::{TYPED_CALLS_REMEMBERED, TYPED_IDS_KEPT_FOR, TYPED_IDS_PER_CALL};

/// How long a client has to authenticate after connecting (the token, the session and the
/// lease are all checked within it).
pub const AUTH_TIMEOUT: Duration = Duration::from_secs(10);
/// How often an open connection reads its session again, beside the conversation (never in an
/// offer's way): the same bound within which a crashed instance's lease frees itself. An
/// interview that ends meanwhile (or is no longer the user's) closes the connection and its
/// call; a voice API changed meanwhile applies from the next offer (docs/deploying.md, step 5).
pub const SESSION_RECHECK_AFTER: Duration = Duration::from_secs(15);
/// An offer reads the session itself when the connection has not read it successfully for
/// this many recheck periods (the backend not answering the rechecks).
const STALE_AFTER_RECHECKS: u32 = 4;
/// Offers allowed on one connection (renegotiation and ICE restarts included).
pub const MAX_OFFERS_PER_CONNECTION: usize = 20;
/// Typed answers allowed on one connection (an interview has a few dozen turns at most).
pub const MAX_TYPED_ANSWERS_PER_CONNECTION: usize = 200;
/// How long one write to the client may take: a socket that cannot take a frame is dead.
pub const WRITE_TIMEOUT: Duration = Duration::from_secs(5);

/// How a connection ended, for logs and metrics.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Closed {
    pub code: u16,
    pub reason: &'static str,
}

struct Connection {
    socket: WebSocket,
    conn_id: String,
}

impl Connection {
    async fn send(&mut self, value: Value) -> bool {
        let frame = Message::Text(value.to_string().into());
        matches!(
            tokio::time::timeout(WRITE_TIMEOUT, self.socket.send(frame)).await,
            Ok(Ok(()))
        )
    }

    async fn close(mut self, code: u16, reason: &'static str) -> Closed {
        let frame = CloseFrame {
            code,
            reason: reason.into(),
        };
        let _ = tokio::time::timeout(WRITE_TIMEOUT, self.socket.send(Message::Close(Some(frame))))
            .await;
        tracing::info!(event = "proxy_connection_closed", conn_id = %self.conn_id, code, reason);
        Closed { code, reason }
    }
}

/// A message that could not be read: why, and the typed answer's id when it was one with a
/// usable id (so the client knows which answer was refused).
struct Unreadable {
    problem: String,
    id: Option<String>,
}

/// What one frame from the client was.
enum Incoming {
    Message(Result<ClientMessage, Unreadable>),
    /// A ping or pong: proof of life, nothing to answer.
    Alive,
    Gone,
}

fn incoming(message: Option<Result<Message, axum::Error>>) -> Incoming {
    match message {
        Some(Ok(Message::Text(text))) => {
            Incoming::Message(parse_client_message(&text).map_err(|e| Unreadable {
                problem: e.to_string(),
                id: typed_answer_id(&text),
            }))
        }
        Some(Ok(Message::Ping(_) | Message::Pong(_))) => Incoming::Alive,
        Some(Ok(Message::Binary(_))) => Incoming::Message(Err(Unreadable {
            problem: "only JSON text messages are accepted".to_owned(),
            id: None,
        })),
        Some(Ok(Message::Close(_)) | Err(_)) | None => Incoming::Gone,
    }
}

/// The id of a typed answer that could not be read otherwise, if it has one within the limit.
fn typed_answer_id(text: &str) -> Option<String> {
    let value: Value = serde_json::from_str(text).ok()?;
    if value.get("type")?.as_str()? != "text" {
        return None;
    }
    let id = value.get("id")?.as_str()?;
    let chars = id.chars().count();
    (1..=MAX_TYPED_ANSWER_ID_CHARS)
        .contains(&chars)
        .then(|| id.to_owned())
}

/// An `error` message; with the typed answer's `id` when it is about one that had an id.
fn error_reply(code: &str, message: &str, id: Option<&str>) -> Value {
    let mut reply = json!({"type": "error", "code": code, "message": message});
    if let Some(id) = id {
        reply["id"] = json!(id);
    }
    reply
}

/// Frees the lease however the connection ends (a panic included): the socket is gone.
struct ReleaseOnDrop {
    proxy: Arc<Proxy>,
    claim: Option<Claim>,
}

impl Drop for ReleaseOnDrop {
    fn drop(&mut self) {
        if let (Some(claim), Ok(runtime)) =
            (self.claim.take(), tokio::runtime::Handle::try_current())
        {
            let proxy = self.proxy.clone();
            runtime.spawn(async move {
                proxy.leases.release(&claim).await;
            });
        }
    }
}

/// The authenticated, joined and leased start of a connection.
struct Joined {
    user: VerifiedUser,
    token: String,
    session_id: String,
    claim: Claim,
    call: Option<UpstreamCall>,
    lost: tokio::sync::oneshot::Receiver<LeaseLoss>,
    /// The session as last read, and for GPT-Live its stored transcript then.
    view: SessionView,
}

impl Joined {
    /// The session's voice API when it was last read (for metrics).
    fn api(&self) -> Api {
        self.view.session.voice_api.into()
    }
}

/// What an offer needs from the backend, kept between offers: two reads as the candidate on
/// every offer were most of an offer's time and all of its tail under load
/// (docs/benchmarks.md), for a row that changes once or twice in an interview.
struct SessionView {
    session: SessionInfo,
    /// The final lines stored for the session (GPT-Live only; `None` until read). Lines
    /// uploaded later by this connection's client come back in its offers' history.
    stored: Option<Vec<StoredTurn>>,
    read_at: Instant,
}

async fn join(proxy: &Proxy, connection: &mut Connection) -> Result<Joined, (u16, &'static str)> {
    let first = incoming(connection.socket.recv().await);
    let Incoming::Message(Ok(ClientMessage::Auth {
        access_token,
        session_id,
    })) = first
    else {
        return Err((
            CLOSE_POLICY,
            "the first message must be {\"type\":\"auth\",...}",
        ));
    };
    let user = match proxy.tokens.verify(&access_token).await {
        Ok(user) => user,
        Err(TokenRefusal::CannotVerifyNow) => {
            return Err((CLOSE_UPSTREAM_FAILED, "cannot_verify_token"));
        }
        Err(_) => return Err((CLOSE_POLICY, "invalid or expired token")),
    };
    if let Some(limits) = &proxy.limits
        && !limits.user(&user.user_id)
    {
        proxy.metrics.rate_limited(RateLimitScope::User);
        return Err((CLOSE_RATE_LIMITED, "too many connections for this user"));
    }
    let not_yours = (CLOSE_POLICY, "this session is not yours or is not active");
    let session = match proxy
        .sessions
        .session(&user, &access_token, &session_id)
        .await
    {
        Ok(session) => session,
        Err(SessionError::NotYours) => return Err(not_yours),
        Err(SessionError::Unavailable) => {
            return Err((CLOSE_UPSTREAM_FAILED, "session_unavailable"));
        }
    };
    if !may_join(&user, &session) {
        return Err(not_yours);
    }
    let claim = Claim {
        session_id: session_id.clone(),
        conn_id: connection.conn_id.clone(),
        user_id: user.user_id.clone(),
        auth_session: user.auth_session.clone(),
    };
    // A GPT-Live session's first offer needs its stored transcript: read beside the lease.
    // If it cannot be read now, the first offer reads it.
    let stored = async {
        if session.voice_api == VoiceApi::Live {
            proxy
                .sessions
                .transcript(&user, &access_token, &session_id)
                .await
                .ok()
        } else {
            None
        }
    };
    let (granted, stored) = tokio::join!(proxy.leases.acquire(&claim), stored);
    match granted {
        Ok(grant) => {
            tracing::info!(event = "proxy_lease_granted", conn_id = %connection.conn_id, how = ?grant.how);
            proxy.metrics.lease_granted(grant.how);
            Ok(Joined {
                user,
                token: access_token,
                session_id,
                claim,
                call: grant.call,
                lost: grant.lost,
                view: SessionView {
                    session,
                    stored,
                    read_at: Instant::now(),
                },
            })
        }
        Err(LeaseError::Held | LeaseError::Lost) => {
            proxy.metrics.lease_conflict(LeaseConflict::Refused);
            Err((
                CLOSE_ALREADY_LIVE,
                "this session already has a live connection",
            ))
        }
        Err(LeaseError::Unavailable) => Err((CLOSE_UPSTREAM_FAILED, "lease_unavailable")),
    }
}

/// Serves one upgraded socket, `conn_id`, to its end.
pub async fn serve(
    proxy: Arc<Proxy>,
    socket: WebSocket,
    peer: Option<std::net::IpAddr>,
    conn_id: String,
) -> Closed {
    let mut connection = Connection { socket, conn_id };
    if let (Some(limits), Some(peer)) = (&proxy.limits, peer)
        && !limits.address(peer)
    {
        proxy.metrics.rate_limited(RateLimitScope::Address);
        return connection
            .close(CLOSE_RATE_LIMITED, "too many connections from this address")
            .await;
    }
    let joined = tokio::time::timeout(AUTH_TIMEOUT, join(&proxy, &mut connection)).await;
    let mut joined = match joined {
        Ok(Ok(joined)) => joined,
        Ok(Err((code, reason))) => return connection.close(code, reason).await,
        Err(_) => {
            return connection
                .close(CLOSE_POLICY, "authentication timed out")
                .await;
        }
    };
    let _release = ReleaseOnDrop {
        proxy: proxy.clone(),
        claim: Some(joined.claim.clone()),
    };
    // A call taken over with the interview goes on being observed (here, if its observer was
    // elsewhere: from what is said next).
    if let Some(call) = &joined.call {
        observe::start(
            &proxy,
            &joined.user.tenant_id,
            &joined.session_id,
            call,
            Attached::Later,
        )
        .await;
    }
    if !connection.send(json!({"type": "ready"})).await {
        return Closed {
            code: 1006,
            reason: "gone",
        };
    }
    let mut offers = 0;
    let mut typed = 0;
    let mut last_heard = Instant::now();
    let mut pings = tokio::time::interval_at(Instant::now() + PING_EVERY, PING_EVERY);
    let mut rechecks = tokio::time::interval_at(
        Instant::now() + proxy.session_recheck,
        proxy.session_recheck,
    );
    let mut recheck: Option<tokio::task::JoinHandle<Result<SessionInfo, SessionError>>> = None;
    let mut draining = proxy.draining.subscribe();
    loop {
        let message = tokio::select! {
            message = connection.socket.recv() => message,
            // Nothing at all (not even a pong) for the silence limit: a half-open socket (a
            // laptop that changed networks) must not hold the interview.
            () = tokio::time::sleep_until(last_heard + SILENCE_LIMIT) => {
                tracing::info!(event = "proxy_silent_connection_dropped", conn_id = %connection.conn_id);
                proxy.metrics.silent_connection_dropped();
                return connection.close(CLOSE_GOING_AWAY, "silent").await;
            }
            _ = pings.tick() => {
                let ping = Message::Ping(Default::default());
                if !matches!(tokio::time::timeout(WRITE_TIMEOUT, connection.socket.send(ping)).await, Ok(Ok(()))) {
                    return Closed { code: 1006, reason: "gone" };
                }
                continue;
            }
            loss = &mut joined.lost => {
                proxy.metrics.lease_conflict(LeaseConflict::Lost);
                return match loss {
                    Ok(LeaseLoss::Replaced) | Err(_) => connection.close(CLOSE_ALREADY_LIVE, REASON_REPLACED).await,
                    Ok(LeaseLoss::Unconfirmed) => connection.close(CLOSE_UPSTREAM_FAILED, "lease_unavailable").await,
                };
            }
            () = async { let _ = draining.wait_for(|draining| *draining).await; } => {
                return connection.close(CLOSE_GOING_AWAY, "draining").await;
            }
            _ = rechecks.tick(), if recheck.is_none() => {
                recheck = Some(spawn_recheck(&proxy, &joined));
                continue;
            }
            read = async {
                match recheck.as_mut() {
                    Some(reading) => reading.await,
                    None => std::future::pending().await,
                }
            } => {
                recheck = None;
                let session = match read {
                    Ok(Ok(session)) => Some(session),
                    Ok(Err(SessionError::NotYours)) => None,
                    // Not the user's doing: the view stands until a read succeeds.
                    Ok(Err(SessionError::Unavailable)) | Err(_) => {
                        tracing::info!(event = "proxy_session_recheck_failed", conn_id = %connection.conn_id);
                        continue;
                    }
                };
                match session {
                    Some(session) if may_join(&joined.user, &session) => {
                        joined.view.refresh(session);
                        continue;
                    }
                    _ => {
                        tracing::info!(event = "proxy_session_no_longer_active", conn_id = %connection.conn_id);
                        if let Some(call) = proxy.leases.release(&joined.claim).await {
                            TYPED_IDS.forget(&CallKey::of(&proxy, &call));
                            proxy.upstream.hang_up(&call);
                        }
                        return connection.close(CLOSE_POLICY, "session_not_active").await;
                    }
                }
            }
        };
        last_heard = Instant::now();
        let message = match incoming(message) {
            Incoming::Gone => {
                return Closed {
                    code: 1006,
                    reason: "gone",
                };
            }
            Incoming::Alive => continue,
            Incoming::Message(message) => message,
        };
        // When the reply is an answer: when its offer came (for metrics, once it is sent).
        let mut answering = None;
        let reply = match message {
            Ok(ClientMessage::Offer { sdp, history }) => {
                let received = Instant::now();
                offers += 1;
                if offers > MAX_OFFERS_PER_CONNECTION {
                    proxy.metrics.rate_limited(RateLimitScope::Offers);
                    return connection
                        .close(CLOSE_RATE_LIMITED, "too many offers on this connection")
                        .await;
                }
                if let Err(problem) = validate_offer(&sdp) {
                    proxy.metrics.offer(joined.api(), OfferResult::InvalidSdp);
                    Some(
                        json!({"type": "error", "code": "invalid_sdp", "message": problem.to_string()}),
                    )
                } else {
                    match offer(&proxy, &mut joined, &sdp, &history).await {
                        Ok(answered) => {
                            // The call is this connection's only while it holds the lease.
                            match proxy
                                .leases
                                .record_call(&joined.claim, &answered.call)
                                .await
                            {
                                Ok(replaced) => {
                                    if let Some(replaced) = replaced {
                                        TYPED_IDS.forget(&CallKey::of(&proxy, &replaced));
                                        proxy.upstream.hang_up(&replaced);
                                    }
                                }
                                Err(lost) => {
                                    proxy.metrics.lease_conflict(LeaseConflict::Lost);
                                    proxy.upstream.hang_up(&answered.call);
                                    // Taken over: final for this connection. The store not
                                    // answering is not the client's doing: it reconnects.
                                    let (code, reason) = if lost == LeaseError::Lost {
                                        (CLOSE_ALREADY_LIVE, REASON_REPLACED)
                                    } else {
                                        (CLOSE_UPSTREAM_FAILED, "lease_unavailable")
                                    };
                                    return connection.close(code, reason).await;
                                }
                            }
                            // Listening before the answer goes: nothing said is missed.
                            observe::start(
                                &proxy,
                                &joined.user.tenant_id,
                                &joined.session_id,
                                &answered.call,
                                Attached::AtCreation,
                            )
                            .await;
                            joined.call = Some(answered.call);
                            proxy.metrics.offer(joined.api(), OfferResult::Answered);
                            answering = Some(received);
                            Some(json!({"type": "answer", "sdp": answered.sdp}))
                        }
                        Err(Failure::Session(problem)) => {
                            proxy
                                .metrics
                                .offer(joined.api(), OfferResult::SessionFailed);
                            let reason = match problem {
                                SessionError::NotYours => "session_not_active",
                                SessionError::Unavailable => "session_unavailable",
                            };
                            let _ = connection.send(json!({"type": "error", "code": "upstream_failed", "message": problem.to_string()})).await;
                            let code = if problem == SessionError::NotYours {
                                CLOSE_POLICY
                            } else {
                                CLOSE_UPSTREAM_FAILED
                            };
                            return connection.close(code, reason).await;
                        }
                        Err(Failure::Upstream(problem)) => {
                            proxy
                                .metrics
                                .offer(joined.api(), OfferResult::UpstreamFailed);
                            tracing::warn!(event = "proxy_upstream_failed", conn_id = %connection.conn_id, reason = problem.reason(), %problem);
                            let _ = connection.send(json!({"type": "error", "code": "upstream_failed", "message": problem.to_string()})).await;
                            return connection
                                .close(CLOSE_UPSTREAM_FAILED, problem.reason())
                                .await;
                        }
                    }
                }
            }
            Ok(ClientMessage::Text { id, text }) => {
                typed += 1;
                if typed > MAX_TYPED_ANSWERS_PER_CONNECTION {
                    proxy.metrics.rate_limited(RateLimitScope::Typed);
                    return connection
                        .close(
                            CLOSE_RATE_LIMITED,
                            "too many typed answers on this connection",
                        )
                        .await;
                }
                match &joined.call {
                    Some(call) if call.live => {
                        typed_answer(&proxy, &connection.conn_id, call, id.as_deref(), &text).await
                    }
                    Some(_) => {
                        proxy.metrics.typed_answer(TypedResult::NoLiveCall);
                        Some(error_reply(
                            "unexpected_message",
                            "a Realtime call takes typed answers on its own data channel",
                            id.as_deref(),
                        ))
                    }
                    None => {
                        proxy.metrics.typed_answer(TypedResult::NoLiveCall);
                        Some(error_reply(
                            "unexpected_message",
                            "there is no call to take a typed answer yet: send an offer first",
                            id.as_deref(),
                        ))
                    }
                }
            }
            Ok(ClientMessage::Bye) => {
                // Only the lease's holder ends the session's call.
                if let Some(call) = proxy.leases.release(&joined.claim).await {
                    TYPED_IDS.forget(&CallKey::of(&proxy, &call));
                    proxy.upstream.hang_up(&call);
                }
                let _ = connection.send(json!({"type": "bye"})).await;
                return connection.close(1000, "bye").await;
            }
            Ok(ClientMessage::Auth { .. }) => Some(json!({
                "type": "error", "code": "unexpected_message",
                "message": "expected an offer, a typed answer or bye",
            })),
            Err(Unreadable { problem, id }) => {
                Some(error_reply("unexpected_message", &problem, id.as_deref()))
            }
        };
        if let Some(reply) = reply
            && !connection.send(reply).await
        {
            return Closed {
                code: 1006,
                reason: "gone",
            };
        }
        if let Some(received) = answering {
            proxy.metrics.offer_took(received.elapsed());
        }
        // Time spent on the upstream is ours, not the client's silence.
        last_heard = Instant::now();
    }
}

/// Passes a typed answer to the Live `call`; the reply to send. With an `id`: `text_ok` once
/// the upstream took it — at once, without passing it on again, when this call already took
/// that id (a resend whose first acknowledgement the client never read). Without one (an older
/// client): nothing on success.
async fn typed_answer(
    proxy: &Proxy,
    conn_id: &str,
    call: &UpstreamCall,
    id: Option<&str>,
    text: &str,
) -> Option<Value> {
    let delivering = match id {
        Some(id) => match TYPED_IDS.claim(CallKey::of(proxy, call), id).await {
            Claimed::Already => {
                tracing::info!(
                    event = "proxy_typed_answer_resent",
                    conn_id,
                    id,
                    "already passed on"
                );
                return Some(json!({"type": "text_ok", "id": id}));
            }
            Claimed::Yours(delivering) => Some(delivering),
        },
        None => None,
    };
    match proxy.upstream.typed_answer(call, text).await {
        Ok(()) => {
            if let Some(delivering) = delivering {
                delivering.passed_on();
            }
            proxy.metrics.typed_answer(TypedResult::Sent);
            id.map(|id| json!({"type": "text_ok", "id": id}))
        }
        Err(problem) => {
            // Not remembered: a resend of this id is passed on again.
            drop(delivering);
            proxy.metrics.typed_answer(TypedResult::Failed);
            tracing::warn!(
                event = "proxy_typed_answer_failed",
                conn_id,
                reason = problem.reason()
            );
            Some(error_reply("typed_answer_failed", &problem.to_string(), id))
        }
    }
}

enum Failure {
    Session(SessionError),
    Upstream(UpstreamError),
}

async fn offer(
    proxy: &Proxy,
    joined: &mut Joined,
    sdp: &str,
    history: &[viva_contract::proxy::HistoryLine],
) -> Result<crate::upstream::Answered, Failure> {
    if joined.view.read_at.elapsed() >= proxy.session_recheck * STALE_AFTER_RECHECKS {
        joined.view = read_again(proxy, joined).await?;
    }
    let view = &mut joined.view;
    if !may_join(&joined.user, &view.session) {
        return Err(Failure::Session(SessionError::NotYours));
    }
    let api = match view.session.voice_api {
        VoiceApi::Realtime => CallApi::Realtime,
        VoiceApi::Live => {
            let stored = match view.stored.take() {
                Some(stored) => stored,
                None => proxy
                    .sessions
                    .transcript(&joined.user, &joined.token, &joined.session_id)
                    .await
                    .map_err(Failure::Session)?,
            };
            let config = live_session_config(&view.session.question_set, &stored, history);
            view.stored = Some(stored);
            CallApi::Live(Box::new(config))
        }
    };
    let started = Instant::now();
    let answered = proxy.upstream.answer(&joined.session_id, sdp, &api).await;
    proxy.metrics.upstream_took(joined.api(), started.elapsed());
    answered.map_err(Failure::Upstream)
}

/// Reads the session again beside the conversation ([`SESSION_RECHECK_AFTER`]).
fn spawn_recheck(
    proxy: &Arc<Proxy>,
    joined: &Joined,
) -> tokio::task::JoinHandle<Result<SessionInfo, SessionError>> {
    let (proxy, user, token, session_id) = (
        proxy.clone(),
        joined.user.clone(),
        joined.token.clone(),
        joined.session_id.clone(),
    );
    tokio::spawn(async move { proxy.sessions.session(&user, &token, &session_id).await })
}

impl SessionView {
    /// Takes a session read again; the stored transcript stays while the session speaks the
    /// same voice API (lines uploaded since come back in the offers' history).
    fn refresh(&mut self, session: SessionInfo) {
        if session.voice_api != self.session.voice_api {
            self.stored = None;
        }
        self.session = session;
        self.read_at = Instant::now();
    }
}

/// The session read again, and for GPT-Live its stored transcript beside it (a transcript
/// read for a session that turns out not to be the user's or not Live is dropped unused; both
/// are read as the user, so nothing is read that they may not see).
async fn read_again(proxy: &Proxy, joined: &Joined) -> Result<SessionView, Failure> {
    let reading = proxy
        .sessions
        .session(&joined.user, &joined.token, &joined.session_id);
    let (session, stored) = if joined.view.session.voice_api == VoiceApi::Live {
        let (session, stored) = tokio::join!(
            reading,
            proxy
                .sessions
                .transcript(&joined.user, &joined.token, &joined.session_id)
        );
        (session, Some(stored))
    } else {
        (reading.await, None)
    };
    let session = session.map_err(Failure::Session)?;
    let stored = match (session.voice_api, stored) {
        (VoiceApi::Live, Some(stored)) => Some(stored.map_err(Failure::Session)?),
        _ => None,
    };
    Ok(SessionView {
        session,
        stored,
        read_at: Instant::now(),
    })
}

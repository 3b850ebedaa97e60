//! One signalling connection (docs/protocols.md §3): the first message authenticates within
//! [`AUTH_TIMEOUT`]; then the connection holds its session's lease, answers offers through the
//! upstream, passes typed answers to a GPT-Live call (acknowledging each by its id, once, see
//! [`TYPED_IDS_PER_CALL`]), starts observing each Live call it records ([`crate::observe`]),
//! and is pinged so a dead socket frees the interview ([`SILENCE_LIMIT`]).

use std::collections::{HashMap, VecDeque};
use std::sync::{Arc, LazyLock, Mutex};
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
use crate::sessions::{SessionError, call_api, live_session_config, may_join};
use crate::upstream::{CallApi, UpstreamCall, UpstreamError};

/// How long a client has to authenticate after connecting (the token, the session and the
/// lease are all checked within it).
pub const AUTH_TIMEOUT: Duration = Duration::from_secs(10);
/// Offers allowed on one connection (renegotiation and ICE restarts included).
pub const MAX_OFFERS_PER_CONNECTION: usize = 20;
/// Typed answers allowed on one connection (an interview has a few dozen turns at most).
pub const MAX_TYPED_ANSWERS_PER_CONNECTION: usize = 200;
/// How long one write to the client may take: a socket that cannot take a frame is dead.
pub const WRITE_TIMEOUT: Duration = Duration::from_secs(5);
/// Typed answer ids remembered per call: a client resends only the answers a lost link left
/// unacknowledged, a handful at most, so a resend of an answer passed on is always among them.
pub const TYPED_IDS_PER_CALL: usize = 256;
/// Calls whose typed answer ids this process remembers at once; past it, the least recently
/// used call is forgotten (a resend to it would then be passed on again).
pub const TYPED_CALLS_REMEMBERED: usize = 1024;
/// A call's ids are forgotten after this long without a typed answer: a resend comes as soon
/// as the client's link is open again, well within it.
pub const TYPED_IDS_KEPT_FOR: Duration = Duration::from_secs(60 * 60);
/// How long a resend waits for an older connection still passing the same id on (longer than
/// the upstream's own timeout); past it, it is passed on again (at least once beats never).
const TYPED_IN_FLIGHT_WAIT: Duration = Duration::from_secs(20);

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
    /// The session's voice API when it was last read (for metrics).
    api: Api,
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
    match proxy.leases.acquire(&claim).await {
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
                api: session.voice_api.into(),
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
                    proxy.metrics.offer(joined.api, OfferResult::InvalidSdp);
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
                            proxy.metrics.offer(joined.api, OfferResult::Answered);
                            answering = Some(received);
                            Some(json!({"type": "answer", "sdp": answered.sdp}))
                        }
                        Err(Failure::Session(problem)) => {
                            proxy.metrics.offer(joined.api, OfferResult::SessionFailed);
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
                            proxy.metrics.offer(joined.api, OfferResult::UpstreamFailed);
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

/// One interview call of this process, as far as typed answer ids go.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
struct CallKey {
    instance: String,
    session_id: String,
    call_id: String,
}

impl CallKey {
    fn of(proxy: &Proxy, call: &UpstreamCall) -> Self {
        Self {
            instance: proxy.instance.clone(),
            session_id: call.session_id.clone(),
            call_id: call.id.clone(),
        }
    }
}

/// The typed answer ids one call was given.
#[derive(Debug)]
struct CallIds {
    /// Passed on, the most recent last; at most [`TYPED_IDS_PER_CALL`].
    passed_on: VecDeque<String>,
    /// Being passed on now, by some connection: a resend waits for the outcome (the sender
    /// is dropped when it is known).
    in_flight: HashMap<String, tokio::sync::watch::Receiver<()>>,
    used: Instant,
}

/// The ids of the typed answers this process passed on, per call. It lives beside the
/// connections rather than in one: a resend comes on the link that replaced the one whose
/// acknowledgement was lost. Within one process only: after a crash between passing an answer
/// on and acknowledging it, the client's resend is passed on again (docs/protocols.md §3).
#[derive(Debug, Default)]
struct TypedIds {
    calls: Mutex<HashMap<CallKey, CallIds>>,
}

static TYPED_IDS: LazyLock<TypedIds> = LazyLock::new(TypedIds::default);

enum Claimed {
    /// This call took this id already: acknowledge it again.
    Already,
    /// Pass it on, then say how it went.
    Yours(Delivering),
}

/// A typed answer being passed on. [`Delivering::passed_on`] remembers its id; dropped
/// without it (the upstream failed, or the connection's task ended), the id is free again.
struct Delivering {
    key: CallKey,
    id: String,
    /// `None`: passed on without the resends of others waiting on it (one waited too long).
    done: Option<tokio::sync::watch::Sender<()>>,
    passed_on: bool,
}

impl Delivering {
    fn passed_on(mut self) {
        self.passed_on = true;
    }
}

impl Drop for Delivering {
    fn drop(&mut self) {
        let Ok(mut calls) = TYPED_IDS.calls.lock() else {
            return;
        };
        if let Some(call) = calls.get_mut(&self.key) {
            if self.done.is_some() {
                call.in_flight.remove(&self.id);
            }
            if self.passed_on && !call.passed_on.contains(&self.id) {
                if call.passed_on.len() >= TYPED_IDS_PER_CALL {
                    call.passed_on.pop_front();
                }
                call.passed_on.push_back(self.id.clone());
            }
        }
        // Wakes the resends waiting on it (after the lock: they look again at once).
        drop(calls);
        self.done.take();
    }
}

impl TypedIds {
    /// Whether `id` is new to the call `key`; waits while another connection passes it on.
    async fn claim(&self, key: CallKey, id: &str) -> Claimed {
        let deadline = Instant::now() + TYPED_IN_FLIGHT_WAIT;
        loop {
            let mut waiting = {
                let Ok(mut calls) = self.calls.lock() else {
                    // A panic while the map was held: pass it on (at least once).
                    return Claimed::Yours(Delivering {
                        key,
                        id: id.to_owned(),
                        done: None,
                        passed_on: false,
                    });
                };
                let now = Instant::now();
                if !calls.contains_key(&key) {
                    make_room(&mut calls, now);
                }
                let call = calls.entry(key.clone()).or_insert_with(|| CallIds {
                    passed_on: VecDeque::new(),
                    in_flight: HashMap::new(),
                    used: now,
                });
                call.used = now;
                if call.passed_on.iter().any(|seen| seen == id) {
                    return Claimed::Already;
                }
                match call.in_flight.get(id) {
                    Some(waiting) => waiting.clone(),
                    None => {
                        let (done, waiting) = tokio::sync::watch::channel(());
                        call.in_flight.insert(id.to_owned(), waiting);
                        return Claimed::Yours(Delivering {
                            key,
                            id: id.to_owned(),
                            done: Some(done),
                            passed_on: false,
                        });
                    }
                }
            };
            // Another connection (the one this client's link replaced) is passing it on.
            if tokio::time::timeout_at(deadline, waiting.changed())
                .await
                .is_err()
            {
                return Claimed::Yours(Delivering {
                    key,
                    id: id.to_owned(),
                    done: None,
                    passed_on: false,
                });
            }
        }
    }

    /// The call ended: its ids cannot come again.
    fn forget(&self, key: &CallKey) {
        if let Ok(mut calls) = self.calls.lock() {
            calls.remove(key);
        }
    }
}

/// Forgets the calls idle past [`TYPED_IDS_KEPT_FOR`], then, while there are still
/// [`TYPED_CALLS_REMEMBERED`], the least recently used (none with an answer in flight).
fn make_room(calls: &mut HashMap<CallKey, CallIds>, now: Instant) {
    calls.retain(|_, call| {
        !call.in_flight.is_empty() || now.duration_since(call.used) < TYPED_IDS_KEPT_FOR
    });
    while calls.len() >= TYPED_CALLS_REMEMBERED {
        let oldest = calls
            .iter()
            .filter(|(_, call)| call.in_flight.is_empty())
            .min_by_key(|(_, call)| call.used)
            .map(|(key, _)| key.clone());
        match oldest {
            Some(key) => {
                calls.remove(&key);
            }
            None => break,
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
    // Read again: the interview may have ended, or its voice API changed, since the last offer.
    let reading = proxy
        .sessions
        .session(&joined.user, &joined.token, &joined.session_id);
    // When the session spoke GPT-Live at its last read (the usual case), its stored transcript
    // is read beside it: two round trips to the backend become one, the most of an offer's
    // own time (docs/benchmarks.md). Both are read as the user, so nothing is read that the
    // user may not see, and a transcript read for a session that turns out not to be theirs or
    // not Live is dropped unused.
    let (session, stored) = if joined.api == Api::Live {
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
    joined.api = session.voice_api.into();
    if !may_join(&joined.user, &session) {
        return Err(Failure::Session(SessionError::NotYours));
    }
    let api = match (session.voice_api, stored) {
        (VoiceApi::Live, Some(stored)) => CallApi::Live(Box::new(live_session_config(
            &session.question_set,
            &stored.map_err(Failure::Session)?,
            history,
        ))),
        _ => call_api(
            proxy.sessions.as_ref(),
            &joined.user,
            &joined.token,
            &joined.session_id,
            &session,
            history,
        )
        .await
        .map_err(Failure::Session)?,
    };
    let started = Instant::now();
    let answered = proxy.upstream.answer(&joined.session_id, sdp, &api).await;
    proxy.metrics.upstream_took(joined.api, started.elapsed());
    answered.map_err(Failure::Upstream)
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]
    use super::*;

    fn key(call: &str) -> CallKey {
        CallKey {
            instance: format!("test-{}", uuid::Uuid::new_v4()),
            session_id: "s1".into(),
            call_id: call.into(),
        }
    }

    #[tokio::test]
    async fn an_id_passed_on_is_acknowledged_again_and_a_failed_one_may_be_tried_again() {
        let call = key("live_1");
        let Claimed::Yours(first) = TYPED_IDS.claim(call.clone(), "a-1").await else {
            panic!("a new id is to be passed on");
        };
        first.passed_on();
        assert!(matches!(
            TYPED_IDS.claim(call.clone(), "a-1").await,
            Claimed::Already
        ));
        // Another call of the same interview (a new offer) has not heard it.
        assert!(matches!(
            TYPED_IDS.claim(key("live_2"), "a-1").await,
            Claimed::Yours(_)
        ));
        // The upstream failed: not remembered.
        let Claimed::Yours(failed) = TYPED_IDS.claim(call.clone(), "a-2").await else {
            panic!("a new id");
        };
        drop(failed);
        assert!(matches!(
            TYPED_IDS.claim(call.clone(), "a-2").await,
            Claimed::Yours(_)
        ));
        // The call ended: forgotten.
        TYPED_IDS.forget(&call);
        assert!(matches!(
            TYPED_IDS.claim(call, "a-1").await,
            Claimed::Yours(_)
        ));
    }

    #[tokio::test]
    async fn a_resend_waits_for_the_same_id_being_passed_on_elsewhere() {
        let call = key("live_1");
        let Claimed::Yours(first) = TYPED_IDS.claim(call.clone(), "a-1").await else {
            panic!("a new id");
        };
        let resend = tokio::spawn({
            let call = call.clone();
            async move { matches!(TYPED_IDS.claim(call, "a-1").await, Claimed::Already) }
        });
        tokio::time::sleep(Duration::from_millis(100)).await;
        assert!(!resend.is_finished(), "it waits for the outcome");
        first.passed_on();
        assert!(
            resend.await.unwrap(),
            "passed on by the other: acknowledged"
        );
    }

    #[test]
    fn only_the_latest_ids_and_calls_are_remembered() {
        let mut calls = HashMap::new();
        let now = Instant::now();
        for n in 0..TYPED_CALLS_REMEMBERED + 5 {
            make_room(&mut calls, now);
            calls.insert(
                key(&n.to_string()),
                CallIds {
                    passed_on: VecDeque::new(),
                    in_flight: HashMap::new(),
                    used: now + Duration::from_millis(n as u64),
                },
            );
        }
        assert_eq!(calls.len(), TYPED_CALLS_REMEMBERED);
        assert!(
            !calls.keys().any(|k| k.call_id == "0"),
            "the least recently used went first"
        );
        let later = now + TYPED_IDS_KEPT_FOR + Duration::from_secs(3600);
        make_room(&mut calls, later);
        assert!(calls.is_empty(), "idle past the limit");

        let call = key("live_1");
        for n in 0..=TYPED_IDS_PER_CALL {
            let id = format!("a-{n}");
            let claim = TYPED_IDS.claim(call.clone(), &id);
            let Some(Claimed::Yours(delivering)) = futures_util::FutureExt::now_or_never(claim)
            else {
                panic!("a new id is claimed at once");
            };
            delivering.passed_on();
        }
        let calls = TYPED_IDS.calls.lock().unwrap();
        let ids = &calls[&call].passed_on;
        assert_eq!(ids.len(), TYPED_IDS_PER_CALL);
        assert_eq!(
            ids.front().map(String::as_str),
            Some("a-1"),
            "the oldest went"
        );
    }
}

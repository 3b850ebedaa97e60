//! The SDP proxy (docs/protocols.md §3) as a library: the signalling socket, its rules (one
//! live connection per interview, limits, SDP checks) and the seams a deployment fills in:
//! who the caller is ([`auth`]), what their session is ([`sessions`]), where the lease lives
//! ([`lease`]), which voice service answers ([`upstream`]) and where the transcript of record
//! it observes on each GPT-Live session is kept ([`observe`]). The local stack and the
//! standalone `viva-proxy` share this code, so their behaviour cannot drift.

pub mod auth;
pub mod lease;
pub mod limits;
pub mod live;
pub mod metrics;
pub mod observe;
pub mod questions;
pub mod secrets;
pub mod service;
pub mod sessions;
pub mod socket;
pub mod upstream;

use std::net::IpAddr;
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};

use axum::extract::ws::WebSocketUpgrade;
use axum::http::{HeaderName, HeaderValue};
use axum::response::Response;
use tracing::Instrument;

use viva_contract::proxy::{MAX_HISTORY_CHARS, MAX_HISTORY_LINES};
use viva_contract::sdp::MAX_SDP_BYTES;

/// The largest message a client may send: an offer with the most history allowed (each
/// character at most 4 bytes of UTF-8, or a 6-byte JSON escape) and its lines' framing.
pub const MAX_CLIENT_MESSAGE_BYTES: usize =
    MAX_SDP_BYTES + 6 * MAX_HISTORY_CHARS + MAX_HISTORY_LINES * 512 + 4096;

/// The proxy's seams.
#[derive(Debug, Clone)]
pub struct ProxyParts {
    pub tokens: Arc<dyn auth::TokenVerifier>,
    pub sessions: Arc<dyn sessions::Sessions>,
    pub leases: Arc<dyn lease::Leases>,
    pub upstream: Arc<dyn upstream::Upstream>,
    /// Connection rate limits (none: the local stack, where only this computer connects).
    pub limits: Option<limits::ConnectLimits>,
    /// Where the fragments observed on each GPT-Live session go
    /// ([`observe::NoObservations`]: observation off).
    pub observations: Arc<dyn observe::Observations>,
    /// How often an open connection reads its session again, beside the conversation
    /// ([`socket::SESSION_RECHECK_AFTER`] in service; shorter in tests that end an interview).
    pub session_recheck: std::time::Duration,
}

/// A running proxy: its seams, and whether it is draining.
#[derive(Debug)]
pub struct Proxy {
    pub tokens: Arc<dyn auth::TokenVerifier>,
    pub sessions: Arc<dyn sessions::Sessions>,
    pub leases: Arc<dyn lease::Leases>,
    pub upstream: Arc<dyn upstream::Upstream>,
    pub limits: Option<limits::ConnectLimiter>,
    /// The transcript of record's store.
    pub observations: Arc<dyn observe::Observations>,
    /// See [`ProxyParts::session_recheck`].
    pub session_recheck: std::time::Duration,
    /// This process: in `/health`, the logs, and who observed a window (random per start,
    /// unless [`Proxy::named`] gave it the lease store's id for it).
    pub instance: String,
    /// What `GET /metrics` shows.
    pub metrics: metrics::Metrics,
    draining: tokio::sync::watch::Sender<bool>,
    open: AtomicUsize,
    /// The calls observed now.
    observing: observe::Running,
}

impl Proxy {
    /// A proxy with a random instance id.
    pub fn new(parts: ProxyParts) -> Arc<Self> {
        Self::named(parts, uuid::Uuid::new_v4().to_string())
    }

    /// A proxy whose instance is `instance`: the id its lease rows carry, so that `/health`,
    /// the logs, the leases and the observed windows all name this process alike.
    pub fn named(parts: ProxyParts, instance: String) -> Arc<Self> {
        Arc::new(Self {
            tokens: parts.tokens,
            sessions: parts.sessions,
            leases: parts.leases,
            upstream: parts.upstream,
            limits: parts.limits.map(limits::ConnectLimiter::new),
            observations: parts.observations,
            session_recheck: parts.session_recheck,
            instance,
            metrics: metrics::Metrics::new(),
            draining: tokio::sync::watch::Sender::new(false),
            open: AtomicUsize::new(0),
            observing: observe::Running::default(),
        })
    }

    /// `GET /ws`: upgrades and serves one signalling connection from `peer`. The connection's
    /// id (`conn_id`, on every log line of its life) is also the upgrade's `x-request-id`.
    pub fn upgrade(self: &Arc<Self>, upgrade: WebSocketUpgrade, peer: Option<IpAddr>) -> Response {
        let proxy = self.clone();
        let conn_id = uuid::Uuid::new_v4().to_string();
        let request_id = HeaderValue::from_str(&conn_id).ok();
        let span = tracing::info_span!("connection", conn_id = %conn_id);
        // An idle connection holds little: tungstenite's default read buffer (128 KiB, allocated
        // up front) would be most of it.
        let mut response = upgrade
            .read_buffer_size(4096)
            .write_buffer_size(0)
            .max_message_size(MAX_CLIENT_MESSAGE_BYTES)
            .on_upgrade(move |socket| {
                async move {
                    let _open = OpenConnection::new(&proxy);
                    let closed = socket::serve(proxy.clone(), socket, peer, conn_id).await;
                    proxy.metrics.closed(closed.code);
                }
                .instrument(span)
            });
        if let Some(request_id) = request_id {
            response
                .headers_mut()
                .insert(HeaderName::from_static("x-request-id"), request_id);
        }
        response
    }

    /// Signalling connections open now.
    pub fn open_connections(&self) -> usize {
        self.open.load(Ordering::SeqCst)
    }

    /// Calls observed now (each observer writes until its session closes or the proxy drains).
    pub fn observing(&self) -> usize {
        self.observing.count()
    }

    /// Tells every open connection to finish and close with 1001, and every observer to end
    /// its window (`drain`): another instance takes the interview over, and the time between
    /// is a gap in the record.
    pub fn drain(&self) {
        self.draining.send_replace(true);
    }

    pub fn is_draining(&self) -> bool {
        *self.draining.borrow()
    }
}

/// Counts a connection as open while it lives.
struct OpenConnection<'a>(&'a Proxy);

impl<'a> OpenConnection<'a> {
    fn new(proxy: &'a Proxy) -> Self {
        proxy.open.fetch_add(1, Ordering::SeqCst);
        proxy.metrics.connection_opened();
        Self(proxy)
    }
}

impl Drop for OpenConnection<'_> {
    fn drop(&mut self) {
        self.0.open.fetch_sub(1, Ordering::SeqCst);
        self.0.metrics.connection_ended();
    }
}

//! One connection: making it (a fresh grant if needed, the offer over HTTP or the SDP proxy,
//! the answer, an open event channel) and ending it.

use std::collections::VecDeque;
use std::sync::Arc;
use std::time::Instant;

use webrtc::peer_connection::{RTCIceConnectionState, RTCPeerConnectionState};

use super::config::CallConfig;
use super::link::open_link;
use super::reconnect::{OfferFailed, offer_failed, renew_before_use};
use super::uplink::UplinkTarget;
use crate::CallError;
use crate::grant::{Grant, GrantError, GrantSource, SignalingMode};
use crate::health::DownlinkMeter;
use crate::peer::{Peer, PeerEvent};
use crate::signaling::{ProxyLink, ProxyNotice, http_hang_up, http_offer};

/// One live connection and what we know of it.
pub(crate) struct Connection {
    pub peer: Peer,
    pub proxy: Option<ProxyLink>,
    /// For hanging up a direct call.
    pub location: Option<String>,
    pub secret: String,
    pub peer_state: RTCPeerConnectionState,
    pub ice_state: RTCIceConnectionState,
    pub disconnected_since: Option<Instant>,
    pub channel_open: bool,
    pub meter: DownlinkMeter,
    pub last_event: Option<Instant>,
    pub last_uplink_bytes: (Instant, u64),
    pub target: UplinkTarget,
    /// What arrived between the answer and the channel opening, for the call loop.
    pub early: Vec<PeerEvent>,
    /// When the conversation's session-cap timer fires for this connection.
    pub cap_at: Option<tokio::time::Instant>,
    /// Typed answers (GPT-Live) waiting, in order, for the SDP proxy link to open again.
    pub texts_waiting: VecDeque<String>,
}

impl Connection {
    /// Queues a typed answer for the link, after those already waiting. Beyond
    /// [`MAX_PENDING`](viva_realtime::conversation::MAX_PENDING) the oldest is dropped and
    /// returned.
    pub fn wait_text(&mut self, text: String) -> Option<String> {
        let dropped = (self.texts_waiting.len() >= viva_realtime::conversation::MAX_PENDING)
            .then(|| self.texts_waiting.pop_front())
            .flatten();
        self.texts_waiting.push_back(text);
        dropped
    }

    /// Sends the waiting typed answers, in order, while there is a link. One that cannot be
    /// sent stays first in line, and the broken link is let go (the call opens it again).
    pub async fn send_waiting_texts(&mut self) {
        while let Some(text) = self.texts_waiting.pop_front() {
            let Some(link) = self.proxy.as_mut() else {
                self.texts_waiting.push_front(text);
                return;
            };
            if let Err(error) = link.text(&text).await {
                tracing::warn!(event = "typed_answer_not_sent", %error);
                self.texts_waiting.push_front(text);
                self.proxy = None;
                return;
            }
        }
    }
}

/// The next notice of the SDP proxy link, if there is one (cancel-safe: use it in `select!`).
/// Reading it also answers the proxy's pings, which it counts as signs of life.
pub(crate) async fn proxy_notice(proxy: &mut Option<ProxyLink>) -> ProxyNotice {
    match proxy {
        Some(link) => link.notice().await,
        None => std::future::pending().await,
    }
}

fn unix_now() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_secs() as i64)
}

pub(super) async fn renew(
    grants: Option<&Arc<dyn GrantSource>>,
    session_id: &str,
    why: &str,
) -> Result<Grant, CallError> {
    let Some(grants) = grants else {
        return Err(CallError::SignInAgain(format!(
            "{why}, and this call cannot get a new one"
        )));
    };
    grants.renew(session_id).await.map_err(|error| match error {
        GrantError::SignInAgain(message) => CallError::SignInAgain(message),
        GrantError::Refused { message, .. } => CallError::Refused(message),
        GrantError::Unavailable(message) => CallError::Unavailable(message),
    })
}

/// One connection attempt: a fresh grant if needed, the offer (through the proxy, with
/// `history` for a GPT-Live session to continue from), signaling, the answer, and an open
/// event channel. Returns the connection and the grant it used.
pub(crate) async fn connect(
    mut grant: Grant,
    grants: Option<Arc<dyn GrantSource>>,
    config: CallConfig,
    http: reqwest::Client,
    history: Vec<viva_contract::proxy::HistoryLine>,
) -> Result<(Connection, Grant), CallError> {
    let mut renewed = false;
    if renew_before_use(
        &grant.realtime.client_secret,
        unix_now(),
        config.secret_margin,
    ) {
        grant = renew(
            grants.as_ref(),
            &grant.session_id,
            "the session key expired",
        )
        .await?;
        renewed = true;
    }
    let mut peer = Peer::offer(&grant.realtime.ice_servers, &config.udp_addrs, config.ice).await?;
    let (answer, proxy, location) = loop {
        let attempt = match grant.realtime.signaling {
            SignalingMode::Http => http_offer(
                &http,
                &grant.realtime.url,
                &grant.realtime.client_secret.value,
                &peer.offer,
            )
            .await
            .map(|(answer, location)| (answer, None, location)),
            SignalingMode::Websocket => {
                let token = grant.access_token.clone().unwrap_or_default();
                let link = open_link(
                    &grant.realtime.url,
                    &token,
                    &grant.session_id,
                    config.reconnect,
                    config.already_live_retry_for,
                );
                match link.await {
                    Ok(mut link) => link
                        .offer(&peer.offer, &history)
                        .await
                        .map(|a| (a, Some(link), None)),
                    Err(error) => Err(error),
                }
            }
        };
        let error = match attempt {
            Ok(done) => break done,
            Err(error) => error,
        };
        match offer_failed(error, renewed) {
            OfferFailed::Renew(why) => {
                grant = renew(grants.as_ref(), &grant.session_id, &why).await?;
                renewed = true;
            }
            OfferFailed::Fail(error) => {
                peer.close().await;
                return Err(error);
            }
        }
    };
    let (ssrc, payload_type) = match peer.accept(answer).await {
        Ok(accepted) => accepted,
        Err(error) => {
            peer.close().await;
            return Err(error);
        }
    };
    let target = UplinkTarget {
        track: peer.track.clone(),
        ssrc,
        payload_type,
    };
    let mut connection = Connection {
        secret: grant.realtime.client_secret.value.clone(),
        peer,
        proxy,
        location,
        peer_state: RTCPeerConnectionState::New,
        ice_state: RTCIceConnectionState::New,
        disconnected_since: None,
        channel_open: false,
        meter: DownlinkMeter::default(),
        last_event: None,
        last_uplink_bytes: (Instant::now(), 0),
        target,
        early: Vec::new(),
        cap_at: None,
        texts_waiting: VecDeque::new(),
    };
    // Wait for the event channel; voice that arrives first is kept for the call loop. The
    // link is read meanwhile: the proxy's pings are answered, and its close is seen.
    let deadline = tokio::time::Instant::now() + config.connect_timeout;
    let mut early = Vec::new();
    loop {
        let event = tokio::select! {
            event = tokio::time::timeout_at(deadline, connection.peer.events.recv()) => event,
            notice = proxy_notice(&mut connection.proxy) => {
                if let Err(error) = while_opening(&mut connection.proxy, notice) {
                    connection.peer.close().await;
                    return Err(error);
                }
                continue;
            }
        };
        match event {
            Err(_) => {
                connection.peer.close().await;
                return Err(CallError::Timeout("opening the connection"));
            }
            Ok(None) => return Err(CallError::Network("the connection went away".into())),
            Ok(Some(PeerEvent::ChannelOpen)) => break,
            Ok(Some(PeerEvent::State(RTCPeerConnectionState::Failed))) => {
                connection.peer.close().await;
                return Err(CallError::Network(
                    "the connection could not be established".into(),
                ));
            }
            Ok(Some(PeerEvent::State(state))) => connection.peer_state = state,
            Ok(Some(PeerEvent::Ice(state))) => connection.ice_state = state,
            Ok(Some(other)) => early.push(other),
        }
    }
    connection.early = early;
    Ok((connection, grant))
}

/// What an SDP proxy notice means while the connection opens. A close worth another try
/// lets the link go (the media may still come up; the call opens the link again); a final
/// close, or the proxy hanging up, fails the attempt.
fn while_opening(proxy: &mut Option<ProxyLink>, notice: ProxyNotice) -> Result<(), CallError> {
    match notice {
        ProxyNotice::Closed(error) if error.is_retryable() => {
            tracing::info!(event = "sdp_proxy_closed", %error, "while the connection opens");
            *proxy = None;
            Ok(())
        }
        ProxyNotice::Closed(error) => {
            *proxy = None;
            Err(error)
        }
        ProxyNotice::Bye => Err(CallError::Network("the SDP proxy hung up".into())),
        ProxyNotice::Error(message) => {
            tracing::warn!(event = "sdp_proxy_error", %message, "while the connection opens");
            Ok(())
        }
    }
}

/// Stops using a broken connection; closing it may take a while, so it happens aside.
pub(crate) fn drop_connection(connection: Connection) {
    tokio::spawn(async move {
        if let Some(proxy) = connection.proxy {
            proxy.bye().await;
        }
        connection.peer.close().await;
    });
}

/// Ends a connection on purpose: tells the far side, then closes.
pub(crate) async fn hang_up(connection: Connection, http: &reqwest::Client, url: &str) {
    if let Some(proxy) = connection.proxy {
        proxy.bye().await;
    } else if let Some(location) = &connection.location {
        http_hang_up(http, url, location, &connection.secret).await;
    }
    connection.peer.close().await;
}

//! One connection: making it (a fresh grant if needed, the offer over HTTP or the SDP proxy,
//! the answer, an open event channel) and ending it.

use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Instant;

use webrtc::peer_connection::{RTCIceConnectionState, RTCPeerConnectionState};

use super::config::CallConfig;
use super::link::open_link;
use super::reconnect::{OfferFailed, offer_failed, renew_before_use};
use super::typed::Outbox;
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
    /// Which link `proxy` is, of all the call's (a new number for each one opened), so the
    /// typed answers know which they were written on.
    pub link: u64,
}

/// A number for a link just opened, never given before in this process.
fn new_link_number() -> u64 {
    static LINKS: AtomicU64 = AtomicU64::new(0);
    LINKS.fetch_add(1, Ordering::Relaxed) + 1
}

impl Connection {
    /// Uses `link` (the old one opened again) from now on.
    pub fn use_link(&mut self, link: ProxyLink) {
        self.proxy = Some(link);
        self.link = new_link_number();
    }

    /// Writes the typed answers the current link has not had yet, in order (all of them on a
    /// link just opened, since none is acknowledged). One that cannot be written stops the
    /// rest, and the broken link is let go: the call opens it again, and they go on that one.
    pub async fn send_typed(&mut self, outbox: &mut Outbox) {
        let Some(link) = self.proxy.as_mut() else {
            return;
        };
        let sendable: Vec<(String, String)> = outbox
            .sendable(self.link)
            .map(|t| (t.id.clone(), t.text.clone()))
            .collect();
        for (id, text) in sendable {
            if let Err(error) = link.text(&id, &text).await {
                tracing::warn!(event = "typed_answer_not_sent", %error);
                self.proxy = None;
                return;
            }
            outbox.sent(&id, self.link);
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
        link: new_link_number(),
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
        // Typed answers go on a link only once its connection is open: not about this one.
        notice @ (ProxyNotice::TextOk(_) | ProxyNotice::TextFailed { .. }) => {
            tracing::warn!(
                event = "sdp_proxy_unexpected",
                ?notice,
                "while the connection opens"
            );
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

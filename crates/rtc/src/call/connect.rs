//! One connection: making it (a fresh grant if needed, the offer over HTTP or the SDP proxy,
//! the answer, an open event channel) and ending it.

use std::sync::Arc;
use std::time::Instant;

use webrtc::peer_connection::{RTCIceConnectionState, RTCPeerConnectionState};

use super::config::CallConfig;
use super::reconnect::{OfferFailed, offer_failed, renew_before_use};
use super::uplink::UplinkTarget;
use crate::CallError;
use crate::grant::{Grant, GrantError, GrantSource, SignalingMode};
use crate::health::DownlinkMeter;
use crate::peer::{Peer, PeerEvent};
use crate::signaling::{ProxyLink, http_hang_up, http_offer};

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
}

fn unix_now() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_secs() as i64)
}

async fn renew(
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
                match ProxyLink::open(&grant.realtime.url, &token, &grant.session_id).await {
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
    };
    // Wait for the event channel; voice that arrives first is kept for the call loop.
    let deadline = tokio::time::Instant::now() + config.connect_timeout;
    let mut early = Vec::new();
    loop {
        let event = tokio::time::timeout_at(deadline, connection.peer.events.recv()).await;
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

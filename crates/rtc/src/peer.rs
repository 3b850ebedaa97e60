//! One WebRTC connection to the voice AI: the peer, its Opus track up, the interviewer's track
//! down and the `oai-events` channel. A reconnect builds a new one.

use std::sync::Arc;
use std::time::{Duration, Instant};

use rtc::media_stream::MediaStreamTrack;
use rtc::peer_connection::configuration::setting_engine::SettingEngineBuilder;
use rtc::rtp_transceiver::rtp_sender::{
    RTCRtpCodec, RTCRtpCodingParameters, RTCRtpEncodingParameters, RtpCodecKind,
};
use tokio::sync::mpsc;
use webrtc::data_channel::{DataChannel, DataChannelEvent};
use webrtc::media_stream::Track;
use webrtc::media_stream::track_local::TrackLocal;
use webrtc::media_stream::track_local::static_sample::TrackLocalStaticSample;
use webrtc::media_stream::track_remote::{TrackRemote, TrackRemoteEvent};
use webrtc::peer_connection::{
    MediaEngine, PeerConnection, PeerConnectionBuilder, PeerConnectionEventHandler,
    RTCConfigurationBuilder, RTCIceConnectionState, RTCIceGatheringState, RTCIceServer,
    RTCPeerConnectionState, RTCSessionDescription, Registry, register_default_interceptors,
};

use crate::CallError;
use crate::grant::IceServer;

/// The label the Realtime API expects on the event channel.
pub const EVENTS_LABEL: &str = "oai-events";
/// How long ICE gathering may take before the offer goes out anyway.
const GATHER_TIMEOUT: Duration = Duration::from_secs(5);

/// How often ICE connectivity checks go out while connecting.
const ICE_CHECK_INTERVAL: Duration = Duration::from_millis(50);

/// ICE timing. Shorter than webrtc-rs's defaults (5 s to "disconnected", 25 s to "failed") so a
/// dead path is noticed while the candidate is still talking.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct IceTimers {
    pub disconnected_after: Duration,
    pub failed_after: Duration,
    pub keepalive_every: Duration,
}

impl Default for IceTimers {
    fn default() -> Self {
        Self {
            disconnected_after: Duration::from_secs(1),
            failed_after: Duration::from_secs(10),
            keepalive_every: Duration::from_millis(500),
        }
    }
}

/// What a connection reports to the call.
#[derive(Debug)]
pub(crate) enum PeerEvent {
    Ice(RTCIceConnectionState),
    State(RTCPeerConnectionState),
    ChannelOpen,
    /// A text message on the event channel.
    Message(String),
    /// A binary message: not part of the protocol; only its size is kept.
    Binary(usize),
    ChannelClosed,
    /// An RTP packet of the interviewer's voice.
    Voice {
        sequence: u16,
        timestamp: u32,
        payload: Vec<u8>,
        arrived: Instant,
    },
}

struct Handler {
    gathered: mpsc::Sender<()>,
    events: mpsc::Sender<PeerEvent>,
    tracks: mpsc::Sender<Arc<dyn TrackRemote>>,
}

#[async_trait::async_trait]
impl PeerConnectionEventHandler for Handler {
    async fn on_ice_gathering_state_change(&self, state: RTCIceGatheringState) {
        if state == RTCIceGatheringState::Complete {
            let _ = self.gathered.try_send(());
        }
    }
    async fn on_ice_connection_state_change(&self, state: RTCIceConnectionState) {
        let _ = self.events.send(PeerEvent::Ice(state)).await;
    }
    async fn on_connection_state_change(&self, state: RTCPeerConnectionState) {
        let _ = self.events.send(PeerEvent::State(state)).await;
    }
    async fn on_track(&self, track: Arc<dyn TrackRemote>) {
        let _ = self.tracks.send(track).await;
    }
}

/// The candidate's Opus track. RFC 7587 declares Opus with 2 channels; we send mono in it,
/// with in-band FEC, as the Realtime API expects.
///
/// # Errors
/// [`CallError::WebRtc`] when webrtc-rs refuses the track.
pub fn microphone_track() -> Result<Arc<TrackLocalStaticSample>, CallError> {
    let track = TrackLocalStaticSample::new(
        Instant::now(),
        MediaStreamTrack::new(
            "viva".into(),
            "viva-microphone".into(),
            "microphone".into(),
            RtpCodecKind::Audio,
            vec![RTCRtpEncodingParameters {
                rtp_coding_parameters: RTCRtpCodingParameters {
                    ssrc: Some(fastrand::u32(1..)),
                    ..Default::default()
                },
                codec: RTCRtpCodec {
                    mime_type: "audio/opus".into(),
                    clock_rate: 48_000,
                    channels: 2,
                    sdp_fmtp_line: "minptime=10;useinbandfec=1".into(),
                    rtcp_feedback: vec![],
                },
                ..Default::default()
            }],
        ),
    )
    .map_err(webrtc_error("creating the microphone track"))?;
    Ok(Arc::new(track))
}

/// A connection after its offer is made, before the answer.
pub(crate) struct Peer {
    pub pc: Arc<dyn PeerConnection>,
    pub channel: Arc<dyn DataChannel>,
    pub track: Arc<TrackLocalStaticSample>,
    sender: Arc<dyn webrtc::rtp_transceiver::RtpSender>,
    pub events: mpsc::Receiver<PeerEvent>,
    events_tx: mpsc::Sender<PeerEvent>,
    tracks: Option<mpsc::Receiver<Arc<dyn TrackRemote>>>,
    pub offer: String,
}

impl std::fmt::Debug for Peer {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Peer").finish_non_exhaustive()
    }
}

fn webrtc_error(what: &str) -> impl Fn(webrtc::error::Error) -> CallError + '_ {
    move |e| CallError::WebRtc(format!("{what}: {e}"))
}

impl Peer {
    /// Builds the peer, adds the microphone track and the event channel, and makes a complete
    /// (non-trickle) offer.
    pub(crate) async fn offer(
        ice_servers: &[IceServer],
        udp_addrs: &[String],
        timers: IceTimers,
    ) -> Result<Self, CallError> {
        let mut media = MediaEngine::default();
        media
            .register_default_codecs()
            .map_err(webrtc_error("registering codecs"))?;
        let registry = register_default_interceptors(Registry::new(), &mut media)
            .map_err(webrtc_error("setting up interceptors"))?;
        let settings = SettingEngineBuilder::new()
            .with_ice_timeouts(
                Some(timers.disconnected_after),
                Some(timers.failed_after),
                Some(timers.keepalive_every),
            )
            // webrtc-rs 0.21.1 flushes the first DTLS flight only at the agent's next check
            // tick, so the check interval is paid once at every start. RFC 8445's pacing Ta
            // (50 ms) instead of pion's 200 ms, with 28 tries to keep a candidate pair's
            // 1.4 s budget.
            .with_ice_connection_attempts(Some(ICE_CHECK_INTERVAL), Some(28))
            .build();
        let configuration = RTCConfigurationBuilder::new()
            .with_ice_servers(
                ice_servers
                    .iter()
                    .map(|server| RTCIceServer {
                        urls: server.urls.clone(),
                        username: server.username.clone().unwrap_or_default(),
                        credential: server.credential.clone().unwrap_or_default(),
                    })
                    .collect(),
            )
            .build();
        let (gathered_tx, mut gathered) = mpsc::channel(1);
        // Bounded: voice packets are dropped rather than queued without limit if the call
        // loop stalls; state changes are few.
        let (events_tx, events) = mpsc::channel(512);
        let (tracks_tx, tracks) = mpsc::channel(4);
        let pc = PeerConnectionBuilder::new()
            .with_configuration(configuration)
            .with_media_engine(media)
            .with_setting_engine(settings)
            .with_interceptor_registry(registry)
            .with_handler(Arc::new(Handler {
                gathered: gathered_tx,
                events: events_tx.clone(),
                tracks: tracks_tx,
            }))
            .with_udp_addrs(udp_addrs.to_vec())
            .build()
            .await
            .map_err(webrtc_error("creating the peer"))?;
        let pc: Arc<dyn PeerConnection> = Arc::new(pc);
        let track = microphone_track()?;
        let sender = pc
            .add_track(Arc::clone(&track) as Arc<dyn TrackLocal>)
            .await
            .map_err(webrtc_error("adding the microphone track"))?;
        let channel = pc
            .create_data_channel(EVENTS_LABEL, None)
            .await
            .map_err(webrtc_error("creating the event channel"))?;
        let offer = pc
            .create_offer(None)
            .await
            .map_err(webrtc_error("creating the offer"))?;
        pc.set_local_description(offer)
            .await
            .map_err(webrtc_error("applying the offer"))?;
        if tokio::time::timeout(GATHER_TIMEOUT, gathered.recv())
            .await
            .is_err()
        {
            tracing::warn!(
                event = "ice_gathering_slow",
                "sending the offer with the candidates found so far"
            );
        }
        let offer = pc
            .local_description()
            .await
            .map(|d| d.sdp)
            .ok_or_else(|| CallError::WebRtc("the offer vanished".into()))?;
        Ok(Self {
            pc,
            channel,
            track,
            sender,
            events,
            events_tx,
            tracks: Some(tracks),
            offer,
        })
    }

    /// Applies the answer and starts the tasks that read the event channel and the voice.
    /// Returns the uplink's SSRC and the payload type the answer chose for Opus.
    pub(crate) async fn accept(&mut self, answer: String) -> Result<(u32, u8), CallError> {
        let description = RTCSessionDescription::answer(answer)
            .map_err(|e| CallError::BadAnswer(e.to_string()))?;
        self.pc
            .set_remote_description(description)
            .await
            .map_err(|e| CallError::BadAnswer(format!("it cannot be applied: {e}")))?;
        let payload_type = self
            .sender
            .get_parameters()
            .await
            .ok()
            .and_then(|p| p.rtp_parameters.codecs.first().map(|c| c.payload_type))
            .ok_or_else(|| CallError::BadAnswer("it accepts no audio codec we send".into()))?;
        let ssrc = self
            .track
            .ssrcs()
            .await
            .first()
            .copied()
            .ok_or_else(|| CallError::WebRtc("the microphone track has no SSRC".into()))?;
        self.spawn_readers();
        Ok((ssrc, payload_type))
    }

    fn spawn_readers(&mut self) {
        let (channel, events) = (self.channel.clone(), self.events_tx.clone());
        tokio::spawn(async move {
            while let Some(event) = channel.poll().await {
                let forwarded = match event {
                    DataChannelEvent::OnOpen => PeerEvent::ChannelOpen,
                    DataChannelEvent::OnMessage(message) => {
                        if message.is_string {
                            match String::from_utf8(message.data.to_vec()) {
                                Ok(text) => PeerEvent::Message(text),
                                Err(_) => PeerEvent::Binary(message.data.len()),
                            }
                        } else {
                            PeerEvent::Binary(message.data.len())
                        }
                    }
                    DataChannelEvent::OnClose => PeerEvent::ChannelClosed,
                    _ => continue,
                };
                if events.send(forwarded).await.is_err() {
                    return;
                }
            }
            let _ = events.send(PeerEvent::ChannelClosed).await;
        });
        let Some(mut tracks) = self.tracks.take() else {
            return;
        };
        let events = self.events_tx.clone();
        tokio::spawn(async move {
            let Some(track) = tracks.recv().await else {
                return;
            };
            while let Some(event) = track.poll().await {
                if let TrackRemoteEvent::OnRtpPacket(packet) = event {
                    let voice = PeerEvent::Voice {
                        sequence: packet.header.sequence_number,
                        timestamp: packet.header.timestamp,
                        payload: packet.payload.to_vec(),
                        arrived: Instant::now(),
                    };
                    // Full means the call loop is behind: drop this packet (the jitter buffer
                    // conceals it) rather than wait and fall further behind.
                    if let Err(mpsc::error::TrySendError::Closed(_)) = events.try_send(voice) {
                        return;
                    }
                }
            }
        });
    }

    /// Closes the connection; best effort, bounded in time.
    pub(crate) async fn close(&self) {
        let _ = tokio::time::timeout(Duration::from_secs(2), self.channel.close()).await;
        let _ = tokio::time::timeout(Duration::from_secs(3), self.pc.close()).await;
    }
}

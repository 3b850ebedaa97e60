//! The call's WebRTC peer: an answerer (non-trickle) with the default codecs and interceptors,
//! one Opus track for the interviewer's voice, and a handler that forwards the peer's events to
//! the conversation task.

use std::net::IpAddr;
use std::sync::Arc;
use std::time::{Duration, Instant};

use rtc::media_stream::MediaStreamTrack;
use rtc::peer_connection::configuration::setting_engine::SettingEngineBuilder;
use rtc::peer_connection::transport::RTCDtlsRole;
use rtc::rtp_transceiver::rtp_sender::{
    RTCRtpCodec, RTCRtpCodingParameters, RTCRtpEncodingParameters, RtpCodecKind,
};
use tokio::sync::mpsc;
use webrtc::data_channel::DataChannel;
use webrtc::media_stream::track_local::TrackLocal;
use webrtc::media_stream::track_local::static_sample::TrackLocalStaticSample;
use webrtc::media_stream::track_remote::TrackRemote;
use webrtc::peer_connection::{
    MediaEngine, PeerConnection, PeerConnectionBuilder, PeerConnectionEventHandler,
    RTCIceGatheringState, RTCPeerConnectionState, RTCSessionDescription, Registry,
    register_default_interceptors,
};

use super::input::Input;

/// How long a call may take to gather its candidates.
const GATHER_TIMEOUT: Duration = Duration::from_secs(5);

/// Why an offer could not be answered.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum CallError {
    #[error("the offer cannot be used: {0}")]
    Offer(String),
    #[error("the interviewer could not start a peer connection: {0}")]
    Peer(String),
    #[error("gathering network candidates took longer than {GATHER_TIMEOUT:?}")]
    GatherTimeout,
}

/// Forwards peer events to the conversation task; callbacks stay short.
struct Handler {
    inputs: mpsc::Sender<Input>,
    gathered: mpsc::Sender<()>,
}

#[async_trait::async_trait]
impl PeerConnectionEventHandler for Handler {
    async fn on_ice_gathering_state_change(&self, state: RTCIceGatheringState) {
        if state == RTCIceGatheringState::Complete {
            let _ = self.gathered.try_send(());
        }
    }
    async fn on_connection_state_change(&self, state: RTCPeerConnectionState) {
        let _ = self.inputs.try_send(Input::Peer(state));
    }
    async fn on_data_channel(&self, channel: Arc<dyn DataChannel>) {
        let _ = self.inputs.send(Input::Channel(channel)).await;
    }
    async fn on_track(&self, track: Arc<dyn TrackRemote>) {
        let _ = self.inputs.send(Input::Track(track)).await;
    }
}

/// A peer that has answered the offer.
pub(super) struct Peer {
    pub pc: Arc<dyn PeerConnection>,
    /// The interviewer's voice, with the SSRC and payload type its packets are sent with.
    pub track: Arc<TrackLocalStaticSample>,
    pub ssrc: u32,
    pub payload_type: u8,
    /// The answer, candidates included.
    pub sdp: String,
}

/// Builds a peer bound to `bind_ip`, answers `offer` and waits for candidate gathering. Peer
/// events go to `inputs`.
pub(super) async fn answer(
    bind_ip: IpAddr,
    offer: &str,
    inputs: mpsc::Sender<Input>,
) -> Result<Peer, CallError> {
    let offer = RTCSessionDescription::offer(offer.to_owned())
        .map_err(|e| CallError::Offer(e.to_string()))?;
    let peer_error = |e: webrtc::error::Error| CallError::Peer(e.to_string());
    let mut media = MediaEngine::default();
    media.register_default_codecs().map_err(peer_error)?;
    let registry =
        register_default_interceptors(Registry::new(), &mut media).map_err(peer_error)?;
    let (gathered_tx, mut gathered) = mpsc::channel(1);
    // webrtc-rs 0.21.1 sends the first DTLS flight only at the ICE agent's next check tick
    // (200 ms by default). As the DTLS server the interviewer leaves that flight to the
    // caller, whose tick is shorter (viva-rtc: 50 ms): calls open ~160 ms sooner.
    let settings = SettingEngineBuilder::new()
        .with_answering_dtls_role(RTCDtlsRole::Server)
        .build();
    let pc = PeerConnectionBuilder::new()
        .with_media_engine(media)
        .with_setting_engine(settings)
        .with_interceptor_registry(registry)
        .with_handler(Arc::new(Handler {
            inputs,
            gathered: gathered_tx,
        }))
        .with_udp_addrs(vec![format!("{bind_ip}:0")])
        .build()
        .await
        .map_err(peer_error)?;
    let pc: Arc<dyn PeerConnection> = Arc::new(pc);

    let ssrc = rand_ssrc();
    let track = Arc::new(
        TrackLocalStaticSample::new(
            Instant::now(),
            MediaStreamTrack::new(
                "viva-interviewer".to_owned(),
                "viva-interviewer-voice".to_owned(),
                "interviewer".to_owned(),
                RtpCodecKind::Audio,
                vec![RTCRtpEncodingParameters {
                    rtp_coding_parameters: RTCRtpCodingParameters {
                        ssrc: Some(ssrc),
                        ..Default::default()
                    },
                    codec: RTCRtpCodec {
                        mime_type: "audio/opus".to_owned(),
                        clock_rate: 48_000,
                        channels: 2,
                        sdp_fmtp_line: "minptime=10;useinbandfec=1".to_owned(),
                        rtcp_feedback: vec![],
                    },
                    ..Default::default()
                }],
            ),
        )
        .map_err(peer_error)?,
    );
    let negotiated = async {
        pc.set_remote_description(offer)
            .await
            .map_err(|e| CallError::Offer(e.to_string()))?;
        let sender = pc
            .add_track(Arc::clone(&track) as Arc<dyn TrackLocal>)
            .await
            .map_err(peer_error)?;
        let answer = pc
            .create_answer(None)
            .await
            .map_err(|e| CallError::Offer(e.to_string()))?;
        pc.set_local_description(answer).await.map_err(peer_error)?;
        tokio::time::timeout(GATHER_TIMEOUT, gathered.recv())
            .await
            .map_err(|_| CallError::GatherTimeout)?;
        let sdp = pc
            .local_description()
            .await
            .ok_or_else(|| CallError::Peer("no local description after the answer".into()))?
            .sdp;
        let payload_type = sender
            .get_parameters()
            .await
            .ok()
            .and_then(|p| p.rtp_parameters.codecs.first().map(|c| c.payload_type))
            .unwrap_or(111);
        Ok::<_, CallError>((sdp, payload_type))
    };
    match negotiated.await {
        Ok((sdp, payload_type)) => Ok(Peer {
            pc,
            track,
            ssrc,
            payload_type,
            sdp,
        }),
        Err(error) => {
            let _ = pc.close().await;
            Err(error)
        }
    }
}

fn rand_ssrc() -> u32 {
    let bytes = *uuid::Uuid::new_v4().as_bytes();
    u32::from_le_bytes([bytes[0], bytes[1], bytes[2], bytes[3]])
}

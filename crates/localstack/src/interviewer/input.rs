//! What reaches a call's conversation task: news from the peer, the media tasks and the
//! transcriber thread, and the hang-up. Kept apart from the task so those parts and the task
//! depend on it, not on each other.

use std::sync::Arc;
use std::time::Instant;

use viva_speech::stt::SttError;
use webrtc::data_channel::DataChannel;
use webrtc::media_stream::track_remote::TrackRemote;
use webrtc::peer_connection::RTCPeerConnectionState;

/// Everything that reaches the conversation task.
pub(super) enum Input {
    Channel(Arc<dyn DataChannel>),
    ChannelOpen,
    ChannelClosed,
    Client(String),
    Track(Arc<dyn TrackRemote>),
    Audio(Vec<f32>),
    Transcript(TranscriptResult),
    Played {
        response_id: String,
    },
    /// The candidate's typed answer (a Live call's, passed on by the SDP proxy): their
    /// complete turn, in their words.
    Typed(String),
    Peer(RTCPeerConnectionState),
    HangUp,
    /// The session reached its maximum duration now (a Live call's `expired`).
    Expire,
}

/// A job's outcome, as the conversation task receives it.
pub(super) struct TranscriptResult {
    pub item_id: String,
    pub partial: bool,
    pub early_end_ms: Option<u64>,
    pub audio_ms: u64,
    pub result: Result<String, SttError>,
    /// When the turn's speech ended (for finals), to log the latency.
    pub speech_ended: Option<Instant>,
}

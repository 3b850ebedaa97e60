//! The interview call for Viva: WebRTC (webrtc-rs) signalling over HTTP or the SDP proxy, the
//! audio track, the `oai-events` data channel, health statistics and automatic reconnection.
//! Its [`call`] is one run loop that does the I/O (connections, timers, the uplink, health)
//! around `viva-realtime`'s conversation core, and owns the reconnect and renewal policy.
//!
//! It does not own the protocol's rules (turn-taking, history replay, the transcript, cost and
//! session state are `viva-realtime`'s conversation core; events are parsed there too), capture
//! or play audio (`viva-audio`), or talk to the backend (`viva-backend`): a [`GrantSource`]
//! given by the caller renews the session's keys.

pub mod backoff;
pub mod call;
pub mod error;
pub mod grant;
pub mod health;
pub mod listen;
pub mod peer;
pub mod signaling;

pub use backoff::{Backoff, ReconnectPolicy};
pub use call::{
    CallConfig, CallEvent, CallHandle, Media, Summary, UplinkCounters, VoiceSink, prepare, start,
};
pub use error::{CallError, ErrorReport};
pub use grant::{
    AnswerMode, ClientSecret, Grant, GrantError, GrantSource, IceServer, RealtimeGrant,
    SignalingMode, VoiceApi,
};
pub use health::{Health, Quality, QualityLevel};
pub use listen::{Heard, Listener};
pub use peer::IceTimers;

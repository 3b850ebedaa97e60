//! The interview call for Viva: WebRTC (webrtc-rs) signalling over HTTP or the SDP proxy, the
//! audio track, the `oai-events` data channel, health statistics and automatic reconnection.
//!
//! It does not parse events itself (that is `viva-realtime`) nor capture audio (`viva-audio`).

//! Audio for Viva: microphone capture (cpal) to mono 48 kHz 20 ms Opus frames, playback of the
//! interviewer's voice through a jitter buffer, level metering and device changes.
//!
//! It owns devices and sample processing only; it knows nothing of WebRTC (`viva-rtc` carries the
//! frames) or of the UI.

//! Audio for Viva: microphone capture (cpal) to mono 48 kHz 20 ms Opus frames, playback of the
//! interviewer's voice through an adaptive jitter buffer, level metering, mute and device changes.
//!
//! It owns devices and sample processing only; it knows nothing of WebRTC (`viva-rtc` carries the
//! frames) or of the UI. The device callbacks ([`rt`]) only move samples through lock-free rings;
//! everything else runs on one worker thread per direction, never on an async runtime.

pub mod capture;
pub mod codec;
pub mod device;
pub mod echo;
mod error;
pub mod events;
mod follow;
pub mod jitter;
pub mod level;
pub mod paced;
pub mod pickup;
pub mod playback;
pub mod process;
pub mod resample;
pub mod rt;
mod stream;

pub use capture::{Capture, CaptureSettings, CaptureStats, CaptureStreams, EncodedFrame};
pub use codec::{EncoderSettings, FRAME_SAMPLES, OpusDecoder, OpusEncoder, SAMPLE_RATE};
pub use device::{
    DeviceInfo, DeviceSelection, Direction, input_devices, output_devices, sound_system_trouble,
};
pub use echo::{
    EchoCanceller, EchoControl, EchoStats, ReferenceFeed, ReferenceTap, echo_reference,
};
pub use error::AudioError;
pub use events::{AudioEvent, OpenReason};
pub use jitter::{JitterBuffer, JitterSettings, Playout};
pub use level::Level;
pub use paced::{PacedMicrophone, read_wav};
pub use playback::{Playback, PlaybackSettings, PlaybackStats, RtpAudio};
pub use process::{Passthrough, VoiceProcessor};

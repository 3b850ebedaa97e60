//! What capture and playback tell their owner, through a bounded channel.

use serde::Serialize;

use crate::device::{DeviceInfo, Direction};
use crate::level::Level;

/// Why a device was (re)opened.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum OpenReason {
    /// The first device of this capture or playback.
    Started,
    /// The caller chose another device.
    Selected,
    /// The device in use went away; this one stands in.
    Fallback,
    /// The chosen device came back.
    Restored,
    /// The system default changed while following it.
    DefaultChanged,
}

/// One thing worth telling the owner of a capture or playback.
#[derive(Debug, Clone, PartialEq, Serialize)]
#[serde(tag = "type", rename_all = "snake_case")]
pub enum AudioEvent {
    /// RMS and peak over the last 50 ms (microphone: what is sent, so silence while muted).
    Level { direction: Direction, level: Level },
    /// The microphone has delivered no signal for `seconds` while unmuted.
    NoSignal { seconds: u32 },
    /// Signal is back after [`AudioEvent::NoSignal`].
    SignalRestored,
    /// The device in use stopped working or disappeared; a stand-in is being opened.
    DeviceLost {
        direction: Direction,
        device_id: String,
        reason: String,
    },
    /// A device is open and streaming.
    DeviceOpened {
        device: DeviceInfo,
        reason: OpenReason,
    },
    /// No device of this direction can be opened; retrying until one appears.
    DeviceUnavailable {
        direction: Direction,
        message: String,
    },
    /// The worker fell behind and the real-time ring was full: this many samples were dropped.
    Overflow { dropped_samples: u64 },
    /// The output device asked for sound and none was ready (a click or gap was heard).
    Underrun { total: u64 },
}

/// Sends without waiting: a full queue means the owner is not reading, and audio must not stall
/// for it. Returns whether the event was queued.
pub(crate) fn emit(events: &tokio::sync::mpsc::Sender<AudioEvent>, event: AudioEvent) -> bool {
    events.try_send(event).is_ok()
}

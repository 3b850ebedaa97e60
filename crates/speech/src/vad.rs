//! Voice activity detection with the Realtime API's `server_vad` settings: an energy detector
//! whose `threshold` (0–1) maps onto a loudness scale, `prefix_padding_ms` of audio kept before
//! the onset, and `silence_duration_ms` of quiet before a turn ends. Pure: frames in, events out.

use serde::Deserialize;

/// Frame length the detector works in.
pub const FRAME_MS: u64 = 20;

/// `turn_detection` of `session.update` with `"type": "server_vad"`.
#[derive(Debug, Clone, Copy, PartialEq, Deserialize)]
#[serde(default)]
pub struct ServerVad {
    pub threshold: f32,
    pub prefix_padding_ms: u64,
    pub silence_duration_ms: u64,
}

impl Default for ServerVad {
    fn default() -> Self {
        Self {
            threshold: 0.5,
            prefix_padding_ms: 300,
            silence_duration_ms: 500,
        }
    }
}

/// The loudness (dBFS, frame RMS) that counts as certain silence (0) and certain speech (1);
/// the threshold is a point between them. The default 0.5 is −40 dBFS: well above a quiet
/// room's microphone, well below speech at a normal level.
const SILENT_DBFS: f32 = -60.0;
const LOUD_DBFS: f32 = -20.0;
/// Speech must last this long to start a turn, so a click is not a turn.
const MIN_SPEECH_MS: u64 = 60;
/// A turn longer than this is committed anyway, so transcription never waits for a pause that
/// does not come (and Whisper's window stays within what it handles well).
pub const MAX_TURN_MS: u64 = 15_000;

/// What the detector saw.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum VadEvent {
    /// Speech began at `audio_start_ms` (from the start of the session's audio).
    Started { audio_start_ms: u64 },
    /// The turn ended at `audio_end_ms` (the end of its last loud frame).
    Stopped { audio_end_ms: u64 },
}

/// The speech probability the threshold is compared against, from a frame's loudness.
pub fn speech_score(frame: &[f32]) -> f32 {
    if frame.is_empty() {
        return 0.0;
    }
    let mean_square = frame.iter().map(|s| s * s).sum::<f32>() / frame.len() as f32;
    let dbfs = 10.0 * mean_square.max(1e-12).log10();
    ((dbfs - SILENT_DBFS) / (LOUD_DBFS - SILENT_DBFS)).clamp(0.0, 1.0)
}

/// The detector's state between frames.
#[derive(Debug, Clone)]
pub struct Vad {
    settings: ServerVad,
    /// Milliseconds of audio seen.
    position_ms: u64,
    /// Consecutive loud milliseconds while not in a turn.
    loud_run_ms: u64,
    /// Consecutive quiet milliseconds while in a turn.
    quiet_run_ms: u64,
    in_turn: bool,
    turn_start_ms: u64,
    last_loud_end_ms: u64,
}

impl Vad {
    pub fn new(settings: ServerVad) -> Self {
        Self {
            settings,
            position_ms: 0,
            loud_run_ms: 0,
            quiet_run_ms: 0,
            in_turn: false,
            turn_start_ms: 0,
            last_loud_end_ms: 0,
        }
    }

    pub fn settings(&self) -> ServerVad {
        self.settings
    }

    /// New settings apply from the next frame; a turn in progress carries on.
    pub fn set_settings(&mut self, settings: ServerVad) {
        self.settings = settings;
    }

    pub fn position_ms(&self) -> u64 {
        self.position_ms
    }

    pub fn in_turn(&self) -> bool {
        self.in_turn
    }

    /// Where the audio of the current (or last) turn starts, prefix padding included.
    pub fn turn_audio_from_ms(&self) -> u64 {
        self.turn_start_ms
            .saturating_sub(self.settings.prefix_padding_ms)
    }

    /// Feeds one [`FRAME_MS`] frame.
    pub fn push(&mut self, frame: &[f32]) -> Option<VadEvent> {
        let loud = speech_score(frame) >= self.settings.threshold;
        let frame_start = self.position_ms;
        self.position_ms += FRAME_MS;
        if !self.in_turn {
            if loud {
                self.loud_run_ms += FRAME_MS;
                if self.loud_run_ms >= MIN_SPEECH_MS {
                    self.in_turn = true;
                    self.quiet_run_ms = 0;
                    self.turn_start_ms = self.position_ms - self.loud_run_ms;
                    self.last_loud_end_ms = self.position_ms;
                    self.loud_run_ms = 0;
                    return Some(VadEvent::Started {
                        audio_start_ms: self.turn_start_ms,
                    });
                }
            } else {
                self.loud_run_ms = 0;
            }
            return None;
        }
        if loud {
            self.quiet_run_ms = 0;
            self.last_loud_end_ms = frame_start + FRAME_MS;
        } else {
            self.quiet_run_ms += FRAME_MS;
        }
        let too_long = self.position_ms - self.turn_start_ms >= MAX_TURN_MS;
        if self.quiet_run_ms >= self.settings.silence_duration_ms.max(FRAME_MS) || too_long {
            self.in_turn = false;
            self.quiet_run_ms = 0;
            let audio_end_ms = if too_long {
                self.position_ms
            } else {
                self.last_loud_end_ms
            };
            return Some(VadEvent::Stopped { audio_end_ms });
        }
        None
    }

    /// In a turn and quiet since the last loud frame: (where speech stopped, how long ago).
    pub fn pause(&self) -> Option<(u64, u64)> {
        (self.in_turn && self.quiet_run_ms > 0)
            .then_some((self.last_loud_end_ms, self.quiet_run_ms))
    }

    /// Lets a frame pass without detection (turn detection is off).
    pub fn skip(&mut self) {
        self.position_ms += FRAME_MS;
    }

    /// Ends a turn now (a manual `input_audio_buffer.commit`), if one is open.
    pub fn force_stop(&mut self) -> Option<VadEvent> {
        if !self.in_turn {
            return None;
        }
        self.in_turn = false;
        self.quiet_run_ms = 0;
        Some(VadEvent::Stopped {
            audio_end_ms: self.position_ms,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn tone(amplitude: f32) -> Vec<f32> {
        (0..320)
            .map(|i| amplitude * (i as f32 * 0.3).sin())
            .collect()
    }

    fn run(vad: &mut Vad, frames: &[(usize, f32)]) -> Vec<VadEvent> {
        let mut events = Vec::new();
        for &(count, amplitude) in frames {
            for _ in 0..count {
                events.extend(vad.push(&tone(amplitude)));
            }
        }
        events
    }

    #[test]
    fn a_turn_starts_at_the_onset_and_stops_after_the_silence_duration() {
        let mut vad = Vad::new(ServerVad::default());
        // 1 s silence, 2 s speech, 1 s silence.
        let events = run(&mut vad, &[(50, 0.0), (100, 0.3), (50, 0.0)]);
        assert_eq!(
            events,
            vec![
                VadEvent::Started {
                    audio_start_ms: 1000
                },
                VadEvent::Stopped { audio_end_ms: 3000 }
            ]
        );
        assert_eq!(vad.turn_audio_from_ms(), 700, "300 ms of prefix padding");
    }

    #[test]
    fn a_short_pause_does_not_end_the_turn_but_a_longer_silence_setting_is_honoured() {
        let mut vad = Vad::new(ServerVad {
            silence_duration_ms: 800,
            ..ServerVad::default()
        });
        let events = run(&mut vad, &[(50, 0.3), (30, 0.0), (50, 0.3), (45, 0.0)]);
        assert_eq!(
            events,
            vec![
                VadEvent::Started { audio_start_ms: 0 },
                VadEvent::Stopped { audio_end_ms: 2600 }
            ]
        );
    }

    #[test]
    fn a_pause_tells_where_speech_stopped_and_for_how_long() {
        let mut vad = Vad::new(ServerVad::default());
        run(&mut vad, &[(50, 0.3)]);
        assert_eq!(vad.pause(), None);
        run(&mut vad, &[(6, 0.0)]);
        assert_eq!(vad.pause(), Some((1000, 120)));
        run(&mut vad, &[(1, 0.3)]);
        assert_eq!(vad.pause(), None, "speaking on ends the pause");
    }

    #[test]
    fn the_threshold_decides_what_counts_as_speech() {
        // 0.01 amplitude ≈ −43 dBFS: speech at threshold 0.3, not at 0.5.
        let quiet = [(10, 0.0), (40, 0.01), (40, 0.0)];
        assert!(run(&mut Vad::new(ServerVad::default()), &quiet).is_empty());
        let sensitive = ServerVad {
            threshold: 0.3,
            ..ServerVad::default()
        };
        assert_eq!(run(&mut Vad::new(sensitive), &quiet).len(), 2);
    }

    #[test]
    fn a_click_is_not_a_turn_and_endless_speech_is_cut_at_fifteen_seconds() {
        assert!(run(&mut Vad::new(ServerVad::default()), &[(2, 0.5), (50, 0.0)]).is_empty());
        let events = run(&mut Vad::new(ServerVad::default()), &[(800, 0.3)]);
        assert_eq!(
            events[1],
            VadEvent::Stopped {
                audio_end_ms: MAX_TURN_MS
            }
        );
        assert_eq!(events.len(), 3, "a new turn starts right after: {events:?}");
    }
}

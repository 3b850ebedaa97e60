//! Turn-taking: when the candidate has started and finished speaking, and which audio a turn
//! is. The voice detector ([`Vad`]) decides on loudness; [`Listener`] keeps the audio a turn
//! needs (prefix padding before the onset included), opens and closes turns — by detection, or
//! by the caller's commit when detection is off — and cuts their audio. [`Turns`] is the simple
//! form pre-flight uses: frames in, whole turns out. Pure: no clock, no I/O, no threads.

use crate::stt::SAMPLE_RATE;
use crate::vad::{FRAME_MS, ServerVad, Vad, VadEvent};

/// Samples per millisecond at the model's rate.
const SAMPLES_PER_MS: usize = SAMPLE_RATE / 1000;
/// Samples in one detector frame at the model's rate.
pub const FRAME_16K: usize = SAMPLES_PER_MS * FRAME_MS as usize;

/// A change of turn.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum TurnEvent {
    /// Speech began at `audio_start_ms`; the turn's audio starts at `audio_from_ms` (the prefix
    /// padding before the onset).
    Started {
        audio_start_ms: u64,
        audio_from_ms: u64,
    },
    /// Detection is off: a turn opened with this frame, and everything heard goes into it until
    /// the caller commits it.
    Buffering { audio_from_ms: u64 },
    /// The candidate finished speaking: the turn's audio ends at `audio_end_ms` (the end of its
    /// last loud frame, or where the longest turn was cut).
    Ended { audio_end_ms: u64 },
}

/// The listening side of a conversation: 16 kHz audio in 20 ms frames, cut into turns.
#[derive(Debug, Clone)]
pub struct Listener {
    vad: Vad,
    /// Turn detection on; off, turns are opened by audio and closed by [`Listener::commit`].
    detecting: bool,
    /// The audio heard, `origin_ms` being the position of its first sample.
    audio: Vec<f32>,
    origin_ms: u64,
    /// Audio kept before a turn (for prefix padding), in samples.
    keep_before: usize,
    /// A turn is open.
    turn_open: bool,
    /// Where the open (or last) turn's audio starts.
    turn_from_ms: u64,
}

impl Listener {
    /// A listener detecting with `settings`, keeping `keep_before_ms` of audio while nobody
    /// speaks (at least the prefix padding the settings may ask for).
    pub fn new(settings: ServerVad, keep_before_ms: u64) -> Self {
        Self {
            vad: Vad::new(settings),
            detecting: true,
            audio: Vec::new(),
            origin_ms: 0,
            keep_before: usize::try_from(keep_before_ms)
                .unwrap_or(usize::MAX / 4)
                .saturating_mul(SAMPLES_PER_MS),
            turn_open: false,
            turn_from_ms: 0,
        }
    }

    /// Turns detection on with `settings` (from the next frame; a turn in progress carries on),
    /// or off with `None`.
    pub fn set_detection(&mut self, settings: Option<ServerVad>) {
        match settings {
            Some(settings) => {
                self.detecting = true;
                self.vad.set_settings(settings);
            }
            None => self.detecting = false,
        }
    }

    pub fn detecting(&self) -> bool {
        self.detecting
    }

    /// Milliseconds of audio heard.
    pub fn position_ms(&self) -> u64 {
        self.vad.position_ms()
    }

    /// A turn is open.
    pub fn in_turn(&self) -> bool {
        self.turn_open
    }

    /// Where the open (or last) turn's audio starts.
    pub fn turn_from_ms(&self) -> u64 {
        self.turn_from_ms
    }

    /// In a detected turn and quiet since the last loud frame: (where speech stopped, how
    /// long ago) — the candidate may have finished.
    pub fn pause(&self) -> Option<(u64, u64)> {
        self.vad.pause()
    }

    /// Samples kept now (bounded while nobody speaks).
    pub fn buffered_samples(&self) -> usize {
        self.audio.len()
    }

    /// Feeds one [`FRAME_MS`] frame; what changed, if anything. The audio is kept until
    /// [`Listener::trim`] drops what no turn needs.
    pub fn push(&mut self, frame: &[f32]) -> Option<TurnEvent> {
        self.audio.extend_from_slice(frame);
        if !self.detecting {
            // Without turn detection everything heard goes into the turn until a commit.
            self.vad.skip();
            if self.turn_open {
                return None;
            }
            let audio_from_ms = self.vad.position_ms() - FRAME_MS;
            self.open(audio_from_ms);
            return Some(TurnEvent::Buffering { audio_from_ms });
        }
        match self.vad.push(frame)? {
            VadEvent::Started { audio_start_ms } => {
                let audio_from_ms = self.vad.turn_audio_from_ms();
                self.open(audio_from_ms);
                Some(TurnEvent::Started {
                    audio_start_ms,
                    audio_from_ms,
                })
            }
            VadEvent::Stopped { audio_end_ms } => {
                self.turn_open = false;
                Some(TurnEvent::Ended { audio_end_ms })
            }
        }
    }

    /// The caller ends the turn now (a manual commit): where it ends, or `None` when no turn
    /// is open.
    pub fn commit(&mut self) -> Option<u64> {
        self.vad.force_stop();
        let was_open = std::mem::replace(&mut self.turn_open, false);
        was_open.then(|| self.vad.position_ms())
    }

    /// Drops the open turn, if any, without ending it.
    pub fn clear(&mut self) {
        self.vad.force_stop();
        self.turn_open = false;
    }

    fn open(&mut self, audio_from_ms: u64) {
        self.turn_open = true;
        self.turn_from_ms = audio_from_ms;
    }

    /// While no turn is open, drops the audio no turn can need any more.
    pub fn trim(&mut self) {
        if !self.turn_open && self.audio.len() > self.keep_before.saturating_mul(2) {
            let drop = self.audio.len() - self.keep_before;
            self.audio.drain(..drop);
            self.origin_ms += (drop / SAMPLES_PER_MS) as u64;
        }
    }

    /// Forgets all audio heard so far (a turn was taken away whole).
    pub fn forget_audio(&mut self) {
        self.audio.clear();
        self.origin_ms = self.vad.position_ms();
    }

    /// The audio between two positions, as far as it is still kept.
    pub fn samples_between(&self, from_ms: u64, to_ms: u64) -> Vec<f32> {
        let index = |ms: u64| {
            let samples = ms.saturating_sub(self.origin_ms) * SAMPLES_PER_MS as u64;
            usize::try_from(samples).map_or(self.audio.len(), |i| i.min(self.audio.len()))
        };
        let (from, to) = (index(from_ms), index(to_ms));
        self.audio[from..to.max(from)].to_vec()
    }
}

/// A turn the detector found.
#[derive(Debug, Clone, PartialEq)]
pub enum Turn {
    Started,
    /// The turn's audio, prefix padding included, up to the end of its last loud frame.
    Ended(Vec<f32>),
}

/// Audio kept while nobody speaks: enough for the detector's prefix padding.
const TURNS_KEEP_BEFORE_MS: u64 = 1_000;

/// Cuts 16 kHz audio into whole turns with the default `server_vad` settings. Pure: frames in,
/// turns out.
#[derive(Debug, Clone)]
pub struct Turns {
    listener: Listener,
}

impl Default for Turns {
    fn default() -> Self {
        Self {
            listener: Listener::new(ServerVad::default(), TURNS_KEEP_BEFORE_MS),
        }
    }
}

impl Turns {
    /// Feeds one 20 ms frame of 16 kHz audio.
    pub fn push(&mut self, frame: &[f32]) -> Option<Turn> {
        match self.listener.push(frame) {
            Some(TurnEvent::Started { .. } | TurnEvent::Buffering { .. }) => Some(Turn::Started),
            Some(TurnEvent::Ended { audio_end_ms }) => {
                let from = self.listener.turn_from_ms();
                let turn = self.listener.samples_between(from, audio_end_ms);
                self.listener.forget_audio();
                Some(Turn::Ended(turn))
            }
            None => {
                self.listener.trim();
                None
            }
        }
    }

    /// Samples kept now (bounded while nobody speaks).
    pub fn buffered_samples(&self) -> usize {
        self.listener.buffered_samples()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const KEEP_BEFORE_TURN: usize = SAMPLE_RATE;

    fn frames(loud: bool, ms: u64) -> Vec<Vec<f32>> {
        let amplitude = if loud { 0.3 } else { 0.0 };
        (0..ms / FRAME_MS)
            .map(|f| {
                (0..FRAME_16K)
                    .map(|i| {
                        let t = (f as usize * FRAME_16K + i) as f32 / SAMPLE_RATE as f32;
                        amplitude * (t * 220.0 * std::f32::consts::TAU).sin()
                    })
                    .collect()
            })
            .collect()
    }

    // ---- Turns (moved from viva-session's hearing) ----

    #[test]
    fn a_turn_carries_its_speech_and_the_padding_before_it() {
        let mut turns = Turns::default();
        let mut seen = Vec::new();
        for frame in frames(false, 5_000)
            .into_iter()
            .chain(frames(true, 1_000))
            .chain(frames(false, 1_000))
        {
            seen.extend(turns.push(&frame));
        }
        assert_eq!(seen.len(), 2, "{:?}", seen.len());
        assert_eq!(seen[0], Turn::Started);
        let Turn::Ended(audio) = &seen[1] else {
            panic!("the turn did not end");
        };
        let ms = audio.len() / (SAMPLE_RATE / 1000);
        // One second of speech and 300 ms of prefix padding; the silence after is not in it.
        assert!((1_280..=1_320).contains(&ms), "{ms} ms");
        let loud = audio.iter().filter(|s| s.abs() > 0.01).count() / (SAMPLE_RATE / 1000);
        assert!(loud >= 950, "{loud} ms of speech in the turn");
    }

    #[test]
    fn quiet_audio_makes_no_turn_and_is_not_hoarded() {
        let mut turns = Turns::default();
        for frame in frames(false, 60_000) {
            assert_eq!(turns.push(&frame), None);
        }
        assert!(turns.buffered_samples() <= KEEP_BEFORE_TURN * 2);
    }

    #[test]
    fn a_second_turn_is_cut_where_it_was_said() {
        let mut turns = Turns::default();
        let mut ended = Vec::new();
        for frame in frames(true, 500)
            .into_iter()
            .chain(frames(false, 3_000))
            .chain(frames(true, 2_000))
            .chain(frames(false, 1_000))
        {
            if let Some(Turn::Ended(audio)) = turns.push(&frame) {
                ended.push(audio.len() / (SAMPLE_RATE / 1000));
            }
        }
        assert_eq!(ended.len(), 2);
        assert!((480..=520).contains(&ended[0]), "{ended:?}");
        assert!((2_280..=2_320).contains(&ended[1]), "{ended:?}");
    }

    // ---- Listener ----

    fn feed(listener: &mut Listener, frames: Vec<Vec<f32>>) -> Vec<TurnEvent> {
        let mut events = Vec::new();
        for frame in frames {
            events.extend(listener.push(&frame));
            listener.trim();
        }
        events
    }

    #[test]
    fn a_detected_turn_opens_with_its_padding_and_ends_after_the_silence() {
        let mut listener = Listener::new(ServerVad::default(), 2_000);
        let events = feed(
            &mut listener,
            frames(false, 1_000)
                .into_iter()
                .chain(frames(true, 2_000))
                .chain(frames(false, 1_000))
                .collect(),
        );
        assert_eq!(
            events,
            vec![
                TurnEvent::Started {
                    audio_start_ms: 1_000,
                    audio_from_ms: 700
                },
                TurnEvent::Ended {
                    audio_end_ms: 3_000
                }
            ]
        );
        assert!(!listener.in_turn());
        let turn = listener.samples_between(listener.turn_from_ms(), 3_000);
        assert_eq!(turn.len(), 2_300 * SAMPLES_PER_MS);
    }

    #[test]
    fn a_pause_is_reported_before_the_turn_ends() {
        let mut listener = Listener::new(ServerVad::default(), 2_000);
        feed(
            &mut listener,
            frames(true, 1_000)
                .into_iter()
                .chain(frames(false, 200))
                .collect(),
        );
        assert!(listener.in_turn());
        assert_eq!(listener.pause(), Some((1_000, 200)));
        feed(&mut listener, frames(true, 100));
        assert_eq!(listener.pause(), None, "speaking on ends the pause");
    }

    #[test]
    fn without_detection_everything_is_one_turn_until_a_commit() {
        let mut listener = Listener::new(ServerVad::default(), 2_000);
        listener.set_detection(None);
        assert!(!listener.detecting());
        let events = feed(
            &mut listener,
            frames(false, 400)
                .into_iter()
                .chain(frames(true, 1_000))
                .collect(),
        );
        assert_eq!(events, vec![TurnEvent::Buffering { audio_from_ms: 0 }]);
        assert!(listener.in_turn());
        assert_eq!(listener.commit(), Some(1_400));
        assert!(!listener.in_turn());
        assert_eq!(
            listener.turn_from_ms(),
            0,
            "the committed turn's start stays readable"
        );
        assert_eq!(listener.commit(), None, "nothing left to commit");
        let events = feed(&mut listener, frames(false, 40));
        assert_eq!(
            events,
            vec![TurnEvent::Buffering {
                audio_from_ms: 1_400
            }]
        );
    }

    #[test]
    fn a_cleared_turn_is_dropped_and_audio_is_trimmed_again() {
        let mut listener = Listener::new(ServerVad::default(), 1_000);
        feed(&mut listener, frames(true, 3_000));
        assert!(listener.in_turn());
        assert!(
            listener.buffered_samples() >= 3_000 * SAMPLES_PER_MS,
            "an open turn keeps its audio"
        );
        listener.clear();
        assert!(!listener.in_turn());
        feed(&mut listener, frames(false, 5_000));
        assert!(listener.buffered_samples() <= 2 * 1_000 * SAMPLES_PER_MS);
        // What was dropped reads as empty, what is kept is still there.
        let position = listener.position_ms();
        assert!(listener.samples_between(0, 1_000).is_empty());
        assert_eq!(
            listener.samples_between(position - 500, position).len(),
            500 * SAMPLES_PER_MS
        );
    }
}

//! Whether the microphone hears the speakers: the raw microphone's level while the speakers
//! play, against its level while they are quiet. Pure, so it is tested without devices.

/// A reference sample above this (about −40 dBFS) means the speakers are playing.
const PLAYING_PEAK: f32 = 0.01;
/// Frames (20 ms) after the last loud reference that still count as playing: the echo comes
/// back up to a few hundred milliseconds later.
const PLAYING_HOLD: u32 = 15;
/// Frames after the last loud reference before the room counts as quiet again.
const QUIET_AFTER: u32 = 25;
/// Playing frames needed before saying anything (half a second of sound).
const MIN_PLAYING_FRAMES: u32 = 25;
/// The microphone must be this much louder while the speakers play than while they are quiet.
const HEARD_MARGIN_DB: f64 = 10.0;
/// … and at least this loud (a quiet microphone that only hisses louder hears nothing).
const HEARD_FLOOR_DBFS: f64 = -55.0;
/// One microphone frame.
const FRAME_MS: u32 = 20;
/// What silence measures as (a null device records exact zeros).
const SILENCE_DBFS: f64 = -100.0;

/// Mean power of the frames in one state.
#[derive(Debug, Default, Clone, Copy)]
struct Power {
    sum: f64,
    frames: u32,
}

impl Power {
    fn add(&mut self, mean_square: f64) {
        self.sum += mean_square;
        self.frames = self.frames.saturating_add(1);
    }

    fn dbfs(self) -> Option<f64> {
        (self.frames > 0).then(|| {
            let mean = self.sum / f64::from(self.frames);
            if mean > 0.0 {
                (10.0 * mean.log10()).max(SILENCE_DBFS)
            } else {
                SILENCE_DBFS
            }
        })
    }
}

/// Compares the microphone's power while the speakers play with its power while they are
/// quiet, frame by frame.
#[derive(Debug, Clone)]
pub struct PickUp {
    playing: Power,
    quiet: Power,
    since_loud: u32,
    /// Frames still covered by loud blocks played ([`PickUp::played`]).
    loud_left: u32,
    /// Loud audio played since the last microphone frame, not yet turned into frames.
    loud_pending_ms: u32,
}

impl Default for PickUp {
    fn default() -> Self {
        Self {
            playing: Power::default(),
            quiet: Power::default(),
            since_loud: u32::MAX,
            loud_left: 0,
            loud_pending_ms: 0,
        }
    }
}

impl PickUp {
    /// A block of what the speakers played, `millis` long, with its loudest sample. A sound
    /// server may take the speakers' audio in blocks far longer than a frame, or in many short
    /// blocks at once: the loud blocks that arrive before the next microphone frame add up, and
    /// keep the frames after it counted as playing for as long as they last. So a tone played
    /// in three long blocks, or in a hundred 10 ms blocks drained together, is not mistaken for
    /// a blip.
    pub fn played(&mut self, peak: f32, millis: u32) {
        if peak > PLAYING_PEAK {
            self.loud_pending_ms = self.loud_pending_ms.saturating_add(millis);
        }
    }

    /// One capture frame: the loudest sample played since the previous frame (0 when nothing
    /// played), and the microphone's samples as recorded, before any processing.
    pub fn frame(&mut self, reference_peak: f32, microphone: &[f32]) {
        // Loud audio handed to the speakers plays out after what they already had.
        let arrived = std::mem::take(&mut self.loud_pending_ms).div_ceil(FRAME_MS);
        self.loud_left = self.loud_left.saturating_add(arrived);
        if reference_peak > PLAYING_PEAK || self.loud_left > 0 {
            self.since_loud = 0;
            self.loud_left = self.loud_left.saturating_sub(1);
        } else {
            self.since_loud = self.since_loud.saturating_add(1);
        }
        if microphone.is_empty() {
            return;
        }
        let mean_square = microphone
            .iter()
            .map(|&s| f64::from(s) * f64::from(s))
            .sum::<f64>()
            / microphone.len() as f64;
        if self.since_loud <= PLAYING_HOLD {
            self.playing.add(mean_square);
        } else if self.since_loud >= QUIET_AFTER {
            self.quiet.add(mean_square);
        }
    }

    /// Whether the microphone hears the speakers; `None` until they have played for half a
    /// second.
    #[must_use]
    pub fn heard(&self) -> Option<bool> {
        if self.playing.frames < MIN_PLAYING_FRAMES {
            return None;
        }
        let playing = self.playing.dbfs()?;
        let quiet = self.quiet.dbfs().unwrap_or(SILENCE_DBFS);
        Some(playing >= HEARD_FLOOR_DBFS && playing >= quiet + HEARD_MARGIN_DB)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn tone(amplitude: f32) -> Vec<f32> {
        (0..960)
            .map(|i| amplitude * (i as f32 * 0.0576).sin())
            .collect()
    }

    /// `quiet` frames of silence from the speakers, then `playing` frames of sound; the
    /// microphone records `before` then `during`.
    fn run(quiet: usize, playing: usize, before: f32, during: f32) -> Option<bool> {
        let mut pickup = PickUp::default();
        for _ in 0..quiet {
            pickup.frame(0.0, &tone(before));
        }
        for _ in 0..playing {
            pickup.frame(0.25, &tone(during));
        }
        pickup.heard()
    }

    #[test]
    fn an_echo_well_above_the_rooms_noise_is_heard() {
        // Room noise about −60 dBFS, the speakers coming back at about −26 dBFS.
        assert_eq!(run(30, 60, 0.0014, 0.07), Some(true));
        // A null microphone before, the echo after.
        assert_eq!(run(30, 60, 0.0, 0.07), Some(true));
    }

    #[test]
    fn a_microphone_that_stays_at_the_rooms_level_hears_nothing() {
        assert_eq!(run(30, 60, 0.01, 0.012), Some(false));
        // Silence throughout (headphones on a null device).
        assert_eq!(run(30, 60, 0.0, 0.0), Some(false));
        // Louder, but still hiss below the floor.
        assert_eq!(run(30, 60, 0.0, 0.001), Some(false));
    }

    #[test]
    fn nothing_is_said_before_half_a_second_of_sound() {
        assert_eq!(run(30, 10, 0.0, 0.07), None);
        assert_eq!(run(30, 0, 0.0, 0.07), None);
    }

    #[test]
    fn a_tone_drained_as_many_short_blocks_at_once_is_heard_while_it_plays() {
        // What failed the speaker test with a loopback loaded: the whole tone reached the
        // canceller as 120 blocks of 10 ms between two microphone frames.
        let mut pickup = PickUp::default();
        for _ in 0..30 {
            pickup.frame(0.0, &tone(0.0));
        }
        for _ in 0..120 {
            pickup.played(0.25, 10);
        }
        pickup.frame(0.25, &tone(0.07));
        for _ in 1..60 {
            pickup.frame(0.0, &tone(0.07));
        }
        assert_eq!(pickup.heard(), Some(true));
    }

    #[test]
    fn a_tone_the_sound_server_took_in_one_long_block_is_heard_while_it_plays() {
        let mut pickup = PickUp::default();
        for _ in 0..30 {
            pickup.frame(0.0, &tone(0.0));
        }
        // 1.2 s of tone handed to the device at once, then played out in real time.
        pickup.played(0.25, 1_200);
        pickup.frame(0.25, &tone(0.07));
        for _ in 1..60 {
            pickup.frame(0.0, &tone(0.07));
        }
        assert_eq!(pickup.heard(), Some(true));
        // A quiet block keeps nothing playing.
        let mut quiet = PickUp::default();
        quiet.played(0.001, 1_200);
        for _ in 0..60 {
            quiet.frame(0.0, &tone(0.07));
        }
        assert_eq!(quiet.heard(), None);
    }

    #[test]
    fn the_tail_after_the_speakers_stop_is_neither_playing_nor_quiet() {
        let mut pickup = PickUp::default();
        for _ in 0..30 {
            pickup.frame(0.25, &tone(0.07));
        }
        // The echo's tail (reverberation) does not count as the room's own noise.
        for _ in 0..(QUIET_AFTER - 1) {
            pickup.frame(0.0, &tone(0.07));
        }
        for _ in 0..20 {
            pickup.frame(0.0, &tone(0.0005));
        }
        assert_eq!(pickup.heard(), Some(true));
    }
}

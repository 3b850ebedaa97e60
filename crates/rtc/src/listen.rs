//! A [`VoiceSink`] with no speaker behind it: decodes the interviewer's voice and keeps its
//! level, so a scripted call (the CLI, tests, benchmarks) knows when a question was heard and
//! when the interviewer stopped talking.

use std::sync::Mutex;
use std::time::Instant;

use viva_audio::level::to_dbfs;
use viva_audio::{FRAME_SAMPLES, OpusDecoder, RtpAudio};

use crate::call::VoiceSink;

/// Frames louder than this count as speech.
pub const SPEECH_DBFS: f32 = -40.0;

#[derive(Debug, Default, Clone, Copy)]
pub struct Heard {
    /// Packets decoded.
    pub frames: u64,
    /// Packets that did not decode.
    pub broken: u64,
    /// Frames with speech in them.
    pub loud_frames: u64,
    pub last_loud: Option<Instant>,
    /// Peak of the last frame, dBFS.
    pub level_dbfs: Option<f32>,
}

/// Decodes and measures; plays nothing.
#[derive(Debug)]
pub struct Listener {
    decoder: Mutex<Option<OpusDecoder>>,
    heard: Mutex<Heard>,
}

impl Default for Listener {
    fn default() -> Self {
        Self {
            decoder: Mutex::new(OpusDecoder::new().ok()),
            heard: Mutex::new(Heard::default()),
        }
    }
}

impl Listener {
    #[must_use]
    pub fn heard(&self) -> Heard {
        self.heard.lock().map(|h| *h).unwrap_or_default()
    }
}

impl VoiceSink for Listener {
    fn push(&self, packet: RtpAudio) {
        let mut samples = [0.0f32; FRAME_SAMPLES * 6];
        let decoded = self.decoder.lock().ok().and_then(|mut decoder| {
            decoder
                .as_mut()
                .map(|d| d.decode(&packet.payload, &mut samples))
        });
        let Ok(mut heard) = self.heard.lock() else {
            return;
        };
        match decoded {
            Some(Ok(n)) => {
                heard.frames += 1;
                let peak = samples[..n].iter().fold(0.0f32, |m, s| m.max(s.abs()));
                let level = to_dbfs(peak);
                heard.level_dbfs = Some(level);
                if level > SPEECH_DBFS {
                    heard.loud_frames += 1;
                    heard.last_loud = Some(Instant::now());
                }
            }
            _ => heard.broken += 1,
        }
    }
}

//! Offline speech-to-text with whisper.cpp (through `whisper-rs`): one model shared by every
//! call, one decoding state per call. Settings follow what was measured on our machines: one
//! thread (more threads spin-wait on two busy cores), an encoder window of at least 384 frames
//! (~7.7 s; shorter windows made the decoder repeat itself), and no temperature fallback for
//! partials (a partial is replaced anyway; fallback only costs time).

use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};

use whisper_rs::{
    FullParams, SamplingStrategy, WhisperContext, WhisperContextParameters, WhisperState,
};

/// Whisper's input rate.
pub const SAMPLE_RATE: usize = 16_000;
/// The smallest encoder window we use, in 20 ms frames.
pub const MIN_AUDIO_CTX: usize = 384;
const MAX_AUDIO_CTX: usize = 1500;

/// Why transcription is not available or failed.
#[derive(Debug, Clone, thiserror::Error)]
#[non_exhaustive]
pub enum SttError {
    #[error(
        "no offline speech model at {0}; prepare it with `viva-model prepare` (or Viva's \"prepare offline transcription\")"
    )]
    ModelMissing(PathBuf),
    #[error("the speech model at {path} cannot be loaded: {reason}")]
    ModelInvalid { path: PathBuf, reason: String },
    #[error("transcription failed: {0}")]
    Failed(String),
}

impl SttError {
    /// The `code` reported in `...transcription.failed`.
    pub fn code(&self) -> &'static str {
        match self {
            Self::ModelMissing(_) => "model_missing",
            Self::ModelInvalid { .. } => "model_invalid",
            Self::Failed(_) => "transcription_failed",
        }
    }
}

/// A loaded model, shared by every call.
#[derive(Clone)]
pub struct Model {
    context: Arc<WhisperContext>,
    threads: usize,
}

impl std::fmt::Debug for Model {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Model")
            .field("threads", &self.threads)
            .finish_non_exhaustive()
    }
}

impl Model {
    /// Loads a ggml Whisper model (blocking; 0.1–0.3 s for tiny.en).
    pub fn load(path: &Path, threads: usize) -> Result<Self, SttError> {
        if !path.is_file() {
            return Err(SttError::ModelMissing(path.to_owned()));
        }
        whisper_rs::install_logging_hooks();
        let context = WhisperContext::new_with_params(path, WhisperContextParameters::default())
            .map_err(|e| SttError::ModelInvalid {
                path: path.to_owned(),
                reason: e.to_string(),
            })?;
        Ok(Self {
            context: Arc::new(context),
            threads: threads.max(1),
        })
    }

    /// The model at `path`, loaded once per process and shared by everyone who asks for it
    /// (the interviewer's calls and pre-flight's microphone test). A failure is not kept: a
    /// model set up later is found on the next call. Blocking.
    pub fn shared(path: &Path, threads: usize) -> Result<Self, SttError> {
        static LOADED: Mutex<Option<(PathBuf, Model)>> = Mutex::new(None);
        let mut loaded = LOADED
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        if let Some((loaded_path, model)) = loaded.as_ref()
            && loaded_path == path
            && path.is_file()
        {
            return Ok(model.clone());
        }
        let model = Self::load(path, threads)?;
        *loaded = Some((path.to_owned(), model.clone()));
        Ok(model)
    }

    /// A decoding state for one call.
    pub fn transcriber(&self) -> Result<Transcriber, SttError> {
        let state = self
            .context
            .create_state()
            .map_err(|e| SttError::Failed(e.to_string()))?;
        Ok(Transcriber {
            state,
            threads: self.threads,
        })
    }
}

/// One call's transcriber.
pub struct Transcriber {
    state: WhisperState,
    threads: usize,
}

impl std::fmt::Debug for Transcriber {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Transcriber").finish_non_exhaustive()
    }
}

/// The encoder window for `samples` of 16 kHz audio: at least [`MIN_AUDIO_CTX`], enough to
/// hold all of it, never more than Whisper's 30 s.
pub fn audio_ctx(samples: usize) -> usize {
    // One encoder frame is 20 ms = 320 samples; keep a little room at the end.
    (samples.div_ceil(320) + 16).clamp(MIN_AUDIO_CTX, MAX_AUDIO_CTX)
}

impl Transcriber {
    /// Transcribes 16 kHz mono audio. `partial` trades accuracy for speed (no fallback).
    pub fn transcribe(&mut self, samples: &[f32], partial: bool) -> Result<String, SttError> {
        // Whisper needs at least a second of input; pad short clips with silence.
        let padded: Vec<f32>;
        let audio = if samples.len() < SAMPLE_RATE + SAMPLE_RATE / 10 {
            let mut longer = samples.to_vec();
            longer.resize(SAMPLE_RATE + SAMPLE_RATE / 10, 0.0);
            padded = longer;
            &padded[..]
        } else {
            samples
        };
        let mut params = FullParams::new(SamplingStrategy::Greedy { best_of: 1 });
        params.set_n_threads(self.threads as i32);
        params.set_language(Some("en"));
        params.set_audio_ctx(audio_ctx(audio.len()) as i32);
        params.set_no_context(true);
        params.set_single_segment(true);
        params.set_no_timestamps(true);
        params.set_suppress_blank(true);
        params.set_print_special(false);
        params.set_print_progress(false);
        params.set_print_realtime(false);
        params.set_print_timestamps(false);
        if partial {
            params.set_temperature_inc(0.0);
        }
        let outcome = self.state.full(params, audio);
        outcome.map_err(|e| SttError::Failed(e.to_string()))?;
        let mut text = String::new();
        for segment in self.state.as_iter() {
            if let Ok(piece) = segment.to_str_lossy() {
                text.push_str(&piece);
            }
        }
        Ok(clean(&text))
    }
}

/// Trims the text and drops Whisper's non-speech markers (`[BLANK_AUDIO]`, `(silence)`).
pub fn clean(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    let mut depth = 0usize;
    for c in text.chars() {
        match c {
            '[' | '(' => depth += 1,
            ']' | ')' => depth = depth.saturating_sub(1),
            _ if depth == 0 => out.push(c),
            _ => {}
        }
    }
    let words: Vec<&str> = out.split_whitespace().collect();
    drop_repeats(&words).join(" ")
}

/// The shortest run of words whose immediate repetition counts as a decoding loop. Shorter
/// runs repeat in real speech ("no, no, no", "very, very").
const LOOP_MIN_WORDS: usize = 4;

/// Drops back-to-back repetitions of a run of [`LOOP_MIN_WORDS`] or more words, keeping the
/// first. Whisper sometimes falls into a loop on a hard stretch of audio (speech under echo,
/// clipped words) and writes one sentence seven times over; a candidate restarting a sentence
/// repeats a few words, not a whole run immediately and identically. Words compare without
/// case and punctuation.
fn drop_repeats<'a>(words: &[&'a str]) -> Vec<&'a str> {
    let key: Vec<String> = words
        .iter()
        .map(|w| {
            w.chars()
                .filter(|c| c.is_alphanumeric())
                .flat_map(char::to_lowercase)
                .collect()
        })
        .collect();
    let same = |a: usize, b: usize, n: usize| key[a..a + n] == key[b..b + n];
    let mut kept = Vec::with_capacity(words.len());
    let mut i = 0;
    while i < words.len() {
        let longest = (words.len() - i) / 2;
        // The shortest period: a sentence looped seven times also repeats in threes.
        let run = (LOOP_MIN_WORDS..=longest).find(|&n| same(i, i + n, n));
        match run {
            Some(n) => {
                kept.extend_from_slice(&words[i..i + n]);
                let mut next = i + n;
                while next + n <= words.len() && same(i, next, n) {
                    next += n;
                }
                i = next;
            }
            None => {
                kept.push(words[i]);
                i += 1;
            }
        }
    }
    kept
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_window_is_never_below_384_frames_nor_above_30_seconds() {
        assert_eq!(audio_ctx(16_000), MIN_AUDIO_CTX);
        assert_eq!(audio_ctx(16_000 * 12), 600 + 16);
        assert_eq!(audio_ctx(16_000 * 60), 1500);
    }

    #[test]
    fn non_speech_markers_are_dropped() {
        assert_eq!(clean(" [BLANK_AUDIO] "), "");
        assert_eq!(clean(" Hello (coughs) there. "), "Hello there.");
    }

    #[test]
    fn a_sentence_the_model_looped_on_is_kept_once() {
        let looped = "I found it by comparing heap snapshots. ".repeat(7) + "Then I fixed it.";
        assert_eq!(
            clean(&looped),
            "I found it by comparing heap snapshots. Then I fixed it."
        );
        // Punctuation and case do not hide a loop; the first copy is the one kept.
        assert_eq!(
            clean("We built both versions, we built both versions. We built both versions"),
            "We built both versions,"
        );
    }

    #[test]
    fn repetitions_people_say_are_kept() {
        for said in [
            "No, no, no, that is not what happened.",
            "It was very, very hard.",
            "I think that I think that is right.",
            "We measured it. Then we shipped it. Then we measured it again.",
        ] {
            assert_eq!(clean(said), said);
        }
    }

    #[test]
    fn a_missing_model_is_reported_as_model_missing() {
        let error = Model::load(Path::new("/nonexistent/ggml.bin"), 1).unwrap_err();
        assert_eq!(error.code(), "model_missing");
    }
}

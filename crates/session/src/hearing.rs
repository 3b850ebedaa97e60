//! Pre-flight's "say something": what the microphone test records, cut into turns by the local
//! interviewer's voice detector and written out by the offline model, so a candidate sees that
//! they are heard — and understood — before the interview starts.

use std::path::PathBuf;

use tokio::sync::mpsc;
use tokio::task::JoinHandle;
use viva_audio::{EncodedFrame, OpusDecoder};
use viva_speech::stt::{Model, SAMPLE_RATE, SttError, Transcriber};
use viva_speech::vad::{FRAME_MS, ServerVad, Vad, VadEvent};

/// What the microphone test heard.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Heard {
    /// Ready: words appear once the candidate pauses.
    Listening,
    /// Speech began.
    Speaking,
    /// Speech ended; its words are being written out.
    Transcribing,
    /// The words of the last thing said (empty when speech was heard but no words recognised).
    Words(String),
    /// Words cannot be written out on this computer.
    Unavailable(WhyUnavailable),
}

/// Why no words can be shown.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum WhyUnavailable {
    /// The offline model is not set up (pre-flight offers to set it up).
    ModelMissing,
    /// Anything else, in words.
    Failed(String),
}

impl From<&SttError> for WhyUnavailable {
    fn from(error: &SttError) -> Self {
        match error {
            SttError::ModelMissing(_) => Self::ModelMissing,
            other => Self::Failed(other.to_string()),
        }
    }
}

/// Samples in one detector frame at the model's rate.
const FRAME_16K: usize = SAMPLE_RATE * FRAME_MS as usize / 1000;
/// Audio kept while nobody speaks: enough for the detector's prefix padding.
const KEEP_BEFORE_TURN: usize = SAMPLE_RATE;

/// A turn the detector found.
#[derive(Debug, Clone, PartialEq)]
pub enum Turn {
    Started,
    /// The turn's audio, prefix padding included, up to the end of its last loud frame.
    Ended(Vec<f32>),
}

/// Cuts 16 kHz audio into turns. Pure: frames in, turns out.
#[derive(Debug, Clone)]
pub struct Turns {
    vad: Vad,
    audio: Vec<f32>,
    /// Where `audio` starts, in milliseconds of everything pushed.
    origin_ms: u64,
}

impl Default for Turns {
    fn default() -> Self {
        Self {
            vad: Vad::new(ServerVad::default()),
            audio: Vec::new(),
            origin_ms: 0,
        }
    }
}

impl Turns {
    /// Feeds one 20 ms frame of 16 kHz audio.
    pub fn push(&mut self, frame: &[f32]) -> Option<Turn> {
        self.audio.extend_from_slice(frame);
        match self.vad.push(frame) {
            Some(VadEvent::Started { .. }) => Some(Turn::Started),
            Some(VadEvent::Stopped { audio_end_ms }) => {
                let index = |ms: u64| {
                    let samples = ms.saturating_sub(self.origin_ms) * (SAMPLE_RATE as u64 / 1000);
                    usize::try_from(samples).map_or(self.audio.len(), |i| i.min(self.audio.len()))
                };
                let (from, to) = (index(self.vad.turn_audio_from_ms()), index(audio_end_ms));
                let turn = self.audio[from..to.max(from)].to_vec();
                self.audio.clear();
                self.origin_ms = self.vad.position_ms();
                Some(Turn::Ended(turn))
            }
            None => {
                if !self.vad.in_turn() && self.audio.len() > KEEP_BEFORE_TURN * 2 {
                    let drop = self.audio.len() - KEEP_BEFORE_TURN;
                    self.audio.drain(..drop);
                    self.origin_ms += (drop / (SAMPLE_RATE / 1000)) as u64;
                }
                None
            }
        }
    }
}

/// Listens to the microphone test's Opus packets until they stop coming, reporting what it
/// hears. Transcription runs on a blocking thread, one turn at a time; a turn that ends while
/// another is being written out waits, and only the newest waits.
pub async fn listen(
    mut frames: mpsc::Receiver<EncodedFrame>,
    model_path: PathBuf,
    report: impl Fn(Heard) + Send + 'static,
) {
    let loaded = tokio::task::spawn_blocking(move || {
        Model::shared(&model_path, 1).and_then(|model| model.transcriber())
    })
    .await
    .unwrap_or_else(|e| Err(SttError::Failed(e.to_string())));
    let decoder = OpusDecoder::at_rate(SAMPLE_RATE as u32);
    let (mut transcriber, mut decoder) = match (loaded, decoder) {
        (Ok(transcriber), Ok(decoder)) => (Some(transcriber), decoder),
        (Err(error), _) => {
            report(Heard::Unavailable((&error).into()));
            while frames.recv().await.is_some() {}
            return;
        }
        (_, Err(error)) => {
            report(Heard::Unavailable(WhyUnavailable::Failed(
                error.to_string(),
            )));
            while frames.recv().await.is_some() {}
            return;
        }
    };
    report(Heard::Listening);
    let mut turns = Turns::default();
    let mut samples = vec![0f32; FRAME_16K * 6];
    let mut running: Option<JoinHandle<(Transcriber, Result<String, SttError>)>> = None;
    let mut waiting: Option<Vec<f32>> = None;
    loop {
        tokio::select! {
            frame = frames.recv() => {
                let Some(frame) = frame else { break };
                let Ok(n) = decoder.decode(&frame.payload, &mut samples) else { continue };
                for chunk in samples[..n].chunks(FRAME_16K) {
                    match turns.push(chunk) {
                        Some(Turn::Started) => report(Heard::Speaking),
                        Some(Turn::Ended(audio)) => match transcriber.take() {
                            Some(idle) => {
                                report(Heard::Transcribing);
                                running = Some(transcribe(idle, audio));
                            }
                            None => waiting = Some(audio),
                        },
                        None => {}
                    }
                }
            }
            done = async {
                match running.as_mut() {
                    Some(job) => job.await,
                    None => std::future::pending().await,
                }
            }, if running.is_some() => {
                running = None;
                let Ok((idle, result)) = done else {
                    report(Heard::Unavailable(WhyUnavailable::Failed("the transcriber stopped".into())));
                    break;
                };
                match result {
                    Ok(text) => report(Heard::Words(text)),
                    Err(error) => report(Heard::Unavailable((&error).into())),
                }
                match waiting.take() {
                    Some(audio) => {
                        report(Heard::Transcribing);
                        running = Some(transcribe(idle, audio));
                    }
                    None => transcriber = Some(idle),
                }
            }
        }
    }
}

fn transcribe(
    mut transcriber: Transcriber,
    audio: Vec<f32>,
) -> JoinHandle<(Transcriber, Result<String, SttError>)> {
    tokio::task::spawn_blocking(move || {
        let result = transcriber.transcribe(&audio, false);
        (transcriber, result)
    })
}

#[cfg(test)]
mod tests {
    use super::*;

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
        assert!(turns.audio.len() <= KEEP_BEFORE_TURN * 2);
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
}

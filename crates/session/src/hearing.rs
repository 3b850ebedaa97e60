//! Pre-flight's "say something": what the microphone test records, cut into turns by the same
//! turn-taking as the local interviewer's (viva-speech) and written out by the offline model, so
//! a candidate sees that they are heard — and understood — before the interview starts.

use std::path::PathBuf;

use tokio::sync::mpsc;
use tokio::task::JoinHandle;
use viva_audio::{EncodedFrame, OpusDecoder};
use viva_speech::stt::{Model, SAMPLE_RATE, SttError, Transcriber};
use viva_speech::turn::FRAME_16K;
pub use viva_speech::turn::{Turn, Turns};

/// What the microphone test heard; the desktop shell streams it to the UI as it is, tagged by
/// `state`.
#[cfg_attr(feature = "specta", derive(specta::Type))]
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
#[serde(tag = "state", rename_all = "snake_case")]
pub enum Heard {
    /// Ready: words appear once the candidate pauses.
    Listening,
    /// Speech began.
    Speaking,
    /// Speech ended; its words are being written out.
    Transcribing,
    /// The words of the last thing said (empty when speech was heard but no words recognised).
    Words { text: String },
    /// The offline model is not set up, so no words can be shown (pre-flight offers to set it
    /// up).
    ModelMissing,
    /// Words cannot be written out on this computer for another reason, in words.
    Unavailable { reason: String },
}

impl Heard {
    fn unavailable(reason: impl ToString) -> Self {
        Self::Unavailable {
            reason: reason.to_string(),
        }
    }
}

impl From<&SttError> for Heard {
    fn from(error: &SttError) -> Self {
        match error {
            SttError::ModelMissing(_) => Self::ModelMissing,
            other => Self::unavailable(other),
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
            report((&error).into());
            while frames.recv().await.is_some() {}
            return;
        }
        (_, Err(error)) => {
            report(Heard::unavailable(error));
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
                    report(Heard::unavailable("the transcriber stopped"));
                    break;
                };
                match result {
                    Ok(text) => report(Heard::Words { text }),
                    Err(error) => report((&error).into()),
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

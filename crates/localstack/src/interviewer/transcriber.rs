//! The call's transcriber glue: whisper.cpp blocks for hundreds of milliseconds, so each call
//! runs its [`Transcriber`] on its own thread, fed jobs (partials, finals, early finals) by the
//! conversation task and answering with results on the task's inputs.

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Instant;

use tokio::sync::mpsc;
use viva_speech::stt::{SttError, Transcriber};

use super::input::{Input, TranscriptResult};

/// What the transcriber thread is asked to do.
pub(super) enum Job {
    Transcribe {
        item_id: String,
        audio: Vec<f32>,
        partial: bool,
        speech_ended: Option<Instant>,
        /// Set when the result is no longer wanted: a job not started yet is skipped. (Stopping
        /// whisper.cpp mid-run through its abort callback broke the runs after it.)
        abort: Arc<AtomicBool>,
        /// For a final started early, at a pause: the end of speech it assumed.
        early_end_ms: Option<u64>,
    },
}

/// The call's transcriber on its own thread (whisper.cpp blocks for hundreds of milliseconds).
pub(super) fn transcriber_thread(
    mut transcriber: Transcriber,
    jobs: std::sync::mpsc::Receiver<Job>,
    inputs: mpsc::Sender<Input>,
) {
    while let Ok(Job::Transcribe {
        item_id,
        audio,
        partial,
        speech_ended,
        abort,
        early_end_ms,
    }) = jobs.recv()
    {
        let result = if abort.load(Ordering::Relaxed) {
            Err(SttError::Failed("stopped: no longer needed".into()))
        } else {
            transcriber.transcribe(&audio, partial)
        };
        let audio_ms = (audio.len() / 16) as u64;
        let report = TranscriptResult {
            item_id,
            partial,
            early_end_ms,
            audio_ms,
            result,
            speech_ended,
        };
        if inputs.blocking_send(Input::Transcript(report)).is_err() {
            return;
        }
    }
}

/// A final transcription started at a pause, before the silence rule ends the turn: when the
/// turn ends at that same point its result is the final one, so transcription overlaps the
/// wait; when the candidate speaks on, it is abandoned.
pub(super) struct Early {
    pub item_id: String,
    pub end_ms: u64,
    /// The audio it transcribes, kept in case it has to be done again after the turn.
    pub audio: Vec<f32>,
    pub abort: Arc<AtomicBool>,
    pub result: Option<TranscriptResult>,
    /// The turn has ended at `end_ms` and waits for this result.
    pub committed: Option<Instant>,
}

//! The listening side of the conversation: the candidate's frames through the shared
//! turn-taking ([`viva_speech::turn`]) — silence while they are muted —, turns opened and
//! ended, partial transcripts during a turn, a final started early at a pause, and the final
//! transcript; each placed on the call's timeline for the writer (`dialect/`).

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Instant;

use viva_speech::stt::SttError;
use viva_speech::turn::TurnEvent;
use viva_speech::vad::FRAME_MS;

use super::Conversation;
use crate::interviewer::dialect::Happening;
use crate::interviewer::events::new_id;
use crate::interviewer::input::TranscriptResult;
use crate::interviewer::transcriber::{Early, Job};

/// Quiet after speech that starts the final transcription early, and the audio kept after
/// the last loud frame.
const EARLY_AFTER_MS: u64 = 120;
/// How often a partial transcript is attempted during a turn.
const PARTIAL_EVERY_MS: u64 = 1_000;

impl Conversation {
    /// One 20 ms frame of the candidate's audio at 16 kHz.
    pub(super) async fn audio(&mut self, mut frame: Vec<f32>) {
        if self.muted {
            // Not heard, but the listener's clock goes on.
            frame.fill(0.0);
        }
        if self.turn_item.is_some() {
            self.heard_ms_since_response += FRAME_MS;
        }
        match self.listener.push(&frame) {
            Some(TurnEvent::Started {
                audio_start_ms,
                audio_from_ms,
            }) => self.turn_started(audio_start_ms, audio_from_ms).await,
            Some(TurnEvent::Ended { audio_end_ms }) => self.turn_ended(audio_end_ms).await,
            Some(TurnEvent::Buffering { audio_from_ms }) => {
                // Without turn detection everything heard goes into the turn until a commit.
                self.turn_item = Some(new_id("item"));
                self.last_partial_ms = audio_from_ms;
            }
            None => {}
        }
        if self.listener.detecting() {
            self.maybe_start_early();
        }
        if self.turn_item.is_none() {
            // Keep only what prefix padding may need.
            self.listener.trim();
        } else {
            self.maybe_partial();
        }
    }

    async fn turn_started(&mut self, audio_start_ms: u64, audio_from_ms: u64) {
        let item_id = new_id("item");
        self.turn_item = Some(item_id.clone());
        self.last_partial_ms = audio_start_ms;
        self.heard_ms_since_response += audio_start_ms.saturating_sub(audio_from_ms);
        let at_ms = self.on_timeline(audio_start_ms);
        self.report(Happening::TurnStarted {
            item_id: &item_id,
            audio_start_ms,
            at_ms,
        })
        .await;
        // Barge-in: the candidate talks over the question.
        if self.active.is_some() {
            self.cancel("turn_detected").await;
        }
    }

    /// Starts the final transcription at a pause of [`EARLY_AFTER_MS`], and abandons it when
    /// the candidate speaks on.
    fn maybe_start_early(&mut self) {
        let Some(item_id) = self.turn_item.clone() else {
            return;
        };
        let pause = self.listener.pause();
        if let Some(early) = &self.early
            && early.committed.is_none()
            && pause.is_none_or(|(end, _)| end != early.end_ms)
        {
            early.abort.store(true, Ordering::Relaxed);
            self.early = None;
        }
        let Some((end_ms, quiet_ms)) = pause else {
            return;
        };
        if quiet_ms < EARLY_AFTER_MS || self.early.is_some() {
            return;
        }
        let Some(jobs) = &self.jobs else { return };
        let abort = Arc::new(AtomicBool::new(false));
        let audio = self
            .listener
            .samples_between(self.listener.turn_from_ms(), end_ms + EARLY_AFTER_MS);
        let job = Job::Transcribe {
            item_id: item_id.clone(),
            audio: audio.clone(),
            partial: false,
            speech_ended: None,
            abort: abort.clone(),
            early_end_ms: Some(end_ms),
        };
        self.partial_abort.store(true, Ordering::Relaxed);
        if jobs.send(job).is_ok() {
            self.early = Some(Early {
                item_id,
                end_ms,
                audio,
                abort,
                result: None,
                committed: None,
            });
        }
    }

    /// Where a point of the listener's audio falls on the call's timeline: the audio arrives
    /// in real time, so it is as far before now as it is before the latest frame.
    fn on_timeline(&self, audio_ms: u64) -> u64 {
        let behind = self.listener.position_ms().saturating_sub(audio_ms);
        self.timeline_ms().saturating_sub(behind)
    }

    fn maybe_partial(&mut self) {
        if !self.flow.partials {
            return;
        }
        let now_ms = self.listener.position_ms();
        if self.partial_busy || now_ms < self.last_partial_ms + PARTIAL_EVERY_MS {
            return;
        }
        let (Some(jobs), Some(item_id)) = (&self.jobs, &self.turn_item) else {
            return;
        };
        // At a pause the early final is about to start: a partial now would only delay it.
        if self.early.is_some() || self.listener.pause().is_some() {
            return;
        }
        let audio = self
            .listener
            .samples_between(self.listener.turn_from_ms(), now_ms);
        self.partial_abort = Arc::new(AtomicBool::new(false));
        let job = Job::Transcribe {
            item_id: item_id.clone(),
            audio,
            partial: true,
            speech_ended: None,
            abort: self.partial_abort.clone(),
            early_end_ms: None,
        };
        if jobs.send(job).is_ok() {
            self.partial_busy = true;
            self.last_partial_ms = now_ms;
        }
    }

    /// The candidate finished speaking (or the client committed): the turn becomes an item,
    /// and the interviewer answers it.
    pub(super) async fn turn_ended(&mut self, audio_end_ms: u64) {
        let Some(item_id) = self.turn_item.take() else {
            return;
        };
        let ended = Instant::now();
        let previous = self.last_item.replace(item_id.clone());
        let at_ms = self.on_timeline(audio_end_ms);
        self.report(Happening::TurnEnded {
            item_id: &item_id,
            previous_item_id: previous,
            audio_end_ms,
            at_ms,
        })
        .await;
        if self.flow.answers_after_transcript {
            self.awaiting = Some(item_id.clone());
        }
        // The final started at this pause is the final one.
        let early = self.early.take().and_then(|e| {
            let matches = e.item_id == item_id && e.end_ms == audio_end_ms;
            if !matches {
                e.abort.store(true, Ordering::Relaxed);
            }
            matches.then_some(e)
        });
        if let Some(mut early) = early {
            early.committed = Some(ended);
            match early.result.take() {
                Some(result) => self.complete(result, ended).await,
                None => self.early = Some(early),
            }
        } else if let Some(jobs) = &self.jobs {
            self.partial_abort.store(true, Ordering::Relaxed);
            let job = Job::Transcribe {
                item_id,
                audio: self
                    .listener
                    .samples_between(self.listener.turn_from_ms(), audio_end_ms + EARLY_AFTER_MS),
                partial: false,
                speech_ended: Some(ended),
                abort: Arc::new(AtomicBool::new(false)),
                early_end_ms: None,
            };
            let _ = jobs.send(job);
        } else {
            let error = self.stt_error.clone().unwrap_or_else(|| {
                SttError::Failed("no transcriber is running for this call".into())
            });
            self.failed(item_id, &error).await;
        }
        // The interviewer answers a finished turn with its next line (or, in a dialect that
        // answers after the transcript, once that is out: `heard`).
        if !self.flow.answers_after_transcript && self.active.is_none() && !self.script.is_over() {
            self.respond().await;
        }
    }

    /// The candidate typed their answer (a Live call's, from the SDP proxy): a complete turn,
    /// written to the client as the candidate's words now, then answered as a spoken turn
    /// is — at once, or when the line being said is over (a typed answer does not cut the
    /// interviewer off).
    pub(super) async fn typed(&mut self, text: &str) {
        self.report(Happening::Typed { text }).await;
        if self.script.is_over() {
            return;
        }
        if self.active.is_some() {
            self.answer_after_line = true;
        } else {
            self.respond().await;
        }
    }

    /// A turn's transcript is out (or failed): the interviewer answers it if it waits for it.
    async fn heard(&mut self, item_id: &str) {
        if self.awaiting.as_deref() != Some(item_id) {
            return;
        }
        self.awaiting = None;
        if self.active.is_none() && !self.script.is_over() {
            self.respond().await;
        }
    }

    /// A transcriber job's result: a partial's new words, or a turn's final transcript.
    pub(super) async fn transcribed(&mut self, result: TranscriptResult) {
        if result.partial {
            self.partial_busy = false;
            let Ok(text) = result.result else { return };
            // Deltas only append: send the new words when the partial extends what was sent.
            let sent = self.partial_sent.entry(result.item_id.clone()).or_default();
            if text.len() > sent.len() && text.starts_with(sent.as_str()) {
                let delta = text[sent.len()..].to_owned();
                *sent = text;
                self.report(Happening::Partial {
                    item_id: result.item_id,
                    delta,
                })
                .await;
            }
            return;
        }
        let Some(end_ms) = result.early_end_ms else {
            let ended = result.speech_ended.unwrap_or_else(Instant::now);
            return self.complete(result, ended).await;
        };
        // An early final: keep it for the turn's end, use it now if the turn already ended
        // there, drop it if the candidate spoke on.
        let Some(early) = self
            .early
            .as_mut()
            .filter(|e| e.item_id == result.item_id && e.end_ms == end_ms)
        else {
            return;
        };
        match early.committed {
            Some(ended) if result.result.is_ok() => {
                self.early = None;
                self.complete(result, ended).await;
            }
            Some(ended) => {
                // It failed or was skipped: transcribe the turn again, as a plain final.
                let audio = std::mem::take(&mut early.audio);
                self.early = None;
                if let Some(jobs) = &self.jobs {
                    let job = Job::Transcribe {
                        item_id: result.item_id,
                        audio,
                        partial: false,
                        speech_ended: Some(ended),
                        abort: Arc::new(AtomicBool::new(false)),
                        early_end_ms: None,
                    };
                    let _ = jobs.send(job);
                }
            }
            None => early.result = Some(result),
        }
    }

    /// Reports a turn's final transcription.
    async fn complete(&mut self, result: TranscriptResult, speech_ended: Instant) {
        self.partial_sent.remove(&result.item_id);
        tracing::debug!(
            event = "interviewer_transcribed",
            latency_ms = speech_ended.elapsed().as_millis() as u64,
            audio_ms = result.audio_ms
        );
        match result.result {
            Ok(transcript) => {
                let item_id = result.item_id.clone();
                self.report(Happening::Transcribed {
                    item_id: result.item_id,
                    transcript,
                    audio_ms: result.audio_ms,
                })
                .await;
                self.heard(&item_id).await;
            }
            Err(error) => self.failed(result.item_id, &error).await,
        }
    }

    async fn failed(&mut self, item_id: String, error: &SttError) {
        self.report(Happening::TranscriptionFailed {
            item_id: item_id.clone(),
            error,
        })
        .await;
        self.heard(&item_id).await;
    }
}

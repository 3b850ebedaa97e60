//! The interviewer's side of the conversation: saying the script's next line, noticing it was
//! played, cutting it off, and closing it. What the client is told of each step is the call's
//! writer's (`dialect/`).

use serde_json::json;
use viva_realtime::event::ResponseStatus;

use super::Conversation;
use crate::interviewer::dialect::{Active, Happening};
use crate::interviewer::events::new_id;
use crate::interviewer::media::SpeakerCommand;

impl Conversation {
    /// Says the script's next line (as text, or voice with its transcript).
    pub(super) async fn respond(&mut self) {
        if self.active.is_some() {
            return self
                .error(
                    "conversation_already_has_active_response",
                    "a response is already in progress",
                    None,
                )
                .await;
        }
        // This line answers whatever the candidate typed meanwhile.
        self.answer_after_line = false;
        let Some(line) = self.script.next_line() else {
            return self
                .error(
                    "interview_over",
                    "the interview is over; there are no more questions",
                    None,
                )
                .await;
        };
        let id = new_id("resp");
        let item_id = new_id("item");
        let speech = if self.text_only {
            None
        } else {
            match self.interviewer.speak(&line.text).await {
                Ok(speech) => Some(speech),
                Err(error) => {
                    tracing::warn!(event = "interviewer_voice_failed", %error);
                    None
                }
            }
        };
        let audio_ms = speech.as_ref().map_or(0, |s| s.duration_ms());
        let voiced_ms = speech.as_ref().map_or((0, 0), |s| s.voiced_ms);
        let previous = self.last_item.replace(item_id.clone());
        let active = Active {
            id: id.clone(),
            item_id,
            previous_item_id: previous,
            text: line.text.clone(),
            closing: line.closing,
            audio_ms,
            voiced_ms,
            input_audio_ms: std::mem::take(&mut self.heard_ms_since_response),
            start_ms: self.timeline_ms(),
        };
        self.report(Happening::LineStarted {
            line: &active,
            voiced: speech.is_some(),
            text_only: self.text_only,
        })
        .await;
        self.active = Some(active);
        match speech {
            Some(speech) => {
                let _ = self
                    .speaker
                    .send(SpeakerCommand::Play {
                        response_id: id,
                        speech,
                    })
                    .await;
            }
            None => self.finish(ResponseStatus::Completed, None).await,
        }
    }

    /// The speaker played a line to its end.
    pub(super) async fn played(&mut self, response_id: &str) {
        if let Some(active) = self.active.take_if(|a| a.id == response_id) {
            self.report(Happening::LinePlayed { line: &active }).await;
            self.active = Some(active);
            self.finish(ResponseStatus::Completed, None).await;
        }
    }

    /// Stops the line being said (barge-in or the client's cancel).
    pub(super) async fn cancel(&mut self, reason: &str) {
        let Some(active) = self.active.take() else {
            return;
        };
        let _ = self.speaker.send(SpeakerCommand::Stop).await;
        self.report(Happening::LineCut {
            line: &active,
            text_only: self.text_only,
        })
        .await;
        self.active = Some(active);
        // An interrupted question is asked again after the candidate's turn.
        self.script.repeat_last();
        self.finish(
            ResponseStatus::Cancelled,
            Some(json!({"type": "cancelled", "reason": reason})),
        )
        .await;
    }

    async fn finish(&mut self, status: ResponseStatus, details: Option<serde_json::Value>) {
        let Some(active) = self.active.take() else {
            return;
        };
        let completed = status == ResponseStatus::Completed;
        self.report(Happening::LineFinished {
            line: &active,
            status,
            details,
            text_only: self.text_only,
        })
        .await;
        if active.closing && completed {
            tracing::info!(event = "interviewer_closed_interview", call_id = %self.call_id);
        }
    }
}

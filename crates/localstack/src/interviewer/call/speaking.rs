//! The interviewer's side of the conversation: saying the script's next line (its words ahead
//! of its voice), noticing it was played, cutting it off, and closing the response with usage.

use serde_json::{Value, json};
use viva_realtime::event::{
    ItemEvent, OutputAudioBuffer, OutputDelta, OutputItem, Response, ResponseEnvelope,
    ResponseStatus, ServerEvent,
};

use super::Conversation;
use crate::interviewer::events::{
    assistant_item_done, assistant_item_started, new_id, output_done, usage, words,
};
use crate::interviewer::media::SpeakerCommand;

/// A response in progress.
pub(super) struct Active {
    pub(super) id: String,
    pub(super) item_id: String,
    /// The item before this one: `conversation.item.done` names it again, as `.added` did.
    pub(super) previous_item_id: Option<String>,
    pub(super) text: String,
    pub(super) closing: bool,
    pub(super) audio_ms: u64,
    /// Candidate audio heard since the previous response (input tokens).
    pub(super) input_audio_ms: u64,
}

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
        let item = assistant_item_started(item_id.clone(), self.text_only);
        self.emit(ServerEvent::ResponseCreated(ResponseEnvelope {
            response: Response {
                id: id.clone(),
                status: ResponseStatus::InProgress,
                ..Response::default()
            },
        }))
        .await;
        let previous = self.last_item.replace(item_id.clone());
        self.emit(ServerEvent::OutputItemAdded(OutputItem {
            response_id: id.clone(),
            output_index: 0,
            item: item.clone(),
        }))
        .await;
        self.emit(ServerEvent::ItemAdded(ItemEvent {
            previous_item_id: previous.clone(),
            item,
        }))
        .await;
        let active = Active {
            id: id.clone(),
            item_id: item_id.clone(),
            previous_item_id: previous,
            text: line.text.clone(),
            closing: line.closing,
            audio_ms,
            input_audio_ms: std::mem::take(&mut self.heard_ms_since_response),
        };
        // The words go out ahead of the voice, as the hosted service streams them.
        for word in words(&line.text) {
            let delta = OutputDelta {
                response_id: id.clone(),
                item_id: item_id.clone(),
                output_index: 0,
                content_index: 0,
                delta: word,
            };
            self.emit(if self.text_only {
                ServerEvent::OutputTextDelta(delta)
            } else {
                ServerEvent::OutputTranscriptDelta(delta)
            })
            .await;
        }
        self.active = Some(active);
        match speech {
            Some(speech) => {
                self.emit(ServerEvent::OutputAudioStarted(OutputAudioBuffer {
                    response_id: id.clone(),
                }))
                .await;
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
        if self.active.as_ref().is_some_and(|a| a.id == response_id) {
            self.emit(ServerEvent::OutputAudioStopped(OutputAudioBuffer {
                response_id: response_id.to_owned(),
            }))
            .await;
            self.finish(ResponseStatus::Completed, None).await;
        }
    }

    /// Stops the line being said (barge-in or the client's cancel).
    pub(super) async fn cancel(&mut self, reason: &str) {
        let Some(active) = &self.active else { return };
        let id = active.id.clone();
        let _ = self.speaker.send(SpeakerCommand::Stop).await;
        if !self.text_only {
            self.emit(ServerEvent::OutputAudioCleared(OutputAudioBuffer {
                response_id: id,
            }))
            .await;
        }
        // An interrupted question is asked again after the candidate's turn.
        self.script.repeat_last();
        self.finish(
            ResponseStatus::Cancelled,
            Some(json!({"type": "cancelled", "reason": reason})),
        )
        .await;
    }

    async fn finish(&mut self, status: ResponseStatus, details: Option<Value>) {
        let Some(active) = self.active.take() else {
            return;
        };
        let completed = status == ResponseStatus::Completed;
        self.emit(output_done(
            active.id.clone(),
            active.item_id.clone(),
            &active.text,
            self.text_only,
        ))
        .await;
        let item = assistant_item_done(
            active.item_id.clone(),
            &active.text,
            self.text_only,
            completed,
        );
        self.emit(ServerEvent::OutputItemDone(OutputItem {
            response_id: active.id.clone(),
            output_index: 0,
            item: item.clone(),
        }))
        .await;
        self.emit(ServerEvent::ItemDone(ItemEvent {
            previous_item_id: active.previous_item_id.clone(),
            item: item.clone(),
        }))
        .await;
        let usage = usage(
            &active.text,
            active.audio_ms,
            active.input_audio_ms,
            completed,
        );
        let response = Response {
            id: active.id,
            status,
            status_details: details,
            usage: Some(usage),
            output: vec![item],
        };
        self.emit(ServerEvent::ResponseDone(ResponseEnvelope { response }))
            .await;
        if active.closing && completed {
            tracing::info!(event = "interviewer_closed_interview", call_id = %self.call_id);
        }
    }
}

//! Following a Realtime client's events on `oai-events` (typed by
//! [`crate::interviewer::client_event`]):
//! session updates (turn detection, output modalities),
//! items given by the client, responses asked for or cancelled, and the input and output audio
//! buffers committed or cleared.

use serde_json::{Value, json};
use viva_realtime::event::{Item, ItemEvent, ServerEvent, SessionEnvelope};
use viva_speech::vad::ServerVad;

use super::Conversation;
use crate::interviewer::client_event::{
    ClientEnvelope, ClientEvent, SessionUpdate, TurnDetection, parse_client_event,
};
use crate::interviewer::events::new_id;

impl Conversation {
    /// One message from a Realtime client on `oai-events`.
    pub(super) async fn realtime_event(&mut self, text: &str) {
        let ClientEnvelope { event_id, event } = match parse_client_event(text) {
            Ok(envelope) => envelope,
            Err(error) => {
                tracing::debug!(event = "interviewer_client_event_refused", code = error.code(), %error);
                return self
                    .error(error.code(), &error.to_string(), error.event_id())
                    .await;
            }
        };
        match event {
            ClientEvent::SessionUpdate(update) => self.session_update(update).await,
            ClientEvent::ResponseCreate => self.respond().await,
            ClientEvent::ResponseCancel => {
                if self.active.is_some() {
                    self.cancel("client_cancelled").await;
                } else {
                    self.error(
                        "response_cancel_not_active",
                        "there is no response to cancel",
                        event_id,
                    )
                    .await;
                }
            }
            ClientEvent::InputAudioCommit => match self.listener.commit() {
                Some(audio_end_ms) => self.turn_ended(audio_end_ms).await,
                None => {
                    self.error(
                        "input_audio_buffer_commit_empty",
                        "there is no speech to commit",
                        event_id,
                    )
                    .await;
                }
            },
            ClientEvent::InputAudioClear => {
                self.listener.clear();
                self.turn_item = None;
                self.emit(ServerEvent::InputCleared(Default::default()))
                    .await;
            }
            ClientEvent::OutputAudioClear => {
                if self.active.is_some() {
                    self.cancel("client_cancelled").await;
                }
            }
            ClientEvent::ItemCreate(item) => self.item_create(item).await,
            ClientEvent::Unknown { kind } => {
                tracing::debug!(event = "interviewer_ignores_client_event", %kind);
                let message =
                    format!("the event type `{kind}` is not supported by the local interviewer");
                self.error("unknown_event", &message, event_id).await;
            }
        }
    }

    async fn session_update(&mut self, update: SessionUpdate) {
        match update.turn_detection {
            None => {}
            Some(TurnDetection::Off) => self.listener.set_detection(None),
            Some(TurnDetection::ServerVad(settings)) => self.listener.set_detection(Some(settings)),
            // semantic_vad: approximated by server_vad with its defaults.
            Some(TurnDetection::Other) => self.listener.set_detection(Some(ServerVad::default())),
        }
        if let Some(text_only) = update.text_only {
            self.text_only = text_only;
        }
        merge(&mut self.session, &Value::Object(update.session));
        if let Some(fields) = self.session.as_object_mut() {
            fields.insert("model".into(), json!(crate::functions::LOCAL_MODEL));
        }
        let updated = ServerEvent::SessionUpdated(SessionEnvelope {
            session: self.session.clone(),
        });
        self.emit(updated).await;
    }

    async fn item_create(&mut self, item: Item) {
        let mut item = item;
        if item.id.is_empty() {
            item.id = new_id("item");
        }
        // A new connection for a session that already ran is given what was said before:
        // each question the interviewer finished asking is not asked again.
        if item.role.as_deref() == Some("assistant") && item.status.as_deref() == Some("completed")
        {
            self.script.already_said();
        }
        let previous = self.last_item.replace(item.id.clone());
        self.emit(ServerEvent::ItemAdded(ItemEvent {
            previous_item_id: previous.clone(),
            item: item.clone(),
        }))
        .await;
        self.emit(ServerEvent::ItemDone(ItemEvent {
            previous_item_id: previous,
            item,
        }))
        .await;
    }
}

/// Deep-merges `update` into `base` (objects merge, everything else replaces).
fn merge(base: &mut Value, update: &Value) {
    match (base, update) {
        (Value::Object(base), Value::Object(update)) => {
            for (key, value) in update {
                merge(base.entry(key.clone()).or_insert(Value::Null), value);
            }
        }
        (base, update) => *base = update.clone(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn session_updates_merge_deeply() {
        let mut base = json!({"audio": {"input": {"a": 1, "b": 2}}, "x": 1});
        merge(&mut base, &json!({"audio": {"input": {"b": 3}}, "y": [1]}));
        assert_eq!(
            base,
            json!({"audio": {"input": {"a": 1, "b": 3}}, "x": 1, "y": [1]})
        );
    }
}

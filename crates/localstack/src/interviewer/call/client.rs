//! The client's events on `oai-events`: session updates (turn detection, output modalities),
//! items given by the client, responses asked for or cancelled, and the input and output audio
//! buffers committed or cleared.

use serde_json::{Value, json};
use viva_realtime::event::{Item, ItemEvent, ServerEvent, SessionEnvelope};
use viva_speech::vad::ServerVad;

use super::Conversation;
use crate::interviewer::events::new_id;

impl Conversation {
    /// One message from the client on `oai-events`.
    pub(super) async fn client_event(&mut self, text: &str) {
        let Ok(value) = serde_json::from_str::<Value>(text) else {
            return self
                .error("invalid_json", "the event is not JSON", None)
                .await;
        };
        let event_id = value
            .get("event_id")
            .and_then(Value::as_str)
            .map(str::to_owned);
        match value
            .get("type")
            .and_then(Value::as_str)
            .unwrap_or_default()
        {
            "session.update" => self.session_update(value.get("session")).await,
            "response.create" => self.respond().await,
            "response.cancel" => {
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
            "input_audio_buffer.commit" => match self.listener.commit() {
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
            "input_audio_buffer.clear" => {
                self.listener.clear();
                self.turn_item = None;
                self.emit(ServerEvent::InputCleared(Default::default()))
                    .await;
            }
            "output_audio_buffer.clear" => {
                if self.active.is_some() {
                    self.cancel("client_cancelled").await;
                }
            }
            "conversation.item.create" => self.item_create(&value).await,
            other => {
                let message =
                    format!("the event type `{other}` is not supported by the local interviewer");
                self.error("unknown_event", &message, event_id).await;
            }
        }
    }

    async fn session_update(&mut self, session: Option<&Value>) {
        let Some(update @ Value::Object(fields)) = session else {
            return self
                .error(
                    "invalid_session",
                    "session.update needs a `session` object",
                    None,
                )
                .await;
        };
        if let Some(detection) = update.pointer("/audio/input/turn_detection") {
            match detection {
                Value::Null => self.listener.set_detection(None),
                value if value.get("type").and_then(Value::as_str) == Some("server_vad") => {
                    match serde_json::from_value::<ServerVad>(value.clone()) {
                        Ok(settings) if (0.0..=1.0).contains(&settings.threshold) => {
                            self.listener.set_detection(Some(settings));
                        }
                        _ => {
                            return self
                                .error(
                                    "invalid_turn_detection",
                                    "server_vad needs threshold 0–1 and whole milliseconds",
                                    None,
                                )
                                .await;
                        }
                    }
                }
                // semantic_vad: approximated by server_vad with its defaults.
                _ => {
                    self.listener.set_detection(Some(ServerVad::default()));
                }
            }
        }
        if let Some(modalities) = fields.get("output_modalities").and_then(Value::as_array) {
            self.text_only = !modalities.iter().any(|m| m == "audio");
        }
        merge(&mut self.session, update);
        if let Some(fields) = self.session.as_object_mut() {
            fields.insert("model".into(), json!(crate::functions::LOCAL_MODEL));
        }
        let updated = ServerEvent::SessionUpdated(SessionEnvelope {
            session: self.session.clone(),
        });
        self.emit(updated).await;
    }

    async fn item_create(&mut self, value: &Value) {
        let Some(item) = value
            .get("item")
            .and_then(|i| serde_json::from_value::<Item>(i.clone()).ok())
        else {
            return self
                .error(
                    "invalid_item",
                    "conversation.item.create needs an `item`",
                    None,
                )
                .await;
        };
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

//! The events Viva sends to the voice AI, with constructors for the ones it builds itself.

use serde::{Deserialize, Serialize};
use serde_json::Value;

use crate::event::{ContentPart, Item};

/// An event from Viva to the voice AI. `event_id` is optional on every client event.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "type")]
pub enum ClientEvent {
    #[serde(rename = "session.update")]
    SessionUpdate {
        #[serde(default, skip_serializing_if = "Option::is_none")]
        event_id: Option<String>,
        session: Value,
    },
    #[serde(rename = "response.create")]
    ResponseCreate {
        #[serde(default, skip_serializing_if = "Option::is_none")]
        event_id: Option<String>,
        #[serde(default, skip_serializing_if = "Option::is_none")]
        response: Option<Value>,
    },
    #[serde(rename = "response.cancel")]
    ResponseCancel {
        #[serde(default, skip_serializing_if = "Option::is_none")]
        event_id: Option<String>,
        #[serde(default, skip_serializing_if = "Option::is_none")]
        response_id: Option<String>,
    },
    #[serde(rename = "conversation.item.create")]
    ItemCreate {
        #[serde(default, skip_serializing_if = "Option::is_none")]
        event_id: Option<String>,
        #[serde(default, skip_serializing_if = "Option::is_none")]
        previous_item_id: Option<String>,
        item: Item,
    },
    #[serde(rename = "input_audio_buffer.commit")]
    InputAudioCommit {
        #[serde(default, skip_serializing_if = "Option::is_none")]
        event_id: Option<String>,
    },
    #[serde(rename = "input_audio_buffer.clear")]
    InputAudioClear {
        #[serde(default, skip_serializing_if = "Option::is_none")]
        event_id: Option<String>,
    },
    #[serde(rename = "output_audio_buffer.clear")]
    OutputAudioClear {
        #[serde(default, skip_serializing_if = "Option::is_none")]
        event_id: Option<String>,
    },
    /// GPT-Live: stop listening to the microphone (the track keeps sending silence).
    #[serde(rename = "session.input_audio.mute")]
    LiveMute {
        #[serde(default, skip_serializing_if = "Option::is_none")]
        event_id: Option<String>,
    },
    /// GPT-Live: listen to the microphone again.
    #[serde(rename = "session.input_audio.unmute")]
    LiveUnmute {
        #[serde(default, skip_serializing_if = "Option::is_none")]
        event_id: Option<String>,
    },
    /// GPT-Live: end the session; `session.closed` confirms it.
    #[serde(rename = "session.close")]
    LiveClose {
        #[serde(default, skip_serializing_if = "Option::is_none")]
        event_id: Option<String>,
    },
}

impl ClientEvent {
    /// One of the commands a candidate's client may send on a GPT-Live session.
    pub fn live(command: crate::live::LiveCommand) -> Self {
        use crate::live::LiveCommand;
        match command {
            LiveCommand::Mute => Self::LiveMute { event_id: None },
            LiveCommand::Unmute => Self::LiveUnmute { event_id: None },
            LiveCommand::Close => Self::LiveClose { event_id: None },
        }
    }

    /// `session.update` from the session config `interview-start` returned. The GA API needs
    /// `"type": "realtime"` in it; it is added when the config leaves it out.
    pub fn session_update(config: &Value) -> Self {
        let mut session = config.clone();
        if let Value::Object(fields) = &mut session {
            fields
                .entry("type")
                .or_insert_with(|| Value::String("realtime".into()));
        }
        Self::SessionUpdate {
            event_id: None,
            session,
        }
    }

    /// Asks the AI to respond now (e.g. to open the interview with its first question).
    pub fn response_create() -> Self {
        Self::ResponseCreate {
            event_id: None,
            response: None,
        }
    }

    /// Stops the response in progress (barge-in, or the user ended the question).
    pub fn response_cancel(response_id: Option<&str>) -> Self {
        Self::ResponseCancel {
            event_id: None,
            response_id: response_id.map(str::to_owned),
        }
    }

    /// A typed answer in text mode: a user message with one `input_text` part.
    pub fn user_text(text: &str) -> Self {
        Self::ItemCreate {
            event_id: None,
            previous_item_id: None,
            item: Item {
                id: String::new(),
                kind: "message".into(),
                role: Some("user".into()),
                status: None,
                content: vec![ContentPart {
                    kind: "input_text".into(),
                    text: Some(text.into()),
                    transcript: None,
                }],
            },
        }
    }

    /// A line said earlier in this interview, given to a new session (after a reconnect or a
    /// planned re-session) as text so the voice AI keeps the conversation's context. It keeps
    /// its item id, so the echo of it is recognisable; an interrupted line goes in as
    /// `incomplete`.
    pub fn history_line(line: &crate::Line, previous_item_id: Option<&str>) -> Self {
        let (role, kind) = match line.speaker {
            crate::Speaker::Interviewer => ("assistant", "output_text"),
            crate::Speaker::Candidate => ("user", "input_text"),
        };
        Self::ItemCreate {
            event_id: None,
            previous_item_id: previous_item_id.map(str::to_owned),
            item: Item {
                id: line.item_id.clone(),
                kind: "message".into(),
                role: Some(role.into()),
                status: Some(
                    if line.interrupted {
                        "incomplete"
                    } else {
                        "completed"
                    }
                    .into(),
                ),
                content: vec![ContentPart {
                    kind: kind.into(),
                    text: Some(line.text.clone()),
                    transcript: None,
                }],
            },
        }
    }

    /// The JSON text sent on the data channel.
    pub fn to_json(&self) -> String {
        // Serialising these types cannot fail: every field is a string, number or JSON value.
        serde_json::to_string(self).unwrap_or_default()
    }
}

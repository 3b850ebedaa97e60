//! The client events the local interviewer follows, typed: one `oai-events` message becomes a
//! [`ClientEnvelope`] or a [`ClientEventError`]. As strict as viva-realtime's server-event
//! parser: the size limit first, then JSON, then the event's type, then its typed fields. An
//! unknown type is a value ([`ClientEvent::Unknown`]), never an error of the parser; nothing
//! here panics. Pure: no I/O.

use serde_json::{Map, Value};
use viva_realtime::event::Item;
use viva_speech::vad::ServerVad;

/// The largest client event accepted: far above any real event, far below memory trouble.
pub const MAX_CLIENT_EVENT_BYTES: usize = 256 * 1024;

/// A client event and its `event_id` (echoed in the errors it causes).
#[derive(Debug, Clone, PartialEq)]
pub struct ClientEnvelope {
    pub event_id: Option<String>,
    pub event: ClientEvent,
}

/// What the client asked for.
#[derive(Debug, Clone, PartialEq)]
pub enum ClientEvent {
    /// `session.update`.
    SessionUpdate(SessionUpdate),
    /// `response.create`: say the next line now.
    ResponseCreate,
    /// `response.cancel`: stop the line being said.
    ResponseCancel,
    /// `conversation.item.create`, with its item.
    ItemCreate(Item),
    /// `input_audio_buffer.commit`: the candidate's turn ends now.
    InputAudioCommit,
    /// `input_audio_buffer.clear`: drop the candidate's open turn.
    InputAudioClear,
    /// `output_audio_buffer.clear`: stop the interviewer's voice.
    OutputAudioClear,
    /// A well-formed event of a type the local interviewer does not follow.
    Unknown { kind: String },
}

/// A `session.update`: the session object to merge, and what in it the interviewer acts on.
#[derive(Debug, Clone, PartialEq)]
pub struct SessionUpdate {
    /// The `session` object as sent.
    pub session: Map<String, Value>,
    /// `audio.input.turn_detection`, when the update sets it.
    pub turn_detection: Option<TurnDetection>,
    /// From `output_modalities`, when the update sets them: true without `"audio"`.
    pub text_only: Option<bool>,
}

/// `audio.input.turn_detection`.
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum TurnDetection {
    /// `null`: turns are committed by the client.
    Off,
    /// `server_vad` with its settings.
    ServerVad(ServerVad),
    /// Anything else (`semantic_vad`): approximated by `server_vad` with its defaults.
    Other,
}

/// Why a message is not an event the interviewer can follow. Each has the `code` and message
/// of the `error` event that answers it.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum ClientEventError {
    /// Larger than [`MAX_CLIENT_EVENT_BYTES`]; not parsed at all.
    #[error("the event of {size} bytes exceeds the {limit}-byte limit")]
    TooLarge { size: usize, limit: usize },
    /// Not JSON.
    #[error("the event is not JSON")]
    NotJson { reason: String },
    /// JSON, but not an object with a string `type`.
    #[error("the event type `` is not supported by the local interviewer")]
    NoType { event_id: Option<String> },
    /// `session.update` without a `session` object.
    #[error("session.update needs a `session` object")]
    NoSession,
    /// `server_vad` settings out of range or of the wrong type.
    #[error("server_vad needs threshold 0–1 and whole milliseconds")]
    BadTurnDetection,
    /// `conversation.item.create` without a valid `item`.
    #[error("conversation.item.create needs an `item`")]
    NoItem,
}

impl ClientEventError {
    /// The `code` of the `error` event that answers it.
    pub fn code(&self) -> &'static str {
        match self {
            Self::TooLarge { .. } => "event_too_large",
            Self::NotJson { .. } => "invalid_json",
            Self::NoType { .. } => "unknown_event",
            Self::NoSession => "invalid_session",
            Self::BadTurnDetection => "invalid_turn_detection",
            Self::NoItem => "invalid_item",
        }
    }

    /// The `event_id` the answer names, when there is one to name.
    pub fn event_id(&self) -> Option<String> {
        match self {
            Self::NoType { event_id } => event_id.clone(),
            _ => None,
        }
    }
}

/// Parses one client event.
pub fn parse_client_event(message: &str) -> Result<ClientEnvelope, ClientEventError> {
    if message.len() > MAX_CLIENT_EVENT_BYTES {
        return Err(ClientEventError::TooLarge {
            size: message.len(),
            limit: MAX_CLIENT_EVENT_BYTES,
        });
    }
    let value: Value = serde_json::from_str(message).map_err(|e| ClientEventError::NotJson {
        reason: e.to_string(),
    })?;
    let event_id = value
        .get("event_id")
        .and_then(Value::as_str)
        .map(str::to_owned);
    let Some(kind) = value.get("type").and_then(Value::as_str) else {
        return Err(ClientEventError::NoType { event_id });
    };
    let event = match kind {
        "session.update" => ClientEvent::SessionUpdate(session_update(value.get("session"))?),
        "response.create" => ClientEvent::ResponseCreate,
        "response.cancel" => ClientEvent::ResponseCancel,
        "input_audio_buffer.commit" => ClientEvent::InputAudioCommit,
        "input_audio_buffer.clear" => ClientEvent::InputAudioClear,
        "output_audio_buffer.clear" => ClientEvent::OutputAudioClear,
        "conversation.item.create" => ClientEvent::ItemCreate(
            value
                .get("item")
                .and_then(|i| serde_json::from_value::<Item>(i.clone()).ok())
                .ok_or(ClientEventError::NoItem)?,
        ),
        "" => return Err(ClientEventError::NoType { event_id }),
        other => ClientEvent::Unknown {
            kind: other.to_owned(),
        },
    };
    Ok(ClientEnvelope { event_id, event })
}

fn session_update(session: Option<&Value>) -> Result<SessionUpdate, ClientEventError> {
    let Some(update @ Value::Object(fields)) = session else {
        return Err(ClientEventError::NoSession);
    };
    let turn_detection = match update.pointer("/audio/input/turn_detection") {
        None => None,
        Some(Value::Null) => Some(TurnDetection::Off),
        Some(value) if value.get("type").and_then(Value::as_str) == Some("server_vad") => {
            match serde_json::from_value::<ServerVad>(value.clone()) {
                Ok(settings) if (0.0..=1.0).contains(&settings.threshold) => {
                    Some(TurnDetection::ServerVad(settings))
                }
                _ => return Err(ClientEventError::BadTurnDetection),
            }
        }
        Some(_) => Some(TurnDetection::Other),
    };
    let text_only = fields
        .get("output_modalities")
        .and_then(Value::as_array)
        .map(|modalities| !modalities.iter().any(|m| m == "audio"));
    Ok(SessionUpdate {
        session: fields.clone(),
        turn_detection,
        text_only,
    })
}

/// The fuzz target's checks (also replayed over its corpus by a test): any input parses to an
/// event or a typed error without a panic, the size limit holds, and an event's type is kept.
pub fn check_client_event(message: &str) {
    match parse_client_event(message) {
        Ok(envelope) => {
            assert!(message.len() <= MAX_CLIENT_EVENT_BYTES);
            if let ClientEvent::Unknown { kind } = &envelope.event {
                assert!(!kind.is_empty());
            }
        }
        Err(error) => {
            assert!(!error.code().is_empty());
            assert!(!error.to_string().is_empty());
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parse(text: &str) -> Result<ClientEnvelope, ClientEventError> {
        parse_client_event(text)
    }

    #[test]
    fn each_followed_event_parses_to_its_variant_with_its_event_id() {
        let cases = [
            (
                r#"{"type":"response.create","event_id":"e1"}"#,
                ClientEvent::ResponseCreate,
            ),
            (r#"{"type":"response.cancel"}"#, ClientEvent::ResponseCancel),
            (
                r#"{"type":"input_audio_buffer.commit"}"#,
                ClientEvent::InputAudioCommit,
            ),
            (
                r#"{"type":"input_audio_buffer.clear"}"#,
                ClientEvent::InputAudioClear,
            ),
            (
                r#"{"type":"output_audio_buffer.clear"}"#,
                ClientEvent::OutputAudioClear,
            ),
        ];
        for (text, event) in cases {
            assert_eq!(parse(text).unwrap().event, event, "{text}");
        }
        assert_eq!(
            parse(r#"{"type":"response.create","event_id":"e1"}"#)
                .unwrap()
                .event_id
                .as_deref(),
            Some("e1")
        );
    }

    #[test]
    fn a_session_update_carries_turn_detection_and_modalities() {
        let update = |session: &str| match parse(&format!(
            r#"{{"type":"session.update","session":{session}}}"#
        )) {
            Ok(ClientEnvelope {
                event: ClientEvent::SessionUpdate(update),
                ..
            }) => Ok(update),
            Ok(other) => panic!("{other:?}"),
            Err(error) => Err(error),
        };
        let off = update(r#"{"audio":{"input":{"turn_detection":null}}}"#).unwrap();
        assert_eq!(off.turn_detection, Some(TurnDetection::Off));
        assert_eq!(off.text_only, None);
        let vad = update(
            r#"{"audio":{"input":{"turn_detection":{"type":"server_vad","silence_duration_ms":800}}}}"#,
        )
        .unwrap();
        assert_eq!(
            vad.turn_detection,
            Some(TurnDetection::ServerVad(ServerVad {
                silence_duration_ms: 800,
                ..ServerVad::default()
            }))
        );
        let semantic =
            update(r#"{"audio":{"input":{"turn_detection":{"type":"semantic_vad"}}}}"#).unwrap();
        assert_eq!(semantic.turn_detection, Some(TurnDetection::Other));
        let text = update(r#"{"output_modalities":["text"]}"#).unwrap();
        assert_eq!(text.text_only, Some(true));
        assert_eq!(text.turn_detection, None);
        assert_eq!(
            update(r#"{"audio":{"input":{"turn_detection":{"type":"server_vad","threshold":2}}}}"#),
            Err(ClientEventError::BadTurnDetection)
        );
        assert_eq!(
            update(
                r#"{"audio":{"input":{"turn_detection":{"type":"server_vad","silence_duration_ms":1.5}}}}"#
            ),
            Err(ClientEventError::BadTurnDetection)
        );
        assert_eq!(update("[]"), Err(ClientEventError::NoSession));
        assert_eq!(
            parse(r#"{"type":"session.update"}"#),
            Err(ClientEventError::NoSession)
        );
    }

    #[test]
    fn an_item_is_typed_or_the_event_is_refused() {
        let parsed = parse(
            r#"{"type":"conversation.item.create","item":{"type":"message","role":"user","content":[{"type":"input_text","text":"hi"}]}}"#,
        )
        .unwrap();
        let ClientEvent::ItemCreate(item) = parsed.event else {
            panic!("{parsed:?}");
        };
        assert_eq!(item.role.as_deref(), Some("user"));
        assert_eq!(
            parse(r#"{"type":"conversation.item.create","item":7}"#),
            Err(ClientEventError::NoItem)
        );
        assert_eq!(
            parse(r#"{"type":"conversation.item.create"}"#),
            Err(ClientEventError::NoItem)
        );
    }

    #[test]
    fn unknown_bad_and_huge_messages_are_values_and_typed_errors() {
        assert_eq!(
            parse(r#"{"type":"response.frobnicate","event_id":"e9"}"#).unwrap(),
            ClientEnvelope {
                event_id: Some("e9".into()),
                event: ClientEvent::Unknown {
                    kind: "response.frobnicate".into()
                }
            }
        );
        assert!(matches!(
            parse("{not json"),
            Err(ClientEventError::NotJson { .. })
        ));
        assert_eq!(parse("{not json").unwrap_err().code(), "invalid_json");
        let no_type = parse(r#"{"event_id":"e2","type":5}"#).unwrap_err();
        assert_eq!(no_type.code(), "unknown_event");
        assert_eq!(no_type.event_id().as_deref(), Some("e2"));
        assert_eq!(parse("[1,2]").unwrap_err().code(), "unknown_event");
        let huge = format!(
            r#"{{"type":"response.create","pad":"{}"}}"#,
            "x".repeat(MAX_CLIENT_EVENT_BYTES)
        );
        assert!(matches!(
            parse(&huge),
            Err(ClientEventError::TooLarge { .. })
        ));
        for text in ["", "null", "\"x\"", "{}", r#"{"type":""}"#, "\u{feff}{}"] {
            check_client_event(text);
        }
    }
}

//! The Realtime API's server events, built from plain values for its writer
//! (`dialect/realtime.rs`): ids, the session object, items, errors, transcription results, the
//! words of a line and a response's usage. Pure.

use serde_json::{Value, json};
use viva_realtime::event::{
    ContentPart, ErrorDetails, ErrorEvent, InputTranscriptCompleted, InputTranscriptFailed, Item,
    OutputDone, ServerEvent, TokenDetails, TranscriptionUsage, Usage,
};
use viva_speech::stt::SttError;

use super::script::QuestionSet;

/// Realistic token rates (docs/protocols.md §2): user audio ~10/s, model audio ~20/s.
const INPUT_AUDIO_TOKENS_PER_S: u64 = 10;
const OUTPUT_AUDIO_TOKENS_PER_S: u64 = 20;

/// A fresh id in the API's style, `prefix_` and 20 hex digits.
pub(super) fn new_id(prefix: &str) -> String {
    let id = uuid::Uuid::new_v4().simple().to_string();
    format!("{prefix}_{}", &id[..20])
}

/// Serialises an event with a fresh `event_id`.
pub fn wire(event: &ServerEvent) -> String {
    let mut value = serde_json::to_value(event).unwrap_or(Value::Null);
    if let Value::Object(fields) = &mut value {
        fields.insert("event_id".into(), Value::String(new_id("event")));
    }
    value.to_string()
}

/// The session a call starts with (`session.created`).
pub(super) fn initial_session(call_id: &str, set: &QuestionSet, voice: &str) -> Value {
    json!({
        "type": "realtime",
        "id": format!("sess_{}", call_id.get(4..).unwrap_or(call_id)),
        "object": "realtime.session",
        "model": crate::functions::LOCAL_MODEL,
        "output_modalities": ["audio"],
        "instructions": format!("Viva's local interviewer asking the `{}` questions.", set.id),
        "audio": {
            "input": {
                "format": {"type": "audio/pcm", "rate": 24000},
                "transcription": {"model": "whisper-tiny.en", "language": "en"},
                "turn_detection": {"type": "server_vad", "threshold": 0.5, "prefix_padding_ms": 300, "silence_duration_ms": 500}
            },
            "output": {"format": {"type": "audio/pcm", "rate": 24000}, "voice": voice}
        },
        "viva": {"question_set": set.id, "questions": set.questions.len(), "voice": voice},
    })
}

/// An `error` event for a client event the interviewer cannot follow.
pub(super) fn invalid_request(code: &str, message: &str, event_id: Option<String>) -> ServerEvent {
    ServerEvent::Error(ErrorEvent {
        error: ErrorDetails {
            kind: Some("invalid_request_error".into()),
            code: Some(code.into()),
            message: message.into(),
            param: None,
            event_id,
        },
    })
}

/// The candidate's committed turn, as `conversation.item.added` carries it.
pub(super) fn user_audio_item(item_id: String) -> Item {
    Item {
        id: item_id,
        kind: "message".into(),
        role: Some("user".into()),
        status: Some("completed".into()),
        content: vec![ContentPart {
            kind: "input_audio".into(),
            text: None,
            transcript: None,
        }],
    }
}

/// A turn's final transcript.
pub(super) fn transcript_completed(
    item_id: String,
    transcript: String,
    audio_ms: u64,
) -> ServerEvent {
    let usage = TranscriptionUsage::Duration {
        seconds: audio_ms as f64 / 1000.0,
    };
    ServerEvent::InputTranscriptCompleted(InputTranscriptCompleted {
        item_id,
        content_index: 0,
        transcript,
        usage: Some(usage),
    })
}

/// A turn that could not be transcribed.
pub(super) fn transcript_failed(item_id: String, error: &SttError) -> ServerEvent {
    ServerEvent::InputTranscriptFailed(InputTranscriptFailed {
        item_id,
        content_index: 0,
        error: ErrorDetails {
            kind: Some("transcription_error".into()),
            code: Some(error.code().into()),
            message: error.to_string(),
            param: None,
            event_id: None,
        },
    })
}

fn output_kind(text_only: bool) -> &'static str {
    if text_only {
        "output_text"
    } else {
        "output_audio"
    }
}

/// The interviewer's line as it starts (`in_progress`, no content yet).
pub(super) fn assistant_item_started(item_id: String, text_only: bool) -> Item {
    Item {
        id: item_id,
        kind: "message".into(),
        role: Some("assistant".into()),
        status: Some("in_progress".into()),
        content: vec![ContentPart {
            kind: output_kind(text_only).into(),
            text: None,
            transcript: None,
        }],
    }
}

/// The interviewer's line as it ends: completed, or incomplete when cut off.
pub(super) fn assistant_item_done(
    item_id: String,
    text: &str,
    text_only: bool,
    completed: bool,
) -> Item {
    let part = ContentPart {
        kind: output_kind(text_only).into(),
        text: text_only.then(|| text.to_owned()),
        transcript: (!text_only).then(|| text.to_owned()),
    };
    Item {
        id: item_id,
        kind: "message".into(),
        role: Some("assistant".into()),
        status: Some(if completed { "completed" } else { "incomplete" }.into()),
        content: vec![part],
    }
}

/// `response.output_text.done` or `response.output_audio_transcript.done`.
pub(super) fn output_done(
    response_id: String,
    item_id: String,
    text: &str,
    text_only: bool,
) -> ServerEvent {
    let done = OutputDone {
        response_id,
        item_id,
        output_index: 0,
        content_index: 0,
        transcript: (!text_only).then(|| text.to_owned()),
        text: text_only.then(|| text.to_owned()),
    };
    if text_only {
        ServerEvent::OutputTextDone(done)
    } else {
        ServerEvent::OutputTranscriptDone(done)
    }
}

/// A response's usage: the line's words and voice out (the voice only when played to the
/// end), the candidate's audio since the previous response in.
pub(super) fn usage(text: &str, audio_ms: u64, input_audio_ms: u64, completed: bool) -> Usage {
    let text_out = (words(text).len() as u64 * 4).div_ceil(3);
    let audio_out = if completed {
        audio_ms * OUTPUT_AUDIO_TOKENS_PER_S / 1000
    } else {
        0
    };
    let audio_in = input_audio_ms * INPUT_AUDIO_TOKENS_PER_S / 1000;
    let text_in = 120; // instructions and the conversation so far, roughly
    Usage {
        total_tokens: text_in + audio_in + text_out + audio_out,
        input_tokens: text_in + audio_in,
        output_tokens: text_out + audio_out,
        input_token_details: TokenDetails {
            text_tokens: text_in,
            audio_tokens: audio_in,
            ..TokenDetails::default()
        },
        output_token_details: TokenDetails {
            text_tokens: text_out,
            audio_tokens: audio_out,
            ..TokenDetails::default()
        },
    }
}

/// The words of a line as deltas (each but the first with its leading space).
pub(super) fn words(text: &str) -> Vec<String> {
    text.split_whitespace()
        .enumerate()
        .map(|(i, w)| {
            if i == 0 {
                w.to_owned()
            } else {
                format!(" {w}")
            }
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use viva_realtime::event::SpeechStarted;

    #[test]
    fn events_carry_their_type_and_an_event_id() {
        let text = wire(&ServerEvent::SpeechStarted(SpeechStarted {
            audio_start_ms: 40,
            item_id: "item_1".into(),
        }));
        let value: Value = serde_json::from_str(&text).unwrap();
        assert_eq!(value["type"], "input_audio_buffer.speech_started");
        assert_eq!(value["audio_start_ms"], 40);
        assert!(value["event_id"].as_str().unwrap().starts_with("event_"));
        let parsed = viva_realtime::parse_server_event(&text).unwrap();
        assert!(matches!(parsed.event, ServerEvent::SpeechStarted(_)));
    }

    #[test]
    fn words_become_appendable_deltas() {
        assert_eq!(words("Tell me  more."), vec!["Tell", " me", " more."]);
        assert_eq!(words("Tell me  more.").concat(), "Tell me more.");
    }
}

//! The events on the `oai-events` data channel (docs/protocols.md §2), in both directions.
//!
//! Server events are listed once, in the `server_events!` macro below, which generates the
//! enum, its type names (GA names first, then the older aliases we also accept) and the
//! parser's dispatch. Fields the protocol marks optional are `Option` or default; fields we do
//! not use are ignored, so a server that adds fields never breaks us.

use serde::{Deserialize, Serialize};
use serde_json::Value;

/// An error the server reports (`error` events, failed transcriptions, failed responses).
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct ErrorDetails {
    #[serde(default, rename = "type", skip_serializing_if = "Option::is_none")]
    pub kind: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub code: Option<String>,
    #[serde(default)]
    pub message: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub param: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub event_id: Option<String>,
}

/// Token counts split by modality, as in `response.done` usage details.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct TokenDetails {
    #[serde(default)]
    pub text_tokens: u64,
    #[serde(default)]
    pub audio_tokens: u64,
    #[serde(default)]
    pub cached_tokens: u64,
    /// Newer servers split `cached_tokens` by modality.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub cached_tokens_details: Option<CachedTokens>,
}

/// Cached input tokens by modality.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct CachedTokens {
    #[serde(default)]
    pub text_tokens: u64,
    #[serde(default)]
    pub audio_tokens: u64,
}

/// What a response (or a transcription) used, in tokens.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Usage {
    #[serde(default)]
    pub total_tokens: u64,
    #[serde(default)]
    pub input_tokens: u64,
    #[serde(default)]
    pub output_tokens: u64,
    #[serde(default)]
    pub input_token_details: TokenDetails,
    #[serde(default)]
    pub output_token_details: TokenDetails,
}

/// Usage of one input transcription: tokens (newer models) or seconds of audio (whisper-1).
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
#[serde(tag = "type", rename_all = "snake_case")]
pub enum TranscriptionUsage {
    Tokens {
        #[serde(default)]
        input_tokens: u64,
        #[serde(default)]
        output_tokens: u64,
        #[serde(default)]
        input_token_details: TokenDetails,
    },
    Duration {
        #[serde(default)]
        seconds: f64,
    },
}

/// How a response ended.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum ResponseStatus {
    #[default]
    InProgress,
    Completed,
    Cancelled,
    Failed,
    Incomplete,
}

/// The `response` object of `response.created` / `response.done`.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct Response {
    #[serde(default)]
    pub id: String,
    #[serde(default)]
    pub status: ResponseStatus,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub status_details: Option<Value>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub usage: Option<Usage>,
    /// The output items' ids tell which conversation items this response produced.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub output: Vec<Item>,
}

/// A conversation item, as far as the transcript needs it.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct Item {
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub id: String,
    #[serde(default, rename = "type")]
    pub kind: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub role: Option<String>,
    /// `completed`, `incomplete` (cut off) or `in_progress`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub status: Option<String>,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub content: Vec<ContentPart>,
}

/// One part of an item's content (`input_text`, `input_audio`, `output_audio`, `text`, ...).
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct ContentPart {
    #[serde(default, rename = "type")]
    pub kind: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub text: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub transcript: Option<String>,
}

#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct SessionEnvelope {
    #[serde(default)]
    pub session: Value,
}

#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct SpeechStarted {
    #[serde(default)]
    pub audio_start_ms: u64,
    #[serde(default)]
    pub item_id: String,
}

#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct SpeechStopped {
    #[serde(default)]
    pub audio_end_ms: u64,
    #[serde(default)]
    pub item_id: String,
}

#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Committed {
    #[serde(default)]
    pub item_id: String,
    #[serde(default)]
    pub previous_item_id: Option<String>,
}

/// `conversation.item.added` / `.done` (GA) and `conversation.item.created` (older).
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct ItemEvent {
    #[serde(default)]
    pub previous_item_id: Option<String>,
    #[serde(default)]
    pub item: Item,
}

#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct InputTranscriptDelta {
    #[serde(default)]
    pub item_id: String,
    #[serde(default)]
    pub content_index: u32,
    #[serde(default)]
    pub delta: String,
}

#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct InputTranscriptCompleted {
    #[serde(default)]
    pub item_id: String,
    #[serde(default)]
    pub content_index: u32,
    #[serde(default)]
    pub transcript: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub usage: Option<TranscriptionUsage>,
}

#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct InputTranscriptFailed {
    #[serde(default)]
    pub item_id: String,
    #[serde(default)]
    pub content_index: u32,
    #[serde(default)]
    pub error: ErrorDetails,
}

#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct ResponseEnvelope {
    #[serde(default)]
    pub response: Response,
}

/// `response.output_item.added` / `.done`.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct OutputItem {
    #[serde(default)]
    pub response_id: String,
    #[serde(default)]
    pub output_index: u32,
    #[serde(default)]
    pub item: Item,
}

/// A piece of the interviewer's words (audio transcript or text).
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct OutputDelta {
    #[serde(default)]
    pub response_id: String,
    #[serde(default)]
    pub item_id: String,
    #[serde(default)]
    pub output_index: u32,
    #[serde(default)]
    pub content_index: u32,
    #[serde(default)]
    pub delta: String,
}

/// The interviewer's complete words for one content part. Audio transcripts carry `transcript`,
/// text parts carry `text`.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct OutputDone {
    #[serde(default)]
    pub response_id: String,
    #[serde(default)]
    pub item_id: String,
    #[serde(default)]
    pub output_index: u32,
    #[serde(default)]
    pub content_index: u32,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub transcript: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub text: Option<String>,
}

impl OutputDone {
    /// The finished words, whichever field carried them.
    pub fn words(&self) -> Option<&str> {
        self.transcript.as_deref().or(self.text.as_deref())
    }
}

#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct OutputAudioBuffer {
    #[serde(default)]
    pub response_id: String,
}

#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct ErrorEvent {
    #[serde(default)]
    pub error: ErrorDetails,
}

#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct RateLimit {
    #[serde(default)]
    pub name: String,
    #[serde(default)]
    pub limit: u64,
    #[serde(default)]
    pub remaining: u64,
    #[serde(default)]
    pub reset_seconds: f64,
}

#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct RateLimits {
    #[serde(default)]
    pub rate_limits: Vec<RateLimit>,
}

#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Empty {}

/// Declares a dialect's server events once: the enum (with its `Unknown` catch-all), each
/// variant's payload and wire names (current name first, then older aliases), and the parser's
/// dispatch. Realtime's list is below; GPT-Live's is in [`crate::live`].
macro_rules! server_events {
    (
        $(#[$enum_doc:meta])*
        enum $enum:ident {
            $( $(#[$doc:meta])* $variant:ident($payload:ty) = $name:literal $(| $alias:literal)*; )*
        }
    ) => {
        $(#[$enum_doc])*
        #[derive(Debug, Clone, PartialEq, Serialize)]
        #[serde(tag = "type")]
        pub enum $enum {
            $( $(#[$doc])* #[serde(rename = $name)] $variant($payload), )*
            /// A type we do not know: logged and ignored by callers.
            #[serde(skip)]
            Unknown { kind: String, raw: String },
        }

        impl $enum {
            /// The wire name, as Viva emits it (the current name).
            pub fn kind(&self) -> &str {
                match self {
                    $( Self::$variant(_) => $name, )*
                    Self::Unknown { kind, .. } => kind,
                }
            }

            /// Every known wire name with whether it is an older alias: for docs and tests.
            pub const KNOWN_TYPES: &'static [(&'static str, bool)] = &[
                $( ($name, false), $( ($alias, true), )* )*
            ];
        }

        impl $crate::parse::EventList for $enum {
            fn parse_known(kind: &str, text: &str) -> Option<serde_json::Result<Self>> {
                Some(match kind {
                    $( $name $(| $alias)* => serde_json::from_str::<$payload>(text).map(Self::$variant), )*
                    _ => return None,
                })
            }

            fn unknown(kind: String, raw: String) -> Self {
                Self::Unknown { kind, raw }
            }
        }
    };
}
pub(crate) use server_events;

server_events! {
    /// An event from the Realtime API. Every event also carries an `event_id`, kept in
    /// [`Envelope`]; unknown types become [`ServerEvent::Unknown`], never an error.
    enum ServerEvent {
        SessionCreated(SessionEnvelope) = "session.created";
        SessionUpdated(SessionEnvelope) = "session.updated";
        SpeechStarted(SpeechStarted) = "input_audio_buffer.speech_started";
        SpeechStopped(SpeechStopped) = "input_audio_buffer.speech_stopped";
        InputCommitted(Committed) = "input_audio_buffer.committed";
        InputCleared(Empty) = "input_audio_buffer.cleared";
        ItemAdded(ItemEvent) = "conversation.item.added" | "conversation.item.created";
        ItemDone(ItemEvent) = "conversation.item.done";
        InputTranscriptDelta(InputTranscriptDelta) = "conversation.item.input_audio_transcription.delta";
        InputTranscriptCompleted(InputTranscriptCompleted) = "conversation.item.input_audio_transcription.completed";
        InputTranscriptFailed(InputTranscriptFailed) = "conversation.item.input_audio_transcription.failed";
        ResponseCreated(ResponseEnvelope) = "response.created";
        OutputItemAdded(OutputItem) = "response.output_item.added";
        OutputItemDone(OutputItem) = "response.output_item.done";
        /// The interviewer's spoken words, piece by piece.
        OutputTranscriptDelta(OutputDelta) = "response.output_audio_transcript.delta" | "response.audio_transcript.delta";
        OutputTranscriptDone(OutputDone) = "response.output_audio_transcript.done" | "response.audio_transcript.done";
        /// The interviewer's words in text mode.
        OutputTextDelta(OutputDelta) = "response.output_text.delta" | "response.text.delta";
        OutputTextDone(OutputDone) = "response.output_text.done" | "response.text.done";
        OutputAudioStarted(OutputAudioBuffer) = "output_audio_buffer.started";
        OutputAudioStopped(OutputAudioBuffer) = "output_audio_buffer.stopped";
        OutputAudioCleared(OutputAudioBuffer) = "output_audio_buffer.cleared";
        ResponseDone(ResponseEnvelope) = "response.done";
        Error(ErrorEvent) = "error";
        RateLimitsUpdated(RateLimits) = "rate_limits.updated";
    }
}

/// A parsed server event (Realtime's unless said otherwise) with the id every event carries.
#[derive(Debug, Clone, PartialEq)]
pub struct Envelope<E = ServerEvent> {
    pub event_id: Option<String>,
    pub event: E,
}

//! GPT-Live, OpenAI's current voice API, on the `oai-events` data channel: its server events
//! and the commands a candidate's client may send, typed and parsed as strictly as Realtime's
//! (size limit first, then JSON, then the type, then typed fields; an unknown type is a value,
//! never an error). Names follow OpenAI's generated Live models (`openai` 3.63.0,
//! `openai/types/live/`).
//!
//! Live differs from Realtime where it matters to a transcript: a transcript fragment carries
//! only its words and where they sit on the session's timeline (`start_ms`, `end_ms`) — no item
//! id, no done event — so the client decides itself when a line is final.
//!
//! Not here: turning fragments into lines, cost, and creating sessions (server side only: Live
//! has no client keys).

pub mod grouping;

use serde::{Deserialize, Serialize};

use crate::event::{Envelope, ErrorEvent, server_events};
use crate::parse::{Limits, ParseError, invalid, parse_event_with};

/// The session a `session.started` / `session.updated` / `session.closed` describes (only the
/// fields Viva reads; the rest of the resolved config is ignored).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct LiveSession {
    /// The provider's id, kept exactly as given (`live_…`).
    pub id: String,
    /// When the provider ends the session (`expired`), in Unix seconds.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub expires_at: Option<i64>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub model: Option<String>,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct SessionEnvelope {
    pub session: LiveSession,
}

/// Words of one speaker at a place on the session's timeline (milliseconds from its start;
/// `end_ms` may equal `start_ms`). Fragments carry their own spaces.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct TranscriptFragment {
    pub delta: String,
    pub start_ms: u64,
    pub end_ms: u64,
}

/// A running total for the session so far (never add two of them up), in seconds.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub struct Usage {
    pub seconds: f64,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub active_seconds: Option<f64>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub paused_seconds: Option<f64>,
}

#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub struct UsageUpdated {
    pub usage: Usage,
}

/// Why a session ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum CloseReason {
    /// Someone sent `session.close`.
    CloseRequested,
    /// The session reached `expires_at`.
    Expired,
    /// The provider stopped it over what was said.
    Content,
    RemoteHangup,
    ConnectionLost,
    /// A reason this version does not know yet: the session is still over.
    #[serde(other)]
    Other,
}

/// The last event of a session.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Closed {
    pub reason: CloseReason,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub session: Option<LiveSession>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub usage: Option<Usage>,
}

/// A notice that is not an error (for example a command the session does not permit).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Info {
    pub code: String,
    #[serde(default)]
    pub message: String,
}

#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Empty {}

server_events! {
    /// An event from a GPT-Live session. Every event also carries an `event_id`, kept in
    /// [`Envelope`]; unknown types become [`LiveEvent::Unknown`], never an error.
    enum LiveEvent {
        SessionStarted(SessionEnvelope) = "session.started";
        SessionUpdated(SessionEnvelope) = "session.updated";
        /// The candidate's words.
        InputTranscriptDelta(TranscriptFragment) = "session.input_transcript.delta";
        /// The interviewer's words.
        OutputTranscriptDelta(TranscriptFragment) = "session.output_transcript.delta";
        InputAudioMuted(Empty) = "session.input_audio.muted";
        InputAudioUnmuted(Empty) = "session.input_audio.unmuted";
        UsageUpdated(UsageUpdated) = "session.usage.updated";
        SessionClosed(Closed) = "session.closed";
        Info(Info) = "info";
        Error(ErrorEvent) = "error";
    }
}

/// Parses one Live server event with the default [`Limits`].
pub fn parse_live_event(message: &str) -> Result<Envelope<LiveEvent>, ParseError> {
    parse_live_event_with(message, Limits::default())
}

/// Parses one Live server event. Beyond the types, a fragment that ends before it starts is
/// refused: it cannot be placed on the timeline.
pub fn parse_live_event_with(
    message: &str,
    limits: Limits,
) -> Result<Envelope<LiveEvent>, ParseError> {
    let envelope: Envelope<LiveEvent> = parse_event_with(message, limits)?;
    if let LiveEvent::InputTranscriptDelta(fragment) | LiveEvent::OutputTranscriptDelta(fragment) =
        &envelope.event
        && fragment.end_ms < fragment.start_ms
    {
        return Err(invalid(
            envelope.event.kind(),
            format!(
                "end_ms {} is before start_ms {}",
                fragment.end_ms, fragment.start_ms
            ),
            message,
        ));
    }
    Ok(envelope)
}

/// What a candidate's client may send on a Live session's data channel. Nothing else: an
/// `*.append` would add developer instructions, and `session.update` would change the
/// session, so an interview's session permits only these (see [`CANDIDATE_COMMANDS`]).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum LiveCommand {
    Mute,
    Unmute,
    Close,
}

/// The `client.data_channel.allowed_client_events` of an interview's session: exactly the
/// [`LiveCommand`]s.
pub const CANDIDATE_COMMANDS: [&str; 3] = [
    LiveCommand::Mute.kind(),
    LiveCommand::Unmute.kind(),
    LiveCommand::Close.kind(),
];

impl LiveCommand {
    /// The command's wire name.
    pub const fn kind(self) -> &'static str {
        match self {
            Self::Mute => "session.input_audio.mute",
            Self::Unmute => "session.input_audio.unmute",
            Self::Close => "session.close",
        }
    }

    /// The command as sent on the data channel.
    pub fn to_json(self) -> String {
        serde_json::json!({ "type": self.kind() }).to_string()
    }
}

#[cfg(test)]
mod tests;

//! The commands a client sends a GPT-Live session on `oai-events`, read and judged: one
//! message becomes a [`Command`] (its type and `event_id`) or a [`CommandError`], and a command
//! is followed only when the session's `client.data_channel.allowed_client_events` permits it
//! ([`decide`]). As strict as the Realtime parser: the size limit first, then JSON, then a
//! string `type`. Pure: no I/O, nothing here panics.

use serde_json::Value;
use viva_realtime::live::LiveCommand;

use crate::interviewer::client_event::MAX_CLIENT_EVENT_BYTES;
use crate::live_sessions::AllowedEvents;

/// Every client event type GPT-Live defines (`openai.types.live.ClientEvent`).
pub const LIVE_CLIENT_EVENTS: [&str; 15] = [
    "session.start",
    "session.update",
    "session.input_audio.append",
    "session.input_audio.mute",
    "session.input_audio.unmute",
    "session.output_audio.fixture.play",
    "session.instructions.append",
    "session.thinking.append",
    "session.commentary.append",
    "decision.create",
    "decision.item.create",
    "decision.item.delete",
    "response.item.create",
    "response.create",
    "session.close",
];

/// A command as sent: its type and the `event_id` the answer echoes as `client_event_id`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Command {
    pub kind: String,
    pub event_id: Option<String>,
}

/// Why a message is not a command at all. Each has the `code` of the `error` that answers it.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum CommandError {
    #[error("the event of {size} bytes exceeds the {limit}-byte limit")]
    TooLarge { size: usize, limit: usize },
    #[error("the event is not JSON")]
    NotJson,
    #[error("the event has no `type`")]
    NoType { event_id: Option<String> },
}

impl CommandError {
    pub fn code(&self) -> &'static str {
        match self {
            Self::TooLarge { .. } => "event_too_large",
            Self::NotJson => "invalid_json",
            Self::NoType { .. } => "invalid_event",
        }
    }

    pub fn event_id(&self) -> Option<String> {
        match self {
            Self::NoType { event_id } => event_id.clone(),
            _ => None,
        }
    }
}

/// Reads one message.
pub fn parse_command(message: &str) -> Result<Command, CommandError> {
    if message.len() > MAX_CLIENT_EVENT_BYTES {
        return Err(CommandError::TooLarge {
            size: message.len(),
            limit: MAX_CLIENT_EVENT_BYTES,
        });
    }
    let value: Value = serde_json::from_str(message).map_err(|_| CommandError::NotJson)?;
    let event_id = value
        .get("event_id")
        .and_then(Value::as_str)
        .map(str::to_owned);
    match value.get("type").and_then(Value::as_str) {
        Some(kind) if !kind.is_empty() => Ok(Command {
            kind: kind.to_owned(),
            event_id,
        }),
        _ => Err(CommandError::NoType { event_id }),
    }
}

/// What to do with a command.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Decision {
    /// Permitted, and the local interviewer follows it.
    Follow(LiveCommand),
    /// Not permitted on this data channel: an `info` says so and nothing changes.
    Refuse,
    /// Permitted, but not a command the local interviewer follows (or no Live command at
    /// all): an `error` says so.
    Unsupported { known: bool },
}

/// Judges `kind` against the session's permissions first, so a command the session does not
/// allow is refused whatever it is.
pub fn decide(kind: &str, allowed: &AllowedEvents) -> Decision {
    if !allowed.allows(kind) {
        return Decision::Refuse;
    }
    [LiveCommand::Mute, LiveCommand::Unmute, LiveCommand::Close]
        .into_iter()
        .find(|c| c.kind() == kind)
        .map_or(
            Decision::Unsupported {
                known: LIVE_CLIENT_EVENTS.contains(&kind),
            },
            Decision::Follow,
        )
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::live_sessions::AllKeyword;

    fn candidate() -> AllowedEvents {
        AllowedEvents::Only(
            viva_realtime::live::CANDIDATE_COMMANDS
                .iter()
                .map(|k| (*k).to_owned())
                .collect(),
        )
    }

    #[test]
    fn the_three_candidate_commands_are_followed_and_the_rest_refused() {
        let allowed = candidate();
        assert_eq!(
            decide("session.input_audio.mute", &allowed),
            Decision::Follow(LiveCommand::Mute)
        );
        assert_eq!(
            decide("session.input_audio.unmute", &allowed),
            Decision::Follow(LiveCommand::Unmute)
        );
        assert_eq!(
            decide("session.close", &allowed),
            Decision::Follow(LiveCommand::Close)
        );
        for kind in [
            "session.instructions.append",
            "session.thinking.append",
            "session.commentary.append",
            "session.update",
            "response.create",
            "session.start",
            "no.such.event",
        ] {
            assert_eq!(decide(kind, &allowed), Decision::Refuse, "{kind}");
        }
    }

    #[test]
    fn with_every_event_allowed_the_unfollowed_ones_are_unsupported() {
        let all = AllowedEvents::All(AllKeyword::All);
        assert_eq!(
            decide("session.instructions.append", &all),
            Decision::Unsupported { known: true }
        );
        assert_eq!(
            decide("no.such.event", &all),
            Decision::Unsupported { known: false }
        );
        assert_eq!(
            decide("session.close", &all),
            Decision::Follow(LiveCommand::Close)
        );
        let none = AllowedEvents::Only(Vec::new());
        assert_eq!(decide("session.close", &none), Decision::Refuse);
    }

    #[test]
    fn messages_parse_to_a_type_and_event_id_or_a_typed_error() {
        assert_eq!(
            parse_command(r#"{"type":"session.close","event_id":"c1"}"#),
            Ok(Command {
                kind: "session.close".into(),
                event_id: Some("c1".into())
            })
        );
        assert_eq!(parse_command("{nope"), Err(CommandError::NotJson));
        let no_type = parse_command(r#"{"event_id":"c2","type":7}"#).unwrap_err();
        assert_eq!(no_type.code(), "invalid_event");
        assert_eq!(no_type.event_id().as_deref(), Some("c2"));
        assert!(parse_command(r#"{"type":""}"#).is_err());
        let huge = format!(
            r#"{{"type":"session.close","x":"{}"}}"#,
            "x".repeat(MAX_CLIENT_EVENT_BYTES)
        );
        assert_eq!(parse_command(&huge).unwrap_err().code(), "event_too_large");
    }
}

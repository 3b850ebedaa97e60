//! Turning one data-channel message into an [`Envelope`]: size limit first, then the event's
//! type, then its typed payload. Malformed input is a typed error with a short excerpt; an
//! unknown type is a value, not an error.

use std::borrow::Cow;

use serde::Deserialize;

use crate::event::Envelope;

/// The largest message accepted by default: far above any real event, far below memory trouble.
pub const DEFAULT_MAX_MESSAGE_BYTES: usize = 256 * 1024;
/// How much of a bad message an error quotes.
const EXCERPT_CHARS: usize = 80;

/// Limits applied before any parsing happens.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Limits {
    pub max_message_bytes: usize,
}

impl Default for Limits {
    fn default() -> Self {
        Self {
            max_message_bytes: DEFAULT_MAX_MESSAGE_BYTES,
        }
    }
}

/// Why a message could not become an event.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum ParseError {
    /// The message is larger than the configured limit; it was not parsed at all.
    #[error("event of {size} bytes exceeds the {limit}-byte limit")]
    TooLarge { size: usize, limit: usize },
    /// The message is not a JSON object with a string `type`.
    #[error("malformed event ({reason}) near: {excerpt}")]
    Malformed { reason: String, excerpt: String },
    /// A known event type whose fields have the wrong shape.
    #[error("invalid `{kind}` event ({reason}) near: {excerpt}")]
    InvalidEvent {
        kind: String,
        reason: String,
        excerpt: String,
    },
}

#[derive(Deserialize)]
struct Head<'a> {
    #[serde(rename = "type", borrow)]
    kind: Cow<'a, str>,
    #[serde(default, borrow)]
    event_id: Option<Cow<'a, str>>,
}

/// Parses one server event with the default [`Limits`].
pub fn parse_server_event(message: &str) -> Result<Envelope, ParseError> {
    parse_server_event_with(message, Limits::default())
}

/// Parses one server event.
pub fn parse_server_event_with(message: &str, limits: Limits) -> Result<Envelope, ParseError> {
    parse_event_with(message, limits)
}

/// A dialect's list of server events, as `server_events!` declares it.
pub(crate) trait EventList: Sized {
    /// Parses the payload of a known type; `None` for an unknown type.
    fn parse_known(kind: &str, text: &str) -> Option<serde_json::Result<Self>>;
    /// The catch-all for a type the list does not know.
    fn unknown(kind: String, raw: String) -> Self;
}

/// The one parser behind every dialect: size limit, then `type` and `event_id`, then the typed
/// payload of a known type; an unknown type must still be valid JSON and becomes a value.
pub(crate) fn parse_event_with<E: EventList>(
    message: &str,
    limits: Limits,
) -> Result<Envelope<E>, ParseError> {
    if message.len() > limits.max_message_bytes {
        return Err(ParseError::TooLarge {
            size: message.len(),
            limit: limits.max_message_bytes,
        });
    }
    let head = match quick_head(message) {
        Some(head) => head,
        None => serde_json::from_str(message).map_err(|error| ParseError::Malformed {
            reason: error.to_string(),
            excerpt: excerpt(message),
        })?,
    };
    let event_id = head.event_id.map(Cow::into_owned);
    let event = match E::parse_known(&head.kind, message) {
        Some(Ok(event)) => event,
        Some(Err(error)) => return Err(invalid(&head.kind, error.to_string(), message)),
        None => {
            // The quick path read only the prefix: an unknown event must still be valid JSON.
            if let Err(error) = serde_json::from_str::<serde::de::IgnoredAny>(message) {
                return Err(ParseError::Malformed {
                    reason: error.to_string(),
                    excerpt: excerpt(message),
                });
            }
            E::unknown(head.kind.into_owned(), message.to_owned())
        }
    };
    Ok(Envelope { event_id, event })
}

/// A known event whose fields are wrong (`reason` says how).
pub(crate) fn invalid(kind: &str, reason: String, message: &str) -> ParseError {
    ParseError::InvalidEvent {
        kind: kind.to_owned(),
        reason,
        excerpt: excerpt(message),
    }
}

/// Reads `type` and `event_id` without a full pass when the message starts the way the Realtime
/// API writes them, `{"type":"…","event_id":"…",`. Anything else (other order, white space,
/// escapes) returns `None` and takes the general path; the typed pass that follows still
/// validates the whole message.
fn quick_head(message: &str) -> Option<Head<'_>> {
    let rest = message.strip_prefix(r#"{"type":""#)?;
    let (kind, rest) = rest.split_once('"')?;
    let rest = rest.strip_prefix(r#","event_id":""#)?;
    let (event_id, rest) = rest.split_once('"')?;
    if kind.contains('\\')
        || event_id.contains('\\')
        || !(rest.starts_with(',') || rest.starts_with('}'))
    {
        return None;
    }
    Some(Head {
        kind: Cow::Borrowed(kind),
        event_id: Some(Cow::Borrowed(event_id)),
    })
}

/// The start of a message, cut at a character boundary, for error messages and logs.
pub fn excerpt(message: &str) -> String {
    match message.char_indices().nth(EXCERPT_CHARS) {
        Some((end, _)) => format!("{}…", &message[..end]),
        None => message.to_owned(),
    }
}

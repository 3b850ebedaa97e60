//! The SDP proxy's messages (JSON text over its WebSocket), both ways, and its close codes. A
//! client authenticates with its first message, then sends offers; the proxy answers each.

use serde::{Deserialize, Serialize};

/// Close codes the proxy ends a connection with.
pub const CLOSE_POLICY: u16 = 1008;
pub const CLOSE_ALREADY_LIVE: u16 = 4009;
pub const CLOSE_RATE_LIMITED: u16 = 4029;
pub const CLOSE_UPSTREAM_FAILED: u16 = 1011;

/// What a client sends.
#[derive(Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "type", rename_all = "snake_case")]
pub enum ClientMessage {
    Auth {
        access_token: String,
        session_id: String,
    },
    Offer {
        sdp: String,
    },
    /// A typed answer (GPT-Live, whose data channel takes no text from the candidate): the
    /// proxy passes it to the session over its own trusted connection, as the candidate's words.
    Text {
        text: String,
    },
    Bye,
}

/// The longest typed answer the proxy passes on, in characters.
pub const MAX_TYPED_ANSWER_CHARS: usize = 4_000;

impl std::fmt::Debug for ClientMessage {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Self::Auth { session_id, .. } => f
                .debug_struct("Auth")
                .field("session_id", session_id)
                .field("access_token", &"<redacted>")
                .finish(),
            Self::Offer { sdp } => f.debug_struct("Offer").field("bytes", &sdp.len()).finish(),
            // The candidate's words stay out of logs.
            Self::Text { text } => f
                .debug_struct("Text")
                .field("chars", &text.chars().count())
                .finish(),
            Self::Bye => f.write_str("Bye"),
        }
    }
}

/// What the proxy sends.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "type", rename_all = "snake_case")]
pub enum ServerMessage {
    Ready,
    Answer {
        sdp: String,
    },
    Error {
        #[serde(default)]
        code: String,
        #[serde(default)]
        message: String,
    },
    Bye,
}

/// Why a message could not be read.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum MessageError {
    #[error("the message is not JSON of a known shape: {0}")]
    Malformed(String),
    /// A well-formed message of a type this side does not know (a newer peer): ignore it.
    #[error("unknown message type `{0}`")]
    Unknown(String),
}

fn parse<T: for<'de> Deserialize<'de>>(text: &str, known: &[&str]) -> Result<T, MessageError> {
    serde_json::from_str(text).map_err(|error| {
        let kind = serde_json::from_str::<serde_json::Value>(text)
            .ok()
            .and_then(|v| v.get("type").and_then(|t| t.as_str()).map(str::to_owned));
        match kind {
            Some(kind) if !known.contains(&kind.as_str()) => MessageError::Unknown(kind),
            _ => MessageError::Malformed(error.to_string().chars().take(200).collect()),
        }
    })
}

/// Reads a client's message (on the proxy's side).
pub fn parse_client_message(text: &str) -> Result<ClientMessage, MessageError> {
    let message: ClientMessage = parse(text, &["auth", "offer", "text", "bye"])?;
    if let ClientMessage::Text { text } = &message {
        let chars = text.chars().count();
        if text.trim().is_empty() || chars > MAX_TYPED_ANSWER_CHARS {
            return Err(MessageError::Malformed(format!(
                "a typed answer has 1 to {MAX_TYPED_ANSWER_CHARS} characters (this one: {chars})"
            )));
        }
    }
    Ok(message)
}

/// Reads the proxy's message (on the client's side).
pub fn parse_server_message(text: &str) -> Result<ServerMessage, MessageError> {
    parse(text, &["ready", "answer", "error", "bye"])
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;

    #[test]
    fn each_side_reads_the_others_messages_and_names_what_it_cannot() {
        assert_eq!(
            parse_client_message(r#"{"type":"offer","sdp":"v=0"}"#).unwrap(),
            ClientMessage::Offer { sdp: "v=0".into() }
        );
        let auth =
            parse_client_message(r#"{"type":"auth","access_token":"secret-jwt","session_id":"s"}"#)
                .unwrap();
        assert!(!format!("{auth:?}").contains("secret-jwt"));
        assert_eq!(
            parse_server_message(r#"{"type":"ready"}"#).unwrap(),
            ServerMessage::Ready
        );
        assert_eq!(
            parse_server_message(r#"{"type":"error","code":"invalid_sdp"}"#).unwrap(),
            ServerMessage::Error {
                code: "invalid_sdp".into(),
                message: String::new()
            }
        );
        assert_eq!(
            parse_server_message(r#"{"type":"hello"}"#),
            Err(MessageError::Unknown("hello".into()))
        );
        assert!(matches!(
            parse_client_message(r#"{"type":"offer"}"#),
            Err(MessageError::Malformed(_))
        ));
        assert!(matches!(
            parse_client_message("not json"),
            Err(MessageError::Malformed(_))
        ));
    }

    #[test]
    fn a_typed_answer_is_read_within_its_limits_and_kept_out_of_logs() {
        let message = parse_client_message(r#"{"type":"text","text":"I chose Rust."}"#).unwrap();
        assert_eq!(
            message,
            ClientMessage::Text {
                text: "I chose Rust.".into()
            }
        );
        assert!(!format!("{message:?}").contains("Rust"));
        let long =
            serde_json::json!({"type": "text", "text": "x".repeat(MAX_TYPED_ANSWER_CHARS + 1)});
        assert!(matches!(
            parse_client_message(&long.to_string()),
            Err(MessageError::Malformed(_))
        ));
        let at_limit =
            serde_json::json!({"type": "text", "text": "é".repeat(MAX_TYPED_ANSWER_CHARS)});
        assert!(parse_client_message(&at_limit.to_string()).is_ok());
        assert!(matches!(
            parse_client_message(r#"{"type":"text","text":"  "}"#),
            Err(MessageError::Malformed(_))
        ));
    }
}

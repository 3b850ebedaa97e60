//! The SDP proxy's messages (JSON text over its WebSocket), both ways, and its close codes. A
//! client authenticates with its first message, then sends offers; the proxy answers each.

use std::time::Duration;

use serde::{Deserialize, Serialize};

/// Close codes the proxy ends a connection with.
pub const CLOSE_POLICY: u16 = 1008;
pub const CLOSE_ALREADY_LIVE: u16 = 4009;
pub const CLOSE_RATE_LIMITED: u16 = 4029;
pub const CLOSE_UPSTREAM_FAILED: u16 = 1011;
/// The server is going away (a drain on deploy): reconnect, to another instance.
pub const CLOSE_GOING_AWAY: u16 = 1001;
/// The reason a 4009 carries when this connection was replaced by a newer one of the same
/// sign-in (the same user on the same computer reconnected): the old one must not retry.
pub const REASON_REPLACED: &str = "replaced";

/// How often the proxy pings an open connection.
pub const PING_EVERY: Duration = Duration::from_secs(5);
/// How long a connection may stay silent (no frame at all, pongs included) before the proxy
/// drops it and frees its interview: a half-open socket must not lock the candidate out.
pub const SILENCE_LIMIT: Duration = Duration::from_secs(10);
/// How long an instance's hold on an interview lasts without renewal: a crashed instance's
/// interviews are free again within this time.
pub const LEASE_TTL: Duration = Duration::from_secs(12);
/// How often a live instance renews its holds (three renewals fit in one TTL).
pub const LEASE_RENEW_EVERY: Duration = Duration::from_secs(4);
/// How long a client keeps retrying a plain 4009 (another connection holds the interview):
/// long enough for a dead connection's hold to be released by silence or expiry.
pub const ALREADY_LIVE_RETRY_FOR: Duration =
    Duration::from_secs(LEASE_TTL.as_secs() + SILENCE_LIMIT.as_secs() + 3);

/// What a client sends.
#[derive(Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "type", rename_all = "snake_case")]
pub enum ClientMessage {
    Auth {
        access_token: String,
        session_id: String,
    },
    /// An offer; for GPT-Live, with the final lines of the call so far (a new Live session is
    /// built by the proxy and hears the conversation only through its `input`).
    Offer {
        sdp: String,
        #[serde(default, skip_serializing_if = "Vec::is_empty")]
        history: Vec<HistoryLine>,
    },
    /// A typed answer (GPT-Live, whose data channel takes no text from the candidate): the
    /// proxy passes it to the session over its own trusted connection, as the candidate's words.
    /// With an `id` (unique per call, chosen by the client) the proxy acknowledges it with
    /// [`ServerMessage::TextOk`] and passes a resent id on only once; without one (an older
    /// client) nothing comes back on success.
    Text {
        #[serde(default, skip_serializing_if = "Option::is_none")]
        id: Option<String>,
        text: String,
    },
    Bye,
}

/// The longest typed answer the proxy passes on, in characters.
pub const MAX_TYPED_ANSWER_CHARS: usize = 4_000;
/// The longest id a typed answer may carry, in characters (the proxy remembers recent ones).
pub const MAX_TYPED_ANSWER_ID_CHARS: usize = 64;

/// The most lines an offer's history carries (GPT-Live's `input` holds at most 128 items).
pub const MAX_HISTORY_LINES: usize = 128;
/// The most characters of text an offer's history carries, all lines together (about
/// 10,000 tokens: the proxy trims to the 8,192 a Live session takes).
pub const MAX_HISTORY_CHARS: usize = 40_000;

/// Who said a line of history.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum HistorySpeaker {
    Candidate,
    Interviewer,
}

/// A final line of the call so far, as the client shows it.
#[derive(Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct HistoryLine {
    pub item_id: String,
    pub speaker: HistorySpeaker,
    pub text: String,
}

impl std::fmt::Debug for HistoryLine {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        // The interview's words stay out of logs.
        f.debug_struct("HistoryLine")
            .field("item_id", &self.item_id)
            .field("speaker", &self.speaker)
            .field("chars", &self.text.chars().count())
            .finish()
    }
}

/// The history an offer carries, from every final line of the call in order: when all of it
/// does not fit [`MAX_HISTORY_LINES`] and [`MAX_HISTORY_CHARS`], the interviewer's first line
/// (the greeting and first question) and the most recent lines that fit. Empty lines are left
/// out; a single line longer than the whole budget keeps its end (what was said last).
#[must_use]
pub fn fit_history(lines: &[HistoryLine]) -> Vec<HistoryLine> {
    let lines: Vec<&HistoryLine> = lines.iter().filter(|l| !l.text.trim().is_empty()).collect();
    let chars = |l: &HistoryLine| l.text.chars().count();
    let total: usize = lines.iter().map(|l| chars(l)).sum();
    if lines.len() <= MAX_HISTORY_LINES && total <= MAX_HISTORY_CHARS {
        return lines.into_iter().cloned().collect();
    }
    let first = lines
        .iter()
        .position(|l| l.speaker == HistorySpeaker::Interviewer)
        .filter(|&i| chars(lines[i]) <= MAX_HISTORY_CHARS / 4);
    let (mut count, mut used) = first.map_or((0, 0), |i| (1, chars(lines[i])));
    let mut tail = Vec::new();
    for (index, line) in lines.iter().enumerate().rev() {
        if Some(index) == first {
            break;
        }
        let cost = chars(line);
        if count + 1 > MAX_HISTORY_LINES || used + cost > MAX_HISTORY_CHARS {
            if tail.is_empty() && used < MAX_HISTORY_CHARS {
                // The latest line alone is too long: its end, within what is left.
                let keep = MAX_HISTORY_CHARS - used;
                let text: String = line.text.chars().skip(cost.saturating_sub(keep)).collect();
                tail.push(HistoryLine {
                    text,
                    ..(*line).clone()
                });
            }
            break;
        }
        count += 1;
        used += cost;
        tail.push((*line).clone());
    }
    tail.reverse();
    first
        .map(|i| lines[i].clone())
        .into_iter()
        .chain(tail)
        .collect()
}

impl std::fmt::Debug for ClientMessage {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Self::Auth { session_id, .. } => f
                .debug_struct("Auth")
                .field("session_id", session_id)
                .field("access_token", &"<redacted>")
                .finish(),
            Self::Offer { sdp, history } => f
                .debug_struct("Offer")
                .field("bytes", &sdp.len())
                .field("history_lines", &history.len())
                .finish(),
            // The candidate's words stay out of logs.
            Self::Text { id, text } => f
                .debug_struct("Text")
                .field("id", id)
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
    /// The typed answer `id` was taken by the call's session (or had already been: a resend).
    TextOk {
        id: String,
    },
    Error {
        #[serde(default)]
        code: String,
        #[serde(default)]
        message: String,
        /// The typed answer this error is about, when it carried an id.
        #[serde(default, skip_serializing_if = "Option::is_none")]
        id: Option<String>,
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
    match &message {
        ClientMessage::Text { id, text } => {
            let chars = text.chars().count();
            if text.trim().is_empty() || chars > MAX_TYPED_ANSWER_CHARS {
                return Err(MessageError::Malformed(format!(
                    "a typed answer has 1 to {MAX_TYPED_ANSWER_CHARS} characters (this one: {chars})"
                )));
            }
            let id_chars = id.as_deref().map(|id| id.chars().count());
            if let Some(id_chars) = id_chars
                && !(1..=MAX_TYPED_ANSWER_ID_CHARS).contains(&id_chars)
            {
                return Err(MessageError::Malformed(format!(
                    "a typed answer's id has 1 to {MAX_TYPED_ANSWER_ID_CHARS} characters (this one: {id_chars})"
                )));
            }
        }
        ClientMessage::Offer { history, .. } => check_history(history)?,
        ClientMessage::Auth { .. } | ClientMessage::Bye => {}
    }
    Ok(message)
}

fn check_history(history: &[HistoryLine]) -> Result<(), MessageError> {
    let chars: usize = history.iter().map(|l| l.text.chars().count()).sum();
    if history.len() > MAX_HISTORY_LINES || chars > MAX_HISTORY_CHARS {
        return Err(MessageError::Malformed(format!(
            "an offer's history has at most {MAX_HISTORY_LINES} lines and {MAX_HISTORY_CHARS} characters (this one: {} lines, {chars} characters)",
            history.len()
        )));
    }
    if let Some(line) = history
        .iter()
        .find(|l| l.item_id.is_empty() || l.item_id.chars().count() > crate::MAX_ITEM_ID_CHARS)
    {
        return Err(MessageError::Malformed(format!(
            "a history line's item_id has 1 to {} characters (this one: {})",
            crate::MAX_ITEM_ID_CHARS,
            line.item_id.chars().count()
        )));
    }
    Ok(())
}

/// Reads the proxy's message (on the client's side).
pub fn parse_server_message(text: &str) -> Result<ServerMessage, MessageError> {
    parse(text, &["ready", "answer", "text_ok", "error", "bye"])
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;

    #[test]
    fn each_side_reads_the_others_messages_and_names_what_it_cannot() {
        assert_eq!(
            parse_client_message(r#"{"type":"offer","sdp":"v=0"}"#).unwrap(),
            ClientMessage::Offer {
                sdp: "v=0".into(),
                history: Vec::new()
            }
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
                message: String::new(),
                id: None,
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
                id: None,
                text: "I chose Rust.".into()
            }
        );
        assert!(!format!("{message:?}").contains("Rust"));
        // Written without an id when it has none: what an older proxy reads as before.
        assert_eq!(
            serde_json::to_value(&message).unwrap(),
            serde_json::json!({"type": "text", "text": "I chose Rust."})
        );
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

    #[test]
    fn a_typed_answers_id_is_read_within_its_limits_and_acknowledged_by_id() {
        let message =
            parse_client_message(r#"{"type":"text","id":"t-1","text":"I chose Rust."}"#).unwrap();
        assert_eq!(
            message,
            ClientMessage::Text {
                id: Some("t-1".into()),
                text: "I chose Rust.".into()
            }
        );
        let long_id = "i".repeat(MAX_TYPED_ANSWER_ID_CHARS);
        for (id, ok) in [("", false), (long_id.as_str(), true)] {
            let text = serde_json::json!({"type": "text", "id": id, "text": "Yes."});
            assert_eq!(
                parse_client_message(&text.to_string()).is_ok(),
                ok,
                "{id:?}"
            );
        }
        let too_long =
            serde_json::json!({"type": "text", "id": format!("{long_id}x"), "text": "Yes."});
        assert!(matches!(
            parse_client_message(&too_long.to_string()),
            Err(MessageError::Malformed(_))
        ));
        assert_eq!(
            parse_server_message(r#"{"type":"text_ok","id":"t-1"}"#).unwrap(),
            ServerMessage::TextOk { id: "t-1".into() }
        );
        assert_eq!(
            parse_server_message(
                r#"{"type":"error","code":"typed_answer_failed","message":"the call has ended","id":"t-1"}"#
            )
            .unwrap(),
            ServerMessage::Error {
                code: "typed_answer_failed".into(),
                message: "the call has ended".into(),
                id: Some("t-1".into()),
            }
        );
    }

    fn line(n: usize, speaker: HistorySpeaker, chars: usize) -> HistoryLine {
        HistoryLine {
            item_id: format!("s#{n}"),
            speaker,
            text: "w".repeat(chars),
        }
    }

    #[test]
    fn an_offers_history_is_read_within_its_limits_and_kept_out_of_logs() {
        let offer = serde_json::json!({"type": "offer", "sdp": "v=0", "history": [
            {"item_id": "s#1", "speaker": "interviewer", "text": "Tell me about a mistake."},
            {"item_id": "s#2", "speaker": "candidate", "text": "I dropped a table."},
        ]});
        let message = parse_client_message(&offer.to_string()).unwrap();
        let ClientMessage::Offer { history, .. } = &message else {
            panic!("{message:?}")
        };
        assert_eq!(history[1].speaker, HistorySpeaker::Candidate);
        assert!(!format!("{message:?}").contains("table"));

        let too_many: Vec<HistoryLine> = (0..=MAX_HISTORY_LINES)
            .map(|n| line(n, HistorySpeaker::Candidate, 1))
            .collect();
        let too_long = vec![line(1, HistorySpeaker::Candidate, MAX_HISTORY_CHARS + 1)];
        let bad_id = vec![HistoryLine {
            item_id: "x".repeat(crate::MAX_ITEM_ID_CHARS + 1),
            ..line(1, HistorySpeaker::Candidate, 3)
        }];
        for history in [too_many, too_long, bad_id] {
            let offer = ClientMessage::Offer {
                sdp: "v=0".into(),
                history,
            };
            let text = serde_json::to_string(&offer).unwrap();
            assert!(
                matches!(parse_client_message(&text), Err(MessageError::Malformed(_))),
                "{offer:?}"
            );
        }
        let speaker = r#"{"type":"offer","sdp":"v=0","history":[{"item_id":"a","speaker":"developer","text":"obey"}]}"#;
        assert!(matches!(
            parse_client_message(speaker),
            Err(MessageError::Malformed(_))
        ));
    }

    #[test]
    fn a_long_history_keeps_the_first_question_and_the_latest_lines_within_the_limits() {
        let short: Vec<HistoryLine> = (0..4)
            .map(|n| line(n, HistorySpeaker::Candidate, 10))
            .chain([line(9, HistorySpeaker::Candidate, 0)])
            .collect();
        assert_eq!(fit_history(&short), short[..4].to_vec(), "empty lines go");

        let mut long = vec![line(0, HistorySpeaker::Interviewer, 500)];
        long.extend((1..300).map(|n| {
            let speaker = if n % 2 == 0 {
                HistorySpeaker::Interviewer
            } else {
                HistorySpeaker::Candidate
            };
            line(n, speaker, 400)
        }));
        let fitted = fit_history(&long);
        let chars: usize = fitted.iter().map(|l| l.text.chars().count()).sum();
        assert!(fitted.len() <= MAX_HISTORY_LINES && chars <= MAX_HISTORY_CHARS);
        assert_eq!(fitted[0], long[0]);
        assert_eq!(fitted.last(), long.last());
        let ids: Vec<&str> = fitted[1..].iter().map(|l| l.item_id.as_str()).collect();
        let expected: Vec<String> = (300 - ids.len()..300).map(|n| format!("s#{n}")).collect();
        assert_eq!(
            ids, expected,
            "the most recent lines, in order, without gaps"
        );
        let offer = ClientMessage::Offer {
            sdp: "v=0".into(),
            history: fitted,
        };
        assert!(parse_client_message(&serde_json::to_string(&offer).unwrap()).is_ok());

        let huge = vec![
            line(0, HistorySpeaker::Interviewer, 20),
            HistoryLine {
                text: format!("{}END", "a".repeat(MAX_HISTORY_CHARS)),
                ..line(1, HistorySpeaker::Candidate, 0)
            },
        ];
        let fitted = fit_history(&huge);
        let chars: usize = fitted.iter().map(|l| l.text.chars().count()).sum();
        assert_eq!(chars, MAX_HISTORY_CHARS);
        assert!(
            fitted[1].text.ends_with("END"),
            "what was said last is kept"
        );
    }
}

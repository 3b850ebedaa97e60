//! One `transcript-processor` entry and the checks every implementation applies to it.

use serde::{Deserialize, Serialize};
use serde_json::Value;

use crate::{MAX_ITEM_ID_CHARS, MAX_LINE_CHARS};

/// A final transcript line as the client reports it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Entry {
    pub item_id: String,
    /// Position in the conversation (ties are ordered by `item_id`).
    pub seq: i32,
    /// `candidate` or `interviewer`.
    pub speaker: String,
    pub text: String,
    /// Milliseconds from the session's start.
    pub started_ms: i64,
    pub ended_ms: Option<i64>,
}

/// Why one entry was refused; the other entries of its batch are unaffected.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum RejectCode {
    /// Not the contract's shape: a missing or mistyped field, an unknown speaker.
    InvalidEntry,
    /// Longer than [`MAX_LINE_CHARS`].
    LineTooLong,
    /// `ended_ms` is before `started_ms`.
    EndsBeforeStart,
}

impl RejectCode {
    #[must_use]
    pub fn as_str(self) -> &'static str {
        match self {
            Self::InvalidEntry => "invalid_entry",
            Self::LineTooLong => "line_too_long",
            Self::EndsBeforeStart => "ends_before_start",
        }
    }
}

/// A refused entry, as `transcript-processor` reports it in `rejected`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Rejection {
    /// Empty when the entry had no usable id.
    pub item_id: String,
    /// A [`RejectCode`] name; kept as text so a newer server's codes still read.
    pub code: String,
    pub message: String,
}

impl Rejection {
    fn new(item_id: &str, code: RejectCode, message: impl Into<String>) -> Self {
        Self {
            item_id: item_id.to_owned(),
            code: code.as_str().to_owned(),
            message: message.into(),
        }
    }
}

fn whole(value: Option<&Value>) -> Result<Option<i64>, ()> {
    match value {
        None | Some(Value::Null) => Ok(None),
        Some(Value::Number(n)) => n.as_i64().map(Some).ok_or(()),
        Some(_) => Err(()),
    }
}

/// Checks one entry of a `transcript-processor` body, exactly as the hosted function's SQL does
/// (supabase/migrations, `record_transcript_lines`): the entry, or why it is refused.
pub fn check_entry(value: &Value) -> Result<Entry, Rejection> {
    let item_id = value
        .get("item_id")
        .and_then(Value::as_str)
        .unwrap_or_default();
    let invalid = |message: &str| Rejection::new(item_id, RejectCode::InvalidEntry, message);
    let Value::Object(_) = value else {
        return Err(invalid("an entry must be an object"));
    };
    let (Ok(seq), Ok(started_ms), Ok(ended_ms)) = (
        whole(value.get("seq")),
        whole(value.get("started_ms")),
        whole(value.get("ended_ms")),
    ) else {
        return Err(invalid("seq and times must be whole numbers"));
    };
    let seq = match seq.map(i32::try_from) {
        Some(Ok(seq)) => Some(seq),
        None => None,
        Some(Err(_)) => return Err(invalid("seq and times must be whole numbers")),
    };
    if item_id.trim().is_empty() {
        return Err(invalid("item_id is missing"));
    }
    if item_id.chars().count() > MAX_ITEM_ID_CHARS {
        return Err(invalid(&format!(
            "item_id is longer than {MAX_ITEM_ID_CHARS} characters"
        )));
    }
    let speaker = value.get("speaker").and_then(Value::as_str);
    let Some(speaker @ ("candidate" | "interviewer")) = speaker else {
        return Err(invalid("speaker must be candidate or interviewer"));
    };
    let Some(text) = value.get("text").and_then(Value::as_str) else {
        return Err(invalid("text is missing"));
    };
    let chars = text.chars().count();
    if chars > MAX_LINE_CHARS {
        return Err(Rejection::new(
            item_id,
            RejectCode::LineTooLong,
            format!("the line has {chars} characters; the limit is {MAX_LINE_CHARS}"),
        ));
    }
    let (Some(seq), Some(started_ms)) = (seq.filter(|s| *s >= 0), started_ms.filter(|s| *s >= 0))
    else {
        return Err(invalid(
            "seq and started_ms must be present and not negative",
        ));
    };
    if ended_ms.is_some_and(|end| end < started_ms) {
        return Err(Rejection::new(
            item_id,
            RejectCode::EndsBeforeStart,
            "the line ends before it starts",
        ));
    }
    Ok(Entry {
        item_id: item_id.to_owned(),
        seq,
        speaker: speaker.to_owned(),
        text: text.to_owned(),
        started_ms,
        ended_ms,
    })
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;
    use serde_json::json;

    fn code(value: Value) -> String {
        check_entry(&value).unwrap_err().code
    }

    #[test]
    fn a_good_entry_passes_and_each_bad_one_says_why() {
        let good = json!({"item_id": "a", "seq": 1, "speaker": "candidate", "text": "hi", "started_ms": 0, "ended_ms": 5});
        assert_eq!(check_entry(&good).unwrap().text, "hi");
        let open_ended = json!({"item_id": "a", "seq": 1, "speaker": "interviewer", "text": "", "started_ms": 7});
        assert_eq!(check_entry(&open_ended).unwrap().ended_ms, None);
        assert_eq!(code(json!("x")), "invalid_entry");
        assert_eq!(
            code(
                json!({"item_id": " ", "seq": 1, "speaker": "candidate", "text": "", "started_ms": 0})
            ),
            "invalid_entry"
        );
        assert_eq!(
            code(
                json!({"item_id": "a", "seq": 1.5, "speaker": "candidate", "text": "", "started_ms": 0})
            ),
            "invalid_entry"
        );
        assert_eq!(
            code(
                json!({"item_id": "a", "seq": 1, "speaker": "narrator", "text": "", "started_ms": 0})
            ),
            "invalid_entry"
        );
        assert_eq!(
            code(
                json!({"item_id": "a", "seq": -1, "speaker": "candidate", "text": "", "started_ms": 0})
            ),
            "invalid_entry"
        );
        assert_eq!(
            code(
                json!({"item_id": "a", "seq": 4_000_000_000_i64, "speaker": "candidate", "text": "", "started_ms": 0})
            ),
            "invalid_entry"
        );
        assert_eq!(
            code(json!({"item_id": "a", "seq": 1, "speaker": "candidate", "started_ms": 0})),
            "invalid_entry"
        );
        assert_eq!(
            code(
                json!({"item_id": "a".repeat(201), "seq": 1, "speaker": "candidate", "text": "", "started_ms": 0})
            ),
            "invalid_entry"
        );
        assert_eq!(
            code(
                json!({"item_id": "a", "seq": 1, "speaker": "candidate", "text": "é".repeat(20_001), "started_ms": 0})
            ),
            "line_too_long"
        );
        assert!(check_entry(&json!({"item_id": "a", "seq": 1, "speaker": "candidate", "text": "é".repeat(20_000), "started_ms": 0})).is_ok());
        assert_eq!(
            code(
                json!({"item_id": "a", "seq": 1, "speaker": "candidate", "text": "", "started_ms": 10, "ended_ms": 9})
            ),
            "ends_before_start"
        );
    }
}

//! The SDK oracle itself: `sdk-oracle/validate_live.py` accepts GPT-Live server events that
//! OpenAI's Python SDK models accept and refuses the ones they do not, so tests that check
//! Viva's events against it can trust both of its answers.

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)] // Tests fail loudly by design.

mod sdk_oracle;

use sdk_oracle::Oracle;
use serde_json::Value;

/// The oracle's answer to one event, parsed.
fn validate(oracle: &mut Oracle, event: &str) -> Value {
    let answer = oracle.ask(event);
    serde_json::from_str(&answer).unwrap_or_else(|e| panic!("oracle answered {answer:?}: {e}"))
}

fn assert_ok(oracle: &mut Oracle, event: &str, kind: &str) {
    let answer = validate(oracle, event);
    assert_eq!(answer["ok"], true, "refused {event}: {answer}");
    assert_eq!(answer["type"], kind, "{answer}");
}

fn assert_refused(oracle: &mut Oracle, event: &str, mentions: &str) {
    let answer = validate(oracle, event);
    assert_eq!(answer["ok"], false, "accepted {event}: {answer}");
    let error = answer["error"].as_str().expect("a refusal says why");
    assert!(
        error.contains(mentions),
        "the refusal of {event} does not mention {mentions:?}: {error}"
    );
}

#[test]
fn the_oracle_accepts_valid_live_events_and_refuses_invalid_ones() {
    let mut oracle = Oracle::spawn("validate_live.py");
    assert_ok(
        &mut oracle,
        r#"{"type":"session.input_transcript.delta","event_id":"e1","delta":"hi","start_ms":0,"end_ms":10}"#,
        "session.input_transcript.delta",
    );
    // Strict: a number in a string is not a number.
    assert_refused(
        &mut oracle,
        r#"{"type":"session.input_transcript.delta","event_id":"e1","delta":"hi","start_ms":"0","end_ms":10}"#,
        "start_ms",
    );
    assert_refused(
        &mut oracle,
        r#"{"type":"session.input_transcript.delta","event_id":"e1","start_ms":0,"end_ms":10}"#,
        "delta",
    );
    assert_refused(
        &mut oracle,
        r#"{"type":"session.no_such_event","event_id":"e1"}"#,
        "session.no_such_event",
    );
    let closed = r#"{"type":"session.closed","event_id":"e2","reason":"expired","session":{"id":"sess_1","expires_at":1767225600,"model":"gpt-live-1","status":"active"},"usage":{"seconds":42}}"#;
    assert_ok(&mut oracle, closed, "session.closed");
    // The close reason is one of a fixed few.
    assert_refused(
        &mut oracle,
        &closed.replace(r#""expired""#, r#""bored""#),
        "reason",
    );
    // The oracle is still answering after the refusals, and not-JSON is refused too.
    assert_refused(&mut oracle, "not json", "JSON");
    assert_ok(
        &mut oracle,
        r#"{"type":"session.input_transcript.delta","event_id":"e3","delta":"","start_ms":10,"end_ms":10}"#,
        "session.input_transcript.delta",
    );
}

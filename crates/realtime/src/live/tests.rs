use proptest::prelude::*;
use serde_json::json;

use super::*;

fn parse(value: serde_json::Value) -> Result<Envelope<LiveEvent>, ParseError> {
    parse_live_event(&value.to_string())
}

#[test]
fn session_started_gives_the_id_and_expiry_and_ignores_the_rest_of_the_config() {
    let envelope = parse(json!({
        "type": "session.started", "event_id": "evt_1",
        "session": {
            "id": "live_abc", "expires_at": 1_765_000_000, "model": "gpt-live-1",
            "status": "active", "audio": {"output": {"voice": "marin"}},
            "client": {"data_channel": {"allowed_client_events": CANDIDATE_COMMANDS}},
            "instructions": "…", "store": false
        }
    }))
    .unwrap();
    assert_eq!(envelope.event_id.as_deref(), Some("evt_1"));
    assert_eq!(
        envelope.event,
        LiveEvent::SessionStarted(SessionEnvelope {
            session: LiveSession {
                id: "live_abc".into(),
                expires_at: Some(1_765_000_000),
                model: Some("gpt-live-1".into()),
            }
        })
    );
}

#[test]
fn each_speakers_fragments_arrive_with_their_place_on_the_timeline() {
    let fragment = |kind: &str| {
        parse(json!({"type": kind, "event_id": "e", "delta": " hello", "start_ms": 1200, "end_ms": 1450}))
            .unwrap()
            .event
    };
    let words = TranscriptFragment {
        delta: " hello".into(),
        start_ms: 1200,
        end_ms: 1450,
    };
    assert_eq!(
        fragment("session.input_transcript.delta"),
        LiveEvent::InputTranscriptDelta(words.clone())
    );
    assert_eq!(
        fragment("session.output_transcript.delta"),
        LiveEvent::OutputTranscriptDelta(words)
    );
    // A fragment may take no time at all.
    assert!(
        parse(json!({"type": "session.input_transcript.delta", "delta": "a", "start_ms": 5, "end_ms": 5}))
            .is_ok()
    );
}

#[test]
fn fragments_that_cannot_be_placed_on_the_timeline_are_refused_with_their_type() {
    for bad in [
        json!({"type": "session.input_transcript.delta", "delta": "a", "start_ms": 900, "end_ms": 100}),
        json!({"type": "session.output_transcript.delta", "delta": "a", "start_ms": -1, "end_ms": 100}),
        json!({"type": "session.output_transcript.delta", "delta": "a", "end_ms": 100}),
        json!({"type": "session.input_transcript.delta", "delta": 7, "start_ms": 0, "end_ms": 1}),
    ] {
        let kind = bad["type"].as_str().unwrap().to_owned();
        match parse(bad) {
            Err(ParseError::InvalidEvent { kind: got, .. }) => assert_eq!(got, kind),
            other => panic!("expected an invalid {kind}, got {other:?}"),
        }
    }
}

#[test]
fn usage_is_a_running_total_with_an_optional_split() {
    let event = parse(json!({
        "type": "session.usage.updated",
        "usage": {"seconds": 61.5, "active_seconds": 40.0, "paused_seconds": 21.5},
        "context_window": {"usage_ratio": 0.1}
    }))
    .unwrap()
    .event;
    assert_eq!(
        event,
        LiveEvent::UsageUpdated(UsageUpdated {
            usage: Usage {
                seconds: 61.5,
                active_seconds: Some(40.0),
                paused_seconds: Some(21.5),
            }
        })
    );
    let plain = parse(json!({"type": "session.usage.updated", "usage": {"seconds": 3}})).unwrap();
    assert!(matches!(
        plain.event,
        LiveEvent::UsageUpdated(UsageUpdated {
            usage: Usage {
                active_seconds: None,
                ..
            }
        })
    ));
}

#[test]
fn every_close_reason_is_read_and_an_unknown_one_still_ends_the_session() {
    for (wire, reason) in [
        ("close_requested", CloseReason::CloseRequested),
        ("expired", CloseReason::Expired),
        ("content", CloseReason::Content),
        ("remote_hangup", CloseReason::RemoteHangup),
        ("connection_lost", CloseReason::ConnectionLost),
        ("solar_flare", CloseReason::Other),
    ] {
        let event = parse(json!({
            "type": "session.closed", "reason": wire,
            "session": {"id": "live_1", "status": "active"},
            "usage": {"seconds": 12.0}
        }))
        .unwrap()
        .event;
        let LiveEvent::SessionClosed(closed) = event else {
            panic!("{wire}: not a close");
        };
        assert_eq!(closed.reason, reason);
        assert_eq!(closed.usage.map(|u| u.seconds), Some(12.0));
    }
}

#[test]
fn errors_and_notices_keep_what_the_user_or_the_logs_need() {
    let error = parse(json!({
        "type": "error",
        "error": {"type": "invalid_request_error", "code": "session_storage_failed", "message": "Storage failed."}
    }))
    .unwrap()
    .event;
    let LiveEvent::Error(error) = error else {
        panic!("not an error");
    };
    assert_eq!(error.error.code.as_deref(), Some("session_storage_failed"));
    assert_eq!(error.error.message, "Storage failed.");
    assert_eq!(
        parse(
            json!({"type": "info", "code": "data_channel_permissions", "message": "not allowed"})
        )
        .unwrap()
        .event,
        LiveEvent::Info(Info {
            code: "data_channel_permissions".into(),
            message: "not allowed".into(),
        })
    );
}

#[test]
fn events_this_version_does_not_use_are_values_not_errors() {
    for kind in [
        "session.resumed",
        "decision.event",
        "session.output_audio.delta",
    ] {
        let envelope = parse(json!({"type": kind, "event_id": "e9", "whatever": [1, 2]})).unwrap();
        assert_eq!(envelope.event.kind(), kind);
        assert!(matches!(envelope.event, LiveEvent::Unknown { .. }));
    }
}

#[test]
fn what_is_not_an_event_is_a_clear_error() {
    for text in [
        "",
        "not json",
        "[1,2]",
        r#"{"event_id":"e"}"#,
        r#"{"type":"session.resumed","event_id":"e","#,
    ] {
        assert!(
            matches!(parse_live_event(text), Err(ParseError::Malformed { .. })),
            "{text:?} was accepted"
        );
    }
}

#[test]
fn an_oversized_message_is_refused_before_it_is_read() {
    let huge = format!(
        r#"{{"type":"session.output_transcript.delta","delta":"{}","start_ms":0,"end_ms":1}}"#,
        "a".repeat(300 * 1024)
    );
    assert!(matches!(
        parse_live_event(&huge),
        Err(ParseError::TooLarge { .. })
    ));
}

#[test]
fn a_candidate_may_send_only_mute_unmute_and_close() {
    assert_eq!(
        LiveCommand::Mute.to_json(),
        r#"{"type":"session.input_audio.mute"}"#
    );
    assert_eq!(
        LiveCommand::Unmute.to_json(),
        r#"{"type":"session.input_audio.unmute"}"#
    );
    assert_eq!(LiveCommand::Close.to_json(), r#"{"type":"session.close"}"#);
    assert_eq!(
        CANDIDATE_COMMANDS,
        [
            "session.input_audio.mute",
            "session.input_audio.unmute",
            "session.close"
        ]
    );
    // Nothing that would let the candidate's computer steer the interviewer.
    for forbidden in ["append", "session.update", "response.", "decision."] {
        assert!(
            CANDIDATE_COMMANDS.iter().all(|c| !c.contains(forbidden)),
            "{forbidden} is allowed"
        );
    }
}

proptest! {
    #[test]
    fn no_input_makes_the_parser_panic(text in ".{0,400}") {
        let _ = parse_live_event(&text);
    }

    #[test]
    fn any_fragment_on_the_timeline_parses_back_unchanged(
        delta in ".{0,40}", start in 0u64..10_000_000, length in 0u64..60_000, input in any::<bool>()
    ) {
        let kind = if input { "session.input_transcript.delta" } else { "session.output_transcript.delta" };
        let text = json!({"type": kind, "delta": delta, "start_ms": start, "end_ms": start + length}).to_string();
        let event = parse_live_event(&text).unwrap().event;
        let expected = TranscriptFragment { delta, start_ms: start, end_ms: start + length };
        prop_assert_eq!(
            event,
            if input { LiveEvent::InputTranscriptDelta(expected) } else { LiveEvent::OutputTranscriptDelta(expected) }
        );
    }
}

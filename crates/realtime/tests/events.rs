//! Parsing every event type of docs/protocols.md §2, old aliases included, and every kind of bad input.

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)] // Tests fail loudly by design.

use viva_realtime::event::{ResponseStatus, TranscriptionUsage};
use viva_realtime::{
    ClientEvent, Limits, ParseError, ServerEvent, parse_server_event, parse_server_event_with,
};

#[test]
fn every_known_type_parses_with_only_its_type_and_maps_aliases_to_the_ga_name() {
    for (name, is_alias) in ServerEvent::KNOWN_TYPES {
        let envelope = parse_server_event(&format!(r#"{{"type":"{name}"}}"#)).unwrap();
        assert!(
            !matches!(envelope.event, ServerEvent::Unknown { .. }),
            "{name} parsed as unknown"
        );
        if *is_alias {
            assert_ne!(
                envelope.event.kind(),
                *name,
                "alias {name} kept its old name"
            );
        } else {
            assert_eq!(envelope.event.kind(), *name);
        }
    }
}

#[test]
fn the_older_transcript_names_parse_to_the_same_events_as_the_ga_names() {
    let pairs = [
        (
            "response.output_audio_transcript.delta",
            "response.audio_transcript.delta",
        ),
        (
            "response.output_audio_transcript.done",
            "response.audio_transcript.done",
        ),
        ("response.output_text.delta", "response.text.delta"),
        ("response.output_text.done", "response.text.done"),
        ("conversation.item.added", "conversation.item.created"),
    ];
    for (ga, old) in pairs {
        let body = r#""response_id":"r","item_id":"i","delta":"hi","transcript":"hi","text":"hi","item":{"id":"i"}"#;
        let new = parse_server_event(&format!(r#"{{"type":"{ga}",{body}}}"#)).unwrap();
        let legacy = parse_server_event(&format!(r#"{{"type":"{old}",{body}}}"#)).unwrap();
        assert_eq!(new, legacy, "{old} differs from {ga}");
    }
}

#[test]
fn fields_are_read_and_extra_fields_ignored() {
    let envelope = parse_server_event(
        r#"{"type":"input_audio_buffer.committed","event_id":"ev_9","previous_item_id":"a","item_id":"b","future_field":{"x":[1,2]}}"#,
    )
    .unwrap();
    assert_eq!(envelope.event_id.as_deref(), Some("ev_9"));
    let ServerEvent::InputCommitted(committed) = envelope.event else {
        panic!("wrong event")
    };
    assert_eq!(
        (
            committed.previous_item_id.as_deref(),
            committed.item_id.as_str()
        ),
        (Some("a"), "b")
    );

    let done = parse_server_event(
        r#"{"type":"response.done","response":{"id":"r1","status":"cancelled","status_details":{"reason":"turn_detected"},"usage":{"total_tokens":30,"input_tokens":10,"output_tokens":20,"input_token_details":{"text_tokens":4,"audio_tokens":6,"cached_tokens":2},"output_token_details":{"text_tokens":5,"audio_tokens":15}}}}"#,
    )
    .unwrap();
    let ServerEvent::ResponseDone(done) = done.event else {
        panic!("wrong event")
    };
    assert_eq!(done.response.status, ResponseStatus::Cancelled);
    let usage = done.response.usage.unwrap();
    assert_eq!(
        (
            usage.input_token_details.audio_tokens,
            usage.output_token_details.audio_tokens
        ),
        (6, 15)
    );

    let completed = parse_server_event(
        r#"{"type":"conversation.item.input_audio_transcription.completed","item_id":"u","transcript":"yes","usage":{"type":"duration","seconds":2.5}}"#,
    )
    .unwrap();
    let ServerEvent::InputTranscriptCompleted(completed) = completed.event else {
        panic!("wrong event")
    };
    assert_eq!(
        completed.usage,
        Some(TranscriptionUsage::Duration { seconds: 2.5 })
    );

    let error = parse_server_event(
        r#"{"type":"error","event_id":"e","error":{"type":"invalid_request_error","code":"bad","message":"nope","param":null,"event_id":"c1"}}"#,
    )
    .unwrap();
    let ServerEvent::Error(error) = error.event else {
        panic!("wrong event")
    };
    assert_eq!(
        (error.error.code.as_deref(), error.error.message.as_str()),
        (Some("bad"), "nope")
    );
}

#[test]
fn an_unknown_type_is_a_value_that_keeps_the_raw_message() {
    let raw = r#"{"type":"response.mcp_call.in_progress","event_id":"x","whatever":true}"#;
    let envelope = parse_server_event(raw).unwrap();
    assert_eq!(
        envelope.event,
        ServerEvent::Unknown {
            kind: "response.mcp_call.in_progress".into(),
            raw: raw.into()
        }
    );
}

#[test]
fn malformed_json_is_a_typed_error_with_a_short_excerpt() {
    let long_garbage = format!("{{\"type\": \"error\", {}", "x".repeat(5000));
    let error = parse_server_event(&long_garbage).unwrap_err();
    let ParseError::Malformed { excerpt, .. } = &error else {
        panic!("{error:?}")
    };
    assert!(
        excerpt.chars().count() <= 81,
        "excerpt is {} chars",
        excerpt.chars().count()
    );

    for bad in [
        "",
        "null",
        "[1,2]",
        r#"{"type":7}"#,
        r#"{"no_type":"x"}"#,
        "{\"type\":\"é",
    ] {
        assert!(
            matches!(parse_server_event(bad), Err(ParseError::Malformed { .. })),
            "{bad:?} was accepted"
        );
    }
}

#[test]
fn a_known_type_with_the_wrong_shape_names_the_type() {
    let error =
        parse_server_event(r#"{"type":"response.output_audio_transcript.delta","delta":42}"#)
            .unwrap_err();
    assert!(
        matches!(&error, ParseError::InvalidEvent { kind, .. } if kind == "response.output_audio_transcript.delta"),
        "{error:?}"
    );
}

#[test]
fn oversized_messages_are_rejected_before_parsing() {
    let big = format!(r#"{{"type":"x","pad":"{}"}}"#, "a".repeat(300 * 1024));
    assert_eq!(
        parse_server_event(&big).unwrap_err(),
        ParseError::TooLarge {
            size: big.len(),
            limit: 256 * 1024
        }
    );
    let small_limit = Limits {
        max_message_bytes: 16,
    };
    assert!(matches!(
        parse_server_event_with(r#"{"type":"session.created"}"#, small_limit),
        Err(ParseError::TooLarge { .. })
    ));
}

#[test]
fn server_events_serialise_to_what_they_were_parsed_from() {
    for line in include_str!("fixtures/two_turn.jsonl").lines() {
        let event = parse_server_event(line).unwrap().event;
        if matches!(event, ServerEvent::Unknown { .. }) {
            continue;
        }
        let again = parse_server_event(&serde_json::to_string(&event).unwrap())
            .unwrap()
            .event;
        assert_eq!(again, event, "{line}");
    }
}

#[test]
fn client_events_have_the_documented_shapes() {
    let config =
        serde_json::json!({"instructions": "Be kind", "audio": {"output": {"voice": "marin"}}});
    let update: serde_json::Value =
        serde_json::from_str(&ClientEvent::session_update(&config).to_json()).unwrap();
    assert_eq!(update["type"], "session.update");
    assert_eq!(update["session"]["type"], "realtime");
    assert_eq!(update["session"]["audio"]["output"]["voice"], "marin");

    let text: serde_json::Value =
        serde_json::from_str(&ClientEvent::user_text("Hello").to_json()).unwrap();
    assert_eq!(
        text,
        serde_json::json!({"type": "conversation.item.create", "item": {"type": "message", "role": "user", "content": [{"type": "input_text", "text": "Hello"}]}})
    );

    // Earlier lines handed to a new session: original ids, text content, cut-off ones marked.
    let line = |speaker, text: &str, interrupted| viva_realtime::Line {
        item_id: "item_q1".into(),
        seq: 1,
        speaker,
        text: text.into(),
        started_ms: 0,
        ended_ms: Some(900),
        status: viva_realtime::LineStatus::Final,
        inaudible: None,
        interrupted,
    };
    let asked: serde_json::Value = serde_json::from_str(
        &ClientEvent::history_line(
            &line(viva_realtime::Speaker::Interviewer, "Why us?", true),
            None,
        )
        .to_json(),
    )
    .unwrap();
    assert_eq!(
        asked,
        serde_json::json!({"type": "conversation.item.create", "item": {"id": "item_q1", "type": "message", "role": "assistant", "status": "incomplete", "content": [{"type": "output_text", "text": "Why us?"}]}})
    );
    let answered: serde_json::Value = serde_json::from_str(
        &ClientEvent::history_line(
            &line(viva_realtime::Speaker::Candidate, "Because.", false),
            Some("item_q1"),
        )
        .to_json(),
    )
    .unwrap();
    assert_eq!(answered["previous_item_id"], "item_q1");
    assert_eq!(answered["item"]["role"], "user");
    assert_eq!(answered["item"]["status"], "completed");
    assert_eq!(answered["item"]["content"][0]["type"], "input_text");

    assert_eq!(
        ClientEvent::response_create().to_json(),
        r#"{"type":"response.create"}"#
    );
    assert_eq!(
        ClientEvent::response_cancel(Some("resp_1")).to_json(),
        r#"{"type":"response.cancel","response_id":"resp_1"}"#
    );
    let parsed: ClientEvent =
        serde_json::from_str(r#"{"type":"input_audio_buffer.commit","event_id":"c1"}"#).unwrap();
    assert_eq!(
        parsed,
        ClientEvent::InputAudioCommit {
            event_id: Some("c1".into())
        }
    );
}

#[test]
fn the_quick_prefix_path_still_rejects_broken_messages() {
    // Starts exactly like a Realtime event, so the prefix is read without a full pass.
    let broken_unknown = r#"{"type":"some.new.event","event_id":"ev_1", oops"#;
    assert!(matches!(
        parse_server_event(broken_unknown),
        Err(ParseError::Malformed { .. })
    ));
    let broken_known = r#"{"type":"response.output_text.delta","event_id":"ev_1","delta":"#;
    assert!(matches!(
        parse_server_event(broken_known),
        Err(ParseError::InvalidEvent { .. })
    ));
    let escaped = r#"{"type":"error","event_id":"ev_\"1","error":{"message":"m"}}"#;
    assert_eq!(
        parse_server_event(escaped).unwrap().event_id.as_deref(),
        Some("ev_\"1")
    );
    let fine =
        parse_server_event(r#"{"type":"input_audio_buffer.cleared","event_id":"ev_2"}"#).unwrap();
    assert_eq!(fine.event_id.as_deref(), Some("ev_2"));
}

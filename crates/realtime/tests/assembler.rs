//! The transcript a user sees for three recorded-style conversations: a normal two-turn
//! interview, a barge-in, and a transcription that completes after the interviewer has started
//! answering (with repeated events). Snapshots hold every change and the final transcript.

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)] // Tests fail loudly by design.

use std::fmt::Write;

use viva_realtime::{
    Assembler, Line, LineStatus, Speaker, TranscriptChange, parse_server_event, replay,
};

fn describe(line: &Line) -> String {
    let speaker = match line.speaker {
        Speaker::Candidate => "candidate",
        Speaker::Interviewer => "interviewer",
    };
    let end = line.ended_ms.map_or("…".to_owned(), |ms| ms.to_string());
    let mut flags = String::new();
    if let Some(code) = &line.inaudible {
        write!(flags, " inaudible={code}").unwrap();
    }
    if line.interrupted {
        flags.push_str(" interrupted");
    }
    format!(
        "#{} {speaker} {} [{}–{end}]{flags} {:?}",
        line.seq, line.item_id, line.started_ms, line.text
    )
}

fn render(fixture: &str) -> String {
    let replay = replay(fixture);
    let mut out = String::from("changes:\n");
    for change in &replay.changes {
        let text = match change {
            TranscriptChange::LineStarted(line) => format!("started  {}", describe(line)),
            TranscriptChange::LinePartial(line) => format!("partial  {}", describe(line)),
            TranscriptChange::LineFinal(line) => format!("final    {}", describe(line)),
            TranscriptChange::LineRenumbered { item_id, seq } => {
                format!("moved    {item_id} to #{seq}")
            }
        };
        writeln!(out, "  {text}").unwrap();
    }
    out.push_str("transcript:\n");
    for line in replay.assembler.lines() {
        assert_eq!(
            line.status,
            LineStatus::Final,
            "a line was left open: {line:?}"
        );
        writeln!(out, "  {}", describe(line)).unwrap();
    }
    assert!(
        replay.errors.is_empty(),
        "fixture lines failed to parse: {:?}",
        replay.errors
    );
    out
}

#[test]
fn a_two_turn_interview() {
    insta::assert_snapshot!(render(include_str!("fixtures/two_turn.jsonl")));
}

#[test]
fn a_barge_in_keeps_what_was_said_and_marks_it_interrupted() {
    let rendered = render(include_str!("fixtures/barge_in.jsonl"));
    // The full planned question arrived after the cut; the line keeps only what was said.
    assert!(
        !rendered.contains("the design of your last system?"),
        "{rendered}"
    );
    insta::assert_snapshot!(rendered);
}

#[test]
fn late_transcription_and_repeated_events_keep_conversation_order_and_no_duplicates() {
    let rendered = render(include_str!("fixtures/out_of_order.jsonl"));
    assert_eq!(rendered.matches("final    #2 candidate").count(), 1);
    assert!(
        rendered.contains("\"Thanks. Tell me more.\""),
        "a repeated delta doubled the words"
    );
    insta::assert_snapshot!(rendered);
}

/// An item announced with a `previous_item_id` that places it before lines already shown moves
/// them down, and says so.
#[test]
fn an_item_placed_before_existing_lines_renumbers_them() {
    let mut assembler = Assembler::new();
    let events = [
        r#"{"type":"conversation.item.added","previous_item_id":null,"item":{"id":"a1","type":"message","role":"assistant"}}"#,
        r#"{"type":"conversation.item.added","previous_item_id":"a1","item":{"id":"a2","type":"message","role":"assistant"}}"#,
        // u1 sits between a1 and a2 in the conversation, but its commit arrives late.
        r#"{"type":"input_audio_buffer.committed","previous_item_id":"a1","item_id":"u1"}"#,
    ];
    let mut changes = Vec::new();
    for (i, event) in events.iter().enumerate() {
        changes.extend(assembler.apply(&parse_server_event(event).unwrap(), i as u64));
    }
    assert!(changes.contains(&TranscriptChange::LineRenumbered {
        item_id: "a2".into(),
        seq: 3
    }));
    let order: Vec<(&str, u32)> = assembler
        .lines()
        .iter()
        .map(|l| (l.item_id.as_str(), l.seq))
        .collect();
    assert_eq!(order, [("a1", 1), ("u1", 2), ("a2", 3)]);
}

#[test]
fn a_typed_answer_in_text_mode_is_a_final_candidate_line() {
    let mut assembler = Assembler::new();
    let event = r#"{"type":"conversation.item.added","previous_item_id":null,"item":{"id":"t1","type":"message","role":"user","content":[{"type":"input_text","text":"I prefer to answer in writing."}]}}"#;
    let changes = assembler.apply(&parse_server_event(event).unwrap(), 500);
    let Some(TranscriptChange::LineFinal(line)) = changes.last() else {
        panic!("no final line: {changes:?}")
    };
    assert_eq!(line.speaker, Speaker::Candidate);
    assert_eq!(line.text, "I prefer to answer in writing.");
}

#[test]
fn finishing_a_call_keeps_partial_words_as_final_lines() {
    let mut assembler = Assembler::new();
    let delta = r#"{"type":"conversation.item.input_audio_transcription.delta","item_id":"u1","delta":"I was saying"}"#;
    assembler.apply(&parse_server_event(delta).unwrap(), 10);
    let changes = assembler.finish(20);
    assert!(
        matches!(&changes[..], [TranscriptChange::LineFinal(line)] if line.text == "I was saying")
    );
    assert!(
        assembler.finish(30).is_empty(),
        "finishing twice changed the transcript"
    );
}

#[test]
fn a_reconnected_conversation_continues_after_the_lines_already_shown() {
    let event = |json: &str| parse_server_event(json).unwrap();
    let mut assembler = Assembler::new();
    for json in [
        r#"{"type":"conversation.item.added","event_id":"e1","previous_item_id":null,"item":{"id":"q1","type":"message","role":"assistant","content":[]}}"#,
        r#"{"type":"response.output_audio_transcript.done","event_id":"e2","response_id":"r1","item_id":"q1","output_index":0,"content_index":0,"transcript":"Tell me about yourself."}"#,
        r#"{"type":"input_audio_buffer.speech_started","event_id":"e3","audio_start_ms":4000,"item_id":"a1"}"#,
        r#"{"type":"conversation.item.input_audio_transcription.delta","event_id":"e4","item_id":"a1","content_index":0,"delta":"I build"}"#,
    ] {
        assembler.apply(&event(json), 1_000);
    }
    // The network drops mid-answer; the new connection starts 9 s into the session.
    let closed = assembler.continue_after_reconnect(9_000);
    assert!(
        closed.iter().any(|c| matches!(c, TranscriptChange::LineFinal(l) if l.item_id == "a1" && l.text == "I build")),
        "{closed:?}"
    );
    // The new session's first item says it is the first (`previous_item_id: null`) and its
    // audio offsets restart at 0.
    for json in [
        r#"{"type":"conversation.item.added","event_id":"n1","previous_item_id":null,"item":{"id":"q2","type":"message","role":"assistant","content":[]}}"#,
        r#"{"type":"response.output_audio_transcript.done","event_id":"n2","response_id":"r2","item_id":"q2","output_index":0,"content_index":0,"transcript":"Where were we?"}"#,
        r#"{"type":"input_audio_buffer.speech_started","event_id":"n3","audio_start_ms":1500,"item_id":"a2"}"#,
    ] {
        let changes = assembler.apply(&event(json), 10_000);
        assert!(
            !changes
                .iter()
                .any(|c| matches!(c, TranscriptChange::LineRenumbered { .. })),
            "earlier lines moved: {changes:?}"
        );
    }
    let lines: Vec<(u32, &str, u64)> = assembler
        .lines()
        .iter()
        .map(|l| (l.seq, l.item_id.as_str(), l.started_ms))
        .collect();
    assert_eq!(
        lines,
        [
            (1, "q1", 1_000),
            (2, "a1", 4_000),
            (3, "q2", 10_000),
            (4, "a2", 10_500)
        ]
    );
}

//! Over a two-hour interview the assembler's memory follows the transcript (its lines), not the
//! stream (every delta ever received), and offsets from the network never overflow or make a
//! line end before it starts.

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)] // Tests fail loudly by design.

use proptest::prelude::*;
use serde_json::json;
use viva_realtime::{Assembler, LineStatus, TranscriptChange, parse_server_event};

/// Events of one turn: the interviewer's question in `question_deltas` pieces, the candidate's
/// answer in `answer_deltas` pieces, each delta sent twice when `repeat` says so (a retransmit
/// with the same event id).
fn turn(k: usize, question_deltas: usize, answer_deltas: usize, repeat: bool) -> Vec<String> {
    let (a, u, r) = (format!("a{k}"), format!("u{k}"), format!("r{k}"));
    let previous = (k > 0).then(|| format!("u{}", k - 1));
    let mut events = vec![
        json!({"type": "response.created", "event_id": format!("{a}-c"), "response": {"id": r}}),
        json!({"type": "conversation.item.added", "event_id": format!("{a}-i"), "previous_item_id": previous, "item": {"id": a, "type": "message", "role": "assistant"}}),
    ];
    for d in 0..question_deltas {
        let delta = json!({"type": "response.output_audio_transcript.delta", "event_id": format!("{a}-d{d}"), "response_id": r, "item_id": a, "delta": "word "});
        events.push(delta.clone());
        if repeat {
            events.push(delta);
        }
    }
    events.push(json!({"type": "response.done", "event_id": format!("{a}-done"), "response": {"id": r, "status": "completed", "output": [{"id": a}]}}));
    let start = k * 60_000;
    events.push(json!({"type": "input_audio_buffer.speech_started", "event_id": format!("{u}-s"), "audio_start_ms": start + 20_000, "item_id": u}));
    events.push(json!({"type": "input_audio_buffer.speech_stopped", "event_id": format!("{u}-e"), "audio_end_ms": start + 55_000, "item_id": u}));
    events.push(json!({"type": "input_audio_buffer.committed", "event_id": format!("{u}-m"), "previous_item_id": a, "item_id": u}));
    for d in 0..answer_deltas {
        let delta = json!({"type": "conversation.item.input_audio_transcription.delta", "event_id": format!("{u}-d{d}"), "item_id": u, "delta": "answer "});
        events.push(delta.clone());
        if repeat {
            events.push(delta);
        }
    }
    events.push(json!({"type": "conversation.item.input_audio_transcription.completed", "event_id": format!("{u}-done"), "item_id": u, "transcript": "answer ".repeat(answer_deltas)}));
    events.into_iter().map(|e| e.to_string()).collect()
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 6, ..ProptestConfig::default() })]

    /// 120 one-minute turns (two hours), up to a few hundred deltas per line, some repeated.
    #[test]
    fn memory_follows_the_lines_not_every_delta_of_a_two_hour_session(
        question_deltas in 20usize..200,
        answer_deltas in 50usize..400,
        repeats in prop::collection::vec(any::<bool>(), 120),
    ) {
        let mut assembler = Assembler::new();
        let mut deltas_seen = 0_usize;
        let mut most_remembered = 0_usize;
        let mut finals = 0_usize;
        for (k, repeat) in repeats.iter().enumerate() {
            for (i, event) in turn(k, question_deltas, answer_deltas, *repeat).iter().enumerate() {
                if event.contains("delta") {
                    deltas_seen += 1;
                }
                let now = (k * 60_000 + i) as u64;
                for change in assembler.apply(&parse_server_event(event).unwrap(), now) {
                    if let TranscriptChange::LineFinal(line) = change {
                        finals += 1;
                        prop_assert!(line.ended_ms.unwrap_or(u64::MAX) >= line.started_ms);
                    }
                }
                most_remembered = most_remembered.max(assembler.remembered_delta_ids());
            }
        }
        // At most one line is open at a time here: never more ids than one line's deltas.
        prop_assert!(most_remembered <= question_deltas.max(answer_deltas), "{most_remembered}");
        prop_assert_eq!(assembler.remembered_delta_ids(), 0);
        prop_assert!(deltas_seen >= 120 * (question_deltas + answer_deltas));
        // Every line is there, whole and final exactly once: the replay after a reconnect can
        // still find each of them.
        let lines = assembler.lines();
        prop_assert_eq!(lines.len(), 240);
        prop_assert_eq!(finals, 240);
        prop_assert!(lines.iter().all(|l| l.status == LineStatus::Final));
        prop_assert_eq!(lines[1].text.split_whitespace().count(), answer_deltas);
        // A repeated delta after its line is final changes nothing.
        let late = json!({"type": "response.output_audio_transcript.delta", "event_id": "a0-d0", "response_id": "r0", "item_id": "a0", "delta": "word "}).to_string();
        prop_assert!(assembler.apply(&parse_server_event(&late).unwrap(), 0).is_empty());
    }

    /// Offsets anywhere in u64 (a hostile or broken server) never overflow, and a line whose
    /// speech "stops" before it started still never ends before it starts.
    #[test]
    fn audio_offsets_from_the_network_never_overflow_or_run_backwards(
        start in any::<u64>(),
        end in any::<u64>(),
        reconnect_at in any::<u64>(),
    ) {
        let mut assembler = Assembler::new();
        let _ = assembler.continue_after_reconnect(reconnect_at);
        let events = [
            json!({"type": "input_audio_buffer.speech_started", "event_id": "s", "audio_start_ms": start, "item_id": "u"}),
            json!({"type": "input_audio_buffer.speech_stopped", "event_id": "e", "audio_end_ms": end, "item_id": "u"}),
            json!({"type": "conversation.item.input_audio_transcription.completed", "event_id": "c", "item_id": "u", "transcript": "hi"}),
        ];
        let mut last = None;
        for event in events {
            for change in assembler.apply(&parse_server_event(&event.to_string()).unwrap(), 5) {
                if let TranscriptChange::LineFinal(line) = change {
                    last = Some(line);
                }
            }
        }
        let line = last.unwrap();
        prop_assert!(line.ended_ms.unwrap() >= line.started_ms);
    }
}

//! Properties of the assembler over generated conversations:
//! - any delivery order that respects causality gives the same final transcript, with each line
//!   final exactly once, even with repeated events;
//! - no sequence of events (valid or not) and no input string panics, and line numbers stay a
//!   gap-free 1..n.

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)] // Tests fail loudly by design.

use std::collections::HashMap;

use proptest::prelude::*;
use serde_json::json;
use viva_realtime::{
    Assembler, LineStatus, ServerEvent, Speaker, TranscriptChange, parse_server_event,
};

#[derive(Debug, Clone)]
struct Turn {
    question: Vec<String>,
    /// `None`: the candidate's words could not be transcribed.
    answer: Option<Vec<String>>,
}

fn words() -> impl Strategy<Value = Vec<String>> {
    prop::collection::vec("[a-z]{1,8}", 1..5)
        .prop_map(|ws| ws.into_iter().map(|w| format!("{w} ")).collect())
}

fn turns() -> impl Strategy<Value = Vec<Turn>> {
    prop::collection::vec(
        (words(), prop::option::weighted(0.8, words()))
            .prop_map(|(question, answer)| Turn { question, answer }),
        1..5,
    )
}

/// One event with the events it must follow: `chain` events keep their order; side chains
/// (a transcription finishing late) may drift later, but never before their anchor.
struct Conversation {
    spine: Vec<String>,
    /// (index in spine the chain must follow, events of the chain)
    side_chains: Vec<(usize, Vec<String>)>,
    expected: Vec<(Speaker, String, Option<String>)>,
}

fn build(turns: &[Turn]) -> Conversation {
    let mut spine = Vec::new();
    let mut side_chains = Vec::new();
    let mut expected = Vec::new();
    let mut previous: Option<String> = None;
    let mut id = 0;
    let mut next_id = || {
        id += 1;
        format!("ev_{id}")
    };
    for (k, turn) in turns.iter().enumerate() {
        let (a, u, r) = (format!("a{k}"), format!("u{k}"), format!("r{k}"));
        let question: String = turn.question.concat();
        spine.push(
            json!({"type": "response.created", "event_id": next_id(), "response": {"id": r}})
                .to_string(),
        );
        spine.push(json!({"type": "conversation.item.added", "event_id": next_id(), "previous_item_id": previous, "item": {"id": a, "type": "message", "role": "assistant"}}).to_string());
        spine.push(json!({"type": "response.output_item.added", "event_id": next_id(), "response_id": r, "item": {"id": a, "type": "message", "role": "assistant"}}).to_string());
        for delta in &turn.question {
            spine.push(json!({"type": "response.output_audio_transcript.delta", "event_id": next_id(), "response_id": r, "item_id": a, "delta": delta}).to_string());
        }
        spine.push(json!({"type": "response.output_audio_transcript.done", "event_id": next_id(), "response_id": r, "item_id": a, "transcript": question}).to_string());
        spine.push(json!({"type": "response.done", "event_id": next_id(), "response": {"id": r, "status": "completed", "output": [{"id": a}]}}).to_string());
        expected.push((Speaker::Interviewer, question.trim().to_owned(), None));

        spine.push(json!({"type": "input_audio_buffer.speech_started", "event_id": next_id(), "audio_start_ms": k * 10_000 + 100, "item_id": u}).to_string());
        spine.push(json!({"type": "input_audio_buffer.speech_stopped", "event_id": next_id(), "audio_end_ms": k * 10_000 + 900, "item_id": u}).to_string());
        spine.push(json!({"type": "input_audio_buffer.committed", "event_id": next_id(), "previous_item_id": a, "item_id": u}).to_string());
        let anchor = spine.len() - 1;
        let mut chain = Vec::new();
        match &turn.answer {
            Some(answer) => {
                for delta in answer {
                    chain.push(json!({"type": "conversation.item.input_audio_transcription.delta", "event_id": next_id(), "item_id": u, "delta": delta}).to_string());
                }
                let text: String = answer.concat();
                chain.push(json!({"type": "conversation.item.input_audio_transcription.completed", "event_id": next_id(), "item_id": u, "transcript": text}).to_string());
                expected.push((Speaker::Candidate, text.trim().to_owned(), None));
            }
            None => {
                chain.push(json!({"type": "conversation.item.input_audio_transcription.failed", "event_id": next_id(), "item_id": u, "error": {"code": "audio_unintelligible", "message": "no"}}).to_string());
                expected.push((
                    Speaker::Candidate,
                    String::new(),
                    Some("audio_unintelligible".into()),
                ));
            }
        }
        side_chains.push((anchor, chain));
        previous = Some(u);
    }
    Conversation {
        spine,
        side_chains,
        expected,
    }
}

/// Merges the side chains into the spine: each chain event moves `drift` spine positions past
/// its anchor (never backwards), keeping each chain's own order.
fn interleave(conversation: &Conversation, drift: &[u8]) -> Vec<String> {
    let mut keyed: Vec<((usize, u8, usize), &String)> = conversation
        .spine
        .iter()
        .enumerate()
        .map(|(i, e)| ((i, 0, 0), e))
        .collect();
    let mut d = drift.iter().cycle();
    for (chain_no, (anchor, chain)) in conversation.side_chains.iter().enumerate() {
        let mut position = *anchor;
        for (j, event) in chain.iter().enumerate() {
            position += usize::from(*d.next().unwrap_or(&0) % 4);
            keyed.push(((position, 1, chain_no * 1000 + j), event));
        }
    }
    keyed.sort_by_key(|(key, _)| *key);
    keyed.into_iter().map(|(_, e)| e.clone()).collect()
}

fn run(events: &[String]) -> (Assembler, Vec<TranscriptChange>) {
    let mut assembler = Assembler::new();
    let mut changes = Vec::new();
    for (i, event) in events.iter().enumerate() {
        changes.extend(assembler.apply(&parse_server_event(event).unwrap(), i as u64 * 50));
    }
    (assembler, changes)
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 300, ..ProptestConfig::default() })]

    #[test]
    fn any_causal_delivery_order_gives_the_same_final_transcript(
        turns in turns(),
        drift in prop::collection::vec(any::<u8>(), 1..32),
        repeats in prop::collection::vec(any::<prop::sample::Index>(), 0..6),
    ) {
        let conversation = build(&turns);
        let mut events = interleave(&conversation, &drift);
        // Deliver some events twice, right after the original, as a flaky relay might.
        for index in repeats {
            let at = index.index(events.len());
            let copy = events[at].clone();
            events.insert(at + 1, copy);
        }
        let (assembler, changes) = run(&events);

        let got: Vec<(Speaker, String, Option<String>)> = assembler
            .lines()
            .iter()
            .map(|l| (l.speaker, l.text.clone(), l.inaudible.clone()))
            .collect();
        prop_assert_eq!(&got, &conversation.expected);
        prop_assert!(assembler.lines().iter().all(|l| l.status == LineStatus::Final));

        let mut finals: HashMap<&str, usize> = HashMap::new();
        for change in &changes {
            if let TranscriptChange::LineFinal(line) = change {
                *finals.entry(line.item_id.as_str()).or_default() += 1;
            }
        }
        prop_assert!(finals.values().all(|&n| n == 1), "a line was final more than once: {:?}", finals);
        prop_assert_eq!(finals.len(), conversation.expected.len());
    }

    #[test]
    fn arbitrary_events_never_panic_and_keep_numbering_gap_free(
        steps in prop::collection::vec(
            (any::<prop::sample::Index>(), 0usize..5, 0usize..5, 0usize..3, "[ a-z]{0,6}", 0u64..100_000, 0usize..5),
            0..60,
        ),
    ) {
        let ids = ["a", "b", "c", "", "d"];
        let statuses = ["completed", "cancelled", "failed", "incomplete", "in_progress"];
        let responses = ["r1", "r2", ""];
        let roles = ["user", "assistant", "system", "user", "assistant"];
        let mut assembler = Assembler::new();
        for (i, (kind, item, prev, response, text, ms, status)) in steps.into_iter().enumerate() {
            let (response, role) = (responses[response], roles[status]);
            let (kind, _) = ServerEvent::KNOWN_TYPES[kind.index(ServerEvent::KNOWN_TYPES.len())];
            let prev = if prev == 3 { serde_json::Value::Null } else { ids[prev].into() };
            let event = json!({
                "type": kind, "event_id": format!("e{}", i % 7), "item_id": ids[item], "previous_item_id": prev,
                "response_id": response, "delta": text, "transcript": text, "text": text,
                "audio_start_ms": ms, "audio_end_ms": ms,
                "item": {"id": ids[item], "type": "message", "role": role,
                         "content": [{"type": "input_text", "text": text}]},
                "response": {"id": response, "status": statuses[status], "output": [{"id": ids[item]}]},
                "error": {"code": text},
            });
            let envelope = parse_server_event(&event.to_string()).unwrap();
            assembler.apply(&envelope, i as u64);
        }
        assembler.finish(1_000_000);
        let seqs: Vec<u32> = assembler.lines().iter().map(|l| l.seq).collect();
        prop_assert_eq!(seqs, (1..=assembler.lines().len() as u32).collect::<Vec<_>>());
        prop_assert!(assembler.lines().iter().all(|l| l.status == LineStatus::Final));
    }

    #[test]
    fn no_string_makes_the_parser_panic(input in ".{0,300}") {
        let _ = parse_server_event(&input);
    }

    #[test]
    fn no_json_value_makes_the_parser_panic(kind in prop::sample::select(ServerEvent::KNOWN_TYPES.to_vec()), value in any::<i64>()) {
        for body in [json!({"type": kind.0, "item_id": value}), json!({"type": kind.0, "response": value}), json!({"type": kind.0, "item": [value]})] {
            let _ = parse_server_event(&body.to_string());
        }
    }
}

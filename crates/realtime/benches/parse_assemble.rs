//! Parse + assemble throughput on one core, for two event mixes: the two-turn fixture repeated
//! with fresh ids (many heavy session/response events), and a delta-heavy stream closer to live
//! traffic. Run with `cargo xtask bench`; the goal is ≥ 1 M events/s.

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)] // Tests fail loudly by design.

use std::hint::black_box;

use criterion::{Criterion, Throughput, criterion_group, criterion_main};
use viva_realtime::{Assembler, parse_server_event};

/// `copies` of the two-turn fixture, each with its own item, response and event ids, and each
/// continuing the conversation where the previous copy ended.
fn interview(copies: usize) -> Vec<String> {
    let fixture = include_str!("../tests/fixtures/two_turn.jsonl");
    let mut events = Vec::new();
    for copy in 0..copies {
        let previous = match copy {
            0 => "null".to_owned(),
            _ => format!("\"item_{}_u2\"", copy - 1),
        };
        for line in fixture.lines() {
            events.push(
                line.replace("\"item_a", &format!("\"item_{copy}_a"))
                    .replace("\"item_u", &format!("\"item_{copy}_u"))
                    .replace(
                        "\"previous_item_id\":null",
                        &format!("\"previous_item_id\":{previous}"),
                    )
                    .replace("resp_", &format!("resp_{copy}_"))
                    .replace("\"ev_", &format!("\"ev_{copy}_")),
            );
        }
    }
    events
}

/// A delta-heavy stream, closer to live traffic: per turn a 40-delta question and a 10-delta
/// answer among 8 other events (86 % deltas).
fn delta_stream(turns: usize) -> Vec<String> {
    let mut events = Vec::new();
    let mut id = 0;
    let mut ev = || {
        id += 1;
        format!("ev_{id}")
    };
    let mut previous = "null".to_owned();
    for t in 0..turns {
        let (a, u, r) = (
            format!("item_a{t}"),
            format!("item_u{t}"),
            format!("resp_{t}"),
        );
        events.push(format!(r#"{{"type":"response.created","event_id":"{}","response":{{"id":"{r}","status":"in_progress","output":[]}}}}"#, ev()));
        events.push(format!(r#"{{"type":"conversation.item.added","event_id":"{}","previous_item_id":{previous},"item":{{"id":"{a}","type":"message","role":"assistant","content":[]}}}}"#, ev()));
        for _ in 0..40 {
            events.push(format!(r#"{{"type":"response.output_audio_transcript.delta","event_id":"{}","response_id":"{r}","item_id":"{a}","output_index":0,"content_index":0,"delta":"word "}}"#, ev()));
        }
        events.push(format!(r#"{{"type":"response.output_audio_transcript.done","event_id":"{}","response_id":"{r}","item_id":"{a}","output_index":0,"content_index":0,"transcript":"{}"}}"#, ev(), "word ".repeat(40).trim()));
        events.push(format!(r#"{{"type":"response.done","event_id":"{}","response":{{"id":"{r}","status":"completed","output":[{{"id":"{a}"}}]}}}}"#, ev()));
        events.push(format!(r#"{{"type":"input_audio_buffer.speech_started","event_id":"{}","audio_start_ms":{},"item_id":"{u}"}}"#, ev(), t * 10_000));
        events.push(format!(r#"{{"type":"input_audio_buffer.committed","event_id":"{}","previous_item_id":"{a}","item_id":"{u}"}}"#, ev()));
        for _ in 0..10 {
            events.push(format!(r#"{{"type":"conversation.item.input_audio_transcription.delta","event_id":"{}","item_id":"{u}","content_index":0,"delta":"answer "}}"#, ev()));
        }
        events.push(format!(r#"{{"type":"conversation.item.input_audio_transcription.completed","event_id":"{}","item_id":"{u}","content_index":0,"transcript":"{}"}}"#, ev(), "answer ".repeat(10).trim()));
        previous = format!("\"{u}\"");
    }
    events
}

/// The hot path as the call code runs it: one reused change buffer, drained after each event.
fn assemble_all(events: &[String]) -> Assembler {
    let mut assembler = Assembler::new();
    let mut changes = Vec::new();
    for (i, event) in events.iter().enumerate() {
        if let Ok(envelope) = parse_server_event(black_box(event)) {
            assembler.apply_into(&envelope, i as u64, &mut changes);
            black_box(&changes);
            changes.clear();
        }
    }
    assembler
}

fn parse_and_assemble(c: &mut Criterion) {
    let events = interview(200);
    let mut group = c.benchmark_group("realtime");
    group.throughput(Throughput::Elements(events.len() as u64));
    group.bench_function("parse", |b| {
        b.iter(|| {
            for event in &events {
                black_box(parse_server_event(black_box(event)).ok());
            }
        })
    });
    group.bench_function("parse+assemble (fixture mix)", |b| {
        b.iter(|| assemble_all(&events))
    });
    let deltas = delta_stream(100);
    group.throughput(Throughput::Elements(deltas.len() as u64));
    group.bench_function("parse+assemble (86% deltas)", |b| {
        b.iter(|| assemble_all(&deltas))
    });
    group.finish();
}

criterion_group!(benches, parse_and_assemble);
criterion_main!(benches);

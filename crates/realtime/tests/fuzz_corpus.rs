//! Replays the fuzz corpus (seeds and any inputs the fuzzer found and we kept) in the normal test
//! suite, with the same checks as the fuzz target, so a fixed crash stays fixed.

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)] // Tests fail loudly by design.

use viva_realtime::{LineStatus, replay};

#[test]
fn every_corpus_input_replays_to_a_gap_free_final_transcript() {
    let corpus =
        std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("fuzz/corpus/parse_assemble");
    let mut inputs = 0;
    for entry in std::fs::read_dir(&corpus).unwrap() {
        let path = entry.unwrap().path();
        let log = String::from_utf8_lossy(&std::fs::read(&path).unwrap()).into_owned();
        let replay = replay(&log);
        for (expected, line) in (1..).zip(replay.assembler.lines()) {
            assert_eq!(
                line.seq,
                expected,
                "{}: numbering broke at {line:?}",
                path.display()
            );
            assert_eq!(
                line.status,
                LineStatus::Final,
                "{}: line left open",
                path.display()
            );
        }
        let live = viva_realtime::replay_live(&log);
        let mut ids = std::collections::HashSet::new();
        for (expected, line) in (1..).zip(&live) {
            assert_eq!(
                line.seq,
                expected,
                "{}: Live numbering broke",
                path.display()
            );
            assert_eq!(
                line.status,
                LineStatus::Final,
                "{}: Live line left open",
                path.display()
            );
            assert!(
                ids.insert(line.item_id.clone()),
                "{}: Live id repeats",
                path.display()
            );
        }
        inputs += 1;
    }
    assert!(inputs >= 5, "the corpus at {} is missing", corpus.display());
}

#[test]
fn the_live_seed_replays_to_its_lines_with_each_word_once() {
    let seed = std::path::Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("fuzz/corpus/parse_assemble/live_interleaved.jsonl");
    let lines = viva_realtime::replay_live(&std::fs::read_to_string(seed).unwrap());
    let all: Vec<String> = lines.iter().map(|l| l.text.clone()).collect();
    let joined = all.join("|");
    assert_eq!(joined.matches("I build compilers.").count(), 1, "{all:?}");
    assert_eq!(joined.matches("Late words").count(), 1, "{all:?}");
    assert!(
        joined.contains("after close"),
        "words after the close are kept: {all:?}"
    );
    assert!(lines[0].item_id.starts_with("live_seed#"), "{lines:?}");
}

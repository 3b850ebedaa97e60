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
        inputs += 1;
    }
    assert!(inputs >= 5, "the corpus at {} is missing", corpus.display());
}

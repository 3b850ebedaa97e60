//! The local interviewer's client-event parser, replayed over its fuzz corpus (seeds and kept
//! findings) with the fuzz target's checks.

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)] // Tests fail loudly by design.

use viva_localstack::interviewer::client_event::{
    ClientEvent, check_client_event, parse_client_event,
};

#[test]
fn the_client_event_fuzz_corpus_replays_cleanly() {
    let corpus = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("fuzz/corpus/client_events");
    let mut inputs = 0;
    for entry in std::fs::read_dir(&corpus).unwrap() {
        let bytes = std::fs::read(entry.unwrap().path()).unwrap();
        check_client_event(&String::from_utf8_lossy(&bytes));
        inputs += 1;
    }
    assert!(
        inputs >= 10,
        "the corpus at {} is missing",
        corpus.display()
    );
}

#[test]
fn the_seeded_events_parse_as_the_interviewer_follows_them() {
    let corpus = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("fuzz/corpus/client_events");
    let read = |name: &str| std::fs::read_to_string(corpus.join(name)).unwrap();
    assert!(matches!(
        parse_client_event(&read("session_update")).unwrap().event,
        ClientEvent::SessionUpdate(_)
    ));
    assert!(matches!(
        parse_client_event(&read("item_create")).unwrap().event,
        ClientEvent::ItemCreate(_)
    ));
    assert!(matches!(
        parse_client_event(&read("unknown")).unwrap().event,
        ClientEvent::Unknown { .. }
    ));
    assert_eq!(
        parse_client_event(&read("truncated")).unwrap_err().code(),
        "invalid_json"
    );
    assert_eq!(
        parse_client_event(&read("session_update_bad_vad"))
            .unwrap_err()
            .code(),
        "invalid_turn_detection"
    );
}

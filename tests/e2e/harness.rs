//! The harness itself must work, or later end-to-end tests would fail for the wrong reason: the
//! virtual microphone carries speech (and only speech), and the secret service keeps a secret.

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)] // Tests fail loudly by design.

use std::path::PathBuf;
use std::process::{Command, Stdio};
use std::time::Duration;

use viva_e2e::{Harness, run, wav_rms};

/// Records the virtual microphone's monitor (what an app capturing the default input hears)
/// while `during` runs.
fn record_microphone(harness: &Harness, name: &str, during: impl FnOnce()) -> PathBuf {
    let recording = harness.artifact_path(name, "wav");
    let mut recorder = Command::new("parecord")
        .args([
            "--file-format=wav",
            "--format=s16le",
            "--rate=16000",
            "--channels=1",
        ])
        .arg(format!("--device={}.monitor", harness.mic_sink))
        .arg(&recording)
        .stdin(Stdio::null())
        .spawn()
        .unwrap();
    std::thread::sleep(Duration::from_millis(300));
    during();
    std::thread::sleep(Duration::from_millis(300));
    run(Command::new("kill")
        .arg("-INT")
        .arg(recorder.id().to_string()))
    .unwrap();
    recorder.wait().unwrap();
    recording
}

#[test]
fn speech_said_into_the_virtual_microphone_is_heard_and_silence_is_silent() {
    let harness = Harness::from_env().unwrap();

    let quiet = record_microphone(&harness, "vmic-quiet", || {
        std::thread::sleep(Duration::from_millis(800));
    });
    let quiet_level = wav_rms(&quiet).unwrap();
    assert!(
        quiet_level < 0.005,
        "the idle microphone is noisy (rms {quiet_level:.4})"
    );

    let spoken = record_microphone(&harness, "vmic-speech", || {
        harness
            .say("Tell me about a project you are proud of.")
            .unwrap();
    });
    let speech_level = wav_rms(&spoken).unwrap();
    assert!(
        speech_level > 0.02,
        "the microphone heard almost nothing (rms {speech_level:.4})"
    );
}

#[test]
fn the_secret_service_stores_and_returns_a_secret() {
    Harness::from_env().unwrap();
    let secret = format!("viva-harness-{}", std::process::id());
    let attributes = ["service", "viva-e2e", "account", "harness"];
    let mut store = Command::new("secret-tool")
        .args(["store", "--label=viva harness check"])
        .args(attributes)
        .stdin(Stdio::piped())
        .spawn()
        .unwrap();
    {
        use std::io::Write;
        let mut stdin = store.stdin.take().unwrap();
        stdin.write_all(secret.as_bytes()).unwrap();
    }
    assert!(store.wait().unwrap().success(), "secret-tool store failed");

    let lookup = Command::new("secret-tool")
        .arg("lookup")
        .args(attributes)
        .output()
        .unwrap();
    assert_eq!(String::from_utf8_lossy(&lookup.stdout), secret);
    run(Command::new("secret-tool").arg("clear").args(attributes)).unwrap();
}

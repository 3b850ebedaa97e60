//! What the call tests share.

#![allow(dead_code, clippy::unwrap_used, clippy::expect_used)] // Each binary uses a subset.

use viva_rtc::{ClientSecret, Grant, RealtimeGrant, SignalingMode, VoiceApi};

/// Writes espeak-ng's reading of `text` to the WAV file `path`.
pub fn say_to_wav(path: &std::path::Path, text: &str) {
    let status = std::process::Command::new("espeak-ng")
        .args(["-v", "en-us", "-s", "160", "-w"])
        .arg(path)
        .arg(text)
        .status()
        .expect("espeak-ng runs");
    assert!(status.success());
}

/// espeak-ng speech at 48 kHz, read back through the same WAV path the CLI uses.
pub fn speech(text: &str) -> Vec<f32> {
    let dir = std::env::temp_dir().join(format!("viva-cli-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let path = dir.join(format!("{}.wav", text.len()));
    say_to_wav(&path, text);
    viva_audio::read_wav(&path).unwrap()
}

/// The words of `text`, lower-case, without punctuation.
pub fn words(text: &str) -> Vec<String> {
    text.split_whitespace()
        .map(|w| {
            w.trim_matches(|c: char| !c.is_alphanumeric())
                .to_lowercase()
        })
        .collect()
}

/// The answer `said` was `heard`: at most two of its words missing (the offline model drops or
/// mishears a short word now and then).
pub fn assert_heard(said: &str, heard: &str) {
    let heard = words(heard);
    let missing: Vec<String> = words(said)
        .into_iter()
        .filter(|w| !heard.contains(w))
        .collect();
    assert!(missing.len() <= 2, "missing {missing:?} in {heard:?}");
}

/// A grant for a voice AI at `url` with a key that never expires (no backend behind it).
pub fn grant_for(url: String) -> Grant {
    Grant {
        session_id: "s-junk".into(),
        mode: "voice".into(),
        max_duration_s: None,
        realtime: RealtimeGrant {
            api: VoiceApi::Realtime,
            signaling: SignalingMode::Http,
            url,
            client_secret: ClientSecret {
                value: "ek_test".into(),
                expires_at: i64::MAX,
            },
            model: "gpt-realtime".into(),
            session: serde_json::json!({"type": "realtime"}),
            ice_servers: vec![],
        },
        access_token: None,
    }
}

/// Where a scripted session's transcript is written ahead: a store in a fresh folder (kept
/// while the returned folder lives).
pub fn recording(grant: &Grant) -> (viva_session::Recording, tempfile::TempDir) {
    let dir = tempfile::tempdir().unwrap();
    let (store, _) = viva_store::Store::open(&dir.path().join(viva_store::FILE_NAME)).unwrap();
    let session = viva_store::NewSession {
        id: grant.session_id.clone(),
        remote: None,
        user_id: None,
        title: "Practice".into(),
        mode: "practice".into(),
        started_at_ms: 0,
    };
    (viva_session::Recording { store, session }, dir)
}

/// Settings for a scripted session whose call uses `call`.
pub fn settings(call: viva_rtc::CallConfig) -> viva_session::LiveSettings {
    viva_session::LiveSettings {
        call,
        ..viva_session::LiveSettings::default()
    }
}

//! What the call tests share.

#![allow(clippy::unwrap_used, clippy::expect_used)]

/// espeak-ng speech at 48 kHz, read back through the same WAV path the CLI uses.
pub fn speech(text: &str) -> Vec<f32> {
    let dir = std::env::temp_dir().join(format!("viva-cli-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let path = dir.join(format!("{}.wav", text.len()));
    let status = std::process::Command::new("espeak-ng")
        .args(["-v", "en-us", "-s", "160", "-w"])
        .arg(&path)
        .arg(text)
        .status()
        .expect("espeak-ng runs");
    assert!(status.success());
    viva_audio::read_wav(&path).unwrap()
}

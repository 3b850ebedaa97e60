//! What a candidate says, as a test hears it: espeak-ng speech at the rates Viva uses, and the
//! word error score. (The local interviewer's tests have the full candidate peer.)

#![allow(dead_code, clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use viva_audio::resample::StreamResampler;

/// Speech from espeak-ng at 48 kHz.
pub fn speech(text: &str) -> Vec<f32> {
    let out = std::process::Command::new("espeak-ng")
        .args(["-v", "en-us", "-s", "160", "--stdout", "--", text])
        .output()
        .expect("espeak-ng runs");
    assert!(out.status.success(), "espeak-ng failed");
    let reader = hound::WavReader::new(std::io::Cursor::new(&out.stdout)).unwrap();
    let rate = reader.spec().sample_rate;
    let data = &out.stdout[44..];
    let samples: Vec<f32> = data
        .chunks_exact(2)
        .map(|b| f32::from(i16::from_le_bytes([b[0], b[1]])) / 32768.0)
        .collect();
    let mut resampler = StreamResampler::new(rate, 48_000).unwrap();
    let mut out = Vec::new();
    resampler.process(&samples, &mut out).unwrap();
    resampler
        .process(&vec![0.0; rate as usize / 10], &mut out)
        .unwrap();
    out
}

/// The same speech at 16 kHz (for feeding Whisper directly).
pub fn speech_16k(text: &str) -> Vec<f32> {
    let at48 = speech(text);
    let mut resampler = StreamResampler::new(48_000, 16_000).unwrap();
    let mut out = Vec::new();
    resampler.process(&at48, &mut out).unwrap();
    out
}

pub use viva_speech::model::word_errors as word_error_rate;

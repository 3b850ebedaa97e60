//! The Opus round trip keeps speech: espeak-ng speech, resampled to 48 kHz, encoded at the
//! default 32 kbit/s and decoded again.

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

mod common;

use common::*;
use viva_audio::resample::StreamResampler;
use viva_audio::{EncoderSettings, FRAME_SAMPLES, OpusDecoder, OpusEncoder};

fn speech_at_48k() -> Vec<f32> {
    let dir = scratch("codec");
    let wav = say(
        &dir,
        "answer",
        "My strongest skill is breaking a vague problem into small steps.",
    );
    let (rate, source) = read_wav(&wav);
    let mut resampler = StreamResampler::new(rate, 48_000).unwrap();
    let mut speech = Vec::new();
    resampler.process(&source, &mut speech).unwrap();
    speech.truncate(speech.len() / FRAME_SAMPLES * FRAME_SAMPLES);
    speech
}

fn round_trip(speech: &[f32], settings: EncoderSettings) -> (Vec<f32>, usize) {
    let mut encoder = OpusEncoder::new(settings).unwrap();
    let mut decoder = OpusDecoder::new().unwrap();
    let mut decoded = Vec::new();
    let mut bytes = 0;
    let mut frame = [0.0; FRAME_SAMPLES];
    for chunk in speech.chunks_exact(FRAME_SAMPLES) {
        let packet = encoder.encode(chunk).unwrap();
        bytes += packet.len();
        let n = decoder.decode(&packet, &mut frame).unwrap();
        decoded.extend_from_slice(&frame[..n]);
    }
    (decoded, bytes)
}

/// Signal-to-noise ratio in dB after lining the decoded audio up with the source (the codec
/// delays it by its look-ahead).
fn snr_db(source: &[f32], decoded: &[f32]) -> f32 {
    (0..600)
        .map(|delay| {
            let pairs = source.iter().zip(&decoded[delay..]);
            let (signal, noise) = pairs.fold((0.0f64, 0.0f64), |(s, n), (a, b)| {
                (s + f64::from(*a).powi(2), n + f64::from(a - b).powi(2))
            });
            (10.0 * (signal / noise.max(1e-12)).log10()) as f32
        })
        .fold(f32::MIN, f32::max)
}

#[test]
fn speech_survives_the_opus_round_trip() {
    let speech = speech_at_48k();
    let (decoded, bytes) = round_trip(&speech, EncoderSettings::default());
    assert_eq!(decoded.len(), speech.len());
    let r = pearson(
        &envelope(&speech, 48_000, 20),
        &envelope(&decoded, 48_000, 20),
    );
    let snr = snr_db(&speech, &decoded);
    let kbps = bytes as f32 * 8.0 / (speech.len() as f32 / 48_000.0) / 1000.0;
    eprintln!("envelope r = {r:.3}, SNR = {snr:.1} dB, {kbps:.1} kbit/s");
    assert!(r >= 0.95, "envelope correlation {r:.3}");
    assert!(snr >= 8.0, "SNR {snr:.1} dB");
    assert!(
        (20.0..=40.0).contains(&kbps),
        "{kbps:.1} kbit/s at a 32 kbit/s target"
    );
}

#[test]
fn a_lower_bitrate_costs_fewer_bytes_and_still_carries_the_speech() {
    let speech = speech_at_48k();
    let (_, full) = round_trip(&speech, EncoderSettings::default());
    let low = EncoderSettings {
        bitrate: 12_000,
        ..EncoderSettings::default()
    };
    let (decoded, small) = round_trip(&speech, low);
    assert!(
        small * 2 < full,
        "{small} bytes at 12 kbit/s vs {full} at 32 kbit/s"
    );
    let r = pearson(
        &envelope(&speech, 48_000, 20),
        &envelope(&decoded, 48_000, 20),
    );
    assert!(r >= 0.9, "envelope correlation {r:.3} at 12 kbit/s");
}

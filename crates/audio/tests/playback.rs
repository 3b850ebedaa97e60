//! Playback of the interviewer's voice into the harness's virtual speaker, recorded back through
//! its monitor: speech sent as RTP Opus packets, with some lost and some reordered on the way,
//! comes out whole.

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

mod common;

use std::time::{Duration, Instant};

use common::*;
use viva_audio::resample::StreamResampler;
use viva_audio::{
    AudioEvent, Capture, CaptureSettings, DeviceSelection, Direction, EncoderSettings,
    FRAME_SAMPLES, OpusEncoder, Playback, PlaybackSettings, RtpAudio,
};

/// The question as RTP packets, starting just below the sequence-number wrap.
fn question_packets() -> (Vec<f32>, Vec<RtpAudio>) {
    let dir = scratch("playback");
    let wav = say(
        &dir,
        "question",
        "Tell me about a time you disagreed with your manager.",
    );
    let (rate, source) = read_wav(&wav);
    let mut resampler = StreamResampler::new(rate, 48_000).unwrap();
    let mut speech = Vec::new();
    resampler.process(&source, &mut speech).unwrap();
    let mut encoder = OpusEncoder::new(EncoderSettings::default()).unwrap();
    let packets = speech
        .chunks_exact(FRAME_SAMPLES)
        .enumerate()
        .map(|(i, frame)| RtpAudio {
            sequence: 65_500u16.wrapping_add(i as u16),
            timestamp: 7_000u32.wrapping_add(i as u32 * 960),
            payload: encoder.encode(frame).unwrap(),
        })
        .collect();
    (speech, packets)
}

#[test]
fn the_interviewer_is_heard_despite_loss_and_reordering() {
    require_pulse();
    let (speech, packets) = question_packets();
    let (_capture, mut recorded) = Capture::start(CaptureSettings::default()).unwrap();
    // Played into the microphone's sink (the default output is a separate one), so the
    // capture hears exactly what playback produced.
    let into_microphone = format!("pulseaudio:{}", common::mic_sink());
    let (playback, mut events) = Playback::start(PlaybackSettings {
        device: DeviceSelection::Id(into_microphone.clone()),
        ..PlaybackSettings::default()
    })
    .unwrap();
    assert_eq!(
        playback.stats().unwrap().device.unwrap().id,
        into_microphone
    );

    // The network: every 12th packet lost, every 7th swapped with the one after it.
    let sender = playback.sender();
    let network = std::thread::spawn(move || {
        std::thread::sleep(Duration::from_millis(500));
        let start = Instant::now();
        let mut order: Vec<usize> = (0..packets.len()).collect();
        for i in (0..order.len() - 1).step_by(7) {
            order.swap(i, i + 1);
        }
        let mut lost = 0;
        // Each packet leaves in its 20 ms slot (a swapped pair trade slots); lost ones leave a gap.
        for (slot, &index) in order.iter().enumerate() {
            if index % 12 == 5 {
                lost += 1;
                continue;
            }
            let due = start + Duration::from_millis(20 * slot as u64);
            std::thread::sleep(due.saturating_duration_since(Instant::now()));
            sender.push(packets[index].clone());
        }
        lost
    });
    let (frames, _) = record(&mut recorded, Duration::from_secs(5), |_, _, _| {});
    let lost = network.join().unwrap();

    let pcm = decode(&frames);
    let captured = envelope(&pcm, 48_000, 20);
    let source = envelope(&speech, 48_000, 20);
    let stats = playback.stats().unwrap();
    eprintln!("{stats:?}");
    // In halves: under CPU load the jitter buffer may rebuffer once mid-sentence, which moves
    // the rest of it later; what matters is that every part is there and sounds like the source.
    let (offset, r) = locate_pieces(&captured, &source, 2);
    eprintln!(
        "envelope correlation {r:.2} (worst half) at {} ms",
        offset * 20
    );
    assert!(r >= 0.7, "envelope correlation {r:.2}");

    assert!(stats.jitter.missing >= lost as u64, "{stats:?}");
    assert!(
        stats.recovered > 0,
        "no lost frame was rebuilt from FEC: {stats:?}"
    );
    assert_eq!(
        stats.jitter.late, 0,
        "a reordered packet came too late for its slot"
    );
    assert!((40..=60).contains(&stats.target_delay_ms));
    assert!(stats.underruns <= 5, "{} underruns", stats.underruns);

    let mut speaker_peak = f32::MIN;
    while let Ok(event) = events.try_recv() {
        if let AudioEvent::Level {
            direction: Direction::Output,
            level,
        } = event
        {
            speaker_peak = speaker_peak.max(level.peak_dbfs);
        }
    }
    assert!(
        speaker_peak > -20.0,
        "speaker level peaked at {speaker_peak} dBFS"
    );
}

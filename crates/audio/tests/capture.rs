//! Capture through the public API from the harness's virtual microphone: speech played into it
//! with espeak-ng must come out of the Opus frames at the right time and with the right shape.

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

mod common;

use std::time::Duration;

use common::*;
use viva_audio::{AudioEvent, Capture, CaptureSettings, Direction};

const SENTENCE: &str = "I led the migration of our billing system last year.";

#[test]
fn spoken_sentence_is_captured_at_the_right_time_with_its_shape() {
    require_pulse();
    let dir = scratch("timing");
    let wav = say(&dir, "sentence", SENTENCE);
    let (rate, source) = read_wav(&wav);
    let source_env = envelope(&source, rate, 20);

    let (capture, mut streams) = Capture::start(CaptureSettings::default()).unwrap();
    let device = capture.stats().device.unwrap();
    assert_eq!(device.direction, Direction::Input);
    let mut player = None;
    let (frames, events) = record(&mut streams, Duration::from_secs(5), |elapsed, _, _| {
        if player.is_none() && elapsed >= Duration::from_secs(1) {
            player = Some(play_into(&mic_sink(), &wav));
        }
    });
    let (mut child, played_at) = player.unwrap();
    child.wait().unwrap();

    // 5 s of 20 ms frames, numbered without gaps.
    assert!(
        (240..=262).contains(&frames.len()),
        "{} frames in 5 s",
        frames.len()
    );
    assert!(
        frames
            .windows(2)
            .all(|w| w[1].sequence == w[0].sequence + 1)
    );
    assert!(frames.iter().all(|f| !f.silent));

    // The speech starts where it was played: after paplay started, within its start-up and
    // the sound server's latency.
    let captured = decode(&frames);
    let captured_env = envelope(&captured, 48_000, 20);
    let speech = onset(&captured_env, -40.0).expect("speech was captured");
    let source_lead = onset(&source_env, -40.0).unwrap();
    let heard_at = frames[speech].captured_at;
    let expected = played_at + Duration::from_millis(20 * source_lead as u64);
    let delay = heard_at.saturating_duration_since(expected);
    assert!(
        heard_at + Duration::from_millis(40) >= expected,
        "speech captured before it was played"
    );
    assert!(
        delay < Duration::from_millis(600),
        "speech heard {delay:?} after it was played"
    );

    // The energy envelope follows the source's.
    let (offset, r) = locate(&captured_env, &source_env);
    eprintln!("speech heard {delay:?} after it was played; envelope correlation {r:.2}");
    assert!(r >= 0.7, "envelope correlation {r:.2}");
    assert!(
        offset.abs_diff(speech - source_lead) <= 5,
        "the match is where the speech starts"
    );

    // Levels came every 50 ms, loud during the speech.
    let mic_levels: Vec<_> = events
        .iter()
        .filter_map(|e| match e {
            AudioEvent::Level {
                direction: Direction::Input,
                level,
            } => Some(*level),
            _ => None,
        })
        .collect();
    assert!(
        (95..=101).contains(&mic_levels.len()),
        "{} level events",
        mic_levels.len()
    );
    assert!(mic_levels.iter().any(|l| l.peak_dbfs > -20.0));
}

#[test]
fn mute_sends_silence_without_stopping_the_stream() {
    require_pulse();
    let dir = scratch("mute");
    let wav = say(&dir, "long", &format!("{SENTENCE} {SENTENCE}"));
    let (capture, mut streams) = Capture::start(CaptureSettings::default()).unwrap();
    let (mut player, _) = play_into(&mic_sink(), &wav);
    let mut muted_at = None;
    let (frames, events) = record(
        &mut streams,
        Duration::from_secs(4),
        |elapsed, frames, events| {
            if muted_at.is_none() && elapsed >= Duration::from_secs(2) {
                capture.set_muted(true);
                muted_at = Some((frames.len(), events.len()));
            }
        },
    );
    player.wait().unwrap();
    assert!(capture.stats().muted);
    let (frames_before, events_before) = muted_at.unwrap();

    // Frames keep coming at the same pace (200 in 4 s, give or take the sound server's first
    // block and a busy machine); those after the switch are marked silent and are.
    assert!(
        (188..=212).contains(&frames.len()),
        "{} frames in 4 s",
        frames.len()
    );
    let after = &frames[frames_before + 5..];
    assert!(after.len() > 80);
    assert!(after.iter().all(|f| f.silent));
    let loud_before = envelope(&decode(&frames[..frames_before]), 48_000, 20);
    assert!(onset(&loud_before, -30.0).is_some(), "speech before muting");
    let quiet_after = envelope(&decode(after), 48_000, 20);
    assert_eq!(
        onset(&quiet_after, -60.0),
        None,
        "muted frames carry no sound"
    );

    // The level meter shows the silence that is sent.
    let levels_after: Vec<_> = events[events_before + 3..]
        .iter()
        .filter_map(|e| match e {
            AudioEvent::Level { level, .. } => Some(level.peak_dbfs),
            _ => None,
        })
        .collect();
    assert!(levels_after.len() > 30);
    assert!(
        levels_after.iter().all(|&peak| peak <= -90.0),
        "{levels_after:?}"
    );
    // Muting on purpose never raises the no-signal warning.
    assert!(
        !events
            .iter()
            .any(|e| matches!(e, AudioEvent::NoSignal { .. }))
    );
}

#[test]
fn a_silent_microphone_raises_the_no_signal_warning_and_speech_clears_it() {
    require_pulse();
    let dir = scratch("nosignal");
    let wav = say(&dir, "hello", "Hello, can you hear me?");
    let settings = CaptureSettings {
        no_signal_after: Duration::from_secs(1),
        ..CaptureSettings::default()
    };
    let (_capture, mut streams) = Capture::start(settings).unwrap();
    let mut player = None;
    let (_, events) = record(&mut streams, Duration::from_secs(4), |elapsed, _, _| {
        if player.is_none() && elapsed >= Duration::from_millis(2_000) {
            player = Some(play_into(&mic_sink(), &wav));
        }
    });
    player.unwrap().0.wait().unwrap();
    let warning = events
        .iter()
        .position(|e| *e == AudioEvent::NoSignal { seconds: 1 });
    let cleared = events.iter().position(|e| *e == AudioEvent::SignalRestored);
    assert!(warning.is_some(), "no warning in {events:?}");
    assert!(cleared > warning, "the warning was not cleared by speech");
}

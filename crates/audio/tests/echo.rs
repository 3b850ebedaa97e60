//! Echo cancellation in a simulated room: the interviewer's voice (espeak-ng) plays through an
//! echo path into the microphone, the reference goes through the tap as the playback callback
//! will send it, and the canceller must remove the echo but keep the candidate's voice.

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

mod room;

use room::{Output, RATE, Room, Voice, at, db, energy, erle, mono48, noise, run};
use viva_audio::{EchoCanceller, echo_reference};

/// The microphone's own noise floor.
const NOISE_DBFS: f64 = -85.0;

/// The interviewer alone for `seconds`, through `room`: (far end at 48 kHz, echo, mic).
fn far_only(room: Room, seconds: f64) -> (Vec<f32>, Vec<f32>, Vec<f32>) {
    let far = Voice::far().at(48_000, seconds);
    let far = far[..at(seconds)].to_vec();
    let echo = room.echo(&far);
    let floor = noise(far.len(), NOISE_DBFS, 7);
    let mic = echo.iter().zip(&floor).map(|(e, n)| e + n).collect();
    (far, echo, mic)
}

#[test]
fn the_echo_is_cancelled_by_30_db_after_a_second() {
    for room in [
        Room {
            delay_ms: 40.0,
            gain_db: -6.0,
        },
        Room {
            delay_ms: 150.0,
            gain_db: -20.0,
        },
    ] {
        let (far, echo, mic) = far_only(room, 3.0);
        let (mut tap, feed) = echo_reference(48_000);
        let mut canceller = EchoCanceller::new(feed);
        let out = run(&mut canceller, &mut tap, &mono48(&far), &mic, |_, _, _| {});
        let enhancement = erle(&echo, &out, 1.0, 3.0);
        eprintln!(
            "{room:?}: ERLE {enhancement:.1} dB, {:?}",
            canceller.control().stats()
        );
        assert!(
            enhancement >= 30.0,
            "{room:?}: ERLE {enhancement:.1} dB after 1 s"
        );
        let stats = canceller.control().stats();
        assert_eq!(stats.frames, 150);
        assert_eq!(stats.reference_dropped, 0);
        assert_eq!(stats.reference_late_frames, 0);
        assert_eq!(stats.reference_samples, 150 * 960);
        // What pre-flight's speaker test and the room tell the candidate.
        assert_eq!(stats.speakers_heard, Some(true), "{room:?}");
        // Sonora's own estimate of the echo path, within 20 ms of the room's.
        let delay = stats.delay_ms.expect("a delay estimate");
        assert!(
            (f64::from(delay) - room.delay_ms).abs() <= 20.0,
            "{room:?}: estimated {delay} ms"
        );
    }
}

#[test]
fn switched_off_the_echo_passes_and_back_on_it_is_cancelled_again() {
    let room = Room {
        delay_ms: 80.0,
        gain_db: -12.0,
    };
    let (far, echo, mic) = far_only(room, 5.0);
    let (mut tap, feed) = echo_reference(48_000);
    let mut canceller = EchoCanceller::new(feed);
    let control = canceller.control();
    let out = run(
        &mut canceller,
        &mut tap,
        &mono48(&far),
        &mic,
        |frame, _, _| {
            // Off ("I'm using headphones") from 1.5 s to 3.5 s, at runtime.
            if frame == 75 {
                control.set_enabled(false);
            }
            if frame == 175 {
                control.set_enabled(true);
            }
        },
    );
    let on = erle(&echo, &out, 0.5, 1.5);
    let off = erle(&echo, &out, 1.6, 3.5);
    let again = erle(&echo, &out, 4.0, 5.0);
    eprintln!("ERLE on {on:.1} dB, off {off:.1} dB, on again {again:.1} dB");
    assert!(on >= 25.0, "on: ERLE {on:.1} dB");
    assert!(off < 1.0, "off: ERLE {off:.1} dB — the echo should pass");
    // Off is a true passthrough.
    assert_eq!(&out[at(1.6)..at(3.5)], &mic[at(1.6)..at(3.5)]);
    assert!(again >= 30.0, "on again: ERLE {again:.1} dB");
    // While off, the reference was still drained: nothing piled up or dropped.
    assert_eq!(control.stats().reference_dropped, 0);
    assert!(control.stats().enabled);
    assert_eq!(control.stats().speakers_heard, Some(true));
}

#[test]
fn with_headphones_the_microphone_is_not_said_to_hear_the_speakers() {
    let far = Voice::far().at(48_000, 3.0);
    let far = far[..at(3.0)].to_vec();
    // The microphone hears only the room (and a candidate who is quiet).
    let mic = noise(far.len(), NOISE_DBFS, 11);
    for enabled in [true, false] {
        let (mut tap, feed) = echo_reference(48_000);
        let mut canceller = EchoCanceller::new(feed);
        canceller.control().set_enabled(enabled);
        run(&mut canceller, &mut tap, &mono48(&far), &mic, |_, _, _| {});
        assert_eq!(
            canceller.control().stats().speakers_heard,
            Some(false),
            "cancellation on: {enabled}"
        );
    }
}

#[test]
fn the_candidate_talking_over_the_interviewer_keeps_their_level() {
    let room = Room {
        delay_ms: 80.0,
        gain_db: -10.0,
    };
    // The interviewer for 7.5 s; the candidate over them from 4.5 s (a first question has been
    // heard by then), then again alone.
    let seconds = 12.0;
    let far_end = 7.5;
    let mut far = Voice::far().at(48_000, seconds);
    far.truncate(at(seconds));
    far[at(far_end)..].fill(0.0);
    let echo = room.echo(&far);
    let clip = Voice::near().at(48_000, 0.0);
    // The candidate 6 dB above the echo, as a laptop's speakers and a near microphone give.
    let gain = room::active_rms(&echo, RATE / 100) * 2.0 / room::active_rms(&clip, RATE / 100);
    let clip_len = clip.len().min(at(3.0));
    let (talk, alone) = (at(4.5), at(8.5));
    let mut near = vec![0.0f32; far.len()];
    for start in [talk, alone] {
        for (i, s) in clip[..clip_len].iter().enumerate() {
            near[start + i] = s * gain;
        }
    }
    let floor = noise(far.len(), NOISE_DBFS, 9);
    let mic: Vec<f32> = (0..far.len())
        .map(|i| echo[i] + near[i] + floor[i])
        .collect();

    let (mut tap, feed) = echo_reference(48_000);
    let mut canceller = EchoCanceller::new(feed);
    let out = run(&mut canceller, &mut tap, &mono48(&far), &mic, |_, _, _| {});

    // Level of the candidate in the output against their input, over the clip plus 100 ms for
    // sonora's latency; double talk against the candidate alone.
    let level = |start: usize| {
        let range = start..start + clip_len + RATE / 10;
        db(energy(&out[range.clone()]) / energy(&near[range]))
    };
    let (during, alone_level) = (level(talk), level(alone));
    let change = during - alone_level;
    eprintln!("candidate level: double talk {during:+.2} dB, alone {alone_level:+.2} dB");
    assert!(
        change.abs() <= 3.0,
        "double talk changed the candidate's level by {change:+.1} dB (alone {alone_level:+.1} dB)"
    );
    // And the echo was being cancelled just before the candidate spoke.
    let before = erle(&echo, &out, 1.0, 4.5);
    assert!(before >= 30.0, "ERLE before double talk {before:.1} dB");
}

#[test]
fn a_44_1_khz_stereo_reference_and_a_rate_change_mid_stream_reconverge() {
    let room = Room {
        delay_ms: 60.0,
        gain_db: -12.0,
    };
    let (far, echo, mic) = far_only(room, 5.0);
    let far44 = Voice::far().at(44_100, 5.0);
    let stereo44 = |from_second| Output {
        from_second,
        rate: 44_100,
        channels: 2,
        samples: far44.clone(),
    };

    // 44.1 kHz stereo from the start.
    let (mut tap, feed) = echo_reference(88_200);
    let mut canceller = EchoCanceller::new(feed);
    let out = run(
        &mut canceller,
        &mut tap,
        &[stereo44(0.0)],
        &mic,
        |_, _, _| {},
    );
    let enhancement = erle(&echo, &out, 1.0, 3.0);
    eprintln!(
        "44.1 kHz stereo: ERLE {enhancement:.1} dB, {:?}",
        canceller.control().stats()
    );
    assert!(
        enhancement >= 30.0,
        "44.1 kHz stereo: ERLE {enhancement:.1} dB"
    );
    // AEC3's suppressor alone can hold the ERLE up for a while on a mis-timed reference; the
    // delay estimate shows the linear filter found the room (less the resampler's latency).
    let delay = canceller
        .control()
        .stats()
        .delay_ms
        .expect("a delay estimate");
    assert!(
        (f64::from(delay) - room.delay_ms).abs() <= 20.0,
        "44.1 kHz stereo: estimated {delay} ms"
    );

    // The output device changes from 48 kHz mono to 44.1 kHz stereo at 1.5 s.
    let (mut tap, feed) = echo_reference(88_200);
    let mut canceller = EchoCanceller::new(feed);
    let outputs = [mono48(&far).remove(0), stereo44(1.5)];
    let out = run(&mut canceller, &mut tap, &outputs, &mic, |_, _, _| {});
    let before = erle(&echo, &out, 0.8, 1.5);
    let after = erle(&echo, &out, 3.5, 5.0);
    eprintln!(
        "rate change: ERLE before {before:.1} dB, 1.5-2.5 s {:.1} dB, 2.5-3.5 s {:.1} dB, after {after:.1} dB",
        erle(&echo, &out, 1.5, 2.5),
        erle(&echo, &out, 2.5, 3.5)
    );
    assert!(before >= 25.0, "before the change: ERLE {before:.1} dB");
    assert!(after >= 30.0, "2 s after the change: ERLE {after:.1} dB");
    let stats = canceller.control().stats();
    assert_eq!(stats.reference_format_changes, 1);
    assert_eq!(
        (stats.reference_rate, stats.reference_channels),
        (Some(44_100), Some(2))
    );
}

#[test]
fn a_nan_from_the_microphone_or_the_speakers_does_not_poison_later_output() {
    let room = Room {
        delay_ms: 80.0,
        gain_db: -12.0,
    };
    let (far, echo, mic) = far_only(room, 4.0);
    let (mut tap, feed) = echo_reference(48_000);
    let mut canceller = EchoCanceller::new(feed);
    let out = run(
        &mut canceller,
        &mut tap,
        &mono48(&far),
        &mic,
        |frame, mic, tap| {
            if frame == 60 {
                mic[100..110].fill(f32::NAN);
                mic[200] = f32::INFINITY;
            }
            if frame == 70 {
                tap.push_played(&[f32::NAN, f32::NEG_INFINITY], 1, 48_000);
            }
        },
    );
    assert!(out.iter().all(|s| s.is_finite()), "non-finite output");
    let later = erle(&echo, &out, 2.5, 4.0);
    eprintln!("after the NaN: ERLE {later:.1} dB");
    assert!(later >= 30.0, "after the NaN: ERLE {later:.1} dB");
    let stats = canceller.control().stats();
    assert_eq!(stats.sanitized_samples, 13);
    // Sanitising kept sonora healthy: it never had to be rebuilt.
    assert_eq!(stats.resets, 0);
}

#[test]
fn a_new_output_stream_brings_a_new_tap_and_cancellation_carries_on() {
    let room = Room {
        delay_ms: 80.0,
        gain_db: -12.0,
    };
    let (far, echo, mic) = far_only(room, 4.0);
    let (mut tap, feed) = echo_reference(48_000);
    let mut canceller = EchoCanceller::new(feed);
    let control = canceller.control();
    let out = run(
        &mut canceller,
        &mut tap,
        &mono48(&far),
        &mic,
        |frame, _, tap| {
            if frame == 75 {
                // The old stream's last callback overflowed its ring; then the device changed.
                tap.push_played(&vec![0.0f32; 60_000], 1, 48_000);
                let (new_tap, new_feed) = echo_reference(48_000);
                *tap = new_tap;
                control.connect(new_feed);
            }
        },
    );
    let after = erle(&echo, &out, 2.0, 4.0);
    eprintln!("after the new tap: ERLE {after:.1} dB");
    assert!(after >= 30.0, "after the new tap: ERLE {after:.1} dB");
    let stats = control.stats();
    // The old tap's drops still count, and every frame's reference arrived.
    assert_eq!(stats.reference_dropped, 60_000);
    assert_eq!(stats.reference_samples, 200 * 960);
    assert_eq!(stats.reference_late_frames, 0);
}

/// The sound server hands the speakers' audio over in callbacks of 100 ms, up to 40 ms late,
/// and the microphone's frames in bunches: the canceller sees the same signals out of step.
#[test]
fn a_reference_in_the_sound_servers_bursts_is_cancelled_as_in_lockstep() {
    let room = Room {
        delay_ms: 80.0,
        gain_db: -12.0,
    };
    let (far, echo, mic) = far_only(room, 4.0);
    let timing = room::Timing {
        render_ms: 100,
        ahead_ms: 30,
        render_late_ms: 40,
        capture_bunch: 3,
    };
    for seed in 1..=3 {
        let (mut tap, feed) = echo_reference(48_000);
        let mut canceller = EchoCanceller::new(feed);
        let out = room::run_timed(&mut canceller, &mut tap, &far, &mic, timing, seed);
        let enhancement = erle(&echo, &out, 1.0, 4.0);
        let stats = canceller.control().stats();
        eprintln!("schedule {seed}: ERLE {enhancement:.1} dB, {stats:?}");
        assert!(
            enhancement >= 30.0,
            "schedule {seed}: ERLE {enhancement:.1} dB"
        );
        assert_eq!(stats.reference_dropped, 0);
    }
}

/// The echo path moving mid-call (the sound server re-buffering the speakers or the
/// microphone, a device re-routed): cancelled again within 2 s of the move, whichever way.
#[test]
fn an_echo_path_that_moves_mid_call_is_cancelled_again_within_2_s() {
    for jump_ms in [-40.0, 40.0] {
        let seconds = 8.0;
        let far = Voice::far().at(48_000, seconds);
        let far = far[..at(seconds)].to_vec();
        let moved_at = at(3.0);
        let mut echo = Room {
            delay_ms: 80.0,
            gain_db: -12.0,
        }
        .echo(&far);
        let moved = Room {
            delay_ms: 80.0 + jump_ms,
            gain_db: -12.0,
        }
        .echo(&far);
        echo[moved_at..].copy_from_slice(&moved[moved_at..]);
        let floor = noise(far.len(), NOISE_DBFS, 5);
        let mic: Vec<f32> = echo.iter().zip(&floor).map(|(e, n)| e + n).collect();
        let out = room::through_canceller(&far, &mic);
        let before = erle(&echo, &out, 1.0, 3.0);
        let after = erle(&echo, &out, 5.0, seconds);
        eprintln!(
            "path moved by {jump_ms:+} ms: ERLE before {before:.1} dB, 3-4 s {:.1} dB, 4-5 s {:.1} dB, after {after:.1} dB",
            erle(&echo, &out, 3.0, 4.0),
            erle(&echo, &out, 4.0, 5.0),
        );
        assert!(
            before >= 30.0,
            "{jump_ms:+} ms: before the move ERLE {before:.1} dB"
        );
        assert!(
            after >= 30.0,
            "{jump_ms:+} ms: 2 s after the move ERLE {after:.1} dB"
        );
    }
}

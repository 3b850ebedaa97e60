//! Capture cost on the harness's virtual microphone while speech plays into it: latency from
//! the device callback that completes a frame to its Opus packet being ready (p50/p99/max), and
//! the process's CPU time per minute of audio. Then a call's whole audio path for as long again:
//! the interviewer's voice as Opus packets through playback to the speakers, and the microphone
//! through echo cancellation (fed what the speakers played) to Opus. Run with `cargo xtask
//! bench`, which provides the sound server; prints a table and, when `VIVA_BENCH_ROWS` names a
//! folder, leaves its rows there.

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use std::process::{Command, Stdio};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};

use cpu_time::ProcessTime;
use viva_audio::{
    Capture, CaptureSettings, EchoCanceller, EncoderSettings, FRAME_SAMPLES, OpusEncoder, Playback,
    PlaybackSettings, RtpAudio,
};

#[path = "../tests/room/mod.rs"]
mod room;

fn main() {
    let pulse = Command::new("pactl")
        .arg("info")
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .status()
        .is_ok_and(|s| s.success());
    if !pulse {
        eprintln!("capture benchmark skipped: no sound server (run it with `cargo xtask bench`)");
        return;
    }
    let seconds: u64 = std::env::var("VIVA_BENCH_AUDIO_SECONDS")
        .ok()
        .and_then(|s| s.parse().ok())
        .unwrap_or(30);
    let sink = std::env::var("VIVA_E2E_MIC_SINK").unwrap_or_else(|_| "vmic".into());
    let wav = std::env::temp_dir().join(format!("viva-bench-{}.wav", std::process::id()));
    let spoken = Command::new("espeak-ng")
        .args(["-s", "150", "-w"])
        .arg(&wav)
        .arg("Tell me about the hardest bug you have fixed, and how you found it.")
        .status()
        .is_ok_and(|s| s.success());
    assert!(spoken, "espeak-ng is needed for the capture benchmark");

    // Speech plays in a loop for the whole run, so the encoder works on voice, not silence.
    let stop = Arc::new(AtomicBool::new(false));
    let player = {
        let (stop, wav, sink) = (Arc::clone(&stop), wav.clone(), sink.clone());
        std::thread::spawn(move || {
            while !stop.load(Ordering::Relaxed) {
                let _ = Command::new("paplay")
                    .args(["-d", &sink])
                    .arg(&wav)
                    .status();
            }
        })
    };

    let cpu = ProcessTime::now();
    let wall = Instant::now();
    let (capture, mut streams) = Capture::start(CaptureSettings::default()).expect("a microphone");
    let mut latencies = Vec::new();
    let mut bytes = 0usize;
    while wall.elapsed() < Duration::from_secs(seconds) {
        while let Ok(frame) = streams.frames.try_recv() {
            latencies.push(frame.encoded_at.saturating_duration_since(frame.filled_at));
            bytes += frame.payload.len();
        }
        while streams.events.try_recv().is_ok() {}
        std::thread::sleep(Duration::from_millis(20));
    }
    let stats = capture.stats();
    drop(capture);
    let cpu = cpu.elapsed();
    let wall = wall.elapsed();
    stop.store(true, Ordering::Relaxed);
    let _ = player.join();
    let _ = std::fs::remove_file(&wav);

    latencies.sort();
    let percentile = |p: f64| {
        let index = ((latencies.len() as f64 - 1.0) * p).round() as usize;
        latencies.get(index).copied().unwrap_or_default()
    };
    let audio_minutes = latencies.len() as f64 * 0.02 / 60.0;
    let cpu_per_minute = cpu.as_secs_f64() / audio_minutes.max(f64::EPSILON);
    let core_share = 100.0 * cpu.as_secs_f64() / wall.as_secs_f64();
    let ms = |d: Duration| format!("{:.2} ms", d.as_secs_f64() * 1000.0);
    let rows = [
        format!(
            "| audio capture: callback → Opus frame, p50 | {} | |",
            ms(percentile(0.5))
        ),
        format!(
            "| audio capture: callback → Opus frame, p99 | {} | ≤ 5 ms |",
            ms(percentile(0.99))
        ),
        format!(
            "| audio capture: callback → Opus frame, max | {} | |",
            ms(percentile(1.0))
        ),
        format!(
            "| audio capture: CPU per minute of audio, whole process | {cpu_per_minute:.2} s ({core_share:.2} % of a core) | ≤ 1 % of a core |"
        ),
        format!(
            "| audio capture: CPU per minute of audio, Viva's worker (resample, levels, Opus) | {:.2} s ({:.2} % of a core) | |",
            stats.worker_cpu.as_secs_f64() / audio_minutes.max(f64::EPSILON),
            100.0 * stats.worker_cpu.as_secs_f64() / wall.as_secs_f64()
        ),
        format!(
            "| audio capture: frames / dropped / overflowed samples / bitrate | {} / {} / {} / {:.1} kbit/s | |",
            latencies.len(),
            stats.frames_dropped,
            stats.overflowed_samples,
            bytes as f64 * 8.0 / (latencies.len() as f64 * 0.02).max(f64::EPSILON) / 1000.0
        ),
    ];
    let mut rows = rows.to_vec();
    rows.extend(call_audio(seconds));
    println!("\n| measure ({seconds} s of speech) | result | goal |\n|---|---|---|");
    for row in &rows {
        println!("{row}");
    }
    if let Ok(dir) = std::env::var("VIVA_BENCH_ROWS") {
        let _ = std::fs::create_dir_all(&dir);
        let _ = std::fs::write(
            std::path::Path::new(&dir).join("audio_capture.md"),
            rows.join("\n") + "\n",
        );
    }
}

/// A call's audio for `seconds`: the interviewer's voice arriving as 20 ms Opus packets (encoded
/// beforehand: a call receives them) and played to the default output, and the microphone
/// through echo cancellation whose reference is what the output played. Returns its rows.
fn call_audio(seconds: u64) -> Vec<String> {
    let voice = room::Voice::new(
        "What was the hardest bug you have fixed, and how did you find it? Take your time.",
        &["-v", "en-gb+f3", "-s", "165"],
        1,
    )
    .at(48_000, 0.5);
    let mut encoder = OpusEncoder::new(EncoderSettings::default()).unwrap();
    let packets: Vec<Vec<u8>> = voice
        .chunks_exact(FRAME_SAMPLES)
        .map(|frame| encoder.encode(frame).unwrap())
        .collect();

    let cpu = ProcessTime::now();
    let wall = Instant::now();
    let canceller = EchoCanceller::awaiting_reference();
    let echo = canceller.control();
    let (capture, mut streams) =
        Capture::start_with(CaptureSettings::default(), Box::new(canceller)).expect("a microphone");
    let (playback, mut playback_events) =
        Playback::start_feeding(PlaybackSettings::default(), echo.clone()).expect("speakers");
    let sender = playback.sender();
    let mut frames = 0usize;
    let mut sequence = 0u16;
    // Packets go out on a 20 ms clock, as the network would deliver them.
    let start = Instant::now();
    while wall.elapsed() < Duration::from_secs(seconds) {
        let payload = packets[usize::from(sequence) % packets.len()].clone();
        sender.push(RtpAudio {
            sequence,
            timestamp: u32::from(sequence) * FRAME_SAMPLES as u32,
            payload,
        });
        sequence = sequence.wrapping_add(1);
        while streams.frames.try_recv().is_ok() {
            frames += 1;
        }
        while streams.events.try_recv().is_ok() {}
        while playback_events.try_recv().is_ok() {}
        let next = start + Duration::from_millis(20 * u64::from(sequence));
        std::thread::sleep(next.saturating_duration_since(Instant::now()));
    }
    let capture_stats = capture.stats();
    let echo_stats = echo.stats();
    let playback_stats = playback.stats();
    drop(capture);
    drop(playback);
    let cpu = cpu.elapsed();
    let wall = wall.elapsed();
    let audio_minutes = frames as f64 * 0.02 / 60.0;
    let share = |time: Duration| 100.0 * time.as_secs_f64() / wall.as_secs_f64();
    vec![
        format!(
            "| a call's audio (playback + capture + echo cancellation + Opus both ways): CPU per minute, whole process | {:.2} s ({:.2} % of a core) | ≤ 5 % of a core |",
            cpu.as_secs_f64() / audio_minutes.max(f64::EPSILON),
            share(cpu)
        ),
        format!(
            "| a call's audio: Viva's capture worker (echo cancellation, levels, Opus) | {:.2} % of a core | |",
            share(capture_stats.worker_cpu)
        ),
        format!(
            "| a call's audio: frames sent / echo frames with a reference / playback underruns | {} / {} of {} / {} | |",
            frames,
            echo_stats
                .frames
                .saturating_sub(echo_stats.reference_late_frames),
            echo_stats.frames,
            playback_stats.map_or(0, |s| s.underruns)
        ),
    ]
}

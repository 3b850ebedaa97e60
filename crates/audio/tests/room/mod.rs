//! A simulated room for the echo tests and benchmark: speech, an echo path, the app's frame flow.

#![allow(dead_code)] // The tests and the benchmark each use a subset.

use std::path::PathBuf;
use std::process::{Command, Stdio};

use viva_audio::resample::StreamResampler;
use viva_audio::{
    EchoCanceller, FRAME_SAMPLES, ReferenceTap, SAMPLE_RATE, VoiceProcessor, echo_reference,
};

pub const RATE: usize = SAMPLE_RATE as usize;

/// The interviewer's question, long enough to cover convergence and a double-talk segment.
pub const FAR_TEXT: &str = "Tell me about a project you are proud of. What was your part in it, \
    what went wrong along the way, and what would you do differently if you started it again today?";
/// The candidate's answer.
pub const NEAR_TEXT: &str = "I rebuilt the billing service, and I would write the tests first.";

/// A voice, kept at its source rate so each test can have it at any device rate.
#[derive(Debug, Clone)]
pub struct Voice {
    pub rate: u32,
    pub samples: Vec<f32>,
    /// Whether espeak-ng spoke it (false: the synthetic stand-in).
    pub spoken: bool,
}

impl Voice {
    /// `text` spoken by espeak-ng with `args` (voice, pitch), or a synthetic speech-like signal
    /// when espeak-ng is not installed; scaled to an active level of −20 dBFS.
    pub fn new(text: &str, args: &[&str], seed: u64) -> Self {
        let mut voice = espeak(text, args).unwrap_or_else(|| Self {
            rate: SAMPLE_RATE,
            samples: synthetic_speech(RATE, 7.0, seed),
            spoken: false,
        });
        let gain = 0.1 / active_rms(&voice.samples, voice.rate as usize / 100);
        voice.samples.iter_mut().for_each(|s| *s *= gain);
        voice
    }

    pub fn far() -> Self {
        Self::new(FAR_TEXT, &["-v", "en-us", "-s", "175"], 1)
    }

    pub fn near() -> Self {
        Self::new(NEAR_TEXT, &["-v", "en-gb+f3", "-p", "70", "-s", "165"], 2)
    }

    /// The voice at `rate`, at least `seconds` long (padded with silence).
    pub fn at(&self, rate: u32, seconds: f64) -> Vec<f32> {
        let mut out = Vec::new();
        let mut resampler = StreamResampler::new(self.rate, rate).expect("a resampler");
        resampler
            .process(&self.samples, &mut out)
            .expect("resampled");
        // Flush the resampler's last partial chunk with silence.
        resampler
            .process(&vec![0.0; self.rate as usize / 10], &mut out)
            .expect("resampled");
        let n = (f64::from(rate) * seconds) as usize;
        out.resize(n.max(out.len()), 0.0);
        out
    }
}

fn espeak(text: &str, args: &[&str]) -> Option<Voice> {
    let path: PathBuf = std::env::temp_dir().join(format!(
        "viva-echo-{}-{}.wav",
        std::process::id(),
        text.len() + args.len()
    ));
    let ok = Command::new("espeak-ng")
        .args(args)
        .arg("-w")
        .arg(&path)
        .arg(text)
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .status()
        .is_ok_and(|s| s.success());
    if !ok {
        return None;
    }
    let mut reader = hound::WavReader::open(&path).ok()?;
    let rate = reader.spec().sample_rate;
    let samples = reader
        .samples::<i16>()
        .map(|s| s.map(|s| f32::from(s) / 32_768.0))
        .collect::<Result<Vec<_>, _>>()
        .ok()?;
    let _ = std::fs::remove_file(&path);
    Some(Voice {
        rate,
        samples,
        spoken: true,
    })
}

/// Syllables of a gliding harmonic voice with formant-like colour and pauses, for machines
/// without espeak-ng: speech-like in spectrum and rhythm, which is what AEC3 cares about.
pub fn synthetic_speech(rate: usize, seconds: f64, seed: u64) -> Vec<f32> {
    let n = (rate as f64 * seconds) as usize;
    let mut out = vec![0.0f32; n];
    let mut state = seed.wrapping_mul(0x9E37_79B9_7F4A_7C15) | 1;
    let mut random = move || {
        state ^= state << 13;
        state ^= state >> 7;
        state ^= state << 17;
        (state >> 11) as f64 / (1u64 << 53) as f64
    };
    let base = 110.0 + 60.0 * (seed % 2) as f64;
    let mut at = rate / 5;
    while at < n {
        let length = ((0.12 + 0.18 * random()) * rate as f64) as usize;
        let f0 = base * (0.85 + 0.3 * random());
        let glide = 0.8 + 0.4 * random();
        let formants = [
            300.0 + 600.0 * random(),
            900.0 + 1400.0 * random(),
            2200.0 + 800.0 * random(),
        ];
        let mut phase = 0.0f64;
        for i in 0..length.min(n - at) {
            let t = i as f64 / length as f64;
            let pitch = f0 * (1.0 + (glide - 1.0) * t);
            phase += 2.0 * std::f64::consts::PI * pitch / rate as f64;
            let mut s = 0.0;
            for k in 1..=(4000.0 / pitch) as usize {
                let f = pitch * k as f64;
                let colour: f64 = formants
                    .iter()
                    .map(|&c| 1.0 / (1.0 + ((f - c) / 150.0).powi(2)))
                    .sum();
                s += colour * (phase * k as f64).sin() / k as f64;
            }
            let envelope = (std::f64::consts::PI * t).sin().powi(2);
            out[at + i] = (s * envelope) as f32;
        }
        at += length + ((0.04 + 0.2 * random()) * rate as f64) as usize;
    }
    out
}

/// An echo path: the direct sound after `delay_ms`, and two reflections (+7 ms at −6 dB,
/// +23 ms at −12 dB), scaled so the whole path has `gain_db` of energy gain.
#[derive(Debug, Clone, Copy)]
pub struct Room {
    pub delay_ms: f64,
    pub gain_db: f64,
}

impl Room {
    pub fn echo(&self, far: &[f32]) -> Vec<f32> {
        let taps = [(0.0, 1.0), (7.0, 0.5), (23.0, 0.25)];
        let norm = taps
            .iter()
            .map(|t: &(f64, f64)| t.1 * t.1)
            .sum::<f64>()
            .sqrt();
        let gain = 10f64.powf(self.gain_db / 20.0) / norm;
        let mut echo = vec![0.0f32; far.len()];
        for (delay, amplitude) in taps {
            let d = ((self.delay_ms + delay) * RATE as f64 / 1000.0) as usize;
            for i in d..far.len() {
                echo[i] += (f64::from(far[i - d]) * amplitude * gain) as f32;
            }
        }
        echo
    }
}

/// White noise at `dbfs`, the microphone's own floor.
pub fn noise(n: usize, dbfs: f64, seed: u64) -> Vec<f32> {
    let amplitude = (10f64.powf(dbfs / 20.0) * 3f64.sqrt()) as f32;
    let mut state = seed | 1;
    (0..n)
        .map(|_| {
            state = state
                .wrapping_mul(6_364_136_223_846_793_005)
                .wrapping_add(1_442_695_040_888_963_407);
            ((state >> 40) as f32 / (1u64 << 24) as f32 * 2.0 - 1.0) * amplitude
        })
        .collect()
}

/// What the speakers play: from `from_second` on, the far end at `rate` with `channels`
/// (each channel the same), as the output device would be fed.
#[derive(Debug, Clone)]
pub struct Output {
    pub from_second: f64,
    pub rate: u32,
    pub channels: u16,
    /// The far end at `rate`, mono.
    pub samples: Vec<f32>,
}

/// Runs `mic` through `canceller` in 20 ms frames as the app will: before each frame, the
/// playback callback taps two 10 ms blocks of what it played. `each_frame` may change things
/// mid-stream (frame index, the mic frame about to be processed).
pub fn run(
    canceller: &mut EchoCanceller,
    tap: &mut ReferenceTap,
    outputs: &[Output],
    mic: &[f32],
    mut each_frame: impl FnMut(usize, &mut [f32], &mut ReferenceTap),
) -> Vec<f32> {
    let mut out = Vec::with_capacity(mic.len());
    let mut interleaved = Vec::new();
    let mut frame = [0.0f32; FRAME_SAMPLES];
    for (index, mic_frame) in mic.chunks_exact(FRAME_SAMPLES).enumerate() {
        let seconds = index as f64 * 0.02;
        if let Some(output) = outputs.iter().rev().find(|o| o.from_second <= seconds) {
            let block = output.rate as usize / 100;
            for half in 0..2 {
                let from = (seconds * f64::from(output.rate)).round() as usize + half * block;
                interleaved.clear();
                for &s in output.samples.get(from..from + block).unwrap_or(&[]) {
                    interleaved.extend(std::iter::repeat_n(s, usize::from(output.channels)));
                }
                tap.push_played(&interleaved, output.channels, output.rate);
            }
        }
        frame.copy_from_slice(mic_frame);
        each_frame(index, &mut frame, tap);
        canceller.process(&mut frame);
        out.extend_from_slice(&frame);
    }
    out
}

/// Speakers that play `far` (48 kHz mono) from the call's start.
pub fn mono48(far: &[f32]) -> Vec<Output> {
    vec![Output {
        from_second: 0.0,
        rate: 48_000,
        channels: 1,
        samples: far.to_vec(),
    }]
}

/// `mic` through a fresh canceller for the whole call, its reference what the speakers played
/// (`far`, 48 kHz mono, from the start).
pub fn through_canceller(far: &[f32], mic: &[f32]) -> Vec<f32> {
    let (mut tap, feed) = echo_reference(48_000);
    let mut canceller = EchoCanceller::new(feed);
    run(&mut canceller, &mut tap, &mono48(far), mic, |_, _, _| {})
}

pub fn energy(x: &[f32]) -> f64 {
    x.iter().map(|&v| f64::from(v).powi(2)).sum()
}

pub fn db(ratio: f64) -> f64 {
    10.0 * ratio.max(1e-20).log10()
}

/// Samples at `seconds`.
pub fn at(seconds: f64) -> usize {
    (seconds * RATE as f64) as usize
}

/// Echo return loss enhancement over `from..to` seconds: the echo that came in against what
/// went out.
pub fn erle(echo: &[f32], out: &[f32], from: f64, to: f64) -> f64 {
    let range = at(from)..at(to);
    db(energy(&echo[range.clone()]) / energy(&out[range]))
}

/// The RMS over the 10 ms windows within 30 dB of the loudest one (speech, not its pauses).
pub fn active_rms(x: &[f32], window: usize) -> f32 {
    let energies: Vec<f64> = x
        .chunks(window.max(1))
        .map(|c| energy(c) / c.len() as f64)
        .collect();
    let loudest = energies.iter().copied().fold(0.0, f64::max);
    let active: Vec<f64> = energies
        .into_iter()
        .filter(|&e| e > loudest * 1e-3)
        .collect();
    if active.is_empty() {
        return 1.0;
    }
    (active.iter().sum::<f64>() / active.len() as f64).sqrt() as f32
}

/// Time to converge: the start of the first of the `window`-second windows (every 100 ms) from
/// which every window up to `until` seconds has ERLE ≥ `goal_db`. Windows where the echo is
/// more than 30 dB below its loudest (pauses) do not count.
pub fn converged_at(
    echo: &[f32],
    out: &[f32],
    goal_db: f64,
    window: f64,
    until: f64,
) -> Option<f64> {
    let starts: Vec<f64> = (0..)
        .map(|i| f64::from(i) * 0.1)
        .take_while(|&t| t + window <= until + 1e-9)
        .collect();
    let energies: Vec<(f64, f64)> = starts
        .iter()
        .map(|&t| {
            let range = at(t)..at(t + window);
            (energy(&echo[range.clone()]), energy(&out[range]))
        })
        .collect();
    let loudest = energies.iter().map(|e| e.0).fold(0.0, f64::max);
    let mut converged = None;
    for (&t, &(e, o)) in starts.iter().zip(&energies).rev() {
        if e < loudest * 1e-3 {
            continue;
        }
        if db(e / o) < goal_db {
            break;
        }
        converged = Some(t);
    }
    converged
}

/// When a real sound server hands the app its audio: the speakers' callback asks for
/// `render_ms` at a time, `ahead_ms` before that audio plays, each callback up to
/// `render_late_ms` late; the microphone's 20 ms frames arrive in bunches of one to
/// `capture_bunch`.
#[derive(Debug, Clone, Copy)]
pub struct Timing {
    pub render_ms: usize,
    pub ahead_ms: usize,
    pub render_late_ms: usize,
    pub capture_bunch: usize,
}

/// Like [`run`] with the speakers at 48 kHz mono, but with the two sides arriving as `timing`
/// says (a seeded, repeatable schedule) instead of in lockstep.
pub fn run_timed(
    canceller: &mut EchoCanceller,
    tap: &mut ReferenceTap,
    far: &[f32],
    mic: &[f32],
    timing: Timing,
    seed: u64,
) -> Vec<f32> {
    let per_ms = RATE / 1000;
    let mut state = seed.wrapping_mul(0x9E37_79B9_7F4A_7C15) | 1;
    let mut random = move |below: usize| {
        state ^= state << 13;
        state ^= state >> 7;
        state ^= state << 17;
        (state % below.max(1) as u64) as usize
    };
    // When each callback runs, in samples of wall time (never before the previous one).
    let render_len = timing.render_ms * per_ms;
    let mut renders = Vec::new();
    let mut wall = 0usize;
    for (k, _) in far.chunks(render_len).enumerate() {
        let due = (k * render_len).saturating_sub(timing.ahead_ms * per_ms);
        wall = wall.max(due + random(timing.render_late_ms + 1) * per_ms);
        renders.push(wall);
    }
    let frames = mic.len() / FRAME_SAMPLES;
    let mut captures = Vec::with_capacity(frames);
    let mut first = 0;
    while first < frames {
        let bunch = 1 + random(timing.capture_bunch);
        let last = (first + bunch).min(frames);
        // A bunch is handed over once its last frame has been recorded.
        captures.extend(std::iter::repeat_n(last * FRAME_SAMPLES, last - first));
        first = last;
    }
    let mut out = Vec::with_capacity(mic.len());
    let mut next_render = 0;
    let mut frame = [0.0f32; FRAME_SAMPLES];
    for (index, mic_frame) in mic.chunks_exact(FRAME_SAMPLES).enumerate() {
        while next_render < renders.len() && renders[next_render] <= captures[index] {
            let from = next_render * render_len;
            tap.push_played(&far[from..(from + render_len).min(far.len())], 1, 48_000);
            next_render += 1;
        }
        frame.copy_from_slice(mic_frame);
        canceller.process(&mut frame);
        out.extend_from_slice(&frame);
    }
    out
}

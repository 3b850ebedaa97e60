//! Helpers for the audio tests: speech from espeak-ng, the harness's virtual microphone, and
//! the signal measures the assertions use.

#![allow(dead_code)] // Each test binary uses its own subset.

use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use viva_audio::{AudioEvent, CaptureStreams, EncodedFrame, FRAME_SAMPLES, OpusDecoder};

/// The harness's null sink, whose monitor is the default microphone.
pub fn mic_sink() -> String {
    std::env::var("VIVA_E2E_MIC_SINK").unwrap_or_else(|_| "vmic".into())
}

pub fn pulse_running() -> bool {
    Command::new("pactl")
        .arg("info")
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .status()
        .is_ok_and(|s| s.success())
}

/// Fails clearly when the test is run outside `cargo xtask test`, which provides the sound server.
pub fn require_pulse() {
    assert!(
        pulse_running(),
        "these tests need the harness's PulseAudio: run them with `cargo xtask test`"
    );
}

/// What a failing device test quotes: why ALSA stood in for PulseAudio (if it did), the
/// server's client count and the tail of its log (kept by the harness).
pub fn sound_server_report() -> String {
    let clients = Command::new("pactl")
        .args(["list", "short", "clients"])
        .output()
        .map(|out| String::from_utf8_lossy(&out.stdout).lines().count())
        .unwrap_or_default();
    let log = std::env::var_os("VIVA_E2E_PULSE_LOG")
        .and_then(|path| std::fs::read_to_string(path).ok())
        .unwrap_or_default();
    let lines: Vec<&str> = log.lines().collect();
    let tail = lines[lines.len().saturating_sub(15)..].join("\n");
    format!(
        "PulseAudio trouble: {:?}; clients connected: {clients}; server log tail:\n{tail}",
        viva_audio::sound_system_trouble()
    )
}

/// Speaks `text` into a WAV file with espeak-ng.
pub fn say(dir: &Path, name: &str, text: &str) -> PathBuf {
    let path = dir.join(format!("{name}.wav"));
    let status = Command::new("espeak-ng")
        .args(["-s", "150", "-w"])
        .arg(&path)
        .arg(text)
        .status()
        .expect("espeak-ng runs");
    assert!(status.success(), "espeak-ng failed");
    path
}

/// A mono WAV as (rate, samples in −1..1).
pub fn read_wav(path: &Path) -> (u32, Vec<f32>) {
    let mut reader = hound::WavReader::open(path).expect("a readable wav");
    let spec = reader.spec();
    assert_eq!(spec.channels, 1, "espeak-ng writes mono");
    let samples = reader
        .samples::<i16>()
        .map(|s| f32::from(s.expect("a sample")) / 32_768.0)
        .collect();
    (spec.sample_rate, samples)
}

/// Plays a file into a sink; returns the player and when it was started.
pub fn play_into(sink: &str, path: &Path) -> (Child, Instant) {
    let started = Instant::now();
    let child = Command::new("paplay")
        .args(["-d", sink])
        .arg(path)
        .spawn()
        .expect("paplay runs");
    (child, started)
}

/// RMS per `window_ms` window.
pub fn envelope(samples: &[f32], rate: u32, window_ms: u32) -> Vec<f32> {
    let window = (rate * window_ms / 1000) as usize;
    samples
        .chunks_exact(window)
        .map(|w| (w.iter().map(|s| s * s).sum::<f32>() / w.len() as f32).sqrt())
        .collect()
}

pub fn pearson(a: &[f32], b: &[f32]) -> f32 {
    let n = a.len().min(b.len());
    if n < 2 {
        return 0.0;
    }
    let (a, b) = (&a[..n], &b[..n]);
    let mean = |x: &[f32]| x.iter().sum::<f32>() / n as f32;
    let (ma, mb) = (mean(a), mean(b));
    let mut cov = 0.0;
    let mut va = 0.0;
    let mut vb = 0.0;
    for (x, y) in a.iter().zip(b) {
        cov += (x - ma) * (y - mb);
        va += (x - ma).powi(2);
        vb += (y - mb).powi(2);
    }
    if va == 0.0 || vb == 0.0 {
        return 0.0;
    }
    cov / (va.sqrt() * vb.sqrt())
}

/// The source envelope's best match inside the captured one: (offset in windows, correlation).
/// The source may run past the end of the capture, but at least three quarters must overlap.
pub fn locate(captured: &[f32], source: &[f32]) -> (usize, f32) {
    let min_overlap = (source.len() * 3 / 4).max(2);
    (0..captured.len().saturating_sub(min_overlap).max(1))
        .map(|offset| (offset, pearson(&captured[offset..], source)))
        .max_by(|a, b| a.1.total_cmp(&b.1))
        .unwrap_or((0, 0.0))
}

/// Like [`locate`], but the source is cut into `pieces` parts that are each found on their own,
/// in order, so a pause inserted mid-sentence (a playout rebuffer under load) does not count as
/// a distortion. Returns the worst piece's correlation and the first piece's offset.
pub fn locate_pieces(captured: &[f32], source: &[f32], pieces: usize) -> (usize, f32) {
    let size = source.len().div_ceil(pieces.max(1));
    let mut from = 0;
    let mut first = None;
    let mut worst = f32::MAX;
    for piece in source.chunks(size) {
        let (offset, r) = locate(&captured[from.min(captured.len())..], piece);
        first.get_or_insert(from + offset);
        worst = worst.min(r);
        from += offset + piece.len() / 2;
    }
    (
        first.unwrap_or(0),
        if worst == f32::MAX { 0.0 } else { worst },
    )
}

/// The first window louder than `dbfs`.
pub fn onset(envelope: &[f32], dbfs: f32) -> Option<usize> {
    let threshold = 10f32.powf(dbfs / 20.0);
    envelope.iter().position(|&v| v > threshold)
}

/// Decodes captured frames back to 48 kHz samples.
pub fn decode(frames: &[EncodedFrame]) -> Vec<f32> {
    let mut decoder = OpusDecoder::new().expect("a decoder");
    let mut out = Vec::with_capacity(frames.len() * FRAME_SAMPLES);
    let mut buffer = [0.0; FRAME_SAMPLES];
    for frame in frames {
        let n = decoder
            .decode(&frame.payload, &mut buffer)
            .expect("our own packets decode");
        out.extend_from_slice(&buffer[..n]);
    }
    out
}

/// Everything a capture delivers over `duration`, draining events so none are dropped, and
/// calling `tick` every 20 ms with the time elapsed so a test can act mid-capture. Frames
/// queued since the capture started count too, so a count may run a few frames over
/// `duration` when the test was slow to get here (the bounds in the tests allow 200 ms).
pub fn record(
    streams: &mut CaptureStreams,
    duration: Duration,
    mut tick: impl FnMut(Duration, &[EncodedFrame], &[AudioEvent]),
) -> (Vec<EncodedFrame>, Vec<AudioEvent>) {
    let start = Instant::now();
    let mut frames = Vec::new();
    let mut events = Vec::new();
    while start.elapsed() < duration {
        while let Ok(frame) = streams.frames.try_recv() {
            frames.push(frame);
        }
        while let Ok(event) = streams.events.try_recv() {
            events.push(event);
        }
        tick(start.elapsed(), &frames, &events);
        std::thread::sleep(Duration::from_millis(20));
    }
    (frames, events)
}

/// A temporary directory under the harness's private runtime dir (or /tmp).
pub fn scratch(name: &str) -> PathBuf {
    let base =
        std::env::var("VIVA_E2E_ARTIFACTS").map_or_else(|_| std::env::temp_dir(), PathBuf::from);
    let dir = base.join(format!("audio-{name}-{}", std::process::id()));
    std::fs::create_dir_all(&dir).expect("a scratch dir");
    dir
}

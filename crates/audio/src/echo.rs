//! Echo cancellation: the speakers' output as a far-end reference, and WebRTC's AEC3 (sonora).

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicI64, AtomicU8, AtomicU32, AtomicU64, Ordering};
use std::sync::mpsc;

use cpal::{FromSample, Sample};
use sonora::config::{
    EchoCanceller as Aec3, HighPassFilter, NoiseSuppression, NoiseSuppressionLevel,
};
use sonora::{AudioProcessing, Config, StreamConfig};
use sonora_aec3::config::EchoCanceller3Config;

use crate::capture::downmix;
use crate::codec::SAMPLE_RATE;
use crate::pickup::PickUp;
use crate::process::VoiceProcessor;
use crate::resample::StreamResampler;

/// A change of the echo delay estimate this large (milliseconds) is logged.
const ECHO_PATH_MOVED_MS: i64 = 8;
/// Sonora processes exactly 10 ms at a time: shorter panics, longer is silently cut.
const CHUNK: usize = SAMPLE_RATE as usize / 100;
/// The far end counts as playing for this many capture frames (20 ms each) after its last
/// reference arrived; only then is a frame without new reference "late".
const LIVE_FRAMES: u32 = 10;

/// The format of one output callback's samples, so a device change mid-stream reaches the
/// worker in step with the samples it applies to.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
struct Block {
    samples: usize,
    rate: u32,
    channels: u16,
}

/// Counters the tap keeps and the canceller reports.
#[derive(Debug, Default)]
struct TapCounters {
    dropped: AtomicU64,
}

/// Runs inside the playback device's output callback: copies what was just written to the
/// device into a lock-free ring. Never locks, allocates or blocks.
#[derive(Debug)]
pub struct ReferenceTap {
    samples: rtrb::Producer<f32>,
    blocks: rtrb::Producer<Block>,
    counters: Arc<TapCounters>,
}

/// The capture worker's end of the reference ring; hand it to an [`EchoCanceller`].
#[derive(Debug)]
pub struct ReferenceFeed {
    samples: rtrb::Consumer<f32>,
    blocks: rtrb::Consumer<Block>,
    counters: Arc<TapCounters>,
}

/// A reference ring holding `capacity` interleaved device samples (a second of the output's
/// samples — rate × channels — rides out any stall of the capture worker).
#[must_use]
pub fn echo_reference(capacity: usize) -> (ReferenceTap, ReferenceFeed) {
    let (samples, samples_out) = rtrb::RingBuffer::new(capacity.max(1));
    // Callbacks bring at least a few hundred samples; one block per 64 samples is plenty.
    let (blocks, blocks_out) = rtrb::RingBuffer::new((capacity / 64).max(16));
    let counters = Arc::new(TapCounters::default());
    (
        ReferenceTap {
            samples,
            blocks,
            counters: Arc::clone(&counters),
        },
        ReferenceFeed {
            samples: samples_out,
            blocks: blocks_out,
            counters,
        },
    )
}

impl ReferenceTap {
    /// Records the interleaved samples the output callback has just written to the device
    /// (silence padding included, so the reference stays in step with the speakers). When the
    /// worker has fallen behind, the whole callback is dropped and counted: a partial one would
    /// shift the channels.
    pub fn push_played<T>(&mut self, samples: &[T], channels: u16, rate: u32)
    where
        T: Sample,
        f32: FromSample<T>,
    {
        if channels == 0 || rate == 0 {
            return;
        }
        // Whole frames only, so the worker's downmix never straddles two callbacks.
        let n = samples.len() - samples.len() % usize::from(channels);
        if n == 0 {
            return;
        }
        if self.blocks.is_full() || self.samples.slots() < n {
            self.counters.dropped.fetch_add(n as u64, Ordering::Relaxed);
            return;
        }
        if let Ok(chunk) = self.samples.write_chunk_uninit(n) {
            chunk.fill_from_iter(samples[..n].iter().map(|&s| f32::from_sample(s)));
        }
        // Cannot fail: fullness was checked above and only this thread pushes.
        let _ = self.blocks.push(Block {
            samples: n,
            rate,
            channels,
        });
    }
}

/// What the canceller has done, for the connection details and tests.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct EchoStats {
    /// Whether cancellation is on (off: frames pass through untouched).
    pub enabled: bool,
    /// 20 ms capture frames that went through sonora.
    pub frames: u64,
    /// Far-end samples (48 kHz mono) given to the echo canceller.
    pub reference_samples: u64,
    /// Interleaved device samples the tap dropped because the capture worker had fallen behind.
    pub reference_dropped: u64,
    /// Capture frames processed while the far end was playing but no new reference had arrived
    /// since the previous frame: the playback callback runs late or in long bursts.
    pub reference_late_frames: u64,
    /// Times the reference's rate or channel count changed (an output device change).
    pub reference_format_changes: u64,
    /// The reference's current device rate and channels, once any has arrived.
    pub reference_rate: Option<u32>,
    pub reference_channels: Option<u16>,
    /// Non-finite samples (from the microphone or the reference) replaced by silence.
    pub sanitized_samples: u64,
    /// Capture frames whose length was not a whole number of 10 ms chunks; the tail passed
    /// through unprocessed.
    pub odd_frames: u64,
    /// Times sonora's output went non-finite and it was rebuilt.
    pub resets: u64,
    /// The echo path delay sonora estimates, once it has one.
    pub delay_ms: Option<u32>,
    /// Whether the microphone hears the speakers ([`PickUp`]), measured whether cancellation
    /// is on or off; `None` until they have played for half a second.
    pub speakers_heard: Option<bool>,
}

#[derive(Debug)]
struct Shared {
    enabled: AtomicBool,
    frames: AtomicU64,
    reference_samples: AtomicU64,
    reference_late_frames: AtomicU64,
    reference_format_changes: AtomicU64,
    /// 0 until a reference arrives.
    reference_rate: AtomicU32,
    reference_channels: AtomicU32,
    sanitized_samples: AtomicU64,
    odd_frames: AtomicU64,
    resets: AtomicU64,
    /// Negative while sonora has no estimate.
    delay_ms: AtomicI64,
    /// 0: not known yet, 1: not heard, 2: heard.
    speakers_heard: AtomicU8,
    /// Dropped-sample counters of every tap this canceller has been fed from.
    dropped_before: AtomicU64,
    tap: std::sync::Mutex<Option<Arc<TapCounters>>>,
}

impl Default for Shared {
    fn default() -> Self {
        Self {
            enabled: AtomicBool::new(true),
            frames: AtomicU64::new(0),
            reference_samples: AtomicU64::new(0),
            reference_late_frames: AtomicU64::new(0),
            reference_format_changes: AtomicU64::new(0),
            reference_rate: AtomicU32::new(0),
            reference_channels: AtomicU32::new(0),
            sanitized_samples: AtomicU64::new(0),
            odd_frames: AtomicU64::new(0),
            resets: AtomicU64::new(0),
            delay_ms: AtomicI64::new(-1),
            speakers_heard: AtomicU8::new(0),
            dropped_before: AtomicU64::new(0),
            tap: std::sync::Mutex::new(None),
        }
    }
}

/// A handle to a running canceller, kept by whoever owns the settings and the status display
/// once the canceller itself has moved into the capture worker.
#[derive(Debug, Clone)]
pub struct EchoControl {
    shared: Arc<Shared>,
    feeds: mpsc::Sender<ReferenceFeed>,
}

impl EchoControl {
    /// Turns cancellation on or off from any thread; takes effect on the next frame. Off is a
    /// passthrough ("I'm using headphones") that only silences non-finite samples and clamps
    /// to full scale.
    pub fn set_enabled(&self, enabled: bool) {
        self.shared.enabled.store(enabled, Ordering::Relaxed);
    }

    #[must_use]
    pub fn is_enabled(&self) -> bool {
        self.shared.enabled.load(Ordering::Relaxed)
    }

    /// Hands the canceller a new reference, replacing the old one from its next frame: each
    /// output stream (a new device) brings its own tap, since the old tap leaves with the old
    /// stream's callback.
    pub fn connect(&self, feed: ReferenceFeed) {
        // Fails only once the canceller is gone, when there is nothing left to feed.
        let _ = self.feeds.send(feed);
    }

    #[must_use]
    pub fn stats(&self) -> EchoStats {
        let s = &self.shared;
        let tap_dropped = s
            .tap
            .lock()
            .ok()
            .and_then(|tap| tap.as_ref().map(|t| t.dropped.load(Ordering::Relaxed)))
            .unwrap_or(0);
        EchoStats {
            enabled: self.is_enabled(),
            frames: s.frames.load(Ordering::Relaxed),
            reference_samples: s.reference_samples.load(Ordering::Relaxed),
            reference_dropped: s.dropped_before.load(Ordering::Relaxed) + tap_dropped,
            reference_late_frames: s.reference_late_frames.load(Ordering::Relaxed),
            reference_format_changes: s.reference_format_changes.load(Ordering::Relaxed),
            reference_rate: match s.reference_rate.load(Ordering::Relaxed) {
                0 => None,
                rate => Some(rate),
            },
            reference_channels: match s.reference_channels.load(Ordering::Relaxed) {
                0 => None,
                channels => u16::try_from(channels).ok(),
            },
            sanitized_samples: s.sanitized_samples.load(Ordering::Relaxed),
            odd_frames: s.odd_frames.load(Ordering::Relaxed),
            resets: s.resets.load(Ordering::Relaxed),
            delay_ms: u32::try_from(s.delay_ms.load(Ordering::Relaxed)).ok(),
            speakers_heard: match s.speakers_heard.load(Ordering::Relaxed) {
                1 => Some(false),
                2 => Some(true),
                _ => None,
            },
        }
    }
}

/// The reference's current format and the resampler that brings it to 48 kHz.
struct Format {
    rate: u32,
    channels: u16,
    /// None when the rate cannot be converted: that reference is discarded until the next change.
    resampler: Option<StreamResampler>,
}

/// Echo cancellation, noise suppression (moderate) and a high-pass filter on the capture
/// worker, with the speakers' output as the far-end reference. A [`VoiceProcessor`] for
/// [`crate::Capture::start_with`].
pub struct EchoCanceller {
    /// Boxed: sonora's state is large, and the canceller moves between threads.
    apm: Box<AudioProcessing>,
    feed: ReferenceFeed,
    feeds: mpsc::Receiver<ReferenceFeed>,
    shared: Arc<Shared>,
    control: EchoControl,
    format: Option<Format>,
    interleaved: Vec<f32>,
    mono: Vec<f32>,
    /// 48 kHz mono reference waiting to make up a 10 ms chunk.
    render: Vec<f32>,
    render_out: [f32; CHUNK],
    capture_in: [f32; CHUNK],
    /// Capture frames since a reference last arrived.
    frames_since_reference: u32,
    /// The loudest reference sample drained since the last capture frame.
    reference_peak: f32,
    pickup: PickUp,
    warned: bool,
}

impl std::fmt::Debug for EchoCanceller {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("EchoCanceller")
            .field("stats", &self.control.stats())
            .finish_non_exhaustive()
    }
}

impl EchoCanceller {
    /// A canceller with no reference yet, on by default, for capture that starts before
    /// playback: until an output stream connects its tap ([`crate::Playback::start_feeding`])
    /// nothing plays, so there is no echo to take out (noise suppression and the filter work).
    #[must_use]
    pub fn awaiting_reference() -> Self {
        let (_nothing_plays, feed) = echo_reference(1);
        Self::new(feed)
    }

    /// A canceller fed from `feed`, on by default.
    #[must_use]
    pub fn new(feed: ReferenceFeed) -> Self {
        let shared = Arc::new(Shared::default());
        if let Ok(mut tap) = shared.tap.lock() {
            *tap = Some(Arc::clone(&feed.counters));
        }
        let (feeds_tx, feeds) = mpsc::channel();
        let control = EchoControl {
            shared: Arc::clone(&shared),
            feeds: feeds_tx,
        };
        Self {
            apm: build_apm(),
            feed,
            feeds,
            shared,
            control,
            format: None,
            // A second of stereo 48 kHz: the worker never grows these in normal running.
            interleaved: Vec::with_capacity(2 * SAMPLE_RATE as usize),
            mono: Vec::with_capacity(SAMPLE_RATE as usize),
            render: Vec::with_capacity(SAMPLE_RATE as usize),
            render_out: [0.0; CHUNK],
            capture_in: [0.0; CHUNK],
            frames_since_reference: LIVE_FRAMES,
            reference_peak: 0.0,
            pickup: PickUp::default(),
            warned: false,
        }
    }

    /// The handle for the switch, a new reference and the stats.
    #[must_use]
    pub fn control(&self) -> EchoControl {
        self.control.clone()
    }

    /// Takes a reference handed over through [`EchoControl::connect`], after finishing the
    /// old one (whose samples were played before the new stream started). Returns whether the
    /// old one still brought any.
    fn take_new_feed(&mut self, enabled: bool) -> bool {
        let mut arrived = false;
        while let Ok(feed) = self.feeds.try_recv() {
            arrived |= self.drain_reference(enabled);
            let old = std::mem::replace(&mut self.feed, feed);
            self.shared.dropped_before.fetch_add(
                old.counters.dropped.load(Ordering::Relaxed),
                Ordering::Relaxed,
            );
            if let Ok(mut tap) = self.shared.tap.lock() {
                *tap = Some(Arc::clone(&self.feed.counters));
            }
        }
        arrived
    }

    /// Moves all the reference that has arrived into sonora's render side, in 10 ms chunks.
    /// Returns whether any arrived. `feed_apm` false: read and discard (cancellation is off).
    fn drain_reference(&mut self, feed_apm: bool) -> bool {
        let mut arrived = false;
        while let Ok(block) = self.feed.blocks.pop() {
            let Ok(chunk) = self.feed.samples.read_chunk(block.samples) else {
                // Cannot happen: the tap pushes samples before their block.
                break;
            };
            arrived = true;
            let (first, second) = chunk.as_slices();
            let peak = first
                .iter()
                .chain(second)
                .filter(|s| s.is_finite())
                .fold(0.0_f32, |peak, s| peak.max(s.abs()));
            self.reference_peak = self.reference_peak.max(peak);
            let per_second = u64::from(block.rate.max(1)) * u64::from(block.channels.max(1));
            let millis = u64::try_from(block.samples).unwrap_or(u64::MAX) * 1000 / per_second;
            self.pickup
                .played(peak, u32::try_from(millis).unwrap_or(u32::MAX));
            if !feed_apm {
                chunk.commit_all();
                continue;
            }
            self.interleaved.clear();
            self.interleaved.extend_from_slice(first);
            self.interleaved.extend_from_slice(second);
            chunk.commit_all();
            self.follow_format(block);
            let sanitized = sanitize(&mut self.interleaved);
            self.count_sanitized(sanitized);
            downmix(
                &self.interleaved,
                usize::from(block.channels),
                &mut self.mono,
            );
            let Some(resampler) = self.format.as_mut().and_then(|f| f.resampler.as_mut()) else {
                continue;
            };
            if let Err(error) = resampler.process(&self.mono, &mut self.render) {
                tracing::warn!(%error, "audio_echo_reference_resample_failed");
                self.render.clear();
            }
        }
        if !feed_apm {
            self.render.clear();
            return arrived;
        }
        let mut fed = 0;
        for chunk in self.render.chunks_exact(CHUNK) {
            if let Err(error) = self
                .apm
                .process_render_f32(&[chunk], &mut [&mut self.render_out[..]])
                && !self.warned
            {
                self.warned = true;
                tracing::warn!(%error, "audio_echo_render_failed");
            }
            fed += CHUNK;
        }
        // The remainder waits for the next frame's reference.
        self.render.drain(..fed);
        self.shared
            .reference_samples
            .fetch_add(fed as u64, Ordering::Relaxed);
        arrived
    }

    /// Re-creates the resampler when the output device's rate or channels change.
    fn follow_format(&mut self, block: Block) {
        if self
            .format
            .as_ref()
            .is_some_and(|f| f.rate == block.rate && f.channels == block.channels)
        {
            return;
        }
        if self.format.is_some() {
            self.shared
                .reference_format_changes
                .fetch_add(1, Ordering::Relaxed);
            tracing::info!(
                rate = block.rate,
                channels = block.channels,
                "audio_echo_reference_format_changed"
            );
        }
        let resampler = match StreamResampler::new(block.rate, SAMPLE_RATE) {
            Ok(resampler) => Some(resampler),
            Err(error) => {
                tracing::warn!(%error, "audio_echo_reference_unusable");
                None
            }
        };
        self.format = Some(Format {
            rate: block.rate,
            channels: block.channels,
            resampler,
        });
        self.shared
            .reference_rate
            .store(block.rate, Ordering::Relaxed);
        self.shared
            .reference_channels
            .store(u32::from(block.channels), Ordering::Relaxed);
    }

    fn count_sanitized(&self, n: usize) {
        if n > 0 {
            self.shared
                .sanitized_samples
                .fetch_add(n as u64, Ordering::Relaxed);
        }
    }

    /// Runs sonora's capture side over each whole 10 ms chunk of `frame`, in place.
    fn process_capture(&mut self, frame: &mut [f32]) {
        let whole = frame.len() - frame.len() % CHUNK;
        if whole != frame.len() {
            self.shared.odd_frames.fetch_add(1, Ordering::Relaxed);
        }
        for chunk in frame[..whole].chunks_exact_mut(CHUNK) {
            // Sonora reads and writes separate buffers.
            self.capture_in.copy_from_slice(chunk);
            if let Err(error) = self
                .apm
                .process_capture_f32(&[&self.capture_in[..]], &mut [chunk])
                && !self.warned
            {
                self.warned = true;
                tracing::warn!(%error, "audio_echo_capture_failed");
            }
        }
        // Inputs are sanitised, so this should never happen; if it does, sonora's state is
        // poisoned for good and only a new instance recovers.
        if frame.iter().any(|s| !s.is_finite()) {
            frame.fill(0.0);
            self.apm = build_apm();
            self.shared.resets.fetch_add(1, Ordering::Relaxed);
            tracing::warn!("audio_echo_canceller_reset");
        }
    }
}

impl VoiceProcessor for EchoCanceller {
    fn process(&mut self, frame: &mut [f32]) {
        // Even passthrough output must not carry a NaN on to the encoder.
        let sanitized = sanitize(frame);
        self.count_sanitized(sanitized);
        let enabled = self.shared.enabled.load(Ordering::Relaxed);
        let handed_over = self.take_new_feed(enabled);
        // While off, the reference is still drained so the tap never fills and drops.
        let arrived = self.drain_reference(enabled) || handed_over;
        // The microphone as recorded: whether it hears the speakers, on or off.
        self.pickup
            .frame(std::mem::take(&mut self.reference_peak), frame);
        let heard = match self.pickup.heard() {
            None => 0,
            Some(false) => 1,
            Some(true) => 2,
        };
        self.shared.speakers_heard.store(heard, Ordering::Relaxed);
        if !enabled {
            return;
        }
        if arrived {
            self.frames_since_reference = 0;
        } else {
            if self.frames_since_reference < LIVE_FRAMES {
                self.shared
                    .reference_late_frames
                    .fetch_add(1, Ordering::Relaxed);
            }
            self.frames_since_reference = self.frames_since_reference.saturating_add(1);
        }
        self.process_capture(frame);
        self.shared.frames.fetch_add(1, Ordering::Relaxed);
        let delay = self.apm.statistics().delay_ms.map_or(-1, i64::from);
        let before = self.shared.delay_ms.swap(delay, Ordering::Relaxed);
        // A jump in the estimate means the echo path moved (a sound-server underflow, a new
        // device); the canceller lets some echo through until it has converged again.
        if before >= 0 && delay >= 0 && (delay - before).abs() >= ECHO_PATH_MOVED_MS {
            tracing::info!(from = before, to = delay, "audio_echo_delay_changed");
        }
    }
}

/// Sonora with AEC3, low noise suppression and the high-pass filter; 48 kHz mono both ways
/// (the reference is downmixed and resampled before it gets here).
///
/// Tuned by the candidate's word error rate through a simulated room (`cargo bench -p
/// viva-speech --bench echo_wer`, docs/benchmarks.md): AEC3's suppressor assumes by default
/// that its linear filter takes out at most 6 dB of echo below 2 kHz (1.8 dB above), so in
/// double talk it suppresses the candidate's words along with the echo it overestimates.
/// Allowing 9 / 6 dB kept the echo at ≥ 30 dB ERLE from the first second in every room and
/// cost fewer of the candidate's words; moderate noise suppression cost words even with no
/// echo at all, low suppression fewer.
fn build_apm() -> Box<AudioProcessing> {
    let config = Config {
        echo_canceller: Some(Aec3::default()),
        noise_suppression: Some(NoiseSuppression {
            level: NoiseSuppressionLevel::Low,
            ..NoiseSuppression::default()
        }),
        high_pass_filter: Some(HighPassFilter::default()),
        ..Config::default()
    };
    let mut aec3 = EchoCanceller3Config::default();
    aec3.erle.max_l = 8.0;
    aec3.erle.max_h = 4.0;
    Box::new(
        AudioProcessing::builder()
            .config(config)
            .echo_canceller3_config(aec3)
            .capture_config(StreamConfig::new(SAMPLE_RATE, 1))
            .render_config(StreamConfig::new(SAMPLE_RATE, 1))
            .build(),
    )
}

/// Replaces non-finite samples with silence and clamps the rest to full scale (what a device
/// plays or records anyway); returns how many were non-finite. One NaN would poison sonora's
/// filters for the rest of the call.
fn sanitize(samples: &mut [f32]) -> usize {
    let mut bad = 0;
    for sample in samples {
        if sample.is_finite() {
            *sample = sample.clamp(-1.0, 1.0);
        } else {
            *sample = 0.0;
            bad += 1;
        }
    }
    bad
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sanitize_zeroes_non_finite_and_clamps() {
        let mut x = [0.5, f32::NAN, f32::INFINITY, -3.0, f32::NEG_INFINITY];
        assert_eq!(sanitize(&mut x), 3);
        assert_eq!(x, [0.5, 0.0, 0.0, -1.0, 0.0]);
    }

    #[test]
    fn the_tap_drops_whole_callbacks_when_full_and_carries_the_format() {
        let (mut tap, mut feed) = echo_reference(1_000);
        tap.push_played(&[0.1f32; 600], 2, 44_100);
        // 600 more do not fit in 1,000: dropped whole and counted.
        tap.push_played(&[0.2f32; 600], 2, 44_100);
        // A trailing half frame is cut so channels stay aligned.
        tap.push_played(&[1_000i16; 301], 1, 48_000);
        assert_eq!(feed.counters.dropped.load(Ordering::Relaxed), 600);
        let first = feed.blocks.pop().unwrap();
        assert_eq!(
            (first.samples, first.rate, first.channels),
            (600, 44_100, 2)
        );
        feed.samples.read_chunk(600).unwrap().commit_all();
        let second = feed.blocks.pop().unwrap();
        assert_eq!(
            (second.samples, second.rate, second.channels),
            (301, 48_000, 1)
        );
        assert!((feed.samples.pop().unwrap() - 1_000.0 / 32_768.0).abs() < 1e-6);
    }

    #[test]
    fn odd_and_empty_frames_do_not_panic() {
        let (mut tap, feed) = echo_reference(4_800);
        let mut canceller = EchoCanceller::new(feed);
        for len in [0, 1, 479, 480, 481, 959, 960, 1_500] {
            tap.push_played(&vec![0.1f32; len], 1, 48_000);
            let mut frame = vec![0.1f32; len];
            canceller.process(&mut frame);
            assert!(frame.iter().all(|s| s.is_finite()));
        }
        let stats = canceller.control().stats();
        assert_eq!(stats.odd_frames, 5);
    }
}

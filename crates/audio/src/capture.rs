//! Microphone capture: device callback → lock-free ring → worker thread (downmix, resample to
//! 48 kHz, voice processing, mute, levels, 20 ms framing) → Opus → [`EncodedFrame`]s.

use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex, mpsc as std_mpsc};
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use tokio::sync::mpsc;

use crate::AudioError;
use crate::codec::{EncoderSettings, FRAME_SAMPLES, OpusEncoder, SAMPLE_RATE};
use crate::device::{DeviceInfo, DeviceSelection, Direction, Opened};
use crate::events::{AudioEvent, emit};
use crate::follow::{Follower, LiveStream, Starter};
use crate::level::{LevelMeter, SignalChange, SilenceWatch};
use crate::process::{Passthrough, VoiceProcessor};
use crate::resample::StreamResampler;
use crate::rt::{CaptureCallback, CaptureRings, Counters};
use crate::stream::{self, StreamHealth};

const FRAME: Duration = Duration::from_millis(20);
/// Levels are reported every 50 ms.
const LEVEL_WINDOW: usize = SAMPLE_RATE as usize / 20;

/// How capture is set up.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CaptureSettings {
    pub device: DeviceSelection,
    pub encoder: EncoderSettings,
    /// Encoded frames held for a slow consumer before new ones are dropped (50 = 1 s).
    pub frame_queue: usize,
    /// Events held for a slow consumer before new ones are dropped.
    pub event_queue: usize,
    /// Warn after this long with no signal while unmuted.
    pub no_signal_after: Duration,
}

impl Default for CaptureSettings {
    fn default() -> Self {
        Self {
            device: DeviceSelection::SystemDefault,
            encoder: EncoderSettings::default(),
            frame_queue: 50,
            event_queue: 256,
            no_signal_after: Duration::from_secs(5),
        }
    }
}

/// One 20 ms Opus packet of the candidate's voice, ready for an RTP track.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct EncodedFrame {
    /// Frames since capture started, without gaps (also across device changes): the RTP
    /// timestamp is `sequence × 960`.
    pub sequence: u64,
    /// When the first sample of the frame was recorded (estimated from the callback time).
    pub captured_at: Instant,
    /// When the device callback that completed the frame ran.
    pub filled_at: Instant,
    /// When encoding finished.
    pub encoded_at: Instant,
    /// The Opus packet.
    pub payload: Vec<u8>,
    /// Silence sent on purpose: muted, or no device while one is being found.
    pub silent: bool,
}

/// Counters for health displays and tests.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CaptureStats {
    pub frames_sent: u64,
    /// Frames the consumer did not take in time.
    pub frames_dropped: u64,
    /// Samples lost because the worker fell behind the device.
    pub overflowed_samples: u64,
    /// Glitches the device reported.
    pub xruns: u64,
    pub device: Option<DeviceInfo>,
    pub muted: bool,
    /// CPU time the capture worker (resampling, levels, encoding) has used so far; the device
    /// callback and the sound server's client threads are not included.
    pub worker_cpu: Duration,
}

/// The receiving ends of a capture.
#[derive(Debug)]
pub struct CaptureStreams {
    pub frames: mpsc::Receiver<EncodedFrame>,
    pub events: mpsc::Receiver<AudioEvent>,
}

enum Control {
    Select(DeviceSelection),
    Encoder(EncoderSettings),
}

#[derive(Debug, Default)]
struct Shared {
    stop: AtomicBool,
    muted: AtomicBool,
    counters: Arc<Counters>,
    frames_sent: AtomicU64,
    worker_cpu_micros: AtomicU64,
    frames_dropped: AtomicU64,
    xruns: AtomicU64,
    device: Mutex<Option<DeviceInfo>>,
}

/// A running microphone capture. Dropping it stops the stream and the worker.
#[derive(Debug)]
pub struct Capture {
    shared: Arc<Shared>,
    control: std_mpsc::Sender<Control>,
    worker: Option<JoinHandle<()>>,
}

impl Capture {
    /// Opens the selected microphone (the default standing in for a missing chosen one) and
    /// starts producing frames.
    ///
    /// # Errors
    /// [`AudioError::NoInputDevice`] when no microphone can be opened at all,
    /// [`AudioError::InvalidConfig`] for bad encoder settings.
    pub fn start(settings: CaptureSettings) -> Result<(Self, CaptureStreams), AudioError> {
        Self::start_with(settings, Box::new(Passthrough))
    }

    /// As [`Capture::start`], with a voice processor (echo cancellation, noise suppression)
    /// between capture and encoding.
    ///
    /// # Errors
    /// As [`Capture::start`].
    pub fn start_with(
        settings: CaptureSettings,
        processor: Box<dyn VoiceProcessor>,
    ) -> Result<(Self, CaptureStreams), AudioError> {
        let encoder = OpusEncoder::new(settings.encoder)?;
        let (frames_tx, frames) = mpsc::channel(settings.frame_queue.max(1));
        let (events_tx, events) = mpsc::channel(settings.event_queue.max(1));
        let (control, control_rx) = std_mpsc::channel();
        let (ready_tx, ready_rx) = std_mpsc::channel();
        let shared = Arc::new(Shared::default());
        let worker_shared = Arc::clone(&shared);
        let worker = std::thread::Builder::new()
            .name("viva-capture".into())
            .spawn(move || {
                let counters = Arc::clone(&worker_shared.counters);
                let this = std::thread::current();
                let starter: Starter<CaptureLive> =
                    Arc::new(move |opened| CaptureLive::start(opened, &counters, &this));
                let (follower, live, info) =
                    match Follower::start(Direction::Input, settings.device.clone(), starter) {
                        Ok(started) => started,
                        Err(error) => {
                            let _ = ready_tx.send(Err(error));
                            return;
                        }
                    };
                if let Ok(mut device) = worker_shared.device.lock() {
                    *device = Some(info.clone());
                }
                let _ = ready_tx.send(Ok(info));
                let worker = Worker {
                    shared: Arc::clone(&worker_shared),
                    follower,
                    live: Some(live),
                    control: control_rx,
                    processor,
                    sink: FrameSink {
                        shared: Arc::clone(&worker_shared),
                        encoder,
                        frames: frames_tx,
                        events: events_tx,
                        meter: LevelMeter::new(LEVEL_WINDOW),
                        silence: SilenceWatch::new(
                            u32::try_from(settings.no_signal_after.as_millis() / 50)
                                .unwrap_or(u32::MAX),
                        ),
                        no_signal_seconds: u32::try_from(settings.no_signal_after.as_secs())
                            .unwrap_or(u32::MAX),
                        sequence: 0,
                    },
                    interleaved: Vec::new(),
                    mono: Vec::new(),
                    pending: Vec::new(),
                    frame: [0.0; FRAME_SAMPLES],
                    silence_due: None,
                    overflow_reported: 0,
                };
                worker.run();
            })
            .map_err(|e| AudioError::Worker(e.to_string()))?;
        match ready_rx.recv() {
            Ok(Ok(info)) => {
                tracing::info!(device = %info.id, "audio_capture_started");
                Ok((
                    Self {
                        shared,
                        control,
                        worker: Some(worker),
                    },
                    CaptureStreams { frames, events },
                ))
            }
            Ok(Err(error)) => {
                let _ = worker.join();
                Err(error)
            }
            Err(_) => Err(AudioError::Worker(
                "the capture worker exited while starting".into(),
            )),
        }
    }

    /// Mutes or unmutes: while muted, silence is encoded and sent, so the call keeps its timing
    /// and nothing has to be renegotiated.
    pub fn set_muted(&self, muted: bool) {
        self.shared.muted.store(muted, Ordering::Relaxed);
    }

    #[must_use]
    pub fn is_muted(&self) -> bool {
        self.shared.muted.load(Ordering::Relaxed)
    }

    /// Moves capture to another device without interrupting the frame stream.
    pub fn select(&self, selection: DeviceSelection) {
        let _ = self.control.send(Control::Select(selection));
        self.wake();
    }

    /// Changes the bitrate or expected loss mid-stream.
    ///
    /// # Errors
    /// [`AudioError::InvalidConfig`] for settings out of range.
    pub fn set_encoder(&self, settings: EncoderSettings) -> Result<(), AudioError> {
        // Validate here so the caller hears about a bad value, not just the log.
        OpusEncoder::new(settings)?;
        let _ = self.control.send(Control::Encoder(settings));
        Ok(())
    }

    #[must_use]
    pub fn stats(&self) -> CaptureStats {
        CaptureStats {
            frames_sent: self.shared.frames_sent.load(Ordering::Relaxed),
            frames_dropped: self.shared.frames_dropped.load(Ordering::Relaxed),
            overflowed_samples: self.shared.counters.overflowed.load(Ordering::Relaxed),
            xruns: self.shared.xruns.load(Ordering::Relaxed),
            device: self.shared.device.lock().ok().and_then(|d| d.clone()),
            muted: self.is_muted(),
            worker_cpu: Duration::from_micros(
                self.shared.worker_cpu_micros.load(Ordering::Relaxed),
            ),
        }
    }

    fn wake(&self) {
        if let Some(worker) = &self.worker {
            worker.thread().unpark();
        }
    }
}

impl Drop for Capture {
    fn drop(&mut self) {
        self.shared.stop.store(true, Ordering::Relaxed);
        self.wake();
        if let Some(worker) = self.worker.take() {
            let _ = worker.join();
        }
    }
}

/// The stream on one device, with the state that belongs to it.
struct CaptureLive {
    _stream: cpal::Stream,
    rings: CaptureRings,
    channels: usize,
    resampler: StreamResampler,
    health: Arc<StreamHealth>,
}

impl LiveStream for CaptureLive {
    fn health(&self) -> &Arc<StreamHealth> {
        &self.health
    }
}

impl CaptureLive {
    fn start(
        opened: &Opened,
        counters: &Arc<Counters>,
        worker: &std::thread::Thread,
    ) -> Result<Self, AudioError> {
        let rate = opened.config.sample_rate();
        let channels = usize::from(opened.config.channels()).max(1);
        let resampler = StreamResampler::new(rate, SAMPLE_RATE)?;
        // One second of the device's samples: the worker would have to stall that long to lose any.
        let capacity = rate as usize * channels;
        let health = Arc::new(StreamHealth::default());
        let mut rings = None;
        let stream = stream::start_input(
            opened,
            || {
                let (callback, consumer) =
                    CaptureCallback::new(capacity, Arc::clone(counters), Some(worker.clone()));
                rings = Some(consumer);
                callback
            },
            &health,
        )?;
        let rings = rings.ok_or_else(|| AudioError::Worker("no capture ring was made".into()))?;
        Ok(Self {
            _stream: stream,
            rings,
            channels,
            resampler,
            health,
        })
    }
}

struct Worker {
    shared: Arc<Shared>,
    follower: Follower<CaptureLive>,
    live: Option<CaptureLive>,
    control: std_mpsc::Receiver<Control>,
    processor: Box<dyn VoiceProcessor>,
    sink: FrameSink,
    interleaved: Vec<f32>,
    mono: Vec<f32>,
    /// 48 kHz mono samples waiting to fill a frame.
    pending: Vec<f32>,
    frame: [f32; FRAME_SAMPLES],
    /// While no device is open, silent frames keep the stream's timing; the next is due then.
    silence_due: Option<Instant>,
    overflow_reported: u64,
}

impl Worker {
    fn run(mut self) {
        let cpu = cpu_time::ThreadTime::now();
        while !self.shared.stop.load(Ordering::Relaxed) {
            let used = u64::try_from(cpu.elapsed().as_micros()).unwrap_or(u64::MAX);
            self.shared.worker_cpu_micros.store(used, Ordering::Relaxed);
            self.take_control();
            self.drain();
            self.report_overflow();
            let reopened = self.follower.maintain(&mut self.live, &self.sink.events);
            if reopened {
                self.pending.clear();
                self.sink.silence.reset();
                self.silence_due = None;
            }
            if let Ok(mut device) = self.shared.device.lock() {
                device.clone_from(&self.follower.current().cloned());
            }
            if self.live.is_none() {
                self.fill_gap();
            }
            if let Some(live) = &self.live {
                let xruns = live.health.xruns.load(Ordering::Relaxed);
                self.shared.xruns.fetch_max(xruns, Ordering::Relaxed);
            }
            // Woken by each device callback; the timeout keeps device checks and gap filling going.
            std::thread::park_timeout(if self.live.is_some() {
                FRAME
            } else {
                Duration::from_millis(5)
            });
        }
    }

    fn take_control(&mut self) {
        while let Ok(control) = self.control.try_recv() {
            match control {
                Control::Select(selection) => {
                    self.follower.select(selection);
                }
                Control::Encoder(settings) => {
                    if let Err(error) = self.sink.encoder.apply(settings) {
                        tracing::warn!(%error, "audio_encoder_settings_refused");
                    }
                }
            }
        }
    }

    /// Moves everything the callback has delivered through to encoded frames.
    fn drain(&mut self) {
        let Some(live) = self.live.as_mut() else {
            return;
        };
        while let Ok(stamp) = live.rings.stamps.pop() {
            let Ok(chunk) = live.rings.samples.read_chunk(stamp.samples) else {
                // Cannot happen: the callback pushes samples before their stamp.
                break;
            };
            let (first, second) = chunk.as_slices();
            self.interleaved.clear();
            self.interleaved.extend_from_slice(first);
            self.interleaved.extend_from_slice(second);
            chunk.commit_all();
            downmix(&self.interleaved, live.channels, &mut self.mono);
            if let Err(error) = live.resampler.process(&self.mono, &mut self.pending) {
                tracing::warn!(%error, "audio_resample_failed");
                self.pending.clear();
            }
            while self.pending.len() >= FRAME_SAMPLES {
                self.frame.copy_from_slice(&self.pending[..FRAME_SAMPLES]);
                self.pending.drain(..FRAME_SAMPLES);
                let muted = self.shared.muted.load(Ordering::Relaxed);
                self.processor.process(&mut self.frame);
                self.sink.send(&mut self.frame, stamp.at, muted, true);
            }
        }
    }

    /// Sends silent frames in real time while no device is open, so the call's timing and the
    /// frame sequence carry on as if nothing happened.
    fn fill_gap(&mut self) {
        let now = Instant::now();
        let due = self.silence_due.get_or_insert(now);
        while *due <= now {
            let at = *due;
            *due += FRAME;
            self.frame = [0.0; FRAME_SAMPLES];
            self.sink.send(&mut self.frame, at, true, false);
        }
    }

    fn report_overflow(&mut self) {
        let total = self.shared.counters.overflowed.load(Ordering::Relaxed);
        if total > self.overflow_reported {
            let dropped = total - self.overflow_reported;
            self.overflow_reported = total;
            tracing::warn!(dropped, "audio_capture_overflow");
            emit(
                &self.sink.events,
                AudioEvent::Overflow {
                    dropped_samples: dropped,
                },
            );
        }
    }
}

/// The path a finished 48 kHz frame takes: levels, the silence watch, Opus, the consumer.
struct FrameSink {
    shared: Arc<Shared>,
    encoder: OpusEncoder,
    frames: mpsc::Sender<EncodedFrame>,
    events: mpsc::Sender<AudioEvent>,
    meter: LevelMeter,
    silence: SilenceWatch,
    no_signal_seconds: u32,
    sequence: u64,
}

impl FrameSink {
    fn send(
        &mut self,
        frame: &mut [f32; FRAME_SAMPLES],
        filled_at: Instant,
        silent: bool,
        from_device: bool,
    ) {
        if silent {
            frame.fill(0.0);
        }
        let events = &self.events;
        let silence = &mut self.silence;
        let no_signal_seconds = self.no_signal_seconds;
        self.meter.feed(frame, |level| {
            emit(
                events,
                AudioEvent::Level {
                    direction: Direction::Input,
                    level,
                },
            );
            // Only a working, unmuted device can be "silent by accident".
            let observed = silence.observe(level, silent || !from_device);
            match observed {
                Some(SignalChange::Lost) => {
                    emit(
                        events,
                        AudioEvent::NoSignal {
                            seconds: no_signal_seconds,
                        },
                    );
                }
                Some(SignalChange::Restored) => {
                    emit(events, AudioEvent::SignalRestored);
                }
                None => {}
            }
        });
        let payload = match self.encoder.encode(frame) {
            Ok(payload) => payload,
            Err(error) => {
                tracing::warn!(%error, "audio_encode_failed");
                return;
            }
        };
        let encoded = EncodedFrame {
            sequence: self.sequence,
            captured_at: filled_at.checked_sub(FRAME).unwrap_or(filled_at),
            filled_at,
            encoded_at: Instant::now(),
            payload,
            silent: silent || !from_device,
        };
        self.sequence += 1;
        if self.frames.try_send(encoded).is_ok() {
            self.shared.frames_sent.fetch_add(1, Ordering::Relaxed);
        } else {
            self.shared.frames_dropped.fetch_add(1, Ordering::Relaxed);
        }
    }
}

/// Averages interleaved channels into `mono` (replacing its contents).
pub(crate) fn downmix(interleaved: &[f32], channels: usize, mono: &mut Vec<f32>) {
    mono.clear();
    if channels <= 1 {
        mono.extend_from_slice(interleaved);
        return;
    }
    #[allow(clippy::cast_precision_loss)] // Channel counts are tiny.
    let scale = 1.0 / channels as f32;
    mono.extend(
        interleaved
            .chunks_exact(channels)
            .map(|frame| frame.iter().sum::<f32>() * scale),
    );
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn downmix_averages_channels_and_passes_mono_through() {
        let mut mono = Vec::new();
        downmix(&[1.0, 0.0, 0.5, 0.5, -1.0, 1.0], 2, &mut mono);
        assert_eq!(mono, vec![0.5, 0.5, 0.0]);
        downmix(&[0.1, 0.2], 1, &mut mono);
        assert_eq!(mono, vec![0.1, 0.2]);
    }
}

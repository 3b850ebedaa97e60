//! Playback of the interviewer's voice: RTP Opus packets → adaptive jitter buffer → Opus decode
//! (FEC recovery and packet-loss concealment) → resample and upmix for the device → lock-free
//! ring → output callback.

use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex, mpsc as std_mpsc};
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use tokio::sync::mpsc;

use crate::AudioError;
use crate::codec::{FRAME_SAMPLES, OpusDecoder, SAMPLE_RATE};
use crate::device::{DeviceInfo, DeviceSelection, Direction, Opened};
use crate::echo::{EchoControl, echo_reference};
use crate::events::{AudioEvent, emit};
use crate::follow::{Follower, LiveStream, Starter};
use crate::jitter::{JitterBuffer, JitterSettings, JitterStats, Playout};
use crate::level::LevelMeter;
use crate::resample::StreamResampler;
use crate::rt::{Counters, PlaybackCallback};
use crate::stream::{self, StreamHealth};

/// Decoded audio kept ahead of the device, beyond the jitter buffer.
const LEAD: Duration = Duration::from_millis(30);
/// Opus packets can carry up to 120 ms.
const MAX_PACKET_SAMPLES: usize = SAMPLE_RATE as usize * 120 / 1000;

/// How playback is set up.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PlaybackSettings {
    pub device: DeviceSelection,
    pub jitter: JitterSettings,
    /// Packets queued between the network task and the worker.
    pub packet_queue: usize,
    pub event_queue: usize,
}

impl Default for PlaybackSettings {
    fn default() -> Self {
        Self {
            device: DeviceSelection::SystemDefault,
            jitter: JitterSettings::default(),
            packet_queue: 100,
            event_queue: 256,
        }
    }
}

/// One received RTP packet of Opus audio.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RtpAudio {
    pub sequence: u16,
    /// RTP timestamp in 48 kHz units.
    pub timestamp: u32,
    pub payload: Vec<u8>,
}

/// Counters for the health display and tests.
#[derive(Debug, Clone, PartialEq)]
pub struct PlaybackStats {
    pub jitter: JitterStats,
    /// Missing frames rebuilt from the next packet's FEC data (the rest were concealed).
    pub recovered: u64,
    /// Packets that arrived while the queue to the worker was full.
    pub queue_dropped: u64,
    /// Times the output device found nothing ready.
    pub underruns: u64,
    pub xruns: u64,
    pub target_delay_ms: u32,
    pub jitter_ms: f64,
    pub device: Option<DeviceInfo>,
}

#[derive(Debug, Default)]
struct Shared {
    stop: AtomicBool,
    counters: Arc<Counters>,
    queue_dropped: AtomicU64,
    stats: Mutex<Option<PlaybackStats>>,
}

/// Hands packets to a running playback from any thread or task, without waiting.
#[derive(Debug, Clone)]
pub struct PacketSender {
    queue: std_mpsc::SyncSender<(RtpAudio, Instant)>,
    shared: Arc<Shared>,
    worker: std::thread::Thread,
}

impl PacketSender {
    /// Queues a packet; returns false (and counts it) when the worker is not keeping up.
    pub fn push(&self, packet: RtpAudio) -> bool {
        let queued = self.queue.try_send((packet, Instant::now())).is_ok();
        if queued {
            self.worker.unpark();
        } else {
            self.shared.queue_dropped.fetch_add(1, Ordering::Relaxed);
        }
        queued
    }
}

enum Control {
    Select(DeviceSelection),
}

/// Running playback. Dropping it stops the stream and the worker.
#[derive(Debug)]
pub struct Playback {
    shared: Arc<Shared>,
    sender: PacketSender,
    control: std_mpsc::Sender<Control>,
    worker: Option<JoinHandle<()>>,
}

impl Playback {
    /// Opens the selected output (the default standing in for a missing chosen one).
    ///
    /// # Errors
    /// [`AudioError::NoOutputDevice`] when no output can be opened at all.
    pub fn start(
        settings: PlaybackSettings,
    ) -> Result<(Self, mpsc::Receiver<AudioEvent>), AudioError> {
        Self::open(settings, None)
    }

    /// As [`Playback::start`], with everything played handed to `echo` as its far-end
    /// reference: each output stream (the first, and one per device change) connects a tap
    /// of its own, at that device's rate and channels.
    ///
    /// # Errors
    /// As [`Playback::start`].
    pub fn start_feeding(
        settings: PlaybackSettings,
        echo: EchoControl,
    ) -> Result<(Self, mpsc::Receiver<AudioEvent>), AudioError> {
        Self::open(settings, Some(echo))
    }

    fn open(
        settings: PlaybackSettings,
        echo: Option<EchoControl>,
    ) -> Result<(Self, mpsc::Receiver<AudioEvent>), AudioError> {
        let decoder = OpusDecoder::new()?;
        let (events_tx, events) = mpsc::channel(settings.event_queue.max(1));
        let (queue, queue_rx) = std_mpsc::sync_channel(settings.packet_queue.max(1));
        let (control, control_rx) = std_mpsc::channel();
        let (ready_tx, ready_rx) = std_mpsc::channel();
        let shared = Arc::new(Shared::default());
        let worker_shared = Arc::clone(&shared);
        let worker = std::thread::Builder::new()
            .name("viva-playback".into())
            .spawn(move || {
                let active = Arc::new(AtomicBool::new(false));
                let (counters, flag, this) = (
                    Arc::clone(&worker_shared.counters),
                    Arc::clone(&active),
                    std::thread::current(),
                );
                let starter: Starter<PlaybackLive> = Arc::new(move |opened| {
                    PlaybackLive::start(opened, &counters, &flag, &this, echo.as_ref())
                });
                let (follower, live, info) =
                    match Follower::start(Direction::Output, settings.device.clone(), starter) {
                        Ok(started) => started,
                        Err(error) => {
                            let _ = ready_tx.send(Err(error));
                            return;
                        }
                    };
                if let Ok(mut stats) = worker_shared.stats.lock() {
                    *stats = Some(PlaybackStats {
                        jitter: JitterStats::default(),
                        recovered: 0,
                        queue_dropped: 0,
                        underruns: 0,
                        xruns: 0,
                        target_delay_ms: settings.jitter.min_delay_ms,
                        jitter_ms: 0.0,
                        device: Some(info.clone()),
                    });
                }
                let _ = ready_tx.send(Ok(info));
                Worker {
                    shared: worker_shared,
                    follower,
                    live: Some(live),
                    active,
                    control: control_rx,
                    queue: queue_rx,
                    jitter: JitterBuffer::new(settings.jitter),
                    decoder,
                    events: events_tx,
                    meter: LevelMeter::new(SAMPLE_RATE as usize / 20),
                    decoded: vec![0.0; MAX_PACKET_SAMPLES],
                    resampled: Vec::new(),
                    recovered: 0,
                    underruns_reported: 0,
                    epoch: Instant::now(),
                }
                .run();
            })
            .map_err(|e| AudioError::Worker(e.to_string()))?;
        let sender = PacketSender {
            queue,
            shared: Arc::clone(&shared),
            worker: worker.thread().clone(),
        };
        match ready_rx.recv() {
            Ok(Ok(info)) => {
                tracing::info!(device = %info.id, "audio_playback_started");
                Ok((
                    Self {
                        shared,
                        sender,
                        control,
                        worker: Some(worker),
                    },
                    events,
                ))
            }
            Ok(Err(error)) => {
                let _ = worker.join();
                Err(error)
            }
            Err(_) => Err(AudioError::Worker(
                "the playback worker exited while starting".into(),
            )),
        }
    }

    /// Queues a packet from the network; see [`PacketSender::push`].
    pub fn push(&self, packet: RtpAudio) -> bool {
        self.sender.push(packet)
    }

    /// A handle for the network task to push packets with.
    #[must_use]
    pub fn sender(&self) -> PacketSender {
        self.sender.clone()
    }

    /// Moves playback to another output.
    pub fn select(&self, selection: DeviceSelection) {
        let _ = self.control.send(Control::Select(selection));
        self.sender.worker.unpark();
    }

    #[must_use]
    pub fn stats(&self) -> Option<PlaybackStats> {
        let mut stats = self.shared.stats.lock().ok().and_then(|s| s.clone())?;
        stats.queue_dropped = self.shared.queue_dropped.load(Ordering::Relaxed);
        stats.underruns = self.shared.counters.underruns.load(Ordering::Relaxed);
        Some(stats)
    }
}

impl Drop for Playback {
    fn drop(&mut self) {
        self.shared.stop.store(true, Ordering::Relaxed);
        self.sender.worker.unpark();
        if let Some(worker) = self.worker.take() {
            let _ = worker.join();
        }
    }
}

struct PlaybackLive {
    _stream: cpal::Stream,
    ring: rtrb::Producer<f32>,
    channels: usize,
    lead_samples: usize,
    resampler: StreamResampler,
    health: Arc<StreamHealth>,
}

impl LiveStream for PlaybackLive {
    fn health(&self) -> &Arc<StreamHealth> {
        &self.health
    }
}

impl PlaybackLive {
    fn start(
        opened: &Opened,
        counters: &Arc<Counters>,
        active: &Arc<AtomicBool>,
        worker: &std::thread::Thread,
        echo: Option<&EchoControl>,
    ) -> Result<Self, AudioError> {
        let rate = opened.config.sample_rate();
        let device_channels = opened.config.channels().max(1);
        let channels = usize::from(device_channels);
        let resampler = StreamResampler::new(SAMPLE_RATE, rate)?;
        let per_second = rate as usize * channels;
        let health = Arc::new(StreamHealth::default());
        let mut ring = None;
        let mut feed = None;
        let stream = stream::start_output(
            opened,
            || {
                let worker = Some(worker.clone());
                // 200 ms of room: far more than the lead, so a late worker never overfills it.
                let (mut callback, producer) = PlaybackCallback::new(
                    per_second / 5,
                    Arc::clone(counters),
                    Arc::clone(active),
                    worker,
                );
                ring = Some(producer);
                if echo.is_some() {
                    // A second of the device's samples: the capture worker would have to
                    // stall that long to lose any.
                    let (tap, reference) = echo_reference(per_second);
                    callback = callback.with_reference(tap, device_channels, rate);
                    feed = Some(reference);
                }
                callback
            },
            &health,
        )?;
        // The stream that started is the last one built: its tap is the one that plays.
        if let (Some(echo), Some(feed)) = (echo, feed) {
            echo.connect(feed);
        }
        let ring = ring.ok_or_else(|| AudioError::Worker("no playback ring was made".into()))?;
        #[allow(clippy::cast_possible_truncation)] // 30 ms of samples.
        let lead_samples = (per_second as u128 * LEAD.as_millis() / 1000) as usize;
        Ok(Self {
            _stream: stream,
            ring,
            channels,
            lead_samples,
            resampler,
            health,
        })
    }

    fn buffered(&self) -> usize {
        self.ring.buffer().capacity() - self.ring.slots()
    }
}

struct Worker {
    shared: Arc<Shared>,
    follower: Follower<PlaybackLive>,
    live: Option<PlaybackLive>,
    active: Arc<AtomicBool>,
    control: std_mpsc::Receiver<Control>,
    queue: std_mpsc::Receiver<(RtpAudio, Instant)>,
    jitter: JitterBuffer,
    decoder: OpusDecoder,
    events: mpsc::Sender<AudioEvent>,
    meter: LevelMeter,
    decoded: Vec<f32>,
    resampled: Vec<f32>,
    recovered: u64,
    underruns_reported: u64,
    epoch: Instant,
}

impl Worker {
    fn run(mut self) {
        while !self.shared.stop.load(Ordering::Relaxed) {
            while let Ok(Control::Select(selection)) = self.control.try_recv() {
                self.follower.select(selection);
            }
            while let Ok((packet, arrived)) = self.queue.try_recv() {
                let arrival_ms =
                    arrived.saturating_duration_since(self.epoch).as_secs_f64() * 1000.0;
                self.jitter.insert(
                    packet.sequence,
                    packet.timestamp,
                    packet.payload,
                    arrival_ms,
                );
            }
            self.follower.maintain(&mut self.live, &self.events);
            self.top_up();
            self.publish_stats();
            // Woken by the output callback and by arriving packets.
            std::thread::park_timeout(Duration::from_millis(10));
        }
    }

    /// Decodes frames into the ring until the device has [`LEAD`] of sound ahead of it.
    fn top_up(&mut self) {
        while self
            .live
            .as_ref()
            .is_some_and(|live| live.buffered() < live.lead_samples)
        {
            let samples = self.next_frame();
            let Some(live) = self.live.as_mut() else {
                return;
            };
            self.resampled.clear();
            if let Err(error) = live
                .resampler
                .process(&self.decoded[..samples], &mut self.resampled)
            {
                tracing::warn!(%error, "audio_resample_failed");
                return;
            }
            let needed = self.resampled.len() * live.channels;
            if needed == 0 {
                continue;
            }
            let Ok(chunk) = live.ring.write_chunk_uninit(needed.min(live.ring.slots())) else {
                return;
            };
            let channels = live.channels;
            chunk.fill_from_iter(
                self.resampled
                    .iter()
                    .flat_map(|&s| std::iter::repeat_n(s, channels)),
            );
        }
    }

    /// The next 20 ms (or longer packet) of the interviewer's voice into `self.decoded`;
    /// returns how many samples it holds.
    fn next_frame(&mut self) -> usize {
        let frame: &mut [f32; FRAME_SAMPLES] = match (&mut self.decoded[..FRAME_SAMPLES]).try_into()
        {
            Ok(frame) => frame,
            Err(_) => return 0,
        };
        let samples = match self.jitter.pop() {
            Playout::Waiting => {
                self.active.store(false, Ordering::Relaxed);
                frame.fill(0.0);
                FRAME_SAMPLES
            }
            Playout::Packet(packet) => {
                self.active.store(true, Ordering::Relaxed);
                match self.decoder.decode(&packet, &mut self.decoded) {
                    Ok(samples) => samples,
                    Err(error) => {
                        tracing::debug!(%error, "audio_packet_undecodable");
                        self.conceal()
                    }
                }
            }
            Playout::Missing { next: Some(next) } => {
                self.active.store(true, Ordering::Relaxed);
                match self.decoder.recover(&next, frame) {
                    Ok(samples) => {
                        self.recovered += 1;
                        samples
                    }
                    Err(_) => self.conceal(),
                }
            }
            Playout::Missing { next: None } => {
                self.active.store(true, Ordering::Relaxed);
                self.conceal()
            }
        };
        let events = &self.events;
        self.meter.feed(&self.decoded[..samples], |level| {
            emit(
                events,
                AudioEvent::Level {
                    direction: Direction::Output,
                    level,
                },
            );
        });
        samples
    }

    fn conceal(&mut self) -> usize {
        let Ok(frame) = <&mut [f32; FRAME_SAMPLES]>::try_from(&mut self.decoded[..FRAME_SAMPLES])
        else {
            return 0;
        };
        self.decoder.conceal(frame).unwrap_or_else(|_| {
            frame.fill(0.0);
            FRAME_SAMPLES
        })
    }

    fn publish_stats(&mut self) {
        let underruns = self.shared.counters.underruns.load(Ordering::Relaxed);
        if underruns > self.underruns_reported {
            self.underruns_reported = underruns;
            // A gap the speakers played: it also moves the echo path the canceller follows.
            tracing::info!(total = underruns, "audio_playback_underrun");
            emit(&self.events, AudioEvent::Underrun { total: underruns });
        }
        let stats = PlaybackStats {
            jitter: self.jitter.stats(),
            recovered: self.recovered,
            queue_dropped: 0,
            underruns,
            xruns: self
                .live
                .as_ref()
                .map_or(0, |l| l.health.xruns.load(Ordering::Relaxed)),
            target_delay_ms: self.jitter.target_delay_ms(),
            jitter_ms: self.jitter.jitter_ms(),
            device: self.follower.current().cloned(),
        };
        if let Ok(mut slot) = self.shared.stats.lock() {
            *slot = Some(stats);
        }
    }
}

//! The real-time half of capture and playback: the code that runs inside the device callbacks.
//! It converts samples and moves them through lock-free single-producer/single-consumer rings;
//! it never locks, allocates, blocks or does I/O. Public so tests can hold it to that.

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::time::Instant;

use cpal::{FromSample, Sample};

use crate::echo::ReferenceTap;

/// When one input callback ran and how many interleaved samples it delivered.
#[derive(Debug, Clone, Copy)]
pub struct Stamp {
    pub at: Instant,
    pub samples: usize,
}

/// Counters the callbacks keep and the workers report.
#[derive(Debug, Default)]
pub struct Counters {
    /// Input samples dropped because the worker had fallen behind.
    pub overflowed: AtomicU64,
    /// Output callbacks that found too little sound ready.
    pub underruns: AtomicU64,
}

/// What the capture worker reads: the samples and one stamp per callback.
#[derive(Debug)]
pub struct CaptureRings {
    pub samples: rtrb::Consumer<f32>,
    pub stamps: rtrb::Consumer<Stamp>,
}

/// Runs inside the input device callback.
#[derive(Debug)]
pub struct CaptureCallback {
    samples: rtrb::Producer<f32>,
    stamps: rtrb::Producer<Stamp>,
    counters: Arc<Counters>,
    worker: Option<std::thread::Thread>,
}

impl CaptureCallback {
    /// Rings holding `capacity` interleaved samples; `worker` is woken after each callback.
    #[must_use]
    pub fn new(
        capacity: usize,
        counters: Arc<Counters>,
        worker: Option<std::thread::Thread>,
    ) -> (Self, CaptureRings) {
        let (samples, samples_out) = rtrb::RingBuffer::new(capacity.max(1));
        // Callbacks bring at least a few hundred samples; one stamp per 64 is plenty.
        let (stamps, stamps_out) = rtrb::RingBuffer::new((capacity / 64).max(16));
        (
            Self {
                samples,
                stamps,
                counters,
                worker,
            },
            CaptureRings {
                samples: samples_out,
                stamps: stamps_out,
            },
        )
    }

    /// Takes one callback's samples. When the worker has fallen behind, the whole callback is
    /// dropped and counted (never a partial one, which would shift the channels).
    pub fn on_data<T>(&mut self, data: &[T], now: Instant)
    where
        T: Sample,
        f32: FromSample<T>,
    {
        let n = data.len();
        if n == 0 {
            return;
        }
        if self.stamps.is_full() || self.samples.slots() < n {
            self.counters
                .overflowed
                .fetch_add(n as u64, Ordering::Relaxed);
            return;
        }
        if let Ok(chunk) = self.samples.write_chunk_uninit(n) {
            chunk.fill_from_iter(data.iter().map(|&s| f32::from_sample(s)));
        }
        // Cannot fail: fullness was checked above and only this thread pushes.
        let _ = self.stamps.push(Stamp {
            at: now,
            samples: n,
        });
        if let Some(worker) = &self.worker {
            worker.unpark();
        }
    }
}

/// Runs inside the output device callback.
#[derive(Debug)]
pub struct PlaybackCallback {
    samples: rtrb::Consumer<f32>,
    counters: Arc<Counters>,
    /// Whether sound is expected: an empty ring before the first packet is not an underrun.
    active: Arc<AtomicBool>,
    worker: Option<std::thread::Thread>,
    /// Where what is played goes as the echo canceller's far-end reference.
    reference: Option<PlayedReference>,
}

/// The echo canceller's tap, with the format of the device it hears.
#[derive(Debug)]
struct PlayedReference {
    tap: ReferenceTap,
    channels: u16,
    rate: u32,
}

impl PlaybackCallback {
    /// A ring of `capacity` interleaved device samples; the producer goes to the worker.
    #[must_use]
    pub fn new(
        capacity: usize,
        counters: Arc<Counters>,
        active: Arc<AtomicBool>,
        worker: Option<std::thread::Thread>,
    ) -> (Self, rtrb::Producer<f32>) {
        let (producer, samples) = rtrb::RingBuffer::new(capacity.max(1));
        (
            Self {
                samples,
                counters,
                active,
                worker,
                reference: None,
            },
            producer,
        )
    }

    /// Also records everything written to the device (silence padding included) into `tap`,
    /// the echo canceller's reference: the device plays `channels` interleaved at `rate`.
    #[must_use]
    pub fn with_reference(mut self, tap: ReferenceTap, channels: u16, rate: u32) -> Self {
        self.reference = Some(PlayedReference {
            tap,
            channels,
            rate,
        });
        self
    }

    /// Fills the device's buffer from the ring; pads with silence and counts an underrun when
    /// the ring runs short while sound is expected.
    pub fn on_data<T>(&mut self, out: &mut [T])
    where
        T: Sample + FromSample<f32>,
        f32: FromSample<T>,
    {
        let available = self.samples.slots().min(out.len());
        if let Ok(chunk) = self.samples.read_chunk(available) {
            let (first, second) = chunk.as_slices();
            for (slot, &sample) in out.iter_mut().zip(first.iter().chain(second)) {
                *slot = T::from_sample(sample);
            }
            chunk.commit_all();
        }
        if available < out.len() {
            for slot in &mut out[available..] {
                *slot = T::EQUILIBRIUM;
            }
            if self.active.load(Ordering::Relaxed) {
                self.counters.underruns.fetch_add(1, Ordering::Relaxed);
            }
        }
        if let Some(reference) = &mut self.reference {
            reference
                .tap
                .push_played(out, reference.channels, reference.rate);
        }
        if let Some(worker) = &self.worker {
            worker.unpark();
        }
    }
}

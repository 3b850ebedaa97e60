//! The uplink: microphone frames to whichever connection is current, for the life of the call.

use std::collections::VecDeque;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use bytes::Bytes;
use rtc::media::Sample;
use tokio::sync::{mpsc, watch};
use viva_audio::EncodedFrame;
use webrtc::media_stream::track_local::static_sample::TrackLocalStaticSample;

/// Counters the uplink task keeps, readable from outside.
#[derive(Debug, Default)]
pub struct UplinkCounters {
    pub packets: AtomicU64,
    pub bytes: AtomicU64,
    /// Frames lost: older than the hold while no connection could take them, or refused.
    pub dropped: AtomicU64,
    /// Microseconds from a frame filling (capture) to its RTP packet being handed to the
    /// connection, newest last; the last few thousand.
    latencies_us: Mutex<VecDeque<u32>>,
}

const LATENCY_WINDOW: usize = 15_000;

impl UplinkCounters {
    /// A copy of the recent frame-to-packet latencies, in microseconds.
    pub fn latencies_us(&self) -> Vec<u32> {
        self.latencies_us
            .lock()
            .map(|l| l.iter().copied().collect())
            .unwrap_or_default()
    }
}

/// Where the uplink writes: the current connection's track.
#[derive(Clone)]
pub(crate) struct UplinkTarget {
    pub track: Arc<TrackLocalStaticSample>,
    pub ssrc: u32,
    pub payload_type: u8,
}

/// Frames kept while no connection can take them: two seconds. A planned re-session or a
/// quick reconnect then loses no words; what is older than that is dropped (and counted).
const UPLINK_HOLD: usize = 100;

/// Moves microphone frames to whichever connection is current, for the life of the call.
/// Between connections the newest frames wait, and go out first on the next connection.
pub(crate) async fn run_uplink(
    mut frames: mpsc::Receiver<EncodedFrame>,
    mut target: watch::Receiver<Option<UplinkTarget>>,
    counters: Arc<UplinkCounters>,
) {
    let mut held: VecDeque<EncodedFrame> = VecDeque::new();
    loop {
        let frame = tokio::select! {
            frame = frames.recv() => match frame {
                Some(frame) => Some(frame),
                None => return,
            },
            changed = target.changed() => {
                if changed.is_err() {
                    return;
                }
                None
            }
        };
        let current = target.borrow_and_update().clone();
        let Some(to) = current else {
            if let Some(frame) = frame {
                if held.len() == UPLINK_HOLD {
                    held.pop_front();
                    counters.dropped.fetch_add(1, Ordering::Relaxed);
                }
                held.push_back(frame);
            }
            continue;
        };
        while let Some(old) = held.pop_front() {
            send_frame(&to, old, &counters).await;
        }
        if let Some(frame) = frame {
            send_frame(&to, frame, &counters).await;
        }
    }
}

async fn send_frame(to: &UplinkTarget, frame: EncodedFrame, counters: &UplinkCounters) {
    let bytes = frame.payload.len() as u64;
    let sample = Sample {
        data: Bytes::from(frame.payload),
        duration: Duration::from_millis(20),
        ..Sample::new(Instant::now())
    };
    let written = to
        .track
        .sample_writer(to.ssrc, to.payload_type)
        .write_sample(&sample)
        .await;
    if written.is_err() {
        counters.dropped.fetch_add(1, Ordering::Relaxed);
        return;
    }
    counters.packets.fetch_add(1, Ordering::Relaxed);
    counters.bytes.fetch_add(bytes, Ordering::Relaxed);
    let latency = frame
        .filled_at
        .elapsed()
        .as_micros()
        .min(u128::from(u32::MAX)) as u32;
    if let Ok(mut window) = counters.latencies_us.lock() {
        if window.len() == LATENCY_WINDOW {
            window.pop_front();
        }
        window.push_back(latency);
    }
}

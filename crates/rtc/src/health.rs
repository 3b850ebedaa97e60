//! How healthy the call is, once a second: connection states, round-trip time, downlink jitter
//! and loss measured from the packets themselves, uplink counters, event-channel liveness,
//! audio levels, and a verdict (good / fair / poor) with its reason.
//!
//! webrtc-rs 0.21.1 never fills the remote-inbound stats (what the far end reports back about
//! our uplink), so uplink loss is `None` — unknown — never a made-up zero.

use std::time::Instant;

use serde::Serialize;

/// The overall verdict.
#[cfg_attr(feature = "specta", derive(specta::Type))]
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum QualityLevel {
    Good,
    Fair,
    Poor,
}

/// The verdict and, unless it is good, why.
#[cfg_attr(feature = "specta", derive(specta::Type))]
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Quality {
    pub level: QualityLevel,
    pub reason: Option<String>,
}

/// One health sample.
#[cfg_attr(feature = "specta", derive(specta::Type))]
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Health {
    /// Milliseconds since the call started.
    pub at_ms: u64,
    pub peer_state: String,
    pub ice_state: String,
    pub dtls_state: String,
    pub data_channel: String,
    /// Round-trip time of the selected ICE candidate pair; `None` until one is measured.
    pub rtt_ms: Option<f64>,
    /// Interarrival jitter of the interviewer's voice (RFC 3550), in milliseconds.
    pub downlink_jitter_ms: Option<f64>,
    pub downlink_packets: u64,
    pub downlink_lost: u64,
    /// Share of downlink packets lost since the previous sample (0–1).
    pub downlink_loss: Option<f64>,
    pub uplink_packets: u64,
    pub uplink_bytes: u64,
    pub uplink_kbps: Option<f64>,
    /// The far end's report of our uplink loss: unknown with this WebRTC stack.
    pub uplink_loss: Option<f64>,
    pub mic_dbfs: Option<f32>,
    pub speaker_dbfs: Option<f32>,
    /// Since the last message from the voice AI; `None` before the first.
    pub since_last_event_ms: Option<u64>,
    pub reconnects: u32,
    /// Which voice API the call speaks (`live` or `realtime`), and its model, for the room's
    /// connection details.
    pub voice_api: String,
    pub model: String,
    pub quality: Quality,
}

/// Judges a sample. The thresholds follow common VoIP guidance: loss above 3 % or jitter above
/// 30 ms is audible, above 10 % / 60 ms hard to follow; a round trip above 300 ms makes people
/// talk over each other.
#[must_use]
pub fn assess(health: &Health) -> Quality {
    let poor = |reason: String| Quality {
        level: QualityLevel::Poor,
        reason: Some(reason),
    };
    let fair = |reason: String| Quality {
        level: QualityLevel::Fair,
        reason: Some(reason),
    };
    if health.peer_state != "connected" {
        return poor(format!("the connection is {}", health.peer_state));
    }
    if health.data_channel != "open" {
        return poor(format!("the event channel is {}", health.data_channel));
    }
    let loss = health.downlink_loss.unwrap_or(0.0);
    let jitter = health.downlink_jitter_ms.unwrap_or(0.0);
    let rtt = health.rtt_ms.unwrap_or(0.0);
    if loss > 0.10 {
        return poor(format!(
            "{:.0} % of the interviewer's audio is lost",
            loss * 100.0
        ));
    }
    if jitter > 60.0 {
        return poor(format!(
            "the interviewer's audio arrives unevenly ({jitter:.0} ms jitter)"
        ));
    }
    if rtt > 600.0 {
        return poor(format!("the connection is slow ({rtt:.0} ms round trip)"));
    }
    if loss > 0.03 {
        return fair(format!(
            "{:.0} % of the interviewer's audio is lost",
            loss * 100.0
        ));
    }
    if jitter > 30.0 {
        return fair(format!(
            "the interviewer's audio arrives unevenly ({jitter:.0} ms jitter)"
        ));
    }
    if rtt > 300.0 {
        return fair(format!("the connection is slow ({rtt:.0} ms round trip)"));
    }
    Quality {
        level: QualityLevel::Good,
        reason: None,
    }
}

/// Counts the interviewer's RTP packets as they arrive: received, lost (from sequence gaps)
/// and interarrival jitter (RFC 3550 §6.4.1), for a 48 kHz clock.
#[derive(Debug, Clone, Default)]
pub struct DownlinkMeter {
    received: u64,
    /// Extended (wrap-counted) first and highest sequence numbers.
    first: Option<i64>,
    highest: i64,
    last_transit: Option<f64>,
    jitter_ticks: f64,
    /// `(expected, received)` at the previous interval, for the loss of the last interval.
    at_last_interval: (u64, u64),
}

/// The RTP clock of Opus.
const CLOCK_HZ: f64 = 48_000.0;

impl DownlinkMeter {
    /// Records a packet with sequence `seq` and RTP time `timestamp` that arrived at `arrival`
    /// (measured from any fixed `epoch`).
    pub fn packet(&mut self, seq: u16, timestamp: u32, arrival: Instant, epoch: Instant) {
        self.received += 1;
        match self.first {
            // Offset by one cycle so a packet reordered before the first stays non-negative.
            None => {
                self.highest = i64::from(seq) + 0x1_0000;
                self.first = Some(self.highest);
            }
            Some(_) => {
                // The nearest extended number to the highest so far, either side of a wrap.
                let delta = i64::from(seq.wrapping_sub(self.highest as u16) as i16);
                self.highest = self.highest.max(self.highest + delta);
            }
        }
        let arrival_ticks = arrival.saturating_duration_since(epoch).as_secs_f64() * CLOCK_HZ;
        let transit = arrival_ticks - f64::from(timestamp);
        if let Some(last) = self.last_transit {
            let d = (transit - last).abs();
            self.jitter_ticks += (d - self.jitter_ticks) / 16.0;
        }
        self.last_transit = Some(transit);
    }

    #[must_use]
    pub fn received(&self) -> u64 {
        self.received
    }

    fn expected(&self) -> u64 {
        self.first.map_or(0, |first| {
            u64::try_from(self.highest + 1 - first).unwrap_or(0)
        })
    }

    /// Packets that never arrived (duplicates can make `received` exceed `expected`).
    #[must_use]
    pub fn lost(&self) -> u64 {
        self.expected().saturating_sub(self.received)
    }

    #[must_use]
    pub fn jitter_ms(&self) -> Option<f64> {
        self.last_transit
            .map(|_| self.jitter_ticks / CLOCK_HZ * 1000.0)
    }

    /// Loss since the previous call (0–1), `None` when nothing was expected.
    pub fn interval_loss(&mut self) -> Option<f64> {
        let (expected, received) = (self.expected(), self.received);
        let (last_expected, last_received) = self.at_last_interval;
        self.at_last_interval = (expected, received);
        let expected = expected.saturating_sub(last_expected);
        if expected == 0 {
            return None;
        }
        let received = received.saturating_sub(last_received);
        Some(expected.saturating_sub(received) as f64 / expected as f64)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::Duration;

    fn healthy() -> Health {
        Health {
            at_ms: 0,
            peer_state: "connected".into(),
            ice_state: "connected".into(),
            dtls_state: "connected".into(),
            data_channel: "open".into(),
            voice_api: "live".into(),
            model: "gpt-live-1".into(),
            rtt_ms: Some(20.0),
            downlink_jitter_ms: Some(5.0),
            downlink_packets: 100,
            downlink_lost: 0,
            downlink_loss: Some(0.0),
            uplink_packets: 100,
            uplink_bytes: 8000,
            uplink_kbps: Some(32.0),
            uplink_loss: None,
            mic_dbfs: None,
            speaker_dbfs: None,
            since_last_event_ms: Some(100),
            reconnects: 0,
            quality: Quality {
                level: QualityLevel::Good,
                reason: None,
            },
        }
    }

    #[test]
    fn quality_names_the_worst_problem() {
        assert_eq!(assess(&healthy()).level, QualityLevel::Good);
        let lossy = Health {
            downlink_loss: Some(0.05),
            ..healthy()
        };
        let verdict = assess(&lossy);
        assert_eq!(verdict.level, QualityLevel::Fair);
        assert!(verdict.reason.unwrap().contains("5 %"));
        let down = Health {
            peer_state: "disconnected".into(),
            ..healthy()
        };
        assert_eq!(assess(&down).level, QualityLevel::Poor);
        let slow = Health {
            rtt_ms: Some(700.0),
            ..healthy()
        };
        assert!(assess(&slow).reason.unwrap().contains("700 ms"));
    }

    #[test]
    fn the_meter_counts_gaps_as_loss_and_survives_sequence_wrap() {
        let epoch = Instant::now();
        let mut meter = DownlinkMeter::default();
        let mut sent = 0u32;
        for seq in (65_530u16..=65_535).chain(0..10) {
            sent += 1;
            if seq == 2 || seq == 5 {
                continue;
            }
            let at = epoch + Duration::from_millis(20 * u64::from(sent));
            meter.packet(seq, 960 * sent, at, epoch);
        }
        assert_eq!(meter.received(), 14);
        assert_eq!(meter.lost(), 2);
        let loss = meter.interval_loss().unwrap();
        assert!((loss - 2.0 / 16.0).abs() < 1e-9, "{loss}");
        assert_eq!(meter.interval_loss(), None);
    }

    #[test]
    fn steady_packets_have_no_jitter_and_uneven_ones_do() {
        let epoch = Instant::now();
        let mut steady = DownlinkMeter::default();
        let mut uneven = DownlinkMeter::default();
        for i in 0..200u32 {
            let regular = epoch + Duration::from_millis(20 * u64::from(i));
            steady.packet(i as u16, 960 * i, regular, epoch);
            let wobble = if i % 2 == 0 { 0 } else { 30 };
            uneven.packet(
                i as u16,
                960 * i,
                regular + Duration::from_millis(wobble),
                epoch,
            );
        }
        assert!(steady.jitter_ms().unwrap() < 0.01);
        let jitter = uneven.jitter_ms().unwrap();
        assert!((20.0..=35.0).contains(&jitter), "{jitter}");
    }
}

//! The adaptive jitter buffer for the interviewer's voice: orders packets by RTP sequence number,
//! holds 40–60 ms (more when arrival times wobble), and says per 20 ms slot what to play. Pure
//! logic: the caller supplies arrival times and calls [`JitterBuffer::pop`] at the device's pace.

use std::collections::BTreeMap;

/// How much the buffer may hold back.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct JitterSettings {
    /// The least delay the buffer aims for, in ms.
    pub min_delay_ms: u32,
    /// The most delay the buffer aims for, in ms, however bad the jitter.
    pub max_delay_ms: u32,
    /// Duration of one packet, in ms.
    pub frame_ms: u32,
    /// Concealed slots in a row before the buffer stops and rebuffers.
    pub max_concealed: u32,
}

impl Default for JitterSettings {
    fn default() -> Self {
        Self {
            min_delay_ms: 40,
            max_delay_ms: 60,
            frame_ms: crate::codec::FRAME_MS,
            max_concealed: 5,
        }
    }
}

/// What to play for one slot.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Playout {
    /// Not playing yet (filling up, or refilling after the stream stalled): play silence.
    Waiting,
    /// The slot's packet.
    Packet(Vec<u8>),
    /// The slot's packet is missing. `next` is the following packet when it has arrived: its
    /// in-band FEC rebuilds this slot; otherwise conceal.
    Missing { next: Option<Vec<u8>> },
}

/// What happened to an inserted packet.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Inserted {
    /// Buffered for its slot.
    Accepted,
    /// Its slot has already been played.
    Late,
    /// Already buffered.
    Duplicate,
}

/// Counters for health and tests.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct JitterStats {
    pub received: u64,
    pub late: u64,
    pub duplicates: u64,
    /// Slots whose packet never came in time (concealed or rebuilt from FEC).
    pub missing: u64,
    /// Times the buffer ran dry and refilled.
    pub rebuffers: u64,
    /// Packets dropped to bring the delay back down after a burst.
    pub dropped_for_latency: u64,
}

#[derive(Debug, Clone)]
struct Buffered {
    payload: Vec<u8>,
}

/// See the module docs.
#[derive(Debug, Clone)]
pub struct JitterBuffer {
    settings: JitterSettings,
    packets: BTreeMap<u64, Buffered>,
    /// The highest extended sequence number seen, for unwrapping the 16-bit numbers.
    highest: Option<u64>,
    /// The next slot to play, while playing.
    next: Option<u64>,
    /// The last slot played, so stale packets are refused even while refilling.
    last_played: Option<u64>,
    concealed_in_a_row: u32,
    /// RFC 3550 interarrival jitter estimate in ms.
    jitter_ms: f64,
    last_arrival: Option<(f64, u32)>,
    stats: JitterStats,
}

/// Sequence numbers start this far up so that unwrapping backwards never goes below zero.
const SEQUENCE_BASE: u64 = 1 << 32;
/// The most packets held (2 s): a stalled consumer must not grow memory.
const MAX_PACKETS: usize = 100;
/// A jump of more than this many slots is a restarted sender, not loss: skip to it.
const MAX_GAP_SLOTS: u64 = 25;

impl JitterBuffer {
    #[must_use]
    pub fn new(settings: JitterSettings) -> Self {
        let settings = JitterSettings {
            frame_ms: settings.frame_ms.max(1),
            max_delay_ms: settings.max_delay_ms.max(settings.min_delay_ms),
            ..settings
        };
        Self {
            settings,
            packets: BTreeMap::new(),
            highest: None,
            next: None,
            last_played: None,
            concealed_in_a_row: 0,
            jitter_ms: 0.0,
            last_arrival: None,
            stats: JitterStats::default(),
        }
    }

    /// Counters so far.
    #[must_use]
    pub fn stats(&self) -> JitterStats {
        self.stats
    }

    /// The arrival-time jitter estimate in ms.
    #[must_use]
    pub fn jitter_ms(&self) -> f64 {
        self.jitter_ms
    }

    /// The delay the buffer currently aims for: the minimum plus three times the jitter,
    /// within the settings' bounds, rounded up to whole frames.
    #[must_use]
    pub fn target_delay_ms(&self) -> u32 {
        let s = &self.settings;
        #[allow(clippy::cast_possible_truncation, clippy::cast_sign_loss)] // Clamped below.
        let wanted = (f64::from(s.min_delay_ms) + 3.0 * self.jitter_ms)
            .clamp(f64::from(s.min_delay_ms), f64::from(s.max_delay_ms))
            as u32;
        wanted.div_ceil(s.frame_ms) * s.frame_ms
    }

    /// Audio buffered ahead of the play position, in ms.
    #[must_use]
    pub fn buffered_ms(&self) -> u32 {
        u32::try_from(self.packets.len())
            .unwrap_or(u32::MAX)
            .saturating_mul(self.settings.frame_ms)
    }

    fn extend(&self, sequence: u16) -> u64 {
        match self.highest {
            None => SEQUENCE_BASE + u64::from(sequence),
            Some(highest) => {
                #[allow(clippy::cast_possible_truncation)] // The low 16 bits, on purpose.
                let delta = i64::from(sequence.wrapping_sub(highest as u16) as i16);
                highest.saturating_add_signed(delta)
            }
        }
    }

    /// Takes a packet that arrived at `arrival_ms` (any monotonic clock in ms).
    pub fn insert(
        &mut self,
        sequence: u16,
        rtp_timestamp: u32,
        payload: Vec<u8>,
        arrival_ms: f64,
    ) -> Inserted {
        self.stats.received += 1;
        let slot = self.extend(sequence);
        self.highest = Some(self.highest.map_or(slot, |h| h.max(slot)));
        self.update_jitter(rtp_timestamp, arrival_ms);
        if self.last_played.is_some_and(|played| slot <= played) {
            self.stats.late += 1;
            return Inserted::Late;
        }
        if self.packets.contains_key(&slot) {
            self.stats.duplicates += 1;
            return Inserted::Duplicate;
        }
        self.packets.insert(slot, Buffered { payload });
        while self.packets.len() > MAX_PACKETS {
            if let Some((oldest, _)) = self.packets.pop_first() {
                self.stats.dropped_for_latency += 1;
                self.last_played = Some(self.last_played.map_or(oldest, |p| p.max(oldest)));
                self.next = self.next.map(|n| n.max(oldest + 1));
            }
        }
        Inserted::Accepted
    }

    fn update_jitter(&mut self, rtp_timestamp: u32, arrival_ms: f64) {
        if let Some((previous_arrival, previous_timestamp)) = self.last_arrival {
            #[allow(clippy::cast_possible_wrap)] // Wrapping difference of RTP timestamps.
            let media_ms = f64::from(rtp_timestamp.wrapping_sub(previous_timestamp) as i32)
                / f64::from(crate::codec::SAMPLE_RATE / 1000);
            let difference = (arrival_ms - previous_arrival) - media_ms;
            if difference.is_finite() {
                self.jitter_ms += (difference.abs() - self.jitter_ms) / 16.0;
            }
        }
        self.last_arrival = Some((arrival_ms, rtp_timestamp));
    }

    /// What to play for the next 20 ms slot. Call once per slot, paced by the output device.
    pub fn pop(&mut self) -> Playout {
        let Some(mut next) = self.next else {
            if self.buffered_ms() < self.target_delay_ms() {
                return Playout::Waiting;
            }
            let Some(first) = self.packets.keys().next().copied() else {
                return Playout::Waiting;
            };
            self.next = Some(first);
            self.concealed_in_a_row = 0;
            return self.pop();
        };
        // After a burst the buffer can hold far more than it aims for: drop the oldest packets
        // so the interviewer is not heard later and later.
        let limit = self.target_delay_ms() + 2 * self.settings.frame_ms;
        while self.buffered_ms() > limit {
            let Some((slot, _)) = self.packets.pop_first() else {
                break;
            };
            self.stats.dropped_for_latency += 1;
            next = next.max(slot + 1);
            self.last_played = Some(slot);
        }
        // A restarted sender: jump to its packets instead of concealing a long gap.
        if let Some(&first) = self.packets.keys().next()
            && first > next + MAX_GAP_SLOTS
        {
            next = first;
        }
        self.last_played = Some(next);
        self.next = Some(next + 1);
        if let Some(packet) = self.packets.remove(&next) {
            self.concealed_in_a_row = 0;
            return Playout::Packet(packet.payload);
        }
        self.stats.missing += 1;
        self.concealed_in_a_row += 1;
        if self.packets.is_empty() && self.concealed_in_a_row > self.settings.max_concealed {
            // The stream has stalled: stop and refill to the target before playing again.
            self.stats.rebuffers += 1;
            self.next = None;
            return Playout::Waiting;
        }
        Playout::Missing {
            next: self.packets.get(&(next + 1)).map(|p| p.payload.clone()),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn buffer() -> JitterBuffer {
        JitterBuffer::new(JitterSettings::default())
    }

    /// Inserts packets with payload = [low byte of seq], arriving exactly on time.
    fn feed(buffer: &mut JitterBuffer, sequences: &[u16]) {
        for &seq in sequences {
            let ts = u32::from(seq) * 960;
            buffer.insert(seq, ts, vec![seq as u8], f64::from(seq) * 20.0);
        }
    }

    fn payload(p: &Playout) -> Option<u8> {
        match p {
            Playout::Packet(bytes) => bytes.first().copied(),
            _ => None,
        }
    }

    #[test]
    fn waits_for_the_target_then_plays_in_order() {
        let mut b = buffer();
        feed(&mut b, &[10]);
        assert_eq!(b.pop(), Playout::Waiting, "20 ms is below the 40 ms target");
        feed(&mut b, &[11]);
        assert_eq!(payload(&b.pop()), Some(10));
        feed(&mut b, &[12, 13]);
        assert_eq!(payload(&b.pop()), Some(11));
        assert_eq!(payload(&b.pop()), Some(12));
        assert_eq!(payload(&b.pop()), Some(13));
    }

    #[test]
    fn reordered_packets_play_in_sequence() {
        let mut b = buffer();
        feed(&mut b, &[3, 1, 2, 0]);
        let played: Vec<_> = (0..4).filter_map(|_| payload(&b.pop())).collect();
        assert_eq!(played, vec![0, 1, 2, 3]);
    }

    #[test]
    fn a_lost_packet_is_rebuilt_from_the_next_one() {
        let mut b = buffer();
        feed(&mut b, &[0, 1, 3, 4]);
        assert_eq!(payload(&b.pop()), Some(0));
        assert_eq!(payload(&b.pop()), Some(1));
        assert_eq!(
            b.pop(),
            Playout::Missing {
                next: Some(vec![3])
            }
        );
        assert_eq!(payload(&b.pop()), Some(3));
        assert_eq!(b.stats().missing, 1);
    }

    #[test]
    fn late_and_duplicate_packets_are_refused() {
        let mut b = buffer();
        feed(&mut b, &[0, 1, 2]);
        b.pop();
        b.pop();
        assert_eq!(b.insert(0, 0, vec![0], 100.0), Inserted::Late);
        assert_eq!(b.insert(2, 1920, vec![2], 100.0), Inserted::Duplicate);
        assert_eq!(b.stats().late, 1);
        assert_eq!(b.stats().duplicates, 1);
    }

    #[test]
    fn sequence_numbers_wrap_around() {
        let mut b = buffer();
        feed(&mut b, &[65_534, 65_535, 0, 1]);
        let played: Vec<_> = (0..4).filter_map(|_| payload(&b.pop())).collect();
        assert_eq!(played, vec![254, 255, 0, 1]);
    }

    #[test]
    fn a_stalled_stream_is_concealed_briefly_then_refilled() {
        let mut b = buffer();
        feed(&mut b, &[0, 1]);
        b.pop();
        b.pop();
        let settings = JitterSettings::default();
        for _ in 0..settings.max_concealed {
            assert_eq!(b.pop(), Playout::Missing { next: None });
        }
        assert_eq!(b.pop(), Playout::Waiting);
        assert_eq!(b.stats().rebuffers, 1);
        // The sender comes back: playback resumes once the target is buffered again.
        feed(&mut b, &[20, 21]);
        assert_eq!(payload(&b.pop()), Some(20));
    }

    #[test]
    fn the_target_grows_with_jitter_but_stays_within_bounds() {
        let mut b = buffer();
        assert_eq!(b.target_delay_ms(), 40);
        // Packets alternately 15 ms early and 15 ms late.
        for seq in 0..200u16 {
            let wobble = if seq % 2 == 0 { -15.0 } else { 15.0 };
            b.insert(
                seq,
                u32::from(seq) * 960,
                vec![],
                f64::from(seq) * 20.0 + wobble,
            );
        }
        assert_eq!(b.target_delay_ms(), 60);
    }

    #[test]
    fn a_burst_is_trimmed_back_to_the_target() {
        let mut b = buffer();
        feed(&mut b, &(0..20).collect::<Vec<_>>());
        let first = b.pop();
        assert!(matches!(first, Playout::Packet(_)));
        assert!(b.buffered_ms() <= b.target_delay_ms() + 2 * 20);
        assert!(b.stats().dropped_for_latency > 0);
    }

    #[test]
    fn a_restarted_sender_is_followed_not_concealed_for_long() {
        let mut b = buffer();
        feed(&mut b, &[100, 101, 102]);
        b.pop();
        feed(&mut b, &[5_000, 5_001]);
        b.pop();
        b.pop();
        assert_eq!(payload(&b.pop()), Some((5_000u16 & 0xFF) as u8));
    }

    mod properties {
        use super::*;
        use proptest::prelude::*;

        proptest! {
            /// Whatever arrives, in whatever order and however often, each sequence number is
            /// played at most once and slots only move forward.
            #[test]
            fn never_plays_a_packet_twice_or_backwards(
                ops in proptest::collection::vec((any::<bool>(), 0u16..300), 0..400)
            ) {
                let mut b = JitterBuffer::new(JitterSettings::default());
                let mut played = std::collections::HashSet::new();
                let mut clock = 0.0;
                let mut last: Option<u64> = None;
                for (is_pop, seq) in ops {
                    clock += 7.0;
                    if is_pop {
                        if let Playout::Packet(bytes) = b.pop() {
                            let id = u16::from_le_bytes([bytes[0], bytes[1]]);
                            prop_assert!(played.insert(id), "{id} played twice");
                        }
                        if let Some(position) = b.last_played {
                            prop_assert!(last.is_none_or(|l| position >= l));
                            last = Some(position);
                        }
                    } else {
                        b.insert(seq, u32::from(seq) * 960, seq.to_le_bytes().to_vec(), clock);
                    }
                }
            }
        }
    }
}

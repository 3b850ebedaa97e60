//! Turning GPT-Live's transcript fragments into turns: OpenAI's own grouping policy (the one its
//! SDK ships), re-implemented here, with the time passed in.
//!
//! Live sends each speaker's words as fragments placed on the session's timeline and never says
//! when a turn is over; the client decides. The policy, in short:
//! - the same speaker's fragments join their turn (they carry their own spaces);
//! - the candidate speaking closes the interviewer's turn at once; the interviewer speaking
//!   closes the candidate's turn only once [`GroupingOptions::min_turn_separation_ms`] has
//!   passed since the candidate's last word (until then the interviewer's words wait);
//! - the interviewer's turn also closes after [`GroupingOptions::assistant_silence_ms`] of
//!   silence; the candidate's never closes on silence (they may be thinking);
//! - a short acknowledgement ("mhm", "okay"; shorter than
//!   [`GroupingOptions::backchannel_max_duration_ms`]) by the interviewer while the candidate is
//!   speaking is a backchannel: it does not split the candidate's turn, and it is left out of the
//!   transcript unless the interviewer goes on speaking (as the SDK does: it was never shown);
//! - fragments that arrive close together (within [`BATCH_MS`] of wall time, or with the same
//!   place on the timeline) are decided together, so interleaved delivery does not flip turns;
//! - a batch that starts earlier on the timeline than the one before closes every open turn
//!   (`TimestampReset`): the caller places lines by their timeline, so nothing is lost.
//!
//! [`TurnPolicy`] is the policy over batches; [`Grouper`] adds the batching, the duplicate
//! filter and the clock that turns local time into timeline time. Both are pure: `now_ms` is any
//! monotonic local clock in milliseconds. A differential test runs random fragment streams
//! through this and through the SDK's Python grouper and requires the same turns.

use std::collections::HashSet;

use crate::assembler::Speaker;

/// How long a fragment of the speaker who is not talking waits for others delivered with it
/// (local milliseconds).
pub const BATCH_MS: i64 = 50;

/// The longest wait a timer is asked for (as the SDK: a 32-bit millisecond timeout).
const MAX_TIMEOUT_MS: i64 = 2_147_483_647;

/// Whitespace as ECMAScript's `\s` knows it (the SDK's policy was written in TypeScript).
const WHITESPACE: &[char] = &[
    '\u{0009}', '\u{000a}', '\u{000b}', '\u{000c}', '\u{000d}', '\u{0020}', '\u{00a0}', '\u{1680}',
    '\u{2000}', '\u{2001}', '\u{2002}', '\u{2003}', '\u{2004}', '\u{2005}', '\u{2006}', '\u{2007}',
    '\u{2008}', '\u{2009}', '\u{200a}', '\u{2028}', '\u{2029}', '\u{202f}', '\u{205f}', '\u{3000}',
    '\u{feff}',
];
/// Punctuation stripped from both ends of an acknowledgement.
const EDGE_PUNCTUATION: &[char] = &[
    '.', ',', '!', '?', ';', ':', '"', '\'', '(', ')', '[', ']', '{', '}',
];

/// The acknowledgements the SDK knows, normalised.
pub const ACKNOWLEDGEMENTS: &[&str] = &[
    "aha", "alright", "gotcha", "hm", "hmm", "mhm", "mm", "mm hmm", "okay", "ok", "right", "sure",
    "uh huh", "yeah", "yep", "yes",
];

/// The policy's thresholds, in milliseconds; the defaults are the SDK's.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct GroupingOptions {
    /// The gap after the candidate's last word before the interviewer's words start a new turn.
    pub min_turn_separation_ms: u64,
    /// Silence that closes the interviewer's turn.
    pub assistant_silence_ms: u64,
    /// Acknowledgements at least this long are words, not a backchannel (0 turns suppression
    /// off).
    pub backchannel_max_duration_ms: u64,
    /// How far from other speech an acknowledgement must be to count as standing alone.
    pub backchannel_isolation_ms: u64,
    /// More phrases to treat as acknowledgements (normalised like transcript text).
    pub additional_acknowledgements: Vec<String>,
}

impl Default for GroupingOptions {
    fn default() -> Self {
        Self {
            min_turn_separation_ms: 500,
            assistant_silence_ms: 2000,
            backchannel_max_duration_ms: 1000,
            backchannel_isolation_ms: 2000,
            additional_acknowledgements: Vec::new(),
        }
    }
}

/// Why a turn closed.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum CloseReason {
    SpeakerChange,
    Inactivity,
    TimestampReset,
    SessionClosed,
    /// The caller closed it (the call ended, or the connection is being replaced).
    Manual,
}

impl CloseReason {
    pub fn as_str(self) -> &'static str {
        match self {
            Self::SpeakerChange => "speaker_change",
            Self::Inactivity => "inactivity",
            Self::TimestampReset => "timestamp_reset",
            Self::SessionClosed => "session_closed",
            Self::Manual => "manual",
        }
    }
}

/// One speaker's words at a place on the timeline.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Fragment {
    pub speaker: Speaker,
    pub text: String,
    pub start_ms: i64,
    pub end_ms: i64,
}

/// A turn as shown: replace the whole text on every update. `id` counts turns from the
/// grouper's first id, in the order they were first shown; `previous_id` is the turn shown
/// just before it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Segment {
    pub id: u64,
    pub previous_id: Option<u64>,
    pub speaker: Speaker,
    pub text: String,
    pub start_ms: i64,
    pub end_ms: i64,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum SegmentUpdate {
    /// The turn's words so far (it may still grow).
    Updated(Segment),
    /// The turn is over; this is its final text.
    Closed {
        segment: Segment,
        reason: CloseReason,
    },
}

#[derive(Debug, Clone)]
struct Turn {
    speaker: Speaker,
    text: String,
    start_ms: i64,
    end_ms: i64,
    id: u64,
    previous_id: Option<u64>,
    emitted: bool,
    can_drop_as_backchannel: bool,
}

impl Turn {
    fn snapshot(&self) -> Segment {
        Segment {
            id: self.id,
            previous_id: self.previous_id,
            speaker: self.speaker,
            text: self.text.clone(),
            start_ms: self.start_ms,
            end_ms: self.end_ms,
        }
    }

    /// Adds a fragment's words. `separate`: put a space between two words that would otherwise
    /// run together (only needed while the other speaker's words are waiting in between).
    fn append(&mut self, fragment: &Fragment, separate: bool) {
        let joins_words = separate
            && self.text.chars().last().is_some_and(char::is_alphanumeric)
            && fragment
                .text
                .chars()
                .next()
                .is_some_and(char::is_alphanumeric);
        if joins_words {
            self.text.push(' ');
        }
        self.text.push_str(&fragment.text);
        self.end_ms = self.end_ms.max(fragment.end_ms);
    }
}

/// Lowercase, hyphens as spaces, surrounding whitespace and punctuation gone, inner whitespace
/// collapsed to one space.
pub fn normalise_acknowledgement(text: &str) -> String {
    let lowered = text.to_lowercase().replace('-', " ");
    let trimmed =
        lowered.trim_matches(|c: char| WHITESPACE.contains(&c) || EDGE_PUNCTUATION.contains(&c));
    let mut out = String::with_capacity(trimmed.len());
    let mut in_space = false;
    for c in trimmed.chars() {
        if WHITESPACE.contains(&c) {
            if !in_space {
                out.push(' ');
            }
            in_space = true;
        } else {
            out.push(c);
            in_space = false;
        }
    }
    out
}

fn ms(value: u64) -> i64 {
    i64::try_from(value).unwrap_or(i64::MAX)
}

/// The grouping policy over batches of fragments, with no clock of its own.
#[derive(Debug, Clone)]
pub struct TurnPolicy {
    min_turn_separation: i64,
    assistant_silence: i64,
    backchannel_max_duration: i64,
    backchannel_isolation: i64,
    acknowledgements: Vec<String>,
    current: Option<Turn>,
    buffered: Option<Turn>,
    last_id: Option<u64>,
    next_id: u64,
    last_assistant_end: Option<i64>,
}

impl TurnPolicy {
    /// A policy whose first turn gets `first_id`.
    pub fn new(options: &GroupingOptions, first_id: u64) -> Self {
        let mut acknowledgements: Vec<String> =
            ACKNOWLEDGEMENTS.iter().map(|a| (*a).to_owned()).collect();
        acknowledgements.extend(
            options
                .additional_acknowledgements
                .iter()
                .map(|a| normalise_acknowledgement(a))
                .filter(|a| !a.is_empty()),
        );
        Self {
            min_turn_separation: ms(options.min_turn_separation_ms),
            assistant_silence: ms(options.assistant_silence_ms),
            backchannel_max_duration: ms(options.backchannel_max_duration_ms),
            backchannel_isolation: ms(options.backchannel_isolation_ms),
            acknowledgements,
            current: None,
            buffered: None,
            last_id: None,
            next_id: first_id,
            last_assistant_end: None,
        }
    }

    /// Who holds the current turn.
    pub fn speaker(&self) -> Option<Speaker> {
        self.current.as_ref().map(|t| t.speaker)
    }

    /// The id the next turn will get.
    pub fn next_id(&self) -> u64 {
        self.next_id
    }

    /// No turn is open or waiting.
    pub fn is_idle(&self) -> bool {
        self.current.is_none() && self.buffered.is_none()
    }

    /// Applies one batch of fragments (delivered together).
    pub fn process(&mut self, fragments: &[Fragment]) -> Vec<SegmentUpdate> {
        let mut events = Vec::new();
        let preferred = self.speaker().unwrap_or(Speaker::Candidate);
        let ordered: Vec<&Fragment> = fragments
            .iter()
            .filter(|f| f.speaker == preferred)
            .chain(fragments.iter().filter(|f| f.speaker != preferred))
            .collect();
        let Some(first) = ordered.first() else {
            return events;
        };
        // Each step closes or promotes a turn, so this ends; the bound only guards the proof.
        for _ in 0..16 {
            match self.deadline() {
                Some(deadline) if deadline < first.start_ms => {
                    events.extend(self.advance(deadline, false));
                }
                _ => break,
            }
        }
        if let Some(speaker) = self.speaker()
            && !ordered.iter().any(|f| f.speaker == speaker)
        {
            let incoming_candidate = ordered.iter().any(|f| f.speaker == Speaker::Candidate);
            events.extend(self.advance(first.start_ms, incoming_candidate));
        }
        for fragment in ordered {
            events.extend(self.ingest(fragment));
        }
        events
    }

    /// Timeline time reached `time_ms`: closes or promotes what is due.
    pub fn advance(&mut self, time_ms: i64, incoming_candidate: bool) -> Vec<SegmentUpdate> {
        if let Some(current) = &self.current
            && self.buffered.is_some()
            && time_ms >= current.end_ms.saturating_add(self.min_turn_separation)
            && !self.keep_backchannel(time_ms)
        {
            if !self.keeps_buffered(Some(time_ms), None) {
                self.buffered = None;
            }
            if self.buffered.is_some() {
                return self.promote();
            }
        }
        if let Some(current) = &self.current
            && current.speaker == Speaker::Interviewer
            && !incoming_candidate
            && time_ms >= current.end_ms.saturating_add(self.assistant_silence)
        {
            return self.finish_current(CloseReason::Inactivity);
        }
        Vec::new()
    }

    /// The timeline time at which [`TurnPolicy::advance`] has something to do, if any.
    pub fn deadline(&self) -> Option<i64> {
        let current = self.current.as_ref()?;
        if let Some(buffered) = &self.buffered {
            let separation = current.end_ms.saturating_add(self.min_turn_separation);
            if self.might_be_backchannel()
                && buffered.can_drop_as_backchannel
                && !self.candidate_continued()
                && !self.recent_interviewer()
            {
                return Some(
                    separation.max(buffered.end_ms.saturating_add(self.backchannel_isolation)),
                );
            }
            return Some(separation);
        }
        (current.speaker == Speaker::Interviewer)
            .then(|| current.end_ms.saturating_add(self.assistant_silence))
    }

    /// Closes every open turn at timeline time `time_ms`.
    pub fn close(&mut self, time_ms: i64, reason: CloseReason) -> Vec<SegmentUpdate> {
        let keep = self.keeps_buffered(Some(time_ms), None);
        let buffered = self.buffered.take();
        let mut events = self.finish_current(reason);
        if let Some(mut turn) = buffered.filter(|t| keep && !t.text.is_empty()) {
            events.extend(self.emit(&mut turn));
            events.extend(self.finish(&turn, reason));
        }
        if reason == CloseReason::TimestampReset {
            self.last_assistant_end = None;
        }
        events
    }

    fn ingest(&mut self, fragment: &Fragment) -> Vec<SegmentUpdate> {
        let Some(current) = &mut self.current else {
            let mut turn = self.new_turn(fragment);
            let events = self.emit(&mut turn);
            self.current = Some(turn);
            return events;
        };
        if fragment.speaker == current.speaker {
            current.append(fragment, self.buffered.is_some());
            return self.emit_current();
        }
        let current_speaker = current.speaker;
        let current_end = current.end_ms;
        if current_speaker == Speaker::Candidate && self.candidate_continued() {
            self.buffered = None;
        }
        if current_speaker == Speaker::Interviewer {
            self.buffer(fragment, None);
            return self.promote();
        }
        let separation = fragment.start_ms.saturating_sub(current_end);
        if separation < self.min_turn_separation {
            let possible = self.possible_acknowledgement(fragment);
            self.buffer(fragment, Some(possible));
            return Vec::new();
        }
        if self.buffered.is_some()
            && self.standalone_acknowledgement(fragment, self.buffered.as_ref())
        {
            self.buffer(fragment, Some(true));
            return Vec::new();
        }
        if self.buffered.is_none() && self.standalone_acknowledgement(fragment, None) {
            self.buffer(fragment, Some(false));
            return Vec::new();
        }
        if !self.keeps_buffered(None, Some(fragment)) {
            self.buffered = None;
        }
        let mut events = self.finish_current(CloseReason::SpeakerChange);
        let turn = match self.buffered.take() {
            Some(mut buffered) => {
                buffered.append(fragment, false);
                buffered
            }
            None => self.new_turn(fragment),
        };
        self.current = Some(turn);
        events.extend(self.emit_current());
        events
    }

    fn new_turn(&mut self, fragment: &Fragment) -> Turn {
        let id = self.next_id;
        self.next_id = self.next_id.saturating_add(1);
        Turn {
            speaker: fragment.speaker,
            text: fragment.text.clone(),
            start_ms: fragment.start_ms,
            end_ms: fragment.end_ms,
            id,
            previous_id: None,
            emitted: false,
            can_drop_as_backchannel: true,
        }
    }

    fn buffer(&mut self, fragment: &Fragment, can_drop: Option<bool>) {
        let mut turn = match self.buffered.take() {
            Some(mut turn) => {
                turn.append(fragment, false);
                turn
            }
            None => self.new_turn(fragment),
        };
        if let Some(can_drop) = can_drop {
            turn.can_drop_as_backchannel = can_drop;
        }
        self.buffered = Some(turn);
    }

    fn promote(&mut self) -> Vec<SegmentUpdate> {
        let Some(buffered) = self.buffered.take() else {
            return Vec::new();
        };
        let mut events = self.finish_current(CloseReason::SpeakerChange);
        self.current = Some(buffered);
        events.extend(self.emit_current());
        events
    }

    fn finish_current(&mut self, reason: CloseReason) -> Vec<SegmentUpdate> {
        match self.current.take() {
            Some(turn) => self.finish(&turn, reason),
            None => Vec::new(),
        }
    }

    fn finish(&mut self, turn: &Turn, reason: CloseReason) -> Vec<SegmentUpdate> {
        if turn.speaker == Speaker::Interviewer {
            self.last_assistant_end = Some(turn.end_ms);
        }
        if turn.emitted {
            vec![SegmentUpdate::Closed {
                segment: turn.snapshot(),
                reason,
            }]
        } else {
            Vec::new()
        }
    }

    fn emit_current(&mut self) -> Vec<SegmentUpdate> {
        let Some(mut turn) = self.current.take() else {
            return Vec::new();
        };
        let events = self.emit(&mut turn);
        self.current = Some(turn);
        events
    }

    fn emit(&mut self, turn: &mut Turn) -> Vec<SegmentUpdate> {
        if turn.text.is_empty() {
            return Vec::new();
        }
        if !turn.emitted {
            turn.previous_id = self.last_id;
            self.last_id = Some(turn.id);
            turn.emitted = true;
        }
        vec![SegmentUpdate::Updated(turn.snapshot())]
    }

    /// The candidate holds the turn and the interviewer's waiting words are short enough to be
    /// an acknowledgement.
    fn might_be_backchannel(&self) -> bool {
        match (&self.current, &self.buffered) {
            (Some(current), Some(buffered)) => {
                current.speaker == Speaker::Candidate
                    && buffered.speaker == Speaker::Interviewer
                    && buffered.end_ms.saturating_sub(buffered.start_ms)
                        < self.backchannel_max_duration
            }
            _ => false,
        }
    }

    /// The candidate kept talking past the interviewer's acknowledgement.
    fn candidate_continued(&self) -> bool {
        match (&self.current, &self.buffered) {
            (Some(current), Some(buffered)) => {
                self.might_be_backchannel()
                    && buffered.can_drop_as_backchannel
                    && current.end_ms > buffered.end_ms
            }
            _ => false,
        }
    }

    /// The interviewer's waiting words follow shortly after its own previous turn.
    fn recent_interviewer(&self) -> bool {
        match (&self.current, &self.buffered, self.last_assistant_end) {
            (Some(current), Some(buffered), Some(last_end)) => {
                buffered.start_ms.saturating_sub(last_end) < self.backchannel_isolation
                    && buffered.start_ms <= current.start_ms
            }
            _ => false,
        }
    }

    fn keep_backchannel(&self, time_ms: i64) -> bool {
        self.might_be_backchannel()
            && self
                .buffered
                .as_ref()
                .is_some_and(|b| b.can_drop_as_backchannel)
            && !self.candidate_continued()
            && !self.recent_interviewer()
            && self
                .buffered
                .as_ref()
                .is_some_and(|b| time_ms < b.end_ms.saturating_add(self.backchannel_isolation))
    }

    /// Whether the waiting words stay (true) or are dropped as a backchannel (false), at
    /// timeline time `time_ms` or when `next` arrives.
    fn keeps_buffered(&self, time_ms: Option<i64>, next: Option<&Fragment>) -> bool {
        let Some(buffered) = &self.buffered else {
            return true;
        };
        if !self.might_be_backchannel() {
            return true;
        }
        if self.candidate_continued() {
            return false;
        }
        if self.recent_interviewer() {
            return true;
        }
        let isolation_end = buffered.end_ms.saturating_add(self.backchannel_isolation);
        if let Some(next) = next
            && next.start_ms.saturating_sub(buffered.end_ms) < self.backchannel_isolation
        {
            return true;
        }
        if next.is_none() && time_ms.is_none_or(|t| t < isolation_end) {
            return true;
        }
        !buffered.can_drop_as_backchannel
    }

    fn standalone_acknowledgement(&self, fragment: &Fragment, previous: Option<&Turn>) -> bool {
        let start = previous.map_or(fragment.start_ms, |p| p.start_ms);
        let text = format!("{}{}", previous.map_or("", |p| &p.text), fragment.text);
        fragment.end_ms.saturating_sub(start) < self.backchannel_max_duration
            && self
                .acknowledgements
                .contains(&normalise_acknowledgement(&text))
    }

    fn possible_acknowledgement(&self, fragment: &Fragment) -> bool {
        let buffered = self.buffered.as_ref();
        let text = normalise_acknowledgement(&format!(
            "{}{}",
            buffered.map_or("", |b| &b.text),
            fragment.text
        ));
        let start = buffered.map_or(fragment.start_ms, |b| b.start_ms);
        fragment.end_ms.saturating_sub(start) < self.backchannel_max_duration
            && !text.is_empty()
            && self.acknowledgements.iter().any(|a| a.starts_with(&text))
    }
}

#[derive(Debug, Clone)]
struct Received {
    fragment: Fragment,
    at_ms: i64,
}

/// The grouping policy as fragments arrive: duplicates and empty fragments ignored, the
/// not-talking speaker's fragments batched for [`BATCH_MS`], and timeline time estimated from
/// the latest fragment plus the local time since it arrived (for the silence rules).
#[derive(Debug, Clone)]
pub struct Grouper {
    policy: TurnPolicy,
    seen: HashSet<String>,
    pending: Vec<Received>,
    /// The latest timeline end seen and the local time it arrived.
    anchor: Option<(i64, i64)>,
    last_batch_start: Option<i64>,
    closed: bool,
}

impl Grouper {
    /// A grouper for one Live session; its first turn gets `first_id`.
    pub fn new(options: &GroupingOptions, first_id: u64) -> Self {
        Self {
            policy: TurnPolicy::new(options, first_id),
            seen: HashSet::new(),
            pending: Vec::new(),
            anchor: None,
            last_batch_start: None,
            closed: false,
        }
    }

    /// Whether [`Grouper::finish`] was called; a closed grouper ignores fragments.
    pub fn is_closed(&self) -> bool {
        self.closed
    }

    /// The id the next turn will get.
    pub fn next_id(&self) -> u64 {
        self.policy.next_id()
    }

    /// No turn is open and no fragment waits: nobody is speaking as far as the words tell.
    pub fn is_idle(&self) -> bool {
        self.pending.is_empty() && self.policy.is_idle()
    }

    /// A fragment with server event id `event_id` arrived at local time `now_ms`.
    pub fn push(
        &mut self,
        event_id: &str,
        speaker: Speaker,
        text: &str,
        start_ms: u64,
        end_ms: u64,
        now_ms: i64,
    ) -> Vec<SegmentUpdate> {
        if self.closed || !self.seen.insert(event_id.to_owned()) || text.is_empty() {
            return Vec::new();
        }
        let received = Received {
            fragment: Fragment {
                speaker,
                text: text.to_owned(),
                start_ms: ms(start_ms),
                end_ms: ms(end_ms),
            },
            at_ms: now_ms,
        };
        let mut updates = Vec::new();
        let same_place = self.pending.first().is_some_and(|p| {
            p.fragment.start_ms == received.fragment.start_ms
                && p.fragment.end_ms == received.fragment.end_ms
        });
        if same_place {
            self.pending.push(received);
            if self.pending.iter().any(|p| p.fragment.speaker != speaker) {
                updates.extend(self.flush(now_ms));
            }
        } else {
            updates.extend(self.flush(now_ms));
            if self.policy.speaker() == Some(speaker) {
                updates.extend(self.commit(vec![received], now_ms));
            } else {
                self.pending.push(received);
            }
        }
        updates
    }

    /// Closes every turn (the session ended, or the caller stops listening); later fragments
    /// are ignored.
    pub fn finish(&mut self, reason: CloseReason, now_ms: i64) -> Vec<SegmentUpdate> {
        if self.closed {
            return Vec::new();
        }
        self.closed = true;
        let mut updates = self.flush(now_ms);
        updates.extend(self.policy.close(self.timeline_now(now_ms), reason));
        self.seen.clear();
        updates
    }

    /// A timer from [`Grouper::delay`] fired at local time `now_ms`.
    pub fn tick(&mut self, now_ms: i64) -> Vec<SegmentUpdate> {
        let mut updates = self.flush(now_ms);
        updates.extend(self.policy.advance(self.timeline_now(now_ms), false));
        updates
    }

    /// How long from `now_ms` until [`Grouper::tick`] has work, if it ever has.
    pub fn delay(&self, now_ms: i64) -> Option<u64> {
        if self.closed {
            return None;
        }
        let delay = if let Some(first) = self.pending.first() {
            first.at_ms.saturating_add(BATCH_MS).saturating_sub(now_ms)
        } else {
            self.policy
                .deadline()?
                .saturating_sub(self.timeline_now(now_ms))
        };
        u64::try_from(delay.clamp(0, MAX_TIMEOUT_MS)).ok()
    }

    fn timeline_now(&self, now_ms: i64) -> i64 {
        match self.anchor {
            None => 0,
            Some((timeline, at)) => timeline.saturating_add(now_ms.saturating_sub(at).max(0)),
        }
    }

    fn flush(&mut self, now_ms: i64) -> Vec<SegmentUpdate> {
        let pending = std::mem::take(&mut self.pending);
        self.commit(pending, now_ms)
    }

    fn commit(&mut self, batch: Vec<Received>, now_ms: i64) -> Vec<SegmentUpdate> {
        let Some(first) = batch.first() else {
            return Vec::new();
        };
        let first_start = first.fragment.start_ms;
        let mut updates = Vec::new();
        if self.last_batch_start.is_some_and(|last| first_start < last) {
            updates.extend(
                self.policy
                    .close(self.timeline_now(now_ms), CloseReason::TimestampReset),
            );
            self.anchor = None;
        }
        self.last_batch_start = Some(first_start);
        let latest_end = batch.iter().map(|r| r.fragment.end_ms).max().unwrap_or(0);
        let latest_arrival = batch.iter().map(|r| r.at_ms).max().unwrap_or(now_ms);
        let previous_end = self.anchor.map_or(0, |(timeline, _)| timeline);
        self.anchor = Some((previous_end.max(latest_end), latest_arrival));
        let fragments: Vec<Fragment> = batch.into_iter().map(|r| r.fragment).collect();
        updates.extend(self.policy.process(&fragments));
        updates
    }
}

#[cfg(test)]
mod tests;

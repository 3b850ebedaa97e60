//! The transcript assembler: events in, line changes out.
//!
//! Each line is one conversation item (`item_id`), spoken by the candidate (input transcription)
//! or the interviewer (output transcript or text). Lines are numbered in **conversation order**,
//! which the server gives through `previous_item_id`, not in the order events arrive: a
//! candidate's transcription often completes after the interviewer has started answering.
//!
//! Rules a user would notice: a line is final exactly once; an interrupted answer is finalised
//! with what was said; a failed transcription becomes a final line marked inaudible, never a gap;
//! a repeated event never duplicates a line or its words.

use std::collections::{HashMap, HashSet};

/// Maps keyed by item ids are hit several times per event; foldhash is several times faster
/// than the default SipHash for short keys and still seeded per process.
type Map<K, V> = HashMap<K, V, foldhash::fast::RandomState>;
type Set<K> = HashSet<K, foldhash::fast::RandomState>;

use serde::{Deserialize, Serialize};

use crate::event::{Envelope, Item, ServerEvent};

/// Who said a line.
#[cfg_attr(feature = "specta", derive(specta::Type))]
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Speaker {
    Candidate,
    Interviewer,
}

/// Whether a line may still change.
#[cfg_attr(feature = "specta", derive(specta::Type))]
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum LineStatus {
    Partial,
    Final,
}

/// One line of the transcript.
#[cfg_attr(feature = "specta", derive(specta::Type))]
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Line {
    pub item_id: String,
    /// 1-based position in conversation order.
    pub seq: u32,
    pub speaker: Speaker,
    pub text: String,
    /// Milliseconds since the session started: audio offsets where the server gives them,
    /// otherwise the time the caller passed in.
    pub started_ms: u64,
    pub ended_ms: Option<u64>,
    pub status: LineStatus,
    /// Set when the candidate's words could not be transcribed: the server's error code.
    pub inaudible: Option<String>,
    /// The interviewer was cut off (barge-in or cancel) before finishing.
    pub interrupted: bool,
}

/// What changed in the transcript after one event.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "change", rename_all = "snake_case")]
pub enum TranscriptChange {
    /// A new line appeared (possibly still empty while someone is speaking).
    LineStarted(Line),
    /// A line's words or timing changed; it is not final yet.
    LinePartial(Line),
    /// A line is final; it will not change again (except its `seq`, see below).
    LineFinal(Line),
    /// An item arrived out of order and moved this line to a new position.
    LineRenumbered { item_id: String, seq: u32 },
}

/// Error code given to failed transcriptions that carry none.
const TRANSCRIPTION_FAILED: &str = "transcription_failed";

/// Builds the transcript from server events. Pure: the caller passes the time in.
#[derive(Debug, Default, Clone)]
pub struct Assembler {
    lines: Vec<Line>,
    line_of: Map<String, usize>,
    /// Every item id in conversation order, lines or not (a link may point at a non-line item).
    order: Vec<String>,
    /// Where each item sits in `order`.
    position: Map<String, usize>,
    /// Items each response produced, to finalise them when it ends.
    response_items: Map<String, Vec<String>>,
    /// Ids of the text-carrying events applied to each line still open, so a repeated delta
    /// does not repeat words. A line's ids are dropped when it becomes final (a delta to a
    /// final line changes nothing anyway), so memory follows the open lines, not every delta
    /// of a two-hour session.
    applied_deltas: Map<String, Set<String>>,
    /// Items before this position belong to earlier connections: a new connection's
    /// conversation starts after them, never among them.
    floor: usize,
    /// Added to the server's audio offsets, which restart at 0 on every connection.
    audio_base_ms: u64,
}

impl Assembler {
    pub fn new() -> Self {
        Self::default()
    }

    /// Applies one event received at `now_ms` (ms since the session started).
    pub fn apply(&mut self, envelope: &Envelope, now_ms: u64) -> Vec<TranscriptChange> {
        let mut changes = Vec::new();
        self.apply_into(envelope, now_ms, &mut changes);
        changes
    }

    /// Like [`Assembler::apply`], appending the changes to `out`: a caller on the hot path
    /// reuses one buffer instead of allocating per event.
    pub fn apply_into(
        &mut self,
        envelope: &Envelope,
        now_ms: u64,
        out: &mut Vec<TranscriptChange>,
    ) {
        let delta_item = match &envelope.event {
            ServerEvent::InputTranscriptDelta(e) => Some(e.item_id.as_str()),
            ServerEvent::OutputTranscriptDelta(e) | ServerEvent::OutputTextDelta(e) => {
                Some(e.item_id.as_str())
            }
            _ => None,
        };
        if let (Some(item), Some(id)) = (delta_item, &envelope.event_id) {
            let open = self
                .line_of
                .get(item)
                .is_none_or(|&index| self.lines[index].status == LineStatus::Partial);
            if !open {
                return;
            }
            let seen = self.applied_deltas.entry(item.to_owned()).or_default();
            if !seen.insert(id.clone()) {
                return;
            }
        }
        let first = out.len();
        self.apply_event(&envelope.event, now_ms, out);
        for change in &out[first..] {
            if let TranscriptChange::LineFinal(line) = change {
                self.applied_deltas.remove(&line.item_id);
            }
        }
    }

    /// How many delta ids the assembler remembers (for the open lines only); for tests that
    /// check memory follows the transcript, not the stream.
    pub fn remembered_delta_ids(&self) -> usize {
        self.applied_deltas.values().map(HashSet::len).sum()
    }

    /// The transcript so far, in conversation order.
    pub fn lines(&self) -> Vec<&Line> {
        let mut lines: Vec<&Line> = self.lines.iter().collect();
        lines.sort_by_key(|line| line.seq);
        lines
    }

    /// Finalises every open line (the call ended): what was said so far is kept, never dropped.
    pub fn finish(&mut self, now_ms: u64) -> Vec<TranscriptChange> {
        let mut changes = Vec::new();
        for index in 0..self.lines.len() {
            let line = &mut self.lines[index];
            if line.status == LineStatus::Partial {
                line.interrupted = line.speaker == Speaker::Interviewer;
                finalise(line, now_ms, &mut changes);
            }
        }
        self.applied_deltas.clear();
        changes
    }

    /// A new connection continues this session (after a reconnect, or a planned re-session)
    /// starting `now_ms` into it. Lines still open are finalised with what they have, since
    /// the new connection cannot complete them; the new connection's first item goes after
    /// everything so far, and its audio offsets count from `now_ms`.
    pub fn continue_after_reconnect(&mut self, now_ms: u64) -> Vec<TranscriptChange> {
        let changes = self.finish(now_ms);
        self.floor = self.order.len();
        self.audio_base_ms = now_ms;
        changes
    }

    fn apply_event(&mut self, event: &ServerEvent, now: u64, out: &mut Vec<TranscriptChange>) {
        match event {
            ServerEvent::SpeechStarted(e) => {
                let _ = self.ensure_line(
                    &e.item_id,
                    Speaker::Candidate,
                    self.audio_base_ms.saturating_add(e.audio_start_ms),
                    None,
                    out,
                );
            }
            ServerEvent::SpeechStopped(e) => {
                let Some(index) = self.ensure_line(&e.item_id, Speaker::Candidate, now, None, out)
                else {
                    return;
                };
                let line = &mut self.lines[index];
                // Offsets come from the network: never past the clock's end, never before the
                // line began (a line must not end before it starts).
                let ended = self
                    .audio_base_ms
                    .saturating_add(e.audio_end_ms)
                    .max(line.started_ms);
                if line.status == LineStatus::Partial && line.ended_ms != Some(ended) {
                    line.ended_ms = Some(ended);
                    out.push(TranscriptChange::LinePartial(line.clone()));
                }
            }
            ServerEvent::InputCommitted(e) => {
                let link = Some(e.previous_item_id.as_deref());
                let _ = self.ensure_line(&e.item_id, Speaker::Candidate, now, link, out);
            }
            ServerEvent::ItemAdded(e) | ServerEvent::ItemDone(e) => {
                self.item_seen(&e.item, Some(e.previous_item_id.as_deref()), now, out);
            }
            ServerEvent::InputTranscriptDelta(e) => {
                let Some(index) = self.ensure_line(&e.item_id, Speaker::Candidate, now, None, out)
                else {
                    return;
                };
                append(&mut self.lines[index], &e.delta, out);
            }
            ServerEvent::InputTranscriptCompleted(e) => {
                let Some(index) = self.ensure_line(&e.item_id, Speaker::Candidate, now, None, out)
                else {
                    return;
                };
                let line = &mut self.lines[index];
                if line.status == LineStatus::Partial {
                    line.text = e.transcript.trim().to_owned();
                    finalise(line, now, out);
                }
            }
            ServerEvent::InputTranscriptFailed(e) => {
                let Some(index) = self.ensure_line(&e.item_id, Speaker::Candidate, now, None, out)
                else {
                    return;
                };
                let line = &mut self.lines[index];
                if line.status == LineStatus::Partial {
                    let code = e.error.code.clone().filter(|c| !c.is_empty());
                    line.inaudible = Some(code.unwrap_or_else(|| TRANSCRIPTION_FAILED.to_owned()));
                    line.text = line.text.trim().to_owned();
                    finalise(line, now, out);
                }
            }
            ServerEvent::OutputItemAdded(e) | ServerEvent::OutputItemDone(e) => {
                if is_spoken_message(&e.item) {
                    self.link_response(&e.response_id, &e.item.id);
                    let _ = self.ensure_line(&e.item.id, Speaker::Interviewer, now, None, out);
                }
            }
            ServerEvent::OutputTranscriptDelta(e) | ServerEvent::OutputTextDelta(e) => {
                self.link_response(&e.response_id, &e.item_id);
                let Some(index) =
                    self.ensure_line(&e.item_id, Speaker::Interviewer, now, None, out)
                else {
                    return;
                };
                append(&mut self.lines[index], &e.delta, out);
            }
            ServerEvent::OutputTranscriptDone(e) | ServerEvent::OutputTextDone(e) => {
                self.link_response(&e.response_id, &e.item_id);
                let Some(index) =
                    self.ensure_line(&e.item_id, Speaker::Interviewer, now, None, out)
                else {
                    return;
                };
                let line = &mut self.lines[index];
                if line.status == LineStatus::Partial {
                    if let Some(words) = e.words() {
                        line.text = words.trim().to_owned();
                    }
                    finalise(line, now, out);
                }
            }
            ServerEvent::OutputAudioCleared(e) => {
                // The voice was cut off (barge-in): what was said so far is the line.
                self.finalise_response(&e.response_id, &[], true, now, out);
            }
            ServerEvent::ResponseDone(e) => {
                let response = &e.response;
                let produced: Vec<&str> = response
                    .output
                    .iter()
                    .map(|item| item.id.as_str())
                    .collect();
                let cut_off = !matches!(response.status, crate::event::ResponseStatus::Completed);
                self.finalise_response(&response.id, &produced, cut_off, now, out);
            }
            ServerEvent::SessionCreated(_)
            | ServerEvent::SessionUpdated(_)
            | ServerEvent::InputCleared(_)
            | ServerEvent::ResponseCreated(_)
            | ServerEvent::OutputAudioStarted(_)
            | ServerEvent::OutputAudioStopped(_)
            | ServerEvent::Error(_)
            | ServerEvent::RateLimitsUpdated(_)
            | ServerEvent::Unknown { .. } => {}
        }
    }

    /// A conversation item was announced: place it, and start its line if it is one.
    fn item_seen(
        &mut self,
        item: &Item,
        link: Option<Option<&str>>,
        now: u64,
        out: &mut Vec<TranscriptChange>,
    ) {
        if item.id.is_empty() {
            return;
        }
        match item.role.as_deref() {
            Some("user") if item.kind == "message" => {
                let Some(index) = self.ensure_line(&item.id, Speaker::Candidate, now, link, out)
                else {
                    return;
                };
                // A typed answer (text mode) is final as soon as the server has it.
                let typed: Vec<&str> = item
                    .content
                    .iter()
                    .filter(|part| part.kind == "input_text")
                    .filter_map(|part| part.text.as_deref())
                    .collect();
                let line = &mut self.lines[index];
                if !typed.is_empty() && line.status == LineStatus::Partial {
                    line.text = typed.join(" ").trim().to_owned();
                    finalise(line, now, out);
                }
            }
            Some("assistant") if item.kind == "message" => {
                let _ = self.ensure_line(&item.id, Speaker::Interviewer, now, link, out);
            }
            _ => self.place(&item.id, link, out),
        }
    }

    fn link_response(&mut self, response_id: &str, item_id: &str) {
        if response_id.is_empty() || item_id.is_empty() {
            return;
        }
        // Looked up before inserting: this runs for every delta, and most find their entry.
        match self.response_items.get_mut(response_id) {
            Some(items) if items.iter().any(|known| known == item_id) => {}
            Some(items) => items.push(item_id.to_owned()),
            None => {
                self.response_items
                    .insert(response_id.to_owned(), vec![item_id.to_owned()]);
            }
        }
    }

    fn finalise_response(
        &mut self,
        response_id: &str,
        produced: &[&str],
        cut_off: bool,
        now: u64,
        out: &mut Vec<TranscriptChange>,
    ) {
        let mut items: Vec<String> = self
            .response_items
            .get(response_id)
            .cloned()
            .unwrap_or_default();
        items.extend(produced.iter().map(|id| (*id).to_owned()));
        for item_id in items {
            let Some(&index) = self.line_of.get(&item_id) else {
                continue;
            };
            let line = &mut self.lines[index];
            if line.status == LineStatus::Partial {
                line.interrupted = cut_off;
                finalise(line, now, out);
            }
        }
    }

    /// The line for `item_id`, started now if it is new; `None` for an empty id. `link` is the item's
    /// `previous_item_id` when the event carries one (`Some(None)`: it is the first item).
    fn ensure_line(
        &mut self,
        item_id: &str,
        speaker: Speaker,
        started_ms: u64,
        link: Option<Option<&str>>,
        out: &mut Vec<TranscriptChange>,
    ) -> Option<usize> {
        if item_id.is_empty() {
            // An event without an item id cannot be tied to a line; it changes nothing.
            return None;
        }
        if let Some(&index) = self.line_of.get(item_id) {
            if link.is_some() {
                self.place(item_id, link, out);
            }
            return Some(index);
        }
        let index = self.lines.len();
        self.lines.push(Line {
            item_id: item_id.to_owned(),
            seq: 0,
            speaker,
            text: String::new(),
            started_ms,
            ended_ms: None,
            status: LineStatus::Partial,
            inaudible: None,
            interrupted: false,
        });
        self.line_of.insert(item_id.to_owned(), index);
        // Placing numbers the new line (and renumbers any it lands before); then announce it.
        self.place(item_id, link, out);
        if self.lines[index].seq == 0 {
            // The item was already in the conversation (as a non-line item) and did not move.
            let at = self.position.get(item_id).copied().unwrap_or(0);
            self.renumber_from(at, out);
        }
        out.push(TranscriptChange::LineStarted(self.lines[index].clone()));
        Some(index)
    }

    /// Puts `item_id` into conversation order and renumbers the lines after it if needed.
    fn place(
        &mut self,
        item_id: &str,
        link: Option<Option<&str>>,
        out: &mut Vec<TranscriptChange>,
    ) {
        let current = self.position.get(item_id).copied();
        let wanted = match link {
            Some(None) => Some(self.floor),
            Some(Some(previous)) => self.position.get(previous).map(|p| (p + 1).max(self.floor)),
            None => None,
        };
        let from = match (current, wanted) {
            (Some(_), None) => return,
            (Some(at), Some(want)) if at == want => return,
            (Some(at), Some(want)) => {
                let moved = self.order.remove(at);
                let want = if want > at { want - 1 } else { want };
                self.order.insert(want, moved);
                at.min(want)
            }
            (None, Some(want)) if want < self.order.len() => {
                self.order.insert(want, item_id.to_owned());
                want
            }
            (None, _) => {
                // The common case: the conversation grows at its end.
                self.order.push(item_id.to_owned());
                self.position
                    .insert(item_id.to_owned(), self.order.len() - 1);
                if let Some(&index) = self.line_of.get(item_id) {
                    self.lines[index].seq = u32::try_from(self.lines.len()).unwrap_or(u32::MAX);
                }
                return;
            }
        };
        for (offset, id) in self.order[from..].iter().enumerate() {
            self.position.insert(id.clone(), from + offset);
        }
        self.renumber_from(from, out);
    }

    fn renumber_from(&mut self, from: usize, out: &mut Vec<TranscriptChange>) {
        let mut seq = u32::try_from(
            self.order[..from]
                .iter()
                .filter(|id| self.line_of.contains_key(*id))
                .count(),
        )
        .unwrap_or(u32::MAX);
        for id in &self.order[from..] {
            let Some(&index) = self.line_of.get(id) else {
                continue;
            };
            seq = seq.saturating_add(1);
            let line = &mut self.lines[index];
            if line.seq != seq {
                let was_numbered = line.seq != 0;
                line.seq = seq;
                if was_numbered {
                    out.push(TranscriptChange::LineRenumbered {
                        item_id: id.clone(),
                        seq,
                    });
                }
            }
        }
    }
}

fn is_spoken_message(item: &Item) -> bool {
    !item.id.is_empty()
        && item.kind == "message"
        && item.role.as_deref().is_none_or(|r| r == "assistant")
}

fn append(line: &mut Line, delta: &str, out: &mut Vec<TranscriptChange>) {
    if line.status == LineStatus::Partial && !delta.is_empty() {
        line.text.push_str(delta);
        out.push(TranscriptChange::LinePartial(line.clone()));
    }
}

fn finalise(line: &mut Line, now: u64, out: &mut Vec<TranscriptChange>) {
    line.status = LineStatus::Final;
    line.text = line.text.trim().to_owned();
    if line.ended_ms.is_none() {
        line.ended_ms = Some(now.max(line.started_ms));
    }
    out.push(TranscriptChange::LineFinal(line.clone()));
}

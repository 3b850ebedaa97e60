//! GPT-Live as a conversation dialect: transcript fragments grouped into turns by OpenAI's
//! policy ([`crate::live::grouping`]), each turn a line placed by where it starts on the
//! session's timeline, with an id that names the provider's session.
//!
//! Where we differ from the SDK's display: the SDK shows a turn after the one shown before it;
//! we place it by its start on the timeline, so a fragment delivered late (which the SDK's
//! policy closes everything for and starts anew) lands where it was said, renumbering the lines
//! after it. Nothing is dropped or repeated either way.
//!
//! Line ids are `<session>#<turn>`: the provider's session id from `session.started` (or
//! `connection-<n>` if a turn starts before it names itself) and the turn's number in that
//! session. Every new session (a reconnect, a re-session, an expiry) restarts its timeline at 0
//! and its turn count, so the session part keeps ids unique and the ids of earlier lines never
//! change.

use std::collections::HashMap;

use serde_json::Value;

use crate::assembler::{Line, LineStatus, Speaker, TranscriptChange};
use crate::client::ClientEvent;
use crate::event::Envelope;
use crate::live::grouping::{CloseReason, Grouper, GroupingOptions, Segment, SegmentUpdate};
use crate::live::{LiveCommand, LiveEvent, parse_live_event_with};
use crate::parse::{Limits, ParseError};

use super::dialect::{Dialect, Reading, Signal, TypedAnswer};

/// The GPT-Live dialect. Its sessions are configured by the server that creates them, so a
/// connection opens with no client events at all.
#[derive(Debug, Clone)]
pub struct GptLive {
    options: GroupingOptions,
    grouper: Grouper,
    /// Every line so far in conversation order: `lines[i].seq == i + 1`.
    lines: Vec<Line>,
    /// Lines before this index belong to earlier sessions: later ones never go among them.
    floor: usize,
    /// The current session's name in line ids.
    session: String,
    /// Whether `session` is the provider's id (else a stand-in until `session.started`).
    session_named: bool,
    connections: u32,
    /// Call time (ms) at which the current session's timeline starts.
    base_ms: u64,
    /// The current session's turns → their line ids.
    line_ids: HashMap<u64, String>,
    /// Counts fragments without an event id, so each gets its own.
    anonymous: u64,
}

impl GptLive {
    pub fn new(options: GroupingOptions) -> Self {
        Self {
            grouper: Grouper::new(&options, 0),
            options,
            lines: Vec::new(),
            floor: 0,
            session: "connection-0".into(),
            session_named: false,
            connections: 0,
            base_ms: 0,
            line_ids: HashMap::new(),
            anonymous: 0,
        }
    }

    fn apply(&mut self, updates: Vec<SegmentUpdate>, out: &mut Vec<TranscriptChange>) {
        for update in updates {
            match update {
                SegmentUpdate::Updated(segment) => self.update(&segment, None, out),
                SegmentUpdate::Closed { segment, reason } => {
                    self.update(&segment, Some(reason), out);
                }
            }
        }
    }

    fn update(
        &mut self,
        segment: &Segment,
        closed: Option<CloseReason>,
        out: &mut Vec<TranscriptChange>,
    ) {
        let started_ms = self.timeline_to_call(segment.start_ms);
        let index = match self.line_ids.get(&segment.id) {
            Some(id) => self.lines.iter().position(|l| &l.item_id == id),
            None => None,
        };
        let index = match index {
            Some(index) => index,
            None => {
                let id = format!("{}#{}", self.session, segment.id);
                self.line_ids.insert(segment.id, id.clone());
                let line = Line {
                    item_id: id,
                    seq: 0,
                    speaker: segment.speaker,
                    text: String::new(),
                    started_ms,
                    ended_ms: None,
                    status: LineStatus::Partial,
                    inaudible: None,
                    interrupted: false,
                };
                self.insert(line, out)
            }
        };
        let ended_ms = self.timeline_to_call(segment.end_ms);
        let line = &mut self.lines[index];
        line.text.clone_from(&segment.text);
        match closed {
            None => out.push(TranscriptChange::LinePartial(line.clone())),
            Some(reason) => {
                line.status = LineStatus::Final;
                line.ended_ms = Some(ended_ms.max(line.started_ms));
                // Cut off by the call ending or the connection going: as Realtime marks it.
                line.interrupted =
                    reason == CloseReason::Manual && line.speaker == Speaker::Interviewer;
                out.push(TranscriptChange::LineFinal(line.clone()));
            }
        }
    }

    /// Puts a new line where it starts among this session's lines (ties: after), numbering
    /// the lines it moves down.
    fn insert(&mut self, mut line: Line, out: &mut Vec<TranscriptChange>) -> usize {
        let index = self.floor
            + self.lines[self.floor..]
                .iter()
                .take_while(|l| l.started_ms <= line.started_ms)
                .count();
        line.seq = seq_of(index);
        self.lines.insert(index, line);
        out.push(TranscriptChange::LineStarted(self.lines[index].clone()));
        for (after, moved) in self.lines.iter_mut().enumerate().skip(index + 1) {
            moved.seq = seq_of(after);
            out.push(TranscriptChange::LineRenumbered {
                item_id: moved.item_id.clone(),
                seq: moved.seq,
            });
        }
        index
    }

    fn timeline_to_call(&self, timeline_ms: i64) -> u64 {
        self.base_ms
            .saturating_add(u64::try_from(timeline_ms.max(0)).unwrap_or(u64::MAX))
    }

    /// Closes this session's turns and starts a fresh grouper for the next session.
    fn end_session(&mut self, reason: CloseReason, now_ms: u64, out: &mut Vec<TranscriptChange>) {
        let updates = self.grouper.finish(reason, local(now_ms));
        self.apply(updates, out);
    }
}

fn seq_of(index: usize) -> u32 {
    u32::try_from(index + 1).unwrap_or(u32::MAX)
}

fn local(now_ms: u64) -> i64 {
    i64::try_from(now_ms).unwrap_or(i64::MAX)
}

impl Dialect for GptLive {
    type Event = Envelope<LiveEvent>;

    fn parse(&self, message: &str, limits: Limits) -> Result<Self::Event, ParseError> {
        parse_live_event_with(message, limits)
    }

    fn read<'e>(&self, envelope: &'e Self::Event) -> Reading<'e> {
        let signal = match &envelope.event {
            LiveEvent::SessionStarted(started) => Some(Signal::SessionStarted {
                model: started.session.model.as_deref(),
                expires_at: started.session.expires_at,
            }),
            LiveEvent::UsageUpdated(updated) => Some(Signal::TimeUsage(&updated.usage)),
            LiveEvent::SessionClosed(closed) => Some(Signal::SessionClosed {
                reason: closed.reason,
                usage: closed.usage.as_ref(),
            }),
            LiveEvent::Error(e) => Some(Signal::Problem {
                code: e
                    .error
                    .code
                    .clone()
                    .or_else(|| e.error.kind.clone())
                    .unwrap_or_else(|| "error".into()),
                message: e.error.message.clone(),
            }),
            _ => None,
        };
        Reading { item: None, signal }
    }

    fn assemble(&mut self, envelope: &Self::Event, now_ms: u64, out: &mut Vec<TranscriptChange>) {
        let (speaker, fragment) = match &envelope.event {
            LiveEvent::SessionStarted(started) => {
                if !self.session_named && self.line_ids.is_empty() {
                    self.session.clone_from(&started.session.id);
                    self.session_named = true;
                }
                return;
            }
            LiveEvent::SessionClosed(_) => {
                self.end_session(CloseReason::SessionClosed, now_ms, out);
                return;
            }
            LiveEvent::InputTranscriptDelta(fragment) => (Speaker::Candidate, fragment),
            LiveEvent::OutputTranscriptDelta(fragment) => (Speaker::Interviewer, fragment),
            _ => return,
        };
        let event_id = match &envelope.event_id {
            Some(id) => id.clone(),
            None => {
                self.anonymous += 1;
                format!("\u{0}anonymous-{}", self.anonymous)
            }
        };
        if self.grouper.is_closed() {
            // Words after the session said it closed: keep them, in a fresh grouper whose
            // turn numbers follow the closed one's.
            self.grouper = Grouper::new(&self.options, self.grouper.next_id());
        }
        let updates = self.grouper.push(
            &event_id,
            speaker,
            &fragment.delta,
            fragment.start_ms,
            fragment.end_ms,
            local(now_ms),
        );
        self.apply(updates, out);
    }

    fn lines(&self) -> Vec<&Line> {
        self.lines.iter().collect()
    }

    fn finish(&mut self, now_ms: u64, out: &mut Vec<TranscriptChange>) {
        self.end_session(CloseReason::Manual, now_ms, out);
    }

    /// The session's words stop with its connection: what was said so far is final now,
    /// before the next offer carries it to the proxy.
    fn connection_gone(&mut self, now_ms: u64, out: &mut Vec<TranscriptChange>) {
        self.end_session(CloseReason::Manual, now_ms, out);
    }

    fn continue_after_reconnect(&mut self, now_ms: u64, out: &mut Vec<TranscriptChange>) {
        self.end_session(CloseReason::Manual, now_ms, out);
        self.grouper = Grouper::new(&self.options, 0);
        self.floor = self.lines.len();
        self.line_ids.clear();
        self.session_named = false;
        self.base_ms = now_ms;
    }

    fn connection_opened(&mut self, now_ms: u64) {
        self.connections = self.connections.saturating_add(1);
        if self.line_ids.is_empty() && !self.session_named {
            self.session = format!("connection-{}", self.connections);
            self.base_ms = now_ms;
        }
    }

    fn deadline(&self, now_ms: u64) -> Option<u64> {
        self.grouper
            .delay(local(now_ms))
            .map(|delay| now_ms.saturating_add(delay))
    }

    fn handle_timeout(&mut self, now_ms: u64, out: &mut Vec<TranscriptChange>) {
        let updates = self.grouper.tick(local(now_ms));
        self.apply(updates, out);
    }

    fn speech_in_progress(&self) -> bool {
        !self.grouper.is_idle()
    }

    /// Live sessions are configured by the server that creates them, history included: the
    /// client sends nothing to open one (and may not: only mute, unmute and close are allowed).
    fn opening(&self, _session: &Value, _history: &[&Line], _respond: bool) -> Vec<ClientEvent> {
        Vec::new()
    }

    /// The allow-list keeps text off the candidate's data channel; the proxy that created the
    /// session passes it on.
    fn typed_answer(&self, text: &str) -> TypedAnswer {
        TypedAnswer::ViaSignalling(text.to_owned())
    }

    fn closing(&self) -> Vec<ClientEvent> {
        vec![ClientEvent::live(LiveCommand::Close)]
    }
}

//! GPT-Live's server events for what happens in a call (docs/protocols.md §4; shapes from
//! OpenAI's `openai` 3.63.0 SDK, `openai/types/live/`): `session.started` first; the
//! interviewer's words as `session.output_transcript.delta` fragments of a few words, each sent
//! as its words are spoken and timed on the session's timeline by the voice it goes with; the
//! candidate's words as `session.input_transcript.delta` fragments spread over their turn (a
//! typed answer's all at the moment it arrived); no
//! item ids, no done events; `session.usage.updated` running totals every so often; and
//! `session.closed` with the final usage, last.

use std::collections::{HashMap, VecDeque};
use std::time::Duration;

use serde_json::{Value, json};

use super::{Due, Flow, Happening, Writer};
use crate::interviewer::events::new_id;
use crate::live_sessions::SessionConfig;

/// The most words in one transcript fragment.
const MAX_FRAGMENT_WORDS: usize = 3;
/// How long a word takes when a line has no voice to time it by.
const UNVOICED_WORD_MS: u64 = 300;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Speaker {
    Candidate,
    Interviewer,
}

/// Words at a place on the timeline (without the space that may go before them).
#[derive(Debug, Clone, PartialEq, Eq)]
pub(super) struct Fragment {
    pub(super) text: String,
    pub(super) start_ms: u64,
    pub(super) end_ms: u64,
}

/// Splits `text` into fragments of a few words, each ending at punctuation or after
/// [`MAX_FRAGMENT_WORDS`] words, timed by where their characters fall in `duration_ms` from
/// `start_ms`: times never go back and each fragment ends at or after its start.
pub(super) fn fragments(text: &str, start_ms: u64, duration_ms: u64) -> Vec<Fragment> {
    let words: Vec<&str> = text.split_whitespace().collect();
    let total = words.iter().map(|w| w.chars().count()).sum::<usize>() + words.len();
    let total = total.saturating_sub(1).max(1) as u64;
    let time = |chars: usize| start_ms + duration_ms * (chars as u64).min(total) / total;
    let mut out = Vec::new();
    let (mut at, mut next) = (0, 0);
    while next < words.len() {
        let from = next;
        while next < words.len() && next - from < MAX_FRAGMENT_WORDS {
            next += 1;
            if words[next - 1].ends_with(['.', ',', '?', '!', ';', ':']) {
                break;
            }
        }
        let text = words[from..next].join(" ");
        let end = at + text.chars().count();
        out.push(Fragment {
            text,
            start_ms: time(at),
            end_ms: time(end),
        });
        at = end + 1;
    }
    out
}

/// A fragment of the line being said, sent when its words are spoken.
struct Scheduled {
    response_id: String,
    fragment: Fragment,
}

/// GPT-Live's writer for one session.
pub(in crate::interviewer) struct LiveWriter {
    /// The resolved session (`SessionResource`).
    session: Value,
    max_ms: u64,
    usage_every_ms: u64,
    next_usage_ms: u64,
    scheduled: VecDeque<Scheduled>,
    /// Each candidate turn's start and end on the timeline, until its transcript is out.
    turns: HashMap<String, (u64, Option<u64>)>,
    /// Who the last fragment was from: a turn's first fragment has no leading space.
    last_speaker: Option<Speaker>,
    closed: bool,
}

impl LiveWriter {
    /// A session `id` with `config` as asked, reporting `model` and `voice`, ending after
    /// `max` and reporting usage every `usage_every`.
    pub(in crate::interviewer) fn new(
        id: &str,
        config: &SessionConfig,
        model: &str,
        voice: &Value,
        max: Duration,
        usage_every: Duration,
    ) -> Self {
        let ms = |d: Duration| u64::try_from(d.as_millis()).unwrap_or(u64::MAX);
        let max_ms = ms(max);
        let expires_at = chrono::Utc::now()
            .timestamp()
            .saturating_add(i64::try_from(max_ms.div_ceil(1000)).unwrap_or(i64::MAX));
        let usage_every_ms = ms(usage_every).max(1);
        Self {
            session: config.resource(id, expires_at, model, voice),
            max_ms,
            usage_every_ms,
            next_usage_ms: usage_every_ms,
            scheduled: VecDeque::new(),
            turns: HashMap::new(),
            last_speaker: None,
            closed: false,
        }
    }

    fn fragment(&mut self, speaker: Speaker, fragment: &Fragment) -> String {
        let space = if self.last_speaker == Some(speaker) {
            " "
        } else {
            ""
        };
        self.last_speaker = Some(speaker);
        let kind = match speaker {
            Speaker::Candidate => "session.input_transcript.delta",
            Speaker::Interviewer => "session.output_transcript.delta",
        };
        event(
            kind,
            json!({
                "delta": format!("{space}{}", fragment.text),
                "start_ms": fragment.start_ms,
                "end_ms": fragment.end_ms,
            }),
            None,
        )
    }

    /// Sends the fragments whose words are being spoken by now.
    fn flush(&mut self, now_ms: u64, out: &mut Vec<String>) {
        while let Some(next) = self.scheduled.front()
            && next.fragment.start_ms <= now_ms
        {
            if let Some(due) = self.scheduled.pop_front() {
                let text = self.fragment(Speaker::Interviewer, &due.fragment);
                out.push(text);
            }
        }
    }

    /// The running total: whole seconds since the session started, all of them active.
    fn usage(&self, now_ms: u64) -> Value {
        let seconds = now_ms.min(self.max_ms) / 1000;
        json!({"seconds": seconds, "active_seconds": seconds, "paused_seconds": 0})
    }

    fn closed(&mut self, reason: &str, now_ms: u64, event_id: Option<String>) -> String {
        self.closed = true;
        self.scheduled.clear();
        event(
            "session.closed",
            json!({"reason": reason, "session": self.session, "usage": self.usage(now_ms)}),
            event_id,
        )
    }
}

/// A server event: its type, a fresh `event_id`, its fields and the command it answers.
fn event(kind: &str, fields: Value, client_event_id: Option<String>) -> String {
    let mut event = json!({"type": kind, "event_id": new_id("event")});
    if let (Value::Object(event), Value::Object(fields)) = (&mut event, fields) {
        event.extend(fields);
        if let Some(id) = client_event_id {
            event.insert("client_event_id".into(), Value::String(id));
        }
    }
    event.to_string()
}

impl Writer for LiveWriter {
    fn flow(&self) -> Flow {
        Flow {
            speaks_unasked: true,
            answers_after_transcript: true,
            partials: false,
        }
    }

    fn write(&mut self, happening: Happening<'_>, now_ms: u64) -> Vec<String> {
        let mut out = Vec::new();
        if self.closed {
            return out;
        }
        self.flush(now_ms, &mut out);
        match happening {
            Happening::Opened { .. } => out.push(event(
                "session.started",
                json!({"session": self.session}),
                None,
            )),
            Happening::LineStarted { line, .. } => {
                // Timed by where the voice is audible; without a voice, at a speaking pace.
                let (from, to) = line.voiced_ms;
                let (offset, duration) = if to > from {
                    (from, to - from)
                } else {
                    let words = line.text.split_whitespace().count() as u64;
                    (0, words * UNVOICED_WORD_MS)
                };
                let parts = fragments(&line.text, line.start_ms + offset, duration);
                self.scheduled
                    .extend(parts.into_iter().map(|fragment| Scheduled {
                        response_id: line.id.clone(),
                        fragment,
                    }));
                self.flush(now_ms, &mut out);
            }
            Happening::LineCut { line, .. } => {
                // The words not spoken yet are never said.
                self.scheduled.retain(|s| s.response_id != line.id);
            }
            Happening::TurnStarted { item_id, at_ms, .. } => {
                self.turns.insert(item_id.to_owned(), (at_ms, None));
            }
            Happening::TurnEnded { item_id, at_ms, .. } => {
                if let Some(turn) = self.turns.get_mut(item_id) {
                    turn.1 = Some(at_ms.max(turn.0));
                }
            }
            Happening::Transcribed {
                item_id,
                transcript,
                audio_ms,
            } => {
                let (start, end) = match self.turns.remove(&item_id) {
                    Some((start, end)) => (start, end.unwrap_or(start + audio_ms)),
                    None => (now_ms.saturating_sub(audio_ms), now_ms),
                };
                for fragment in fragments(&transcript, start, end - start) {
                    let text = self.fragment(Speaker::Candidate, &fragment);
                    out.push(text);
                }
            }
            Happening::Typed { text } => {
                // Typed, not spoken: all of it at this point of the timeline.
                for fragment in fragments(text, now_ms, 0) {
                    let text = self.fragment(Speaker::Candidate, &fragment);
                    out.push(text);
                }
            }
            Happening::TranscriptionFailed { item_id, error } => {
                // Live has no event for it: the candidate's words are simply not written.
                self.turns.remove(&item_id);
                tracing::debug!(event = "interviewer_live_turn_not_transcribed", %error);
            }
            Happening::Problem {
                code,
                message,
                event_id,
            } => {
                let mut error =
                    json!({"type": "invalid_request_error", "code": code, "message": message});
                if let (Some(id), Value::Object(fields)) = (&event_id, &mut error) {
                    fields.insert("client_event_id".into(), json!(id));
                }
                out.push(event("error", json!({"error": error}), event_id));
            }
            Happening::Muted { event_id } => {
                out.push(event("session.input_audio.muted", json!({}), event_id));
            }
            Happening::Unmuted { event_id } => {
                out.push(event("session.input_audio.unmuted", json!({}), event_id));
            }
            Happening::Refused { kind, event_id } => {
                let message = format!(
                    "`{kind}` is not allowed on this data channel \
                     (client.data_channel.allowed_client_events), so it was ignored"
                );
                out.push(event(
                    "info",
                    json!({"code": "data_channel_permissions", "message": message}),
                    event_id,
                ));
            }
            Happening::Closed { reason, event_id } => {
                let closed = self.closed(reason, now_ms, event_id);
                out.push(closed);
            }
            Happening::LinePlayed { .. }
            | Happening::LineFinished { .. }
            | Happening::Partial { .. } => {}
        }
        out
    }

    fn next_due_ms(&self) -> Option<u64> {
        if self.closed {
            return None;
        }
        let fragment = self.scheduled.front().map(|s| s.fragment.start_ms);
        [fragment, Some(self.next_usage_ms), Some(self.max_ms)]
            .into_iter()
            .flatten()
            .min()
    }

    fn due(&mut self, now_ms: u64) -> Due {
        let mut due = Due::default();
        if self.closed {
            return due;
        }
        self.flush(now_ms, &mut due.messages);
        if now_ms >= self.max_ms {
            let closed = self.closed("expired", now_ms, None);
            due.messages.push(closed);
            due.end = Some("session expired");
            return due;
        }
        if now_ms >= self.next_usage_ms {
            due.messages.push(event(
                "session.usage.updated",
                json!({"usage": self.usage(now_ms)}),
                None,
            ));
            while self.next_usage_ms <= now_ms {
                self.next_usage_ms += self.usage_every_ms;
            }
        }
        due
    }
}

#[cfg(test)]
mod tests;

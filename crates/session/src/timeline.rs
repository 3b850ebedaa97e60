//! The last call's story for support (diagnostics): where the call went, its health once a
//! second, the problems and device news — never what was said. Pure: fed the session's
//! [`LiveEvent`]s as they stream, so it records exactly what the candidate's screen showed.

use std::collections::VecDeque;

use serde::Serialize;

use crate::live::{EchoState, LiveEvent};

/// Health samples kept: an hour at one a second (the newest).
const HEALTH_KEPT: usize = 3600;
/// Other events kept (the newest).
const EVENTS_KEPT: usize = 2000;

/// One thing that happened, at milliseconds since the call started.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Moment {
    pub at_ms: u64,
    /// The event as the UI received it (lines and levels are never kept).
    pub event: serde_json::Value,
}

/// A call's timeline, newest kept when long.
#[derive(Debug, Clone, Default, PartialEq, Serialize)]
pub struct CallTimeline {
    pub session_id: String,
    /// Unix milliseconds.
    pub started_at_ms: i64,
    pub health: VecDeque<Moment>,
    pub events: VecDeque<Moment>,
    /// Lines the candidate saw become final (how many, not what).
    pub final_lines: u64,
    /// Events dropped from the front when the call ran long.
    pub dropped: u64,
    #[serde(skip)]
    last_echo: Option<EchoState>,
}

impl CallTimeline {
    #[must_use]
    pub fn new(session_id: &str, started_at_ms: i64) -> Self {
        Self {
            session_id: session_id.to_owned(),
            started_at_ms,
            ..Self::default()
        }
    }

    /// Records `event`, seen `at_ms` after the call started.
    pub fn record(&mut self, at_ms: u64, event: &LiveEvent) {
        let (queue, cap) = match event {
            // What was said stays out; how many lines there were is enough.
            LiveEvent::Line { line } => {
                if line.status == viva_realtime::LineStatus::Final {
                    self.final_lines += 1;
                }
                return;
            }
            LiveEvent::Renumbered { .. } | LiveEvent::Level { .. } => return,
            LiveEvent::Health { .. } => (&mut self.health, HEALTH_KEPT),
            LiveEvent::Echo { echo } => {
                // Sent every second: only its changes tell anything.
                if self.last_echo.as_ref() == Some(echo) {
                    return;
                }
                self.last_echo = Some(echo.clone());
                (&mut self.events, EVENTS_KEPT)
            }
            LiveEvent::State { .. }
            | LiveEvent::Problem { .. }
            | LiveEvent::Device { .. }
            | LiveEvent::NotSaved { .. }
            | LiveEvent::Answering { .. }
            | LiveEvent::Ended { .. } => (&mut self.events, EVENTS_KEPT),
        };
        let Ok(event) = serde_json::to_value(event) else {
            return;
        };
        if queue.len() == cap {
            queue.pop_front();
            self.dropped += 1;
        }
        queue.push_back(Moment { at_ms, event });
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;
    use viva_realtime::{Line, LineStatus, SessionState, Speaker};

    fn line(text: &str, status: LineStatus) -> LiveEvent {
        LiveEvent::Line {
            line: Line {
                item_id: "i1".into(),
                seq: 1,
                speaker: Speaker::Candidate,
                text: text.into(),
                started_ms: 0,
                ended_ms: None,
                status,
                inaudible: None,
                interrupted: false,
            },
        }
    }

    #[test]
    fn the_timeline_keeps_what_happened_and_never_what_was_said() {
        let mut timeline = CallTimeline::new("s1", 1_000);
        timeline.record(
            0,
            &LiveEvent::State {
                state: SessionState::Connecting,
            },
        );
        timeline.record(
            10,
            &line("I led the billing migration", LineStatus::Partial),
        );
        timeline.record(20, &line("I led the billing migration.", LineStatus::Final));
        timeline.record(
            30,
            &LiveEvent::Problem {
                code: "rate_limited".into(),
                message: "slow down".into(),
            },
        );
        let echo = EchoState {
            on: true,
            hearing_speakers: true,
            delay_ms: Some(80),
            speakers_heard: Some(true),
        };
        for at in [40, 41, 42] {
            timeline.record(at, &LiveEvent::Echo { echo: echo.clone() });
        }
        let text = serde_json::to_string(&timeline).unwrap();
        assert!(!text.contains("billing"), "{text}");
        assert_eq!(timeline.final_lines, 1);
        // The state, the problem, and the echo state once.
        assert_eq!(timeline.events.len(), 3, "{text}");
        assert!(
            text.contains("rate_limited") && text.contains("connecting"),
            "{text}"
        );
    }

    #[test]
    fn a_long_call_keeps_its_newest_events() {
        let mut timeline = CallTimeline::new("s1", 0);
        for second in 0..(EVENTS_KEPT as u64 + 10) {
            let problem = LiveEvent::Problem {
                code: "x".into(),
                message: second.to_string(),
            };
            timeline.record(second * 1000, &problem);
        }
        assert_eq!(timeline.events.len(), EVENTS_KEPT);
        assert_eq!(timeline.dropped, 10);
        assert_eq!(timeline.events.front().unwrap().at_ms, 10_000);
    }
}

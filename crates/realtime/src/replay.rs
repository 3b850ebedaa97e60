//! Replaying a log of server events (JSON Lines, one event per line) through the parser and the
//! assembler: for recorded sessions, fixtures and fuzzing. Bad lines are collected, not fatal.

use crate::assembler::{Assembler, TranscriptChange};
use crate::parse::{ParseError, parse_server_event};

/// Time between two replayed events, standing in for the clock.
pub const REPLAY_STEP_MS: u64 = 1000;

/// What a replay produced.
#[derive(Debug, Default)]
pub struct Replay {
    pub assembler: Assembler,
    pub changes: Vec<TranscriptChange>,
    pub errors: Vec<(usize, ParseError)>,
}

/// Feeds every non-empty line of `jsonl` to a fresh assembler; line `n` arrives at
/// `n * REPLAY_STEP_MS`. At the end the transcript is finished, so every line is final.
pub fn replay(jsonl: &str) -> Replay {
    let mut replay = Replay::default();
    let mut now = 0;
    for (number, line) in jsonl
        .lines()
        .enumerate()
        .filter(|(_, l)| !l.trim().is_empty())
    {
        now = number as u64 * REPLAY_STEP_MS;
        match parse_server_event(line) {
            Ok(envelope) => replay
                .changes
                .extend(replay.assembler.apply(&envelope, now)),
            Err(error) => replay.errors.push((number + 1, error)),
        }
    }
    replay
        .changes
        .extend(replay.assembler.finish(now + REPLAY_STEP_MS));
    replay
}

/// Replays a log of GPT-Live server events through a whole conversation speaking Live (parser,
/// grouping, line placement, timers): line `n` arrives at `n * LIVE_REPLAY_STEP_MS`, every timer
/// due before it fires first, and the call ends after the last. Returns the final transcript;
/// lines that do not parse are skipped. For the Live fuzz target and its corpus.
pub fn replay_live(jsonl: &str) -> Vec<crate::assembler::Line> {
    use crate::conversation::{AnyDialect, Conversation, ConversationConfig, VoiceApi};
    let mut conversation = Conversation::<AnyDialect>::for_api(
        VoiceApi::Live,
        ConversationConfig {
            interviewer_speaks_first: true,
            session_cap_ms: u64::MAX / 4,
            clock_origin_unix_ms: None,
        },
        crate::cost::CostMeter::new("gpt-live-1", None),
    );
    conversation.connect();
    conversation.channel_opened(0, &serde_json::Value::Null);
    let mut now = 0;
    let limits = crate::parse::Limits::default();
    for (number, line) in jsonl.lines().enumerate() {
        now = (number as u64 + 1) * LIVE_REPLAY_STEP_MS;
        fire_due(&mut conversation, now);
        let _ = conversation.server_message(line, limits, now);
        while conversation.poll_output().is_some() {}
    }
    fire_due(&mut conversation, now + 10 * LIVE_REPLAY_STEP_MS);
    conversation.close_lines(now + 11 * LIVE_REPLAY_STEP_MS);
    while conversation.poll_output().is_some() {}
    conversation.lines().into_iter().cloned().collect()
}

/// Time between two replayed Live events.
pub const LIVE_REPLAY_STEP_MS: u64 = 100;

fn fire_due(conversation: &mut crate::Conversation<crate::conversation::AnyDialect>, until: u64) {
    // Each firing closes or decides something; the bound only guards a fuzzed input.
    for _ in 0..10_000 {
        match conversation.poll_timeout() {
            Some(due) if due <= until => {
                conversation.handle_timeout(due);
                while conversation.poll_output().is_some() {}
            }
            _ => return,
        }
    }
}

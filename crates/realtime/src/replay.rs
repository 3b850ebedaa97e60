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

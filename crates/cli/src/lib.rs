//! The `viva` command line as a library: the embedded local stack with a throw-away account,
//! the script that takes a practice interview with recorded answers, `viva transcripts`
//! ([`transcripts`]) and the operator's `viva admin` ([`admin`]). The binary, the call tests and the benchmarks all drive calls through here.
//!
//! It owns the command's arguments, its JSON-lines output and the script's timing (wait for a
//! question, say an answer, wait for its transcript). It does not own the interview pipeline:
//! a scripted call is a `viva_session::LiveSession` with a paced microphone, so its lines are
//! written ahead and its ending recorded exactly as the app's. Grants and the outbox's link to
//! the backend are in `viva-session` too; the file is `viva-store`'s.

pub mod admin;
pub mod embedded;
pub mod script;
pub mod transcripts;

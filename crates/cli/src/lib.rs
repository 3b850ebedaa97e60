//! The `viva` command line as a library: the embedded local stack with a throw-away account,
//! and the script that takes a practice interview with recorded answers. The binary, the call
//! tests and the benchmarks all drive calls through here; `viva transcripts`
//! ([`transcripts`]) lives here too. Grants and the outbox's link to the backend are in
//! `viva-session`, shared with the app.

pub mod embedded;
pub mod script;
pub mod transcripts;

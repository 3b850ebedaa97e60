//! The `viva` command line as a library: the embedded local stack with a throw-away account,
//! a [`GrantSource`](viva_rtc::GrantSource) over the backend client, and the script that
//! takes a practice interview with recorded answers. The binary, the call tests and the
//! benchmarks all drive calls through here; the outbox's link to the backend ([`sync`]) and
//! `viva transcripts` ([`transcripts`]) live here too.

pub mod embedded;
pub mod grants;
pub mod script;
pub mod sync;
pub mod transcripts;

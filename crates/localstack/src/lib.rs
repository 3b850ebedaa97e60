//! The embedded default backend for Viva: a Supabase-compatible API (auth, tables, edge
//! functions), the SDP proxy and a local WebRTC interviewer peer, runnable in-process or as a
//! binary.
//!
//! It speaks the same wire formats as the hosted services (docs/protocols.md), so the client
//! cannot tell the two apart: auth (a GoTrue subset), tables (a PostgREST subset) with tenant
//! and role isolation, the `interview-start` and `transcript-processor` functions, the SDP proxy
//! (with the local interviewer behind it, or a forwarder to a hosted Realtime endpoint), and the
//! local interviewer itself on `POST /v1/realtime/calls` ([`interviewer`]).
//!
//! It does not own the client side of any of these (viva-backend, viva-rtc), the limits both
//! sides agree on (viva-contract), or speech: the model, voice detection, turn-taking and the
//! transcriber the interviewer listens with are viva-speech's.

pub mod admin;
pub mod auth;
pub mod caller;
pub mod calls;
pub mod db;
pub mod error;
pub mod forward;
pub mod functions;
pub mod interviewer;
pub mod jwt;
pub mod live_sessions;
pub mod observations;
pub mod proxy;
pub mod ratelimit;
pub mod rest;
pub mod seed;
pub mod server;

pub use server::{Config, LocalStack, Signaling, StartError};

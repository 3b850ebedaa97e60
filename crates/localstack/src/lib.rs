//! The embedded default backend for Viva: a Supabase-compatible API (auth, tables, edge
//! functions), the SDP proxy and a local WebRTC interviewer peer, runnable in-process or as a
//! binary.
//!
//! It speaks the same wire formats as the hosted services (see PROTOCOLS.md), so the client cannot
//! tell the two apart. Built so far: auth (GoTrue subset) and the PostgREST query language; the
//! table endpoints, edge functions, SDP proxy and interviewer follow (W1-4, W1-5).

pub mod auth;
pub mod caller;
pub mod db;
pub mod error;
pub mod functions;
pub mod jwt;
pub mod rest;
pub mod server;

pub use server::{Config, LocalStack, Signaling, StartError};

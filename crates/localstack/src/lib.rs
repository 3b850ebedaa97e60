//! The embedded default backend for Viva: a Supabase-compatible API (auth, tables, edge
//! functions), the SDP proxy and a local WebRTC interviewer peer, runnable in-process or as a
//! binary.
//!
//! It speaks the same wire formats as the hosted services (see PROTOCOLS.md), so the client cannot
//! tell the two apart.

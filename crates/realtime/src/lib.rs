//! Realtime voice-AI protocol for Viva: the typed events on the `oai-events` data channel, the
//! transcript assembler that turns them into lines, the cost of a session and the session state
//! machine.
//!
//! Pure logic only: no I/O, no async runtime and no clock reads (callers pass the time in), so
//! everything here can be unit-tested, property-tested and fuzzed. It does not own the WebRTC call
//! (`viva-rtc`) or where lines are stored (`viva-store`).

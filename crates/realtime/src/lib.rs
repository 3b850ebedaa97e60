//! Realtime voice-AI protocol for Viva: the typed events on the `oai-events` data channel, the
//! transcript assembler that turns them into lines, the cost of a session, the session state
//! machine, and the [`conversation`] core that holds a call's protocol state (turn-taking, the
//! session cap's quiet moment, history replay after a reconnect and its echo filter, client
//! events queued while offline) and says what to send and publish, for either voice API:
//! Realtime, or GPT-Live (OpenAI's current one), whose typed events, candidate commands and
//! line grouping policy are in [`live`]; the dialect is chosen at run time
//! ([`conversation::AnyDialect`]).
//!
//! Pure logic only: no I/O, no async runtime and no clock reads (callers pass the time in), so
//! everything here can be unit-tested, property-tested and fuzzed. It does not own the WebRTC
//! call, its sockets, timers, reconnect pacing or health (`viva-rtc`), nor where lines are
//! stored (`viva-store`).

pub mod assembler;
pub mod client;
pub mod conversation;
pub mod cost;
pub mod event;
pub mod live;
pub mod parse;
pub mod replay;
pub mod state;

pub use assembler::{Assembler, Line, LineStatus, Speaker, TranscriptChange};
pub use client::ClientEvent;
pub use conversation::{Conversation, ConversationConfig, Output, Renewal, TimerKind};
pub use cost::{Cost, CostMeter};
pub use event::{Envelope, ServerEvent};
pub use parse::{Limits, ParseError, parse_server_event, parse_server_event_with};
pub use replay::{Replay, replay, replay_live};
pub use state::{InvalidTransition, SessionInput, SessionState};

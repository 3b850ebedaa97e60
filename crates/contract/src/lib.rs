//! The backend contract's limits and shapes that both sides must agree on (docs/protocols.md):
//! what a `transcript-processor` entry may be, why one is rejected, how its reply reads, and how
//! the client cuts a line longer than the limit into parts. Pure: no I/O, so the client, the
//! local stack and the fuzzers all use exactly these rules.
//!
//! Also the other parsers of untrusted input on the wire: what `interview-start` grants
//! ([`grant`]), the SDP proxy's messages ([`proxy`]) and its check of an offer ([`sdp`]).
//!
//! It does not own the transport (viva-backend), the local stack's storage (viva-localstack) or
//! the hosted function (supabase/functions), which enforce these same numbers.

pub mod checks;
pub mod consent;
mod entry;
pub mod grant;
pub mod observed;
pub mod proxy;
mod reply;
pub mod sdp;
mod split;

pub use entry::{Entry, RejectCode, Rejection, check_entry};
pub use reply::{ProcessorReply, ReplyError, parse_processor_reply};
pub use split::{part_item_id, split_line, split_text};

/// The most entries one `transcript-processor` call may carry; a larger batch is refused whole.
pub const MAX_ENTRIES_PER_CALL: usize = 500;
/// The longest line, in Unicode characters (scalar values). The client cuts longer lines into
/// consecutive parts ([`split_text`]), so nothing is refused for its length and nothing is cut.
pub const MAX_LINE_CHARS: usize = 20_000;
/// The longest `item_id`, in characters.
pub const MAX_ITEM_ID_CHARS: usize = 200;
/// A line that arrives this long after the server recorded the session's close is marked late.
pub const LATE_AFTER_S: i64 = 10 * 60;
/// The most rows one table read returns (PostgREST's `max_rows` on a hosted project); longer
/// results must be paged.
pub const MAX_ROWS: usize = 1000;

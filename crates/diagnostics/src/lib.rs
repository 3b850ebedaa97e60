//! What support needs when Viva misbehaves on someone's computer, in one archive: the app's and
//! the system's versions, the audio devices, the last call's health timeline and problems, and
//! the recent logs — with tokens, e-mail addresses and transcript words taken out first.
//!
//! [`Redactor`] is pure (text in, text out), so every rule is tested and fuzzed without files;
//! [`write_archive`] runs every part through it on the way into the zip. Gathering the parts
//! (devices, logs, the call) is the desktop shell's job.

mod archive;
mod redact;

pub use archive::{ArchiveSummary, Contents, DiagnosticsError, read_archive, write_archive};
pub use redact::{Redacted, Redactor, Removed};

//! One interview on this computer, shared by the app and the `viva` command — the only
//! write-ahead path: grants from the backend, the microphone (a device, or a paced stand-in
//! saying recorded answers; never opened when the grant's `mode` says answers are typed,
//! [`answering`]) and speakers (a device, or a listener) wired to the call, every
//! transcript change written to the local store before anyone is told of it, and the session's
//! ending (completed or interrupted, one rule for both) recorded with its sync state.
//!
//! It owns the live session's pipeline and its flat [`LiveEvent`]s. It does not own the call
//! (`viva-rtc`), the devices (`viva-audio`), the file (`viva-store`) or how anything is shown:
//! its events are the desktop shell's IPC messages as they are (with the `specta` feature, for
//! typed bindings), and the `viva` command prints them. Device news are put in words here
//! ([`DeviceNotice`]), once for both.

pub mod answering;
pub mod consent;
pub mod device;
pub mod grants;
pub mod hearing;
pub mod live;
pub mod media;
pub mod sync;
pub mod timeline;
pub mod tone;
pub mod transcripts;

pub use answering::{Answering, TextBecause};
pub use device::DeviceNotice;
pub use grants::BackendGrants;
pub use live::{EchoState, Ended, EndedSync, LiveEvent, LiveSession, LiveSettings, Recording};
pub use media::{Microphone, Speakers};
pub use sync::AccountRemote;
pub use transcripts::{Transcripts, TranscriptsInfo};

/// Why a session could not start or take a command.
#[derive(Debug, thiserror::Error)]
pub enum SessionError {
    /// No microphone (or speakers) could be opened.
    #[error(transparent)]
    Audio(#[from] viva_audio::AudioError),
    /// The transcript could not be recorded: no interview without it.
    #[error(transparent)]
    Store(#[from] viva_store::StoreError),
    #[error("type an answer first")]
    EmptyAnswer,
    #[error("the interview is over")]
    Over,
}

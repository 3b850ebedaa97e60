//! One interview on this computer, shared by the app and the `viva` command: grants from the
//! backend, the microphone and speakers wired to the call, and the transcript written ahead to
//! the local store before anything shows it.

pub mod grants;
pub mod hearing;
pub mod live;
pub mod media;
pub mod sync;
pub mod tone;

pub use grants::BackendGrants;
pub use live::{Ended, LiveEvent, LiveSession, LiveSettings, Recording};
pub use media::{Microphone, Speakers};
pub use sync::AccountRemote;

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

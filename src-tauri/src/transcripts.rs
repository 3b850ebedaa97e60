//! The transcripts kept on this computer as Tauri state: [`viva_session::Transcripts`], plus the
//! error a command returns when the store could not be opened.

use std::ops::Deref;
use std::path::Path;

use viva_session::Transcripts;
use viva_store::Store;

use crate::error::{AppError, ErrorCode};

/// Managed Tauri state.
#[derive(Debug)]
pub struct TranscriptState(Transcripts);

impl TranscriptState {
    /// Opens the store under `data_dir`; a failure is kept to be shown, not fatal.
    pub fn open(data_dir: &Path) -> Self {
        Self(Transcripts::open(data_dir))
    }

    /// The store, or the error a command returns when it could not be opened.
    pub fn readable(&self) -> Result<&Store, AppError> {
        self.0.store().ok_or_else(|| {
            AppError::new(
                ErrorCode::StoreUnavailable,
                "Transcripts on this computer cannot be read.",
            )
        })
    }
}

impl Deref for TranscriptState {
    type Target = Transcripts;

    fn deref(&self) -> &Transcripts {
        &self.0
    }
}

//! The app's transcript store, opened at launch: sessions a crash left live become
//! `interrupted` with their lines kept, and a damaged file is moved aside — the first screen
//! says what happened.

use std::path::Path;
use std::sync::{Arc, Mutex};

use serde::Serialize;
use viva_store::{Store, SyncTarget, Syncer};

/// What the first screen shows about the transcripts kept on this computer.
#[derive(Debug, Clone, Serialize, specta::Type)]
#[serde(rename_all = "camelCase")]
pub struct TranscriptsInfo {
    pub sessions: u32,
    /// Final lines not yet acknowledged by a backend.
    pub waiting_lines: u32,
    /// Sessions found live at launch (Viva had stopped mid-interview), now interrupted.
    pub recovered: u32,
    /// The store could not be opened, or its file was damaged and moved aside.
    pub problem: Option<String>,
}

/// Managed Tauri state.
#[derive(Debug)]
pub struct TranscriptState {
    store: Option<Store>,
    recovered: u32,
    problem: Option<String>,
    /// The outbox sending to the signed-in user's backend.
    syncer: Mutex<Option<(SyncTarget, Syncer)>>,
}

impl TranscriptState {
    /// Opens `<data_dir>/transcripts.sqlite3`; a failure is kept to be shown, not fatal.
    pub fn open(data_dir: &Path) -> Self {
        match Store::open(&data_dir.join(viva_store::FILE_NAME)) {
            Ok((store, report)) => {
                let problem = report
                    .moved_aside
                    .as_ref()
                    .map(viva_store::MovedAside::message);
                if let Some(problem) = &problem {
                    tracing::error!(event = "transcripts_moved_aside", %problem);
                }
                if !report.interrupted.is_empty() {
                    tracing::warn!(event = "sessions_recovered", sessions = ?report.interrupted);
                }
                Self {
                    store: Some(store),
                    recovered: u32::try_from(report.interrupted.len()).unwrap_or(u32::MAX),
                    problem,
                    syncer: Mutex::new(None),
                }
            }
            Err(error) => {
                tracing::error!(event = "transcripts_unavailable", %error);
                Self {
                    store: None,
                    recovered: 0,
                    problem: Some(format!("Transcripts cannot be saved: {error}")),
                    syncer: Mutex::new(None),
                }
            }
        }
    }

    /// Sends the outbox of `user_id` on `remote` with `account`'s sign-in, replacing the
    /// syncer of another user or backend. Lines left from earlier runs go out too.
    pub fn sync_as(&self, account: &Arc<viva_backend::Account>, remote: &str, user_id: &str) {
        let Some(store) = &self.store else {
            return;
        };
        let Ok(mut syncer) = self.syncer.lock() else {
            return;
        };
        let target = SyncTarget {
            remote: remote.to_owned(),
            user_id: user_id.to_owned(),
        };
        if syncer
            .as_ref()
            .is_some_and(|(running, _)| *running == target)
        {
            return;
        }
        tracing::info!(event = "sync_started", %remote);
        let running = viva_store::spawn_syncer(
            store.clone(),
            target.clone(),
            viva_session::AccountRemote {
                account: account.clone(),
            },
        );
        *syncer = Some((target, running));
    }

    /// Stops sending (signed out).
    pub fn stop_sync(&self) {
        if let Ok(mut syncer) = self.syncer.lock() {
            syncer.take();
        }
    }

    /// Removes the copies of a backend's transcripts kept for reading offline (signing out:
    /// the next person at this computer must not read them).
    pub fn forget_copies(&self) {
        if let Some(store) = &self.store {
            match store.forget_cached() {
                Ok(removed) => tracing::info!(event = "transcript_copies_removed", removed),
                Err(error) => tracing::error!(event = "transcript_copies_kept", %error),
            }
        }
    }

    /// The store, when it could be opened.
    pub fn store(&self) -> Option<&Store> {
        self.store.as_ref()
    }

    /// The store, or the error a command returns when it could not be opened.
    pub fn readable(&self) -> Result<&Store, crate::error::AppError> {
        self.store.as_ref().ok_or_else(|| {
            crate::error::AppError::new(
                crate::error::ErrorCode::StoreUnavailable,
                "Transcripts on this computer cannot be read.",
            )
        })
    }

    pub fn info(&self) -> TranscriptsInfo {
        let clamp = |n: u64| u32::try_from(n).unwrap_or(u32::MAX);
        let (totals, problem) = match self.store.as_ref().map(Store::totals) {
            Some(Ok(totals)) => (totals, self.problem.clone()),
            Some(Err(error)) => ((0, 0), Some(error.to_string())),
            None => ((0, 0), self.problem.clone()),
        };
        TranscriptsInfo {
            sessions: clamp(totals.0),
            waiting_lines: clamp(totals.1),
            recovered: self.recovered,
            problem,
        }
    }
}

//! The transcripts kept on this computer as the app holds them for its whole run: the store
//! opened once at launch (a crash's live sessions become `interrupted`, a damaged file is moved
//! aside and said so), and the one outbox sending to the signed-in user's backend.

use std::path::Path;
use std::sync::{Arc, Mutex};

use serde::Serialize;
use viva_store::{Store, SyncTarget, Syncer};

use crate::sync::AccountRemote;

/// What the first screen shows about the transcripts kept on this computer.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[cfg_attr(feature = "specta", derive(specta::Type))]
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

/// The store (when it could be opened) and the outbox running for one account.
#[derive(Debug)]
pub struct Transcripts {
    store: Option<Store>,
    recovered: u32,
    problem: Option<String>,
    syncer: Mutex<Option<(SyncTarget, Syncer)>>,
}

fn clamp(n: impl TryInto<u32>) -> u32 {
    n.try_into().unwrap_or(u32::MAX)
}

impl Transcripts {
    /// Opens `<data_dir>/transcripts.sqlite3`. A failure is kept to be shown, not fatal: the
    /// app still starts, and says why nothing can be saved.
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
                    recovered: clamp(report.interrupted.len()),
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
    /// syncer of another user or backend (one outbox at a time, or two accounts' lines would
    /// race to the wrong backend). Lines left from earlier runs go out too.
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
            AccountRemote {
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

    /// Counts for the first screen, with the problem to show if any.
    pub fn info(&self) -> TranscriptsInfo {
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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn an_unopenable_store_is_reported_not_fatal() {
        let dir = tempfile::tempdir().expect("temp dir");
        // A directory where the file should be: SQLite cannot open it.
        std::fs::create_dir(dir.path().join(viva_store::FILE_NAME)).expect("blocker");
        let transcripts = Transcripts::open(dir.path());
        assert!(transcripts.store().is_none());
        let info = transcripts.info();
        assert_eq!(info.sessions, 0);
        assert!(
            info.problem
                .as_deref()
                .is_some_and(|p| p.starts_with("Transcripts cannot be saved")),
            "{info:?}"
        );
    }

    #[test]
    fn a_damaged_file_is_moved_aside_and_said_so() {
        let dir = tempfile::tempdir().expect("temp dir");
        let file = dir.path().join(viva_store::FILE_NAME);
        std::fs::write(&file, b"not a database, a page of something else entirely").expect("junk");
        let transcripts = Transcripts::open(dir.path());
        assert!(transcripts.store().is_some(), "a fresh store replaces it");
        let problem = transcripts.info().problem.expect("the move is reported");
        let kept: Vec<_> = std::fs::read_dir(dir.path())
            .expect("list")
            .filter_map(Result::ok)
            .filter(|e| e.file_name() != viva_store::FILE_NAME)
            .collect();
        assert!(
            !kept.is_empty(),
            "the damaged file is kept beside: {problem}"
        );
    }

    #[test]
    fn a_fresh_store_counts_nothing_and_has_no_problem() {
        let dir = tempfile::tempdir().expect("temp dir");
        let transcripts = Transcripts::open(dir.path());
        assert!(transcripts.store().is_some());
        assert_eq!(
            transcripts.info(),
            TranscriptsInfo {
                sessions: 0,
                waiting_lines: 0,
                recovered: 0,
                problem: None
            }
        );
    }
}

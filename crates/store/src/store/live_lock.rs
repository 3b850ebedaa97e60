//! The lock file held per session live in this process, so another process opening the same
//! file does not take the session for one a crash left behind.

use std::fs::File;
use std::path::PathBuf;

use super::Store;
use crate::error::StoreError;
use crate::open::sidecar;

impl Store {
    pub(super) fn lock_path(&self, session_id: &str) -> PathBuf {
        // Session ids come from the network: only keep characters safe in a file name.
        let safe: String = session_id
            .chars()
            .map(|c| {
                if c.is_ascii_alphanumeric() || c == '-' {
                    c
                } else {
                    '_'
                }
            })
            .collect();
        sidecar(&self.inner.path, &format!(".live-{safe}.lock"))
    }

    /// Takes the session's lock file; `None` when another process holds it (it is live
    /// there).
    pub(super) fn take_live_lock(&self, session_id: &str) -> Result<Option<File>, StoreError> {
        let path = self.lock_path(session_id);
        let file = File::options()
            .create(true)
            .truncate(false)
            .write(true)
            .open(&path)
            .map_err(|e| StoreError::Io {
                path: path.clone(),
                detail: e.to_string(),
            })?;
        match file.try_lock() {
            Ok(()) => Ok(Some(file)),
            Err(std::fs::TryLockError::WouldBlock) => Ok(None),
            Err(std::fs::TryLockError::Error(e)) => Err(StoreError::Io {
                path,
                detail: e.to_string(),
            }),
        }
    }

    /// Keeps `lock` for the session's life in this process.
    pub(super) fn hold_live_lock(&self, session_id: &str, lock: File) {
        if let Ok(mut live) = self.inner.live.lock() {
            live.insert(session_id.to_owned(), (self.lock_path(session_id), lock));
        }
    }

    /// Lets go of the session's lock (it ended) and removes its file.
    pub(super) fn release_live_lock(&self, session_id: &str) {
        if let Ok(mut live) = self.inner.live.lock()
            && let Some((path, lock)) = live.remove(session_id)
        {
            drop(lock);
            let _ = std::fs::remove_file(path);
        }
    }
}

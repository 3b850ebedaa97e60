//! Copies of a backend's sessions kept for reading and searching offline, and forgetting them.

use rusqlite::{OptionalExtension, params};

use super::Store;
use crate::error::StoreError;
use crate::model::{StoredLine, StoredSession, speaker_str};

impl Store {
    /// Keeps a copy of a backend's session and its final lines, replacing an older copy, so
    /// it can be read and searched offline. A session this computer recorded is never
    /// overwritten by a copy (it is the original). The copy is marked with `at_ms`, when it
    /// was read from the backend.
    pub fn cache_remote(
        &self,
        session: &StoredSession,
        lines: &[StoredLine],
        at_ms: i64,
    ) -> Result<(), StoreError> {
        let Some(remote) = session.remote.as_deref() else {
            return Err(StoreError::Invalid(format!(
                "session {} has no backend to be a copy of",
                session.id
            )));
        };
        self.write(|conn| {
            let tx = conn.transaction()?;
            let original: bool = tx
                .query_row(
                    "SELECT cached_at_ms IS NULL FROM sessions WHERE id = ?1",
                    [&session.id],
                    |row| row.get(0),
                )
                .optional()?
                .unwrap_or(false);
            if original {
                return Ok(());
            }
            // The old copy's lines leave, and its span of line ids is reset below, so the
            // search's id ranges cover only the new lines.
            tx.execute("DELETE FROM lines WHERE session_id = ?1", [&session.id])?;
            tx.execute(
                "INSERT INTO sessions (id, remote, user_id, title, mode, status, started_at_ms,
                    ended_at_ms, duration_ms, cost_usd, cached_at_ms)
                 VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11)
                 ON CONFLICT (id) DO UPDATE SET remote = excluded.remote,
                    user_id = excluded.user_id, title = excluded.title, mode = excluded.mode,
                    status = excluded.status, started_at_ms = excluded.started_at_ms,
                    ended_at_ms = excluded.ended_at_ms, duration_ms = excluded.duration_ms,
                    cost_usd = excluded.cost_usd, cached_at_ms = excluded.cached_at_ms,
                    first_line_id = NULL, last_line_id = NULL",
                params![
                    session.id,
                    remote,
                    session.user_id,
                    session.title,
                    session.mode,
                    session.status.as_str(),
                    session.started_at_ms,
                    session.ended_at_ms,
                    session.duration_ms,
                    session.cost_usd,
                    at_ms
                ],
            )?;
            {
                let mut insert = tx.prepare_cached(
                    "INSERT OR IGNORE INTO lines (session_id, item_id, seq, speaker, text,
                        started_ms, ended_ms, is_final, inaudible, interrupted, late)
                     VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, 1, ?8, ?9, ?10)",
                )?;
                for line in lines {
                    insert.execute(params![
                        session.id,
                        line.item_id,
                        line.seq,
                        speaker_str(line.speaker),
                        line.text,
                        i64::try_from(line.started_ms).unwrap_or(i64::MAX),
                        line.ended_ms
                            .map(|ms| i64::try_from(ms).unwrap_or(i64::MAX)),
                        line.inaudible,
                        line.interrupted,
                        line.late
                    ])?;
                }
            }
            tx.commit()
        })
    }

    /// Removes every copy of a backend's sessions (signing out: the next person at this
    /// computer must not read them). Returns how many were removed.
    pub fn forget_cached(&self) -> Result<u64, StoreError> {
        let removed = self.write(|conn| {
            let tx = conn.transaction()?;
            tx.execute(
                "DELETE FROM lines WHERE session_id IN
                    (SELECT id FROM sessions WHERE cached_at_ms IS NOT NULL)",
                [],
            )?;
            let removed = tx.execute("DELETE FROM sessions WHERE cached_at_ms IS NOT NULL", [])?;
            tx.commit()?;
            Ok(removed)
        })?;
        Ok(removed as u64)
    }
}

//! Transcript lines: recording them as the assembler changes them (final ones committed and
//! queued for sync before anything else happens to them), and reading them back.

use rusqlite::params;
use viva_realtime::{Line, LineStatus, TranscriptChange};

use super::{Store, count_at, now_ms};
use crate::error::StoreError;
use crate::model::{StoredLine, parse_speaker, speaker_str};
use crate::outbox::Refused;

/// Whether recording changed anything.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Recorded {
    Saved,
    /// Already final: a repeated final line changes nothing.
    Unchanged,
}

impl Store {
    /// Records a line change. A final line is committed (and queued for sync) before this
    /// returns; a partial one keeps only its latest words.
    pub fn record(&self, session_id: &str, line: &Line) -> Result<Recorded, StoreError> {
        let is_final = line.status == LineStatus::Final;
        let changed = self.write_with(is_final, |conn| {
            let tx = conn.transaction()?;
            let changed = upsert_line(&tx, session_id, line, is_final, now_ms())?;
            tx.commit()?;
            Ok(changed)
        });
        let changed = match changed {
            // The line's session is not in this store: say which.
            Err(StoreError::UnknownSession { .. }) => {
                return Err(StoreError::NoSuchSession(session_id.to_string()));
            }
            other => other?,
        };
        if !changed {
            return Ok(Recorded::Unchanged);
        }
        if is_final {
            self.inner.changed.notify_one();
        }
        Ok(Recorded::Saved)
    }

    /// Records many final lines in one transaction (an import, a transcript fetched from the
    /// backend). Lines already final are left as they are. Returns how many were new.
    pub fn record_many(&self, session_id: &str, lines: &[Line]) -> Result<usize, StoreError> {
        let saved = self.write(|conn| {
            let tx = conn.transaction()?;
            let now = now_ms();
            let mut saved = 0;
            for line in lines {
                if upsert_line(&tx, session_id, line, true, now)? {
                    saved += 1;
                }
            }
            tx.commit()?;
            Ok(saved)
        })?;
        if saved > 0 {
            self.inner.changed.notify_one();
        }
        Ok(saved)
    }

    /// Records one change from the transcript assembler.
    pub fn apply(&self, session_id: &str, change: &TranscriptChange) -> Result<(), StoreError> {
        match change {
            TranscriptChange::LineStarted(line)
            | TranscriptChange::LinePartial(line)
            | TranscriptChange::LineFinal(line) => self.record(session_id, line).map(|_| ()),
            TranscriptChange::LineRenumbered { item_id, seq } => {
                self.renumber(session_id, item_id, *seq)
            }
        }
    }

    /// A line moved to a new place in the conversation.
    pub fn renumber(&self, session_id: &str, item_id: &str, seq: u32) -> Result<(), StoreError> {
        self.write(|conn| {
            conn.execute(
                "UPDATE lines SET seq = ?3 WHERE session_id = ?1 AND item_id = ?2",
                params![session_id, item_id, seq],
            )
        })?;
        Ok(())
    }

    /// A session's lines in conversation order; with `finals_only` false, also the words of
    /// a line still being spoken.
    pub fn lines(
        &self,
        session_id: &str,
        finals_only: bool,
    ) -> Result<Vec<StoredLine>, StoreError> {
        self.read(|conn| {
            let mut select = conn.prepare(
                "SELECT item_id, seq, speaker, text, started_ms, ended_ms, is_final, inaudible,
                    interrupted, refused, late FROM lines WHERE session_id = ?1 AND (is_final OR NOT ?2)
                 ORDER BY seq, started_ms",
            )?;
            select
                .query_map(params![session_id, finals_only], line_row)?
                .collect()
        })
    }

    /// The lines of a session the backend refused, with its reasons, in conversation order.
    pub fn refused_lines(&self, session_id: &str) -> Result<Vec<Refused>, StoreError> {
        self.read(|conn| {
            let mut select = conn.prepare(
                "SELECT item_id, refused FROM lines
                 WHERE session_id = ?1 AND refused IS NOT NULL ORDER BY seq, item_id",
            )?;
            select
                .query_map([session_id], |row| {
                    Ok(Refused {
                        item_id: row.get(0)?,
                        reason: row.get(1)?,
                    })
                })?
                .collect()
        })
    }
}

/// Queues a final line for its session's backend (none for a session kept on this device,
/// nor for a copy of the backend's own).
pub(crate) const ENQUEUE_LINE: &str =
    "INSERT OR IGNORE INTO outbox (session_id, item_id, enqueued_ms)
    SELECT ?1, ?2, ?3 FROM sessions
    WHERE id = ?1 AND remote IS NOT NULL AND cached_at_ms IS NULL";

/// Writes a line unless it is final already (a final line never changes again, and partial
/// words never overwrite it); a line that became final is queued for sync in the same
/// transaction. Returns whether anything changed.
pub(super) fn upsert_line(
    tx: &rusqlite::Transaction<'_>,
    session_id: &str,
    line: &Line,
    is_final: bool,
    now_ms: i64,
) -> rusqlite::Result<bool> {
    let changed =
        tx.prepare_cached(
            "INSERT INTO lines (session_id, item_id, seq, speaker, text, started_ms,
                ended_ms, is_final, inaudible, interrupted)
             VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10)
             ON CONFLICT (session_id, item_id) DO UPDATE SET seq = excluded.seq,
                text = excluded.text, started_ms = excluded.started_ms,
                ended_ms = excluded.ended_ms, is_final = excluded.is_final,
                inaudible = excluded.inaudible, interrupted = excluded.interrupted
             WHERE NOT lines.is_final",
        )?
        .execute(params![
            session_id,
            line.item_id,
            line.seq,
            speaker_str(line.speaker),
            line.text,
            i64::try_from(line.started_ms).unwrap_or(i64::MAX),
            line.ended_ms
                .map(|ms| i64::try_from(ms).unwrap_or(i64::MAX)),
            is_final,
            line.inaudible,
            line.interrupted
        ])? > 0;
    if is_final && changed {
        tx.prepare_cached(ENQUEUE_LINE)?
            .execute(params![session_id, line.item_id, now_ms])?;
    }
    Ok(changed)
}

/// Makes the words of lines still being spoken final and cut off (empty ones are dropped:
/// nobody saw them), and queues them for sync.
pub(super) fn finish_partials(
    tx: &rusqlite::Transaction<'_>,
    session_id: &str,
) -> rusqlite::Result<()> {
    tx.execute(
        "DELETE FROM lines WHERE session_id = ?1 AND NOT is_final AND trim(text) = ''",
        [session_id],
    )?;
    tx.execute(
        "INSERT OR IGNORE INTO outbox (session_id, item_id, enqueued_ms)
         SELECT l.session_id, l.item_id, ?2 FROM lines l JOIN sessions s ON s.id = l.session_id
         WHERE l.session_id = ?1 AND NOT l.is_final AND s.remote IS NOT NULL
            AND s.cached_at_ms IS NULL",
        params![session_id, now_ms()],
    )?;
    tx.execute(
        "UPDATE lines SET is_final = 1, interrupted = 1 WHERE session_id = ?1 AND NOT is_final",
        [session_id],
    )?;
    Ok(())
}

pub(crate) fn line_row(row: &rusqlite::Row<'_>) -> rusqlite::Result<StoredLine> {
    Ok(StoredLine {
        item_id: row.get(0)?,
        seq: row.get(1)?,
        speaker: parse_speaker(&row.get::<_, String>(2)?),
        text: row.get(3)?,
        started_ms: count_at(row, 4)?,
        ended_ms: row
            .get::<_, Option<i64>>(5)?
            .map(|ms| u64::try_from(ms).unwrap_or(0)),
        is_final: row.get(6)?,
        inaudible: row.get(7)?,
        interrupted: row.get(8)?,
        refused: row.get(9)?,
        late: row.get(10)?,
    })
}

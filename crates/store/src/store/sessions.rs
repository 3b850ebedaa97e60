//! Sessions: beginning and ending one, and reading them with their sync state.

use rusqlite::{OptionalExtension, params};

use super::lines::finish_partials;
use super::{Store, count_at};
use crate::error::StoreError;
use crate::model::{
    Consent, Ending, NewSession, SessionList, SessionStatus, StoredSession, SyncFilter, SyncState,
};

impl Store {
    /// Starts recording a session (or resumes one this process recorded before).
    pub fn begin_session(&self, session: &NewSession) -> Result<(), StoreError> {
        let Some(lock) = self.take_live_lock(&session.id)? else {
            return Err(StoreError::Invalid(format!(
                "session {} is being recorded by another Viva",
                session.id
            )));
        };
        self.write(|conn| {
            conn.execute(
                "INSERT INTO sessions (id, remote, user_id, title, mode, status, started_at_ms,
                    consent_notice, consent_at_ms)
                 VALUES (?1, ?2, ?3, ?4, ?5, 'active', ?6, ?7, ?8)
                 ON CONFLICT (id) DO UPDATE SET status = 'active', ended_at_ms = NULL,
                    close_pending = 0,
                    consent_at_ms = coalesce(consent_at_ms, excluded.consent_at_ms),
                    consent_notice = coalesce(consent_notice, excluded.consent_notice)",
                params![
                    session.id,
                    session.remote,
                    session.user_id,
                    session.title,
                    session.mode,
                    session.started_at_ms,
                    session.consent.as_ref().map(|c| c.notice.as_str()),
                    session.consent.as_ref().map(|c| c.agreed_at_ms),
                ],
            )
        })?;
        self.hold_live_lock(&session.id, lock);
        Ok(())
    }

    /// Ends a session: words still being spoken become final (cut off), and the backend's
    /// row is queued to be closed.
    pub fn end_session(&self, session_id: &str, ending: &Ending) -> Result<(), StoreError> {
        let updated = self.write(|conn| {
            let tx = conn.transaction()?;
            finish_partials(&tx, session_id)?;
            let updated = tx.execute(
                "UPDATE sessions SET status = ?2, ended_at_ms = ?3, duration_ms = ?4,
                    cost_usd = ?5, close_pending = (remote IS NOT NULL), next_sync_ms = 0
                 WHERE id = ?1",
                params![
                    session_id,
                    ending.status.as_str(),
                    ending.ended_at_ms,
                    ending.duration_ms,
                    ending.cost_usd
                ],
            )?;
            tx.commit()?;
            Ok(updated)
        })?;
        if updated == 0 {
            return Err(StoreError::NoSuchSession(session_id.to_string()));
        }
        self.release_live_lock(session_id);
        self.inner.changed.notify_one();
        Ok(())
    }

    /// One session, with its sync state.
    pub fn session(&self, session_id: &str) -> Result<StoredSession, StoreError> {
        self.read(|conn| {
            conn.query_row(
                &format!("{SESSION_SELECT} WHERE s.id = ?1"),
                [session_id],
                session_row,
            )
            .optional()
        })?
        .ok_or_else(|| StoreError::NoSuchSession(session_id.to_string()))
    }

    /// Sessions, newest first.
    pub fn sessions(&self, limit: u32, offset: u32) -> Result<Vec<StoredSession>, StoreError> {
        self.read(|conn| {
            let mut select = conn.prepare(&format!(
                "{SESSION_SELECT} ORDER BY s.started_at_ms DESC LIMIT ?1 OFFSET ?2"
            ))?;
            select
                .query_map(params![limit, offset], session_row)?
                .collect()
        })
    }

    /// Sessions matching `query`, one page, with how many match in all.
    pub fn list(&self, query: &SessionList) -> Result<(Vec<StoredSession>, u64), StoreError> {
        let filter = "WHERE (?1 IS NULL OR s.status = ?1)
            AND (?2 IS NULL OR instr(lower(s.title), lower(?2)) > 0)
            AND (?3 IS NULL OR s.started_at_ms >= ?3)
            AND (?4 IS NULL OR s.started_at_ms < ?4)
            AND (?5 IS NULL
                OR (?5 = 'local_only' AND s.remote IS NULL)
                OR (?5 = 'synced' AND s.remote IS NOT NULL AND NOT s.close_pending
                    AND s.cached_at_ms IS NULL
                    AND NOT EXISTS (SELECT 1 FROM outbox o WHERE o.session_id = s.id))
                OR (?5 = 'cached' AND s.cached_at_ms IS NOT NULL)
                OR (?5 = 'unsynced' AND s.remote IS NOT NULL AND (s.close_pending
                    OR EXISTS (SELECT 1 FROM outbox o WHERE o.session_id = s.id))))";
        let sync = query.sync.map(SyncFilter::as_str);
        let order = if query.oldest_first { "ASC" } else { "DESC" };
        self.read(|conn| {
            let args = params![
                query.status.map(SessionStatus::as_str),
                query.title_contains,
                query.from_ms,
                query.before_ms,
                sync,
            ];
            let total: i64 = conn.query_row(
                &format!("SELECT COUNT(*) FROM sessions s {filter}"),
                args,
                |row| row.get(0),
            )?;
            let mut select = conn.prepare(&format!(
                "{SESSION_SELECT} {filter} ORDER BY s.started_at_ms {order} LIMIT ?6 OFFSET ?7"
            ))?;
            let rows = select
                .query_map(
                    params![
                        query.status.map(SessionStatus::as_str),
                        query.title_contains,
                        query.from_ms,
                        query.before_ms,
                        sync,
                        query.limit,
                        query.offset
                    ],
                    session_row,
                )?
                .collect::<rusqlite::Result<Vec<_>>>()?;
            Ok((rows, u64::try_from(total).unwrap_or(0)))
        })
    }

    /// How many sessions are kept, and how many final lines wait to go to a backend.
    pub fn totals(&self) -> Result<(u64, u64), StoreError> {
        self.read(|conn| {
            conn.query_row(
                "SELECT (SELECT COUNT(*) FROM sessions), (SELECT COUNT(*) FROM outbox)",
                [],
                |row| Ok((count_at(row, 0)?, count_at(row, 1)?)),
            )
        })
    }
}

pub(crate) const SESSION_SELECT: &str = "SELECT s.id, s.remote, s.user_id, s.title, s.mode,
    s.status, s.started_at_ms, s.ended_at_ms, s.duration_ms, s.cost_usd,
    (SELECT COUNT(*) FROM lines l WHERE l.session_id = s.id AND l.is_final),
    (SELECT COUNT(*) FROM outbox o WHERE o.session_id = s.id), s.close_pending, s.sync_error,
    s.cached_at_ms,
    (SELECT COUNT(*) FROM lines l WHERE l.session_id = s.id AND l.refused IS NOT NULL),
    s.consent_notice, s.consent_at_ms
    FROM sessions s";

pub(crate) fn session_row(row: &rusqlite::Row<'_>) -> rusqlite::Result<StoredSession> {
    let remote: Option<String> = row.get(1)?;
    let pending = count_at(row, 11)?;
    let close_pending: bool = row.get(12)?;
    let error: Option<String> = row.get(13)?;
    let cached_at_ms: Option<i64> = row.get(14)?;
    let sync = match (&remote, error, cached_at_ms) {
        (_, _, Some(at_ms)) => SyncState::Cached { at_ms },
        (None, _, _) => SyncState::LocalOnly,
        (Some(_), Some(reason), _) if pending > 0 || close_pending => SyncState::Failing {
            lines: pending,
            reason,
        },
        (Some(_), _, _) if pending > 0 || close_pending => SyncState::Pending { lines: pending },
        (Some(_), _, _) => SyncState::Synced,
    };
    Ok(StoredSession {
        id: row.get(0)?,
        remote,
        user_id: row.get(2)?,
        title: row.get(3)?,
        mode: row.get(4)?,
        status: SessionStatus::parse(&row.get::<_, String>(5)?),
        started_at_ms: row.get(6)?,
        ended_at_ms: row.get(7)?,
        duration_ms: row.get(8)?,
        cost_usd: row.get(9)?,
        lines: count_at(row, 10)?,
        sync,
        refused_lines: count_at(row, 15)?,
        consent: match (row.get::<_, Option<String>>(16)?, row.get(17)?) {
            (Some(notice), Some(agreed_at_ms)) => Some(Consent {
                notice,
                agreed_at_ms,
            }),
            _ => None,
        },
    })
}

//! The outbox: final lines and session closings waiting for the backend, sent in batches
//! (at most [`MAX_BATCH`] lines, or whatever has waited [`LINGER`]), retried with exponential
//! backoff, and resumed from the file after a restart. The store does not talk to the network:
//! the caller's [`Remote`] does.

use std::future::Future;
use std::time::Duration;

use rusqlite::params;

use crate::error::StoreError;
use crate::model::{Ending, SessionStatus, StoredLine};
use crate::store::{Store, line_row};

/// The most lines in one upload.
pub const MAX_BATCH: usize = 100;
/// How long a line may wait for others to share its upload.
pub const LINGER: Duration = Duration::from_secs(1);
/// The first retry waits this long; each failure doubles it, up to [`MAX_BACKOFF`].
pub const FIRST_BACKOFF: Duration = Duration::from_secs(1);
pub const MAX_BACKOFF: Duration = Duration::from_secs(60);

/// Whose sessions a syncer sends: one backend, one signed-in user.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SyncTarget {
    /// The backend's base URL, as recorded with each session.
    pub remote: String,
    pub user_id: String,
}

/// What goes out next.
#[derive(Debug, Clone, PartialEq)]
pub enum Work {
    /// Lines to upload, in conversation order.
    Upload {
        session_id: String,
        lines: Vec<StoredLine>,
    },
    /// Every line of an ended session is out: close its row.
    Close { session_id: String, ending: Ending },
    /// Nothing ready before this time (unix ms).
    WaitUntil(i64),
    /// Nothing to do until something changes.
    Idle,
}

/// A line the backend refused, and its reason.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Refused {
    pub item_id: String,
    pub reason: String,
}

/// Sends outbox work to the backend. Errors are the reason shown as the sync state.
pub trait Remote: Send + Sync + 'static {
    /// Uploads lines; `Ok` lists those the backend refused (the rest are stored). A refused
    /// line is parked with its reason and never blocks the others.
    fn upload(
        &self,
        session_id: &str,
        lines: &[StoredLine],
    ) -> impl Future<Output = Result<Vec<Refused>, String>> + Send;

    fn close(
        &self,
        session_id: &str,
        ending: &Ending,
    ) -> impl Future<Output = Result<(), String>> + Send;
}

/// How long to wait after `attempts` failures in a row (with up to a fifth of jitter, so
/// clients that failed together do not retry together).
pub fn backoff(attempts: u32) -> Duration {
    let doublings = attempts.saturating_sub(1).min(16);
    let base = FIRST_BACKOFF
        .saturating_mul(1 << doublings)
        .min(MAX_BACKOFF);
    let jitter = base.mul_f64(fastrand::f64() * 0.2);
    base.saturating_sub(jitter)
}

fn now_ms() -> i64 {
    chrono::Utc::now().timestamp_millis()
}

impl Store {
    /// The next piece of work for `target` at `now_ms`.
    pub fn next_work(&self, target: &SyncTarget, now_ms: i64) -> Result<Work, StoreError> {
        let linger = i64::try_from(LINGER.as_millis()).unwrap_or(1000);
        self.read(|conn| {
            // The session whose oldest waiting line is oldest, among those not backing off.
            let candidate: Option<(String, i64, i64, bool, i64, bool)> = conn
                .query_row(
                    "SELECT s.id, s.next_sync_ms,
                        COALESCE((SELECT MIN(enqueued_ms) FROM outbox o WHERE o.session_id = s.id), ?3),
                        (SELECT COUNT(*) FROM outbox o WHERE o.session_id = s.id) > 0,
                        (SELECT COUNT(*) FROM outbox o WHERE o.session_id = s.id),
                        s.status = 'active'
                     FROM sessions s
                     WHERE s.remote = ?1 AND s.user_id = ?2
                       AND (s.close_pending OR EXISTS (SELECT 1 FROM outbox o WHERE o.session_id = s.id))
                     ORDER BY MAX(s.next_sync_ms, COALESCE((SELECT MIN(enqueued_ms) FROM outbox o
                        WHERE o.session_id = s.id), 0))
                     LIMIT 1",
                    params![target.remote, target.user_id, now_ms],
                    |row| {
                        Ok((
                            row.get(0)?,
                            row.get(1)?,
                            row.get(2)?,
                            row.get(3)?,
                            row.get(4)?,
                            row.get(5)?,
                        ))
                    },
                )
                .map(Some)
                .or_else(|e| match e {
                    rusqlite::Error::QueryReturnedNoRows => Ok(None),
                    other => Err(other),
                })?;
            let Some((session_id, next_sync_ms, oldest_ms, has_lines, waiting, active)) =
                candidate
            else {
                return Ok(Work::Idle);
            };
            if next_sync_ms > now_ms {
                return Ok(Work::WaitUntil(next_sync_ms));
            }
            if has_lines {
                let full = usize::try_from(waiting).unwrap_or(usize::MAX) >= MAX_BATCH;
                // A live session's lines wait for company; an ended one's go at once.
                if active && !full && oldest_ms + linger > now_ms {
                    return Ok(Work::WaitUntil(oldest_ms + linger));
                }
                let mut select = conn.prepare(
                    "SELECT l.item_id, l.seq, l.speaker, l.text, l.started_ms, l.ended_ms,
                        l.is_final, l.inaudible, l.interrupted, l.refused, l.late
                     FROM outbox o JOIN lines l
                        ON l.session_id = o.session_id AND l.item_id = o.item_id
                     WHERE o.session_id = ?1 ORDER BY l.seq LIMIT ?2",
                )?;
                let lines = select
                    .query_map(params![session_id, MAX_BATCH as i64], line_row)?
                    .collect::<rusqlite::Result<Vec<_>>>()?;
                return Ok(Work::Upload { session_id, lines });
            }
            let ending = conn.query_row(
                "SELECT status, COALESCE(ended_at_ms, started_at_ms), COALESCE(duration_ms, 0),
                    cost_usd FROM sessions WHERE id = ?1",
                [&session_id],
                |row| {
                    Ok(Ending {
                        status: SessionStatus::parse(&row.get::<_, String>(0)?),
                        ended_at_ms: row.get(1)?,
                        duration_ms: row.get(2)?,
                        cost_usd: row.get(3)?,
                    })
                },
            )?;
            Ok(Work::Close { session_id, ending })
        })
    }

    /// The backend answered for these lines: they leave the outbox. Those it refused stay on
    /// this computer, marked with its reason.
    pub fn uploaded(
        &self,
        session_id: &str,
        item_ids: &[String],
        refused: &[Refused],
    ) -> Result<(), StoreError> {
        if !refused.is_empty() {
            tracing::warn!(session = %session_id, lines = refused.len(),
                "the backend refused lines; they are kept on this computer");
        }
        self.write(|conn| {
            let tx = conn.transaction()?;
            {
                let mut delete =
                    tx.prepare("DELETE FROM outbox WHERE session_id = ?1 AND item_id = ?2")?;
                for item_id in item_ids {
                    delete.execute(params![session_id, item_id])?;
                }
                let mut park = tx.prepare(
                    "UPDATE lines SET refused = ?3 WHERE session_id = ?1 AND item_id = ?2",
                )?;
                for line in refused {
                    park.execute(params![session_id, line.item_id, line.reason])?;
                }
            }
            tx.execute(
                "UPDATE sessions SET sync_error = NULL, sync_attempts = 0, next_sync_ms = 0
                 WHERE id = ?1",
                [session_id],
            )?;
            tx.commit()
        })
    }

    /// The backend's row is closed.
    pub fn closed_remotely(&self, session_id: &str) -> Result<(), StoreError> {
        self.write(|conn| {
            conn.execute(
                "UPDATE sessions SET close_pending = 0, sync_error = NULL, sync_attempts = 0,
                    next_sync_ms = 0 WHERE id = ?1",
                [session_id],
            )
        })?;
        Ok(())
    }

    /// An attempt failed: remember why and when to try again.
    pub fn sync_failed(
        &self,
        session_id: &str,
        reason: &str,
        now_ms: i64,
    ) -> Result<(), StoreError> {
        self.write(|conn| {
            let attempts: u32 = conn.query_row(
                "SELECT sync_attempts + 1 FROM sessions WHERE id = ?1",
                [session_id],
                |row| row.get(0),
            )?;
            let wait = i64::try_from(backoff(attempts).as_millis()).unwrap_or(i64::MAX);
            conn.execute(
                "UPDATE sessions SET sync_error = ?2, sync_attempts = ?3, next_sync_ms = ?4
                 WHERE id = ?1",
                params![session_id, reason, attempts, now_ms.saturating_add(wait)],
            )
        })?;
        Ok(())
    }

    /// Retry every failing session now (the network came back, the user signed in again).
    pub fn retry_now(&self) -> Result<(), StoreError> {
        self.write(|conn| conn.execute("UPDATE sessions SET next_sync_ms = 0", []))?;
        self.inner.changed.notify_one();
        Ok(())
    }
}

/// A running syncer; dropping it stops it.
#[derive(Debug)]
pub struct Syncer {
    task: tokio::task::JoinHandle<()>,
}

impl Drop for Syncer {
    fn drop(&mut self) {
        self.task.abort();
    }
}

/// Runs `store`'s outbox for `target` through `remote` until dropped. Must be called inside
/// a tokio runtime.
pub fn spawn_syncer<R: Remote>(store: Store, target: SyncTarget, remote: R) -> Syncer {
    Syncer {
        task: tokio::spawn(run(store, target, remote)),
    }
}

async fn blocking<T: Send + 'static>(
    store: &Store,
    work: impl FnOnce(&Store) -> Result<T, StoreError> + Send + 'static,
) -> Result<T, StoreError> {
    let store = store.clone();
    tokio::task::spawn_blocking(move || work(&store))
        .await
        .map_err(|e| StoreError::Sqlite(format!("the store task stopped: {e}")))?
}

async fn run<R: Remote>(store: Store, target: SyncTarget, remote: R) {
    loop {
        let work = {
            let target = target.clone();
            blocking(&store, move |store| store.next_work(&target, now_ms())).await
        };
        match work {
            Ok(Work::Upload { session_id, lines }) => {
                let outcome = remote.upload(&session_id, &lines).await;
                let recorded = blocking(&store, move |store| match outcome {
                    Ok(refused) => {
                        let ids: Vec<String> = lines.into_iter().map(|l| l.item_id).collect();
                        store.uploaded(&session_id, &ids, &refused)
                    }
                    Err(reason) => {
                        tracing::warn!(session = %session_id, %reason, "transcript upload failed");
                        store.sync_failed(&session_id, &reason, now_ms())
                    }
                })
                .await;
                if let Err(error) = recorded {
                    tracing::error!(%error, "cannot record the outbox's progress");
                    tokio::time::sleep(MAX_BACKOFF).await;
                }
            }
            Ok(Work::Close { session_id, ending }) => {
                let outcome = remote.close(&session_id, &ending).await;
                let recorded = blocking(&store, move |store| match outcome {
                    Ok(()) => store.closed_remotely(&session_id),
                    Err(reason) => {
                        tracing::warn!(session = %session_id, %reason, "closing the session failed");
                        store.sync_failed(&session_id, &reason, now_ms())
                    }
                })
                .await;
                if let Err(error) = recorded {
                    tracing::error!(%error, "cannot record the outbox's progress");
                    tokio::time::sleep(MAX_BACKOFF).await;
                }
            }
            Ok(Work::WaitUntil(at_ms)) => {
                let wait = u64::try_from(at_ms.saturating_sub(now_ms())).unwrap_or(0);
                tokio::select! {
                    () = tokio::time::sleep(Duration::from_millis(wait)) => {}
                    () = store.inner.changed.notified() => {}
                }
            }
            Ok(Work::Idle) => store.inner.changed.notified().await,
            Err(error) => {
                tracing::error!(%error, "cannot read the outbox");
                tokio::select! {
                    () = tokio::time::sleep(MAX_BACKOFF) => {}
                    () = store.inner.changed.notified() => {}
                }
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn backoff_doubles_from_one_second_up_to_a_minute() {
        for (attempts, base) in [(1, 1.0), (2, 2.0), (3, 4.0), (7, 60.0), (40, 60.0)] {
            let wait = backoff(attempts).as_secs_f64();
            assert!(
                wait <= base && wait >= base * 0.8,
                "attempt {attempts}: {wait}"
            );
        }
    }
}

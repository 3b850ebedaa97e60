//! Opening the file: checking it, moving a damaged one aside (and salvaging what it holds), and
//! recovering sessions a crash left live.

use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};

use rusqlite::{Connection, params};

use super::lines::finish_partials;
use super::{Inner, Store, Writer, spawn_writer_thread};
use crate::error::StoreError;
use crate::open::{move_aside, open_checked, salvage};
use crate::schema;

/// What opening the store found and did.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct OpenReport {
    /// Sessions a crash had left live; they are now `interrupted`, with their lines kept
    /// and queued for sync.
    pub interrupted: Vec<String>,
    /// The file was damaged and was moved aside.
    pub moved_aside: Option<MovedAside>,
}

/// A damaged database that was moved aside, and what could be saved from it.
#[derive(Debug, Clone, PartialEq)]
pub struct MovedAside {
    pub path: PathBuf,
    pub reason: String,
    pub sessions_recovered: u64,
    pub lines_recovered: u64,
}

impl MovedAside {
    /// The sentence to show the user.
    pub fn message(&self) -> String {
        format!(
            "The transcript database was damaged ({}). It was moved to {} and a new one was \
             started; {} sessions and {} lines were recovered from it.",
            self.reason,
            self.path.display(),
            self.sessions_recovered,
            self.lines_recovered
        )
    }
}

impl Store {
    /// Opens (creating if needed) the store at `path`. A damaged file is moved aside, what
    /// can be read from it is copied into a new one, and the report says so. Sessions left
    /// live by a crash become `interrupted`.
    pub fn open(path: &Path) -> Result<(Self, OpenReport), StoreError> {
        crate::open::prepare_private(path)?;
        let mut report = OpenReport::default();
        let writer = match open_checked(path) {
            Ok(conn) => conn,
            Err(StoreError::Corrupt { detail, .. }) => {
                let aside = move_aside(path)?;
                crate::open::prepare_private(path)?;
                tracing::error!(damaged = %aside.display(), reason = %detail,
                    "the transcript database was damaged and was moved aside");
                let mut fresh = open_checked(path)?;
                let (sessions_recovered, lines_recovered) = salvage(&aside, &mut fresh);
                report.moved_aside = Some(MovedAside {
                    path: aside,
                    reason: detail,
                    sessions_recovered,
                    lines_recovered,
                });
                fresh
            }
            Err(other) => return Err(other),
        };
        let reader = Connection::open(path).map_err(|e| StoreError::from_sqlite(path, e))?;
        schema::configure(&reader).map_err(|e| StoreError::from_sqlite(path, e))?;
        let store = Self {
            inner: Arc::new(Inner {
                path: path.to_path_buf(),
                writer: Mutex::new(Writer {
                    conn: writer,
                    durable: true,
                }),
                jobs: spawn_writer_thread().map_err(|e| StoreError::Io {
                    path: path.to_path_buf(),
                    detail: format!("cannot start the writer thread: {e}"),
                })?,
                reader: Mutex::new(reader),
                changed: tokio::sync::Notify::new(),
                live: Mutex::new(HashMap::new()),
            }),
        };
        report.interrupted = store.recover_interrupted()?;
        Ok((store, report))
    }

    /// Sessions left `active` with no live process behind them become `interrupted`: the
    /// words of lines being spoken become final (cut off), everything is queued for sync and
    /// the backend's row is to be closed.
    fn recover_interrupted(&self) -> Result<Vec<String>, StoreError> {
        let active: Vec<String> = self.write(|conn| {
            let mut select = conn.prepare(
                "SELECT id FROM sessions WHERE status = 'active' AND cached_at_ms IS NULL",
            )?;
            select
                .query_map([], |row| row.get(0))?
                .collect::<rusqlite::Result<_>>()
        })?;
        let mut interrupted = Vec::new();
        for id in active {
            let Some(lock) = self.take_live_lock(&id)? else {
                continue;
            };
            self.write(|conn| {
                let tx = conn.transaction()?;
                finish_partials(&tx, &id)?;
                let (started, last_ms): (i64, Option<i64>) = tx.query_row(
                    "SELECT s.started_at_ms, (SELECT MAX(COALESCE(ended_ms, started_ms))
                        FROM lines WHERE session_id = s.id) FROM sessions s WHERE s.id = ?1",
                    [&id],
                    |row| Ok((row.get(0)?, row.get(1)?)),
                )?;
                let duration = last_ms.unwrap_or(0).max(0);
                tx.execute(
                    "UPDATE sessions SET status = 'interrupted', ended_at_ms = ?2,
                        duration_ms = ?3, close_pending = (remote IS NOT NULL),
                        next_sync_ms = 0
                     WHERE id = ?1",
                    params![id, started + duration, duration],
                )?;
                tx.commit()
            })?;
            drop(lock);
            let _ = std::fs::remove_file(self.lock_path(&id));
            tracing::warn!(session = %id, "a session left live by a crash is now interrupted");
            interrupted.push(id);
        }
        if !interrupted.is_empty() {
            self.inner.changed.notify_one();
        }
        Ok(interrupted)
    }
}

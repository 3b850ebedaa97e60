//! The store handle: opening the file (checking it, moving a damaged one aside, recovering
//! sessions a crash left live), and recording sessions and their lines.

use std::collections::HashMap;
use std::fs::File;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};

use rusqlite::{Connection, OptionalExtension, params};
use viva_realtime::{Line, LineStatus, TranscriptChange};

use crate::error::StoreError;
use crate::model::{
    Ending, NewSession, SessionList, SessionStatus, StoredLine, StoredSession, SyncFilter,
    SyncState, parse_speaker, speaker_str,
};
use crate::open::{damage_marker, move_aside, open_checked, salvage, sidecar};
use crate::outbox::Refused;
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

/// Whether recording changed anything.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Recorded {
    Saved,
    /// Already final: a repeated final line changes nothing.
    Unchanged,
}

pub(crate) struct Inner {
    pub(crate) path: PathBuf,
    pub(crate) writer: Mutex<Writer>,
    /// Jobs for the writer thread ([`Store::on_writer`]), in the order they were sent.
    jobs: tokio::sync::mpsc::Sender<Job>,
    /// Searches and lists read here, so a slow search never delays a line being written.
    pub(crate) reader: Mutex<Connection>,
    /// Woken after each write the outbox cares about.
    pub(crate) changed: tokio::sync::Notify,
    /// A lock file held per session live in this process, so another process opening the
    /// same file does not take it for a crashed one.
    live: Mutex<HashMap<String, (PathBuf, File)>>,
}

/// The write connection and whether its commits are currently fsync'd.
pub(crate) struct Writer {
    conn: Connection,
    durable: bool,
}

impl Writer {
    /// Final lines are fsync'd before they are shown (`synchronous=FULL`); the words of a line
    /// still being spoken change several times a second and are not (`NORMAL`: in WAL mode a
    /// commit then survives the app crashing, and the next durable commit's fsync covers it).
    fn durable(&mut self, durable: bool) -> rusqlite::Result<&mut Connection> {
        if self.durable != durable {
            self.conn.pragma_update(
                None,
                "synchronous",
                if durable { "FULL" } else { "NORMAL" },
            )?;
            self.durable = durable;
        }
        Ok(&mut self.conn)
    }
}

type Job = Box<dyn FnOnce() + Send>;

/// Runs jobs one after another on a thread of its own, so an fsync never holds up an async
/// runtime's worker (which would stall the call's event loop beside it).
fn spawn_writer_thread() -> Result<tokio::sync::mpsc::Sender<Job>, std::io::Error> {
    let (jobs, mut queue) = tokio::sync::mpsc::channel::<Job>(256);
    std::thread::Builder::new()
        .name("viva-store-writer".into())
        .spawn(move || {
            while let Some(job) = queue.blocking_recv() {
                job();
            }
        })?;
    Ok(jobs)
}

/// The local store; cheap to clone, shareable across threads. Every call blocks on SQLite
/// (a commit is one fsync): async callers run it off their executor's hot path.
#[derive(Clone)]
pub struct Store {
    pub(crate) inner: Arc<Inner>,
}

impl std::fmt::Debug for Store {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Store")
            .field("path", &self.inner.path)
            .finish_non_exhaustive()
    }
}

fn now_ms() -> i64 {
    chrono::Utc::now().timestamp_millis()
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

    /// The file this store lives in.
    pub fn path(&self) -> &Path {
        &self.inner.path
    }

    pub(crate) fn sqlite(&self, error: rusqlite::Error) -> StoreError {
        let error = StoreError::from_sqlite(&self.inner.path, error);
        if error.is_corrupt() {
            tracing::error!(%error, "damage found in the transcript database");
            let _ = std::fs::write(damage_marker(&self.inner.path), b"");
        }
        error
    }

    /// A durable write: committed and fsync'd when this returns.
    pub(crate) fn write<T>(
        &self,
        work: impl FnOnce(&mut Connection) -> rusqlite::Result<T>,
    ) -> Result<T, StoreError> {
        self.write_with(true, work)
    }

    fn write_with<T>(
        &self,
        durable: bool,
        work: impl FnOnce(&mut Connection) -> rusqlite::Result<T>,
    ) -> Result<T, StoreError> {
        let mut writer = self.inner.writer.lock().map_err(|_| StoreError::Poisoned)?;
        writer
            .durable(durable)
            .and_then(work)
            .map_err(|e| self.sqlite(e))
    }

    /// Runs `work` on the store's writer thread and waits for it without blocking the caller's
    /// async runtime. Jobs run in the order they are sent (a line's partial words before its
    /// final ones). Async code calls the store through this, never directly.
    ///
    /// # Errors
    /// [`StoreError::Poisoned`] when the writer thread is gone (it panicked).
    pub async fn on_writer<T: Send + 'static>(
        &self,
        work: impl FnOnce(&Store) -> Result<T, StoreError> + Send + 'static,
    ) -> Result<T, StoreError> {
        let (reply, answer) = tokio::sync::oneshot::channel();
        let store = self.clone();
        let job: Job = Box::new(move || {
            let _ = reply.send(work(&store));
        });
        self.inner
            .jobs
            .send(job)
            .await
            .map_err(|_| StoreError::Poisoned)?;
        answer.await.map_err(|_| StoreError::Poisoned)?
    }

    pub(crate) fn read<T>(
        &self,
        work: impl FnOnce(&Connection) -> rusqlite::Result<T>,
    ) -> Result<T, StoreError> {
        let conn = self.inner.reader.lock().map_err(|_| StoreError::Poisoned)?;
        work(&conn).map_err(|e| self.sqlite(e))
    }

    fn lock_path(&self, session_id: &str) -> PathBuf {
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
    fn take_live_lock(&self, session_id: &str) -> Result<Option<File>, StoreError> {
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
                "INSERT INTO sessions (id, remote, user_id, title, mode, status, started_at_ms)
                 VALUES (?1, ?2, ?3, ?4, ?5, 'active', ?6)
                 ON CONFLICT (id) DO UPDATE SET status = 'active', ended_at_ms = NULL,
                    close_pending = 0",
                params![
                    session.id,
                    session.remote,
                    session.user_id,
                    session.title,
                    session.mode,
                    session.started_at_ms
                ],
            )
        })?;
        if let Ok(mut live) = self.inner.live.lock() {
            live.insert(session.id.clone(), (self.lock_path(&session.id), lock));
        }
        Ok(())
    }

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
            Err(StoreError::Sqlite(detail)) if detail.contains("FOREIGN KEY") => {
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
        if let Ok(mut live) = self.inner.live.lock()
            && let Some((path, lock)) = live.remove(session_id)
        {
            drop(lock);
            let _ = std::fs::remove_file(path);
        }
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

    /// A setting, `None` when never set.
    pub fn setting(&self, key: &str) -> Result<Option<String>, StoreError> {
        self.read(|conn| {
            conn.query_row("SELECT value FROM settings WHERE key = ?1", [key], |row| {
                row.get(0)
            })
            .optional()
        })
    }

    pub fn set_setting(&self, key: &str, value: &str) -> Result<(), StoreError> {
        self.write(|conn| {
            conn.execute(
                "INSERT INTO settings (key, value) VALUES (?1, ?2)
                 ON CONFLICT (key) DO UPDATE SET value = excluded.value",
                [key, value],
            )
        })?;
        Ok(())
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
fn upsert_line(
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
fn finish_partials(tx: &rusqlite::Transaction<'_>, session_id: &str) -> rusqlite::Result<()> {
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

pub(crate) const SESSION_SELECT: &str = "SELECT s.id, s.remote, s.user_id, s.title, s.mode,
    s.status, s.started_at_ms, s.ended_at_ms, s.duration_ms, s.cost_usd,
    (SELECT COUNT(*) FROM lines l WHERE l.session_id = s.id AND l.is_final),
    (SELECT COUNT(*) FROM outbox o WHERE o.session_id = s.id), s.close_pending, s.sync_error,
    s.cached_at_ms,
    (SELECT COUNT(*) FROM lines l WHERE l.session_id = s.id AND l.refused IS NOT NULL)
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
    })
}

/// A non-negative integer column (negative values, which Viva never writes, read as 0).
pub(crate) fn count_at(row: &rusqlite::Row<'_>, index: usize) -> rusqlite::Result<u64> {
    Ok(u64::try_from(row.get::<_, i64>(index)?).unwrap_or(0))
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

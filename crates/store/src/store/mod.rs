//! The store handle: the two connections (one writer, on a thread of its own, and one reader),
//! and the ways in. What it does is split by concern, each an `impl Store` of its own:
//! [`recovery`] (opening, moving a damaged file aside, recovering crashed sessions),
//! [`live_lock`] (the lock file held per session live in this process), [`sessions`],
//! [`lines`], [`cached`] (copies of a backend's sessions) and [`settings`].

use std::collections::HashMap;
use std::fs::File;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};

use rusqlite::Connection;

use crate::error::StoreError;
use crate::open::damage_marker;

mod cached;
mod lines;
mod live_lock;
mod recovery;
mod sessions;
mod settings;

pub use lines::Recorded;
pub(crate) use lines::{ENQUEUE_LINE, line_row};
pub use recovery::{MovedAside, OpenReport};

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
}

/// A non-negative integer column (negative values, which Viva never writes, read as 0).
pub(crate) fn count_at(row: &rusqlite::Row<'_>, index: usize) -> rusqlite::Result<u64> {
    Ok(u64::try_from(row.get::<_, i64>(index)?).unwrap_or(0))
}

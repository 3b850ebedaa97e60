//! Opening the database file safely: owner-only permissions, an integrity check, moving a
//! damaged file aside and salvaging what can still be read from it.

use std::path::{Path, PathBuf};

use rusqlite::{Connection, params};

use crate::error::StoreError;
use crate::schema;
use crate::store::ENQUEUE_LINE;

fn now_ms() -> i64 {
    chrono::Utc::now().timestamp_millis()
}

/// Opens the file, checks it and brings its schema up to date.
pub(crate) fn open_checked(path: &Path) -> Result<Connection, StoreError> {
    let sqlite = |e| StoreError::from_sqlite(path, e);
    let size = std::fs::metadata(path).map_or(0, |m| m.len());
    let suspect = damage_marker(path).exists();
    let mut conn = Connection::open(path).map_err(sqlite)?;
    schema::configure(&conn).map_err(sqlite)?;
    // quick_check reads every page once: it finds damage inside the file rather than at the
    // first unlucky read later. That takes about 8 ms per MiB here, so a big file checks only
    // its small tables at launch; damage met later in the lines is reported to the caller,
    // marks the file, and the next launch checks all of it.
    let checks: &[&str] = if size <= FULL_CHECK_MAX_BYTES || suspect {
        &["PRAGMA quick_check(1)"]
    } else {
        &[
            "PRAGMA quick_check(sessions)",
            "PRAGMA quick_check(outbox)",
            "PRAGMA quick_check(settings)",
        ]
    };
    for check in checks {
        let verdict: String = conn
            .query_row(check, [], |row| row.get(0))
            .map_err(sqlite)?;
        if verdict != "ok" {
            return Err(StoreError::Corrupt {
                path: path.to_path_buf(),
                detail: verdict,
            });
        }
    }
    let _ = std::fs::remove_file(damage_marker(path));
    match schema::migrate(&mut conn).map_err(sqlite)? {
        Ok(()) => Ok(conn),
        Err(found) => Err(StoreError::TooNew {
            path: path.to_path_buf(),
            found,
            known: i64::try_from(schema::MIGRATIONS.len()).unwrap_or(i64::MAX),
        }),
    }
}

/// Files up to this size are checked whole at every launch (about 130 ms at this size).
const FULL_CHECK_MAX_BYTES: u64 = 16 * 1024 * 1024;

/// Left next to a file in which damage was met, so the next launch checks all of it.
pub(crate) fn damage_marker(path: &Path) -> PathBuf {
    sidecar(path, ".damaged")
}

pub(crate) fn sidecar(path: &Path, suffix: &str) -> PathBuf {
    let mut name = path.as_os_str().to_owned();
    name.push(suffix);
    PathBuf::from(name)
}

/// Renames the database and its WAL and shared-memory files to `<name>.damaged-<time>`.
pub(crate) fn move_aside(path: &Path) -> Result<PathBuf, StoreError> {
    let stamp = chrono::Utc::now().format("%Y%m%dT%H%M%S%.3fZ");
    let aside = sidecar(path, &format!(".damaged-{stamp}"));
    std::fs::rename(path, &aside).map_err(|source| StoreError::MoveAside {
        path: path.to_path_buf(),
        source,
    })?;
    for suffix in ["-wal", "-shm"] {
        let from = sidecar(path, suffix);
        if from.exists() {
            let to = sidecar(&aside, suffix);
            std::fs::rename(&from, &to).map_err(|source| StoreError::MoveAside {
                path: from.clone(),
                source,
            })?;
        }
    }
    Ok(aside)
}

/// Copies whatever sessions and lines can still be read from a damaged file. Reading stops
/// at the first unreadable row of each table; everything before it is kept.
pub(crate) fn salvage(damaged: &Path, into: &mut Connection) -> (u64, u64) {
    let Ok(old) = Connection::open_with_flags(damaged, rusqlite::OpenFlags::SQLITE_OPEN_READ_ONLY)
    else {
        return (0, 0);
    };
    let Ok(tx) = into.transaction() else {
        return (0, 0);
    };
    let mut sessions = 0;
    let mut lines = 0;
    if let Ok(mut select) = old.prepare(
        "SELECT id, remote, user_id, title, mode, status, started_at_ms, ended_at_ms,
                duration_ms, cost_usd, close_pending, cached_at_ms FROM sessions",
    ) && let Ok(mut rows) = select.query([])
    {
        while let Ok(Some(row)) = rows.next() {
            let copied = (|| -> rusqlite::Result<usize> {
                tx.execute(
                    "INSERT OR IGNORE INTO sessions (id, remote, user_id, title, mode, status,
                        started_at_ms, ended_at_ms, duration_ms, cost_usd, close_pending,
                        cached_at_ms)
                     VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11, ?12)",
                    params![
                        row.get::<_, String>(0)?,
                        row.get::<_, Option<String>>(1)?,
                        row.get::<_, Option<String>>(2)?,
                        row.get::<_, String>(3)?,
                        row.get::<_, String>(4)?,
                        row.get::<_, String>(5)?,
                        row.get::<_, i64>(6)?,
                        row.get::<_, Option<i64>>(7)?,
                        row.get::<_, Option<i64>>(8)?,
                        row.get::<_, Option<f64>>(9)?,
                        row.get::<_, i64>(10)?,
                        // A server copy stays marked as one: sign-out must still remove it,
                        // and it is never sent back as if this computer had recorded it.
                        row.get::<_, Option<i64>>(11)?,
                    ],
                )
            })();
            if copied.is_ok_and(|n| n > 0) {
                sessions += 1;
            }
        }
    }
    if let Ok(mut select) = old.prepare(
        "SELECT session_id, item_id, seq, speaker, text, started_ms, ended_ms, is_final,
                inaudible, interrupted, refused, late FROM lines",
    ) && let Ok(mut rows) = select.query([])
    {
        while let Ok(Some(row)) = rows.next() {
            let copied = (|| -> rusqlite::Result<usize> {
                let session_id: String = row.get(0)?;
                let item_id: String = row.get(1)?;
                let n = tx.execute(
                    "INSERT OR IGNORE INTO lines (session_id, item_id, seq, speaker, text,
                        started_ms, ended_ms, is_final, inaudible, interrupted, refused, late)
                     VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11, ?12)",
                    params![
                        session_id,
                        item_id,
                        row.get::<_, i64>(2)?,
                        row.get::<_, String>(3)?,
                        row.get::<_, String>(4)?,
                        row.get::<_, i64>(5)?,
                        row.get::<_, Option<i64>>(6)?,
                        row.get::<_, i64>(7)?,
                        row.get::<_, Option<String>>(8)?,
                        row.get::<_, i64>(9)?,
                        row.get::<_, Option<String>>(10)?,
                        row.get::<_, i64>(11)?,
                    ],
                )?;
                // The backend is idempotent by item id: sending a recovered line again is
                // harmless, and it may never have arrived. (Copies of the server's own
                // sessions and refused lines are not queued: ENQUEUE_LINE and the check below
                // leave them out.)
                if row.get::<_, Option<String>>(10)?.is_none() {
                    tx.execute(ENQUEUE_LINE, params![session_id, item_id, now_ms()])?;
                }
                Ok(n)
            })();
            if copied.is_ok_and(|n| n > 0) {
                lines += 1;
            }
        }
    }
    if tx.commit().is_err() {
        return (0, 0);
    }
    (sessions, lines)
}

/// Creates the data folder owner-only (0700) and the database file owner-only (0600) before
/// SQLite opens it; SQLite gives its -wal and -shm files the database's permissions. Folders
/// and files that exist already are tightened too: transcripts are nobody else's business.
pub(crate) fn prepare_private(path: &Path) -> Result<(), StoreError> {
    if let Some(folder) = path.parent().filter(|p| !p.as_os_str().is_empty()) {
        let made = |source| StoreError::Folder {
            path: folder.to_path_buf(),
            source,
        };
        private_folder(folder).map_err(made)?;
    }
    private_file(path).map_err(|e| StoreError::Io {
        path: path.to_path_buf(),
        detail: e.to_string(),
    })
}

/// Creates `folder` (and its parents) readable by its owner only, and tightens it if it exists.
#[cfg(unix)]
pub fn private_folder(folder: &Path) -> std::io::Result<()> {
    use std::os::unix::fs::{DirBuilderExt, PermissionsExt};
    std::fs::DirBuilder::new()
        .recursive(true)
        .mode(0o700)
        .create(folder)?;
    std::fs::set_permissions(folder, std::fs::Permissions::from_mode(0o700))
}

/// Creates `path` if needed, readable and writable by its owner only, and tightens it if it
/// exists.
#[cfg(unix)]
pub fn private_file(path: &Path) -> std::io::Result<()> {
    use std::os::unix::fs::{OpenOptionsExt, PermissionsExt};
    std::fs::OpenOptions::new()
        .create(true)
        .truncate(false)
        .write(true)
        .mode(0o600)
        .open(path)?;
    std::fs::set_permissions(path, std::fs::Permissions::from_mode(0o600))
}

// Elsewhere the user's profile folder is already private to the user.
#[cfg(not(unix))]
pub fn private_folder(folder: &Path) -> std::io::Result<()> {
    std::fs::create_dir_all(folder)
}

#[cfg(not(unix))]
pub fn private_file(_path: &Path) -> std::io::Result<()> {
    Ok(())
}

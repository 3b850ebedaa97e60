//! What can go wrong with the local store, in words a user can act on.

use std::path::PathBuf;

/// Why the store could not do what was asked.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum StoreError {
    /// The disk (or the file's size limit) is full: the line was not saved.
    #[error("the disk holding the transcripts is full ({path}): free some space; {detail}")]
    DiskFull { path: PathBuf, detail: String },
    /// The file could not be written or read (permissions, a failing disk, a size limit).
    #[error("cannot read or write the transcripts at {path}: {detail}")]
    Io { path: PathBuf, detail: String },
    /// The file is damaged in a way found only now (it was checked when opened).
    #[error("the transcript database at {path} is damaged: {detail}")]
    Corrupt { path: PathBuf, detail: String },
    /// Another Viva holds the file for too long.
    #[error("the transcript database at {path} is busy (is another Viva writing to it?)")]
    Busy { path: PathBuf },
    #[error("cannot create the folder {path}: {source}")]
    Folder {
        path: PathBuf,
        source: std::io::Error,
    },
    #[error("cannot move the damaged database {path} aside: {source}")]
    MoveAside {
        path: PathBuf,
        source: std::io::Error,
    },
    /// The database was written by a newer Viva.
    #[error(
        "the transcript database at {path} is from a newer Viva (schema {found}, this one knows {known}); update Viva"
    )]
    TooNew {
        path: PathBuf,
        found: i64,
        known: i64,
    },
    #[error("no session {0} in the local store")]
    NoSuchSession(String),
    /// A row named a session the store does not have (SQLite refused it: a foreign key).
    #[error("no such session in the local store ({detail})")]
    UnknownSession { detail: String },
    #[error("invalid input: {0}")]
    Invalid(String),
    #[error("the store's lock was poisoned by a crashed thread")]
    Poisoned,
    #[error("database error: {0}")]
    Sqlite(String),
}

impl StoreError {
    /// Classifies a SQLite error for the file at `path`.
    pub(crate) fn from_sqlite(path: &std::path::Path, error: rusqlite::Error) -> Self {
        use rusqlite::ErrorCode;
        let path = path.to_path_buf();
        let mut detail = error.to_string();
        if let rusqlite::Error::SqliteFailure(failure, _) = &error
            && matches!(
                failure.extended_code,
                rusqlite::ffi::SQLITE_IOERR_WRITE | rusqlite::ffi::SQLITE_IOERR_FSYNC
            )
        {
            detail = format!(
                "the disk refused the write: it may be full, or the file may have reached a size limit ({detail})"
            );
        }
        // By SQLite's extended code, never by the words of its message.
        if let rusqlite::Error::SqliteFailure(failure, _) = &error
            && failure.extended_code == rusqlite::ffi::SQLITE_CONSTRAINT_FOREIGNKEY
        {
            return Self::UnknownSession { detail };
        }
        match error.sqlite_error_code() {
            Some(ErrorCode::DiskFull) => Self::DiskFull { path, detail },
            Some(ErrorCode::SystemIoFailure | ErrorCode::CannotOpen | ErrorCode::ReadOnly) => {
                Self::Io { path, detail }
            }
            Some(ErrorCode::DatabaseCorrupt | ErrorCode::NotADatabase) => {
                Self::Corrupt { path, detail }
            }
            Some(ErrorCode::DatabaseBusy | ErrorCode::DatabaseLocked) => Self::Busy { path },
            _ => Self::Sqlite(detail),
        }
    }

    /// Whether the file itself is damaged (as opposed to the disk or the caller).
    pub fn is_corrupt(&self) -> bool {
        matches!(self, Self::Corrupt { .. })
    }
}

#[cfg(test)]
mod tests {
    use super::StoreError;

    #[test]
    fn a_foreign_key_refusal_is_classified_by_its_code_as_an_unknown_session() {
        let conn = rusqlite::Connection::open_in_memory().unwrap();
        conn.execute_batch(
            "PRAGMA foreign_keys = ON;
             CREATE TABLE sessions (id TEXT PRIMARY KEY);
             CREATE TABLE lines (session_id TEXT NOT NULL REFERENCES sessions (id));",
        )
        .unwrap();
        let refused = conn
            .execute("INSERT INTO lines (session_id) VALUES ('nope')", [])
            .unwrap_err();
        let error = StoreError::from_sqlite(std::path::Path::new("x"), refused);
        assert!(
            matches!(error, StoreError::UnknownSession { .. }),
            "{error}"
        );
        // Other constraints are not taken for it.
        let duplicate = conn
            .execute_batch("INSERT INTO sessions VALUES ('a'); INSERT INTO sessions VALUES ('a');")
            .unwrap_err();
        let error = StoreError::from_sqlite(std::path::Path::new("x"), duplicate);
        assert!(matches!(error, StoreError::Sqlite(_)), "{error}");
    }
}

//! The file's schema, one migration per version, and the connection settings.

use rusqlite::Connection;

/// Each entry moves the schema one version forward; never edit one that has shipped.
pub(crate) const MIGRATIONS: &[&str] = &[
    // 1: sessions, their lines (finals and the latest words of lines still being spoken),
    //    full-text search over final lines, the outbox, settings.
    r#"
    CREATE TABLE settings (key TEXT PRIMARY KEY, value TEXT NOT NULL);
    CREATE TABLE sessions (
        id TEXT PRIMARY KEY,
        remote TEXT,
        user_id TEXT,
        title TEXT NOT NULL,
        mode TEXT NOT NULL,
        status TEXT NOT NULL
            CHECK (status IN ('active', 'completed', 'interrupted', 'failed', 'cancelled')),
        started_at_ms INTEGER NOT NULL,
        ended_at_ms INTEGER,
        duration_ms INTEGER,
        cost_usd REAL,
        -- The backend's row still has to be closed.
        close_pending INTEGER NOT NULL DEFAULT 0,
        sync_error TEXT,
        sync_attempts INTEGER NOT NULL DEFAULT 0,
        next_sync_ms INTEGER NOT NULL DEFAULT 0
    );
    CREATE INDEX sessions_started ON sessions(started_at_ms);
    -- An explicit INTEGER PRIMARY KEY: the search index refers to rows by rowid, and VACUUM
    -- may renumber implicit rowids.
    CREATE TABLE lines (
        id INTEGER PRIMARY KEY,
        session_id TEXT NOT NULL REFERENCES sessions(id) ON DELETE CASCADE,
        item_id TEXT NOT NULL,
        seq INTEGER NOT NULL,
        speaker TEXT NOT NULL CHECK (speaker IN ('candidate', 'interviewer')),
        text TEXT NOT NULL,
        started_ms INTEGER NOT NULL,
        ended_ms INTEGER,
        is_final INTEGER NOT NULL,
        inaudible TEXT,
        interrupted INTEGER NOT NULL DEFAULT 0,
        UNIQUE (session_id, item_id)
    );
    CREATE INDEX lines_order ON lines(session_id, seq);
    CREATE VIRTUAL TABLE lines_fts USING fts5(
        text, content = 'lines', content_rowid = 'id',
        tokenize = 'unicode61 remove_diacritics 2'
    );
    -- Only final lines are searchable: partial words change many times a second.
    CREATE TRIGGER lines_fts_insert AFTER INSERT ON lines WHEN new.is_final BEGIN
        INSERT INTO lines_fts (rowid, text) VALUES (new.id, new.text);
    END;
    CREATE TRIGGER lines_fts_delete AFTER DELETE ON lines WHEN old.is_final BEGIN
        INSERT INTO lines_fts (lines_fts, rowid, text) VALUES ('delete', old.id, old.text);
    END;
    -- One trigger, so the old words leave the index before the new ones enter it.
    CREATE TRIGGER lines_fts_update AFTER UPDATE OF text, is_final ON lines
    WHEN old.is_final OR new.is_final BEGIN
        INSERT INTO lines_fts (lines_fts, rowid, text)
            SELECT 'delete', old.id, old.text WHERE old.is_final;
        INSERT INTO lines_fts (rowid, text) SELECT new.id, new.text WHERE new.is_final;
    END;
    -- Final lines not yet acknowledged by the backend. A line enters in the same transaction
    -- that makes it final, and leaves only when `transcript-processor` has answered 200.
    CREATE TABLE outbox (
        session_id TEXT NOT NULL REFERENCES sessions(id) ON DELETE CASCADE,
        item_id TEXT NOT NULL,
        enqueued_ms INTEGER NOT NULL,
        PRIMARY KEY (session_id, item_id)
    ) WITHOUT ROWID;
    "#,
];

/// Connection settings every connection gets.
pub(crate) fn configure(conn: &Connection) -> rusqlite::Result<()> {
    // WAL: the search reader never blocks the writer, and a commit is one append.
    conn.pragma_update(None, "journal_mode", "WAL")?;
    // FULL, not NORMAL: in WAL mode NORMAL survives an application crash but may lose the
    // last commits on power loss or an OS crash, and a line the user saw must survive both.
    // FULL costs one fsync of the WAL per commit; final lines come a few seconds apart, so
    // that is cheap (see docs/benchmarks.md, "Durable transcripts").
    conn.pragma_update(None, "synchronous", "FULL")?;
    conn.pragma_update(None, "foreign_keys", "ON")?;
    conn.busy_timeout(std::time::Duration::from_secs(5))?;
    Ok(())
}

/// Brings the schema up to date. Returns the version found, which may be newer than known.
pub(crate) fn migrate(conn: &mut Connection) -> rusqlite::Result<Result<(), i64>> {
    let version: i64 = conn.pragma_query_value(None, "user_version", |row| row.get(0))?;
    let known = i64::try_from(MIGRATIONS.len()).unwrap_or(i64::MAX);
    if version > known {
        return Ok(Err(version));
    }
    for (index, migration) in (1_i64..)
        .zip(MIGRATIONS)
        .skip(usize::try_from(version).unwrap_or(0))
    {
        let tx = conn.transaction()?;
        tx.execute_batch(migration)?;
        tx.pragma_update(None, "user_version", index)?;
        tx.commit()?;
    }
    Ok(Ok(()))
}

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
    // 2: each session's first and last line id. A session's lines are (nearly always) one
    //    run of ids, so a title or date filter becomes a few id ranges the search checks
    //    without reading each matching line (see search.rs). And each line's speaker in a
    //    small index, so the speaker filter does not read whole lines either.
    r#"
    CREATE INDEX lines_speaker ON lines(id, speaker);
    ALTER TABLE sessions ADD COLUMN first_line_id INTEGER;
    ALTER TABLE sessions ADD COLUMN last_line_id INTEGER;
    UPDATE sessions SET
        first_line_id = (SELECT min(id) FROM lines WHERE session_id = sessions.id),
        last_line_id = (SELECT max(id) FROM lines WHERE session_id = sessions.id);
    CREATE TRIGGER lines_span AFTER INSERT ON lines BEGIN
        UPDATE sessions SET
            first_line_id = coalesce(min(first_line_id, new.id), new.id),
            last_line_id = coalesce(max(last_line_id, new.id), new.id)
        WHERE id = new.session_id;
    END;
    "#,
    // 3: copies of a backend's sessions, kept so an interviewer can read them offline. A
    //    copy is never sent anywhere: its lines never enter the outbox, and it is never
    //    recovered or closed as if this computer had recorded it.
    r#"
    ALTER TABLE sessions ADD COLUMN cached_at_ms INTEGER;
    "#,
    // 4: a line the backend refused (the reason it gave; the line stays here and leaves the
    //    outbox, so it never blocks the others), and a server copy's line that reached the
    //    server long after the session closed.
    r#"
    ALTER TABLE lines ADD COLUMN refused TEXT;
    ALTER TABLE lines ADD COLUMN late INTEGER NOT NULL DEFAULT 0;
    "#,
    // 5: the recording notice the candidate agreed to before the session, and when.
    r#"
    ALTER TABLE sessions ADD COLUMN consent_notice TEXT;
    ALTER TABLE sessions ADD COLUMN consent_at_ms INTEGER;
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
    crate::search::register_functions(conn)?;
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

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;

    #[test]
    fn version_two_learns_each_sessions_line_ids_from_a_version_one_file() {
        let mut conn = Connection::open_in_memory().unwrap();
        conn.execute_batch(MIGRATIONS[0]).unwrap();
        conn.pragma_update(None, "user_version", 1).unwrap();
        conn.execute_batch(
            "INSERT INTO sessions (id, title, mode, status, started_at_ms)
                VALUES ('a', 'A', 'interview', 'completed', 1), ('b', 'B', 'interview', 'active', 2);
             INSERT INTO lines (id, session_id, item_id, seq, speaker, text, started_ms, is_final)
                VALUES (5, 'a', 'x', 1, 'candidate', 'one', 0, 1),
                       (9, 'a', 'y', 2, 'candidate', 'two', 0, 1);",
        )
        .unwrap();
        migrate(&mut conn).unwrap().unwrap();
        let span = |id: &str| -> (Option<i64>, Option<i64>) {
            conn.query_row(
                "SELECT first_line_id, last_line_id FROM sessions WHERE id = ?1",
                [id],
                |row| Ok((row.get(0)?, row.get(1)?)),
            )
            .unwrap()
        };
        assert_eq!(span("a"), (Some(5), Some(9)));
        assert_eq!(span("b"), (None, None));
        // New lines widen their session's span.
        conn.execute_batch(
            "INSERT INTO lines (id, session_id, item_id, seq, speaker, text, started_ms, is_final)
                VALUES (12, 'b', 'z', 1, 'candidate', 'three', 0, 1),
                       (3, 'a', 'w', 3, 'candidate', 'zero', 0, 0);",
        )
        .unwrap();
        assert_eq!(span("a"), (Some(3), Some(9)));
        assert_eq!(span("b"), (Some(12), Some(12)));
    }
}

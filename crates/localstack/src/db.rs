//! The local stack's SQLite file: versioned migrations, WAL, and one connection shared by the
//! async handlers through `spawn_blocking` (SQLite serialises writers anyway).

use std::path::Path;
use std::sync::{Arc, Mutex};

use rusqlite::Connection;

/// Why the database could not do what was asked.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum DbError {
    #[error("database error: {0}")]
    Sqlite(#[from] rusqlite::Error),
    #[error("cannot create the data directory {path}: {source}")]
    DataDir {
        path: String,
        source: std::io::Error,
    },
    #[error("the database is in use by a crashed task")]
    Poisoned,
    #[error("the database task stopped: {0}")]
    Task(String),
}

/// Each entry moves the schema one version forward; never edit one that has shipped.
const MIGRATIONS: &[&str] = &[
    // 1: auth, tenants, interviews and their transcripts.
    r#"
    CREATE TABLE settings (key TEXT PRIMARY KEY, value TEXT NOT NULL);
    CREATE TABLE tenants (id TEXT PRIMARY KEY, name TEXT NOT NULL);
    CREATE TABLE users (
        id TEXT PRIMARY KEY,
        email TEXT NOT NULL UNIQUE COLLATE NOCASE,
        password_hash TEXT NOT NULL,
        tenant_id TEXT NOT NULL REFERENCES tenants(id),
        viva_role TEXT NOT NULL CHECK (viva_role IN ('candidate', 'interviewer')),
        user_metadata TEXT NOT NULL DEFAULT '{}',
        email_confirmed_at TEXT,
        created_at TEXT NOT NULL
    );
    CREATE TABLE auth_sessions (
        id TEXT PRIMARY KEY,
        user_id TEXT NOT NULL REFERENCES users(id),
        created_at TEXT NOT NULL,
        revoked_at TEXT
    );
    CREATE TABLE refresh_tokens (
        token TEXT PRIMARY KEY,
        session_id TEXT NOT NULL REFERENCES auth_sessions(id),
        parent TEXT,
        created_at TEXT NOT NULL,
        used_at INTEGER
    );
    CREATE INDEX refresh_tokens_session ON refresh_tokens(session_id);
    CREATE TABLE interview_sessions (
        id TEXT PRIMARY KEY,
        tenant_id TEXT NOT NULL REFERENCES tenants(id),
        candidate_id TEXT REFERENCES users(id),
        candidate_email TEXT,
        interviewer_id TEXT REFERENCES users(id),
        title TEXT NOT NULL,
        question_set TEXT NOT NULL,
        mode TEXT NOT NULL CHECK (mode IN ('practice', 'interview')),
        status TEXT NOT NULL CHECK (status IN ('scheduled', 'active', 'completed', 'interrupted', 'failed', 'cancelled')),
        scheduled_at TEXT,
        started_at TEXT,
        ended_at TEXT,
        duration_ms INTEGER,
        model TEXT,
        realtime_cost_usd REAL,
        created_at TEXT NOT NULL
    );
    CREATE INDEX interview_sessions_tenant ON interview_sessions(tenant_id, scheduled_at);
    CREATE TABLE transcript_entries (
        id TEXT PRIMARY KEY,
        tenant_id TEXT NOT NULL REFERENCES tenants(id),
        session_id TEXT NOT NULL REFERENCES interview_sessions(id),
        item_id TEXT NOT NULL,
        seq INTEGER NOT NULL,
        speaker TEXT NOT NULL CHECK (speaker IN ('candidate', 'interviewer')),
        text TEXT NOT NULL,
        started_ms INTEGER NOT NULL,
        ended_ms INTEGER,
        created_at TEXT NOT NULL,
        UNIQUE (session_id, item_id)
    );
    "#,
    // 2: ephemeral client secrets that `interview-start` mints for the realtime connection.
    r#"
    CREATE TABLE client_secrets (
        value TEXT PRIMARY KEY,
        session_id TEXT NOT NULL REFERENCES interview_sessions(id),
        user_id TEXT NOT NULL REFERENCES users(id),
        expires_at INTEGER NOT NULL
    );
    "#,
    // 3: the hosted schema's write rules (supabase/migrations/20261205000000_write_rules.sql):
    // when the server saw a session close, and who reported each line, when it arrived and
    // whether that was long after the close.
    r#"
    ALTER TABLE interview_sessions ADD COLUMN closed_at TEXT;
    ALTER TABLE transcript_entries ADD COLUMN reported_by TEXT;
    ALTER TABLE transcript_entries ADD COLUMN received_at TEXT;
    ALTER TABLE transcript_entries ADD COLUMN late INTEGER NOT NULL DEFAULT 0;
    UPDATE transcript_entries SET received_at = created_at;
    UPDATE interview_sessions SET closed_at = ended_at
        WHERE status IN ('completed', 'interrupted', 'failed', 'cancelled');
    CREATE INDEX transcript_entries_order ON transcript_entries(session_id, seq, item_id);
    "#,
    // 4: which voice API an interview speaks (supabase/migrations/20261206000000_voice_api.sql):
    // the tenant's default, and an interviewer's choice per interview.
    r#"
    ALTER TABLE tenants ADD COLUMN voice_api TEXT NOT NULL DEFAULT 'live'
        CHECK (voice_api IN ('live', 'realtime'));
    ALTER TABLE interview_sessions ADD COLUMN voice_api TEXT
        CHECK (voice_api IS NULL OR voice_api IN ('live', 'realtime'));
    "#,
    // 5: the edge functions' settings (supabase/migrations/20261207000000_edge_functions.sql): a
    // tenant's voice switch and rollout share; and the Realtime client secrets a server mints
    // through the emulated `POST /v1/realtime/client_secrets` (they carry their own session
    // config, not one of this stack's sessions: the hosted functions keep theirs elsewhere).
    r#"
    ALTER TABLE tenants ADD COLUMN voice_enabled INTEGER NOT NULL DEFAULT 1;
    ALTER TABLE tenants ADD COLUMN voice_rollout_percent INTEGER NOT NULL DEFAULT 100
        CHECK (voice_rollout_percent BETWEEN 0 AND 100);
    CREATE TABLE provider_client_secrets (
        value TEXT PRIMARY KEY,
        question_set TEXT NOT NULL,
        session TEXT NOT NULL,
        expires_at INTEGER NOT NULL
    );
    "#,
    // 6: the transcript of record (W2-5 item 6): the fragments the SDP proxy observed on each
    // GPT-Live session's sideband, and the windows of the session's timeline (`from_ms` to
    // `to_ms`) it listened in; a window left open (`ended_at` null) ends at its last checkpoint.
    // Written by the proxy only (no API serves these tables); fragments in the order received.
    r#"
    CREATE TABLE observed_windows (
        id TEXT PRIMARY KEY,
        tenant_id TEXT NOT NULL REFERENCES tenants(id),
        session_id TEXT NOT NULL REFERENCES interview_sessions(id),
        provider_session TEXT NOT NULL,
        api TEXT NOT NULL CHECK (api IN ('live', 'realtime')),
        instance TEXT NOT NULL,
        from_ms INTEGER NOT NULL CHECK (from_ms >= 0),
        to_ms INTEGER NOT NULL CHECK (to_ms >= from_ms),
        started_at TEXT NOT NULL,
        ended_at TEXT,
        end_reason TEXT CHECK (end_reason IN ('closed', 'drain', 'lost')),
        CHECK ((ended_at IS NULL) = (end_reason IS NULL))
    );
    CREATE INDEX observed_windows_session ON observed_windows(session_id, provider_session);
    CREATE TABLE observed_fragments (
        id INTEGER PRIMARY KEY,
        window_id TEXT NOT NULL REFERENCES observed_windows(id),
        tenant_id TEXT NOT NULL REFERENCES tenants(id),
        session_id TEXT NOT NULL REFERENCES interview_sessions(id),
        provider_session TEXT NOT NULL,
        speaker TEXT NOT NULL CHECK (speaker IN ('candidate', 'interviewer')),
        text TEXT NOT NULL,
        start_ms INTEGER NOT NULL CHECK (start_ms >= 0),
        end_ms INTEGER NOT NULL CHECK (end_ms >= start_ms)
    );
    CREATE INDEX observed_fragments_session ON observed_fragments(session_id, id);
    CREATE INDEX observed_fragments_window ON observed_fragments(window_id);
    "#,
    // 7: the provider's item id of each fragment (supabase/migrations/
    // 20261210000000_observed_item_ids.sql): a Realtime call's transcripts carry one, and the
    // client's lines on that call have it as their id; GPT-Live fragments have none.
    r#"
    ALTER TABLE observed_fragments ADD COLUMN item_id TEXT
        CHECK (item_id IS NULL OR length(item_id) BETWEEN 1 AND 200);
    "#,
    // 8: consent before recording (supabase/migrations/20261211000000_consent.sql): when the
    // candidate agreed to which recording notice, written by `interview-start` only; and no
    // interview goes live without one, whoever writes the row.
    r#"
    ALTER TABLE interview_sessions ADD COLUMN consent_at TEXT;
    ALTER TABLE interview_sessions ADD COLUMN consent_notice TEXT
        CHECK (consent_notice IS NULL OR length(consent_notice) BETWEEN 1 AND 64);
    CREATE TRIGGER interview_sessions_consent BEFORE UPDATE OF status ON interview_sessions
        WHEN NEW.mode = 'interview' AND NEW.status = 'active' AND OLD.status <> 'active'
            AND NEW.consent_at IS NULL
    BEGIN
        SELECT RAISE(ABORT, 'an interview starts only after the candidate has agreed to the recording notice');
    END;
    "#,
];

/// A handle to the database; cheap to clone.
#[derive(Debug, Clone)]
pub struct Db {
    conn: Arc<Mutex<Connection>>,
}

impl Db {
    /// Opens (creating if needed) `<data_dir>/localstack.sqlite3` and brings its schema up to date.
    pub fn open(data_dir: &Path) -> Result<Self, DbError> {
        std::fs::create_dir_all(data_dir).map_err(|source| DbError::DataDir {
            path: data_dir.display().to_string(),
            source,
        })?;
        let conn = Connection::open(data_dir.join("localstack.sqlite3"))?;
        Self::prepare(conn)
    }

    /// A private in-memory database (tests, benchmarks).
    pub fn in_memory() -> Result<Self, DbError> {
        Self::prepare(Connection::open_in_memory()?)
    }

    fn prepare(mut conn: Connection) -> Result<Self, DbError> {
        // WAL lets readers run beside the writer; NORMAL is durable across application crashes
        // in WAL mode, which is what a local development backend needs.
        conn.pragma_update(None, "journal_mode", "WAL")?;
        conn.pragma_update(None, "synchronous", "NORMAL")?;
        conn.pragma_update(None, "foreign_keys", "ON")?;
        // PostgREST's `like` is case-sensitive; `ilike` lowers both sides explicitly.
        conn.pragma_update(None, "case_sensitive_like", "ON")?;
        conn.busy_timeout(std::time::Duration::from_secs(5))?;
        let version: i64 = conn.pragma_query_value(None, "user_version", |row| row.get(0))?;
        for (index, migration) in (1_i64..)
            .zip(MIGRATIONS)
            .skip(usize::try_from(version).unwrap_or(0))
        {
            let tx = conn.transaction()?;
            tx.execute_batch(migration)?;
            tx.pragma_update(None, "user_version", index)?;
            tx.commit()?;
        }
        Ok(Self {
            conn: Arc::new(Mutex::new(conn)),
        })
    }

    /// Runs `work` on the connection off the async threads.
    pub async fn call<T, E>(
        &self,
        work: impl FnOnce(&mut Connection) -> Result<T, E> + Send + 'static,
    ) -> Result<T, E>
    where
        T: Send + 'static,
        E: From<DbError> + Send + 'static,
    {
        let conn = self.conn.clone();
        tokio::task::spawn_blocking(move || {
            let mut guard = conn.lock().map_err(|_| E::from(DbError::Poisoned))?;
            work(&mut guard)
        })
        .await
        .map_err(|error| E::from(DbError::Task(error.to_string())))?
    }

    /// A setting, created by `make` the first time it is asked for (e.g. the JWT secret).
    pub fn setting_or_init(
        &self,
        key: &str,
        make: impl FnOnce() -> String,
    ) -> Result<String, DbError> {
        let conn = self.conn.lock().map_err(|_| DbError::Poisoned)?;
        let existing: Option<String> = conn
            .query_row("SELECT value FROM settings WHERE key = ?1", [key], |row| {
                row.get(0)
            })
            .map(Some)
            .or_else(|error| match error {
                rusqlite::Error::QueryReturnedNoRows => Ok(None),
                other => Err(other),
            })?;
        if let Some(value) = existing {
            return Ok(value);
        }
        let value = make();
        conn.execute(
            "INSERT INTO settings (key, value) VALUES (?1, ?2)",
            [key, &value],
        )?;
        Ok(value)
    }

    /// Sets a setting, replacing what was there.
    pub fn set_setting(&self, key: &str, value: &str) -> Result<(), DbError> {
        let conn = self.conn.lock().map_err(|_| DbError::Poisoned)?;
        conn.execute(
            "INSERT INTO settings (key, value) VALUES (?1, ?2) ON CONFLICT (key) DO UPDATE SET value = excluded.value",
            [key, value],
        )?;
        Ok(())
    }
}

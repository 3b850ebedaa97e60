//! `PgSessions` against the hosted schema on a real PostgreSQL (the Supabase shim, then every
//! migration): sessions and transcripts are read as the user, so the schema's row security
//! decides, directly and through pgbouncer in transaction mode.
//! `cargo xtask test` starts both and passes `VIVA_TEST_PG_BIN`, `VIVA_TEST_PG_PORT` and
//! `VIVA_TEST_PGBOUNCER_PORT`.

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)] // Tests fail loudly by design.

use std::path::PathBuf;
use std::process::Command;
use std::sync::atomic::{AtomicUsize, Ordering};

use serde_json::json;
use viva_contract::grant::VoiceApi;
use viva_proxy::auth::{Role, VerifiedUser};
use viva_proxy::sessions::pg::PgSessions;
use viva_proxy::sessions::{SessionError, SessionInfo, Sessions, StoredTurn};

static NEXT_DATABASE: AtomicUsize = AtomicUsize::new(0);
/// A login role that may become `authenticated`, as `--sessions database` needs.
const READER: &str = "viva_proxy_sessions_test";
const TENANT: &str = "aaaaaaaa-0000-4000-8000-000000000001";
const CANDIDATE: &str = "a1a1a1a1-0000-4000-8000-000000000001";
const OTHER_CANDIDATE: &str = "a2a2a2a2-0000-4000-8000-000000000001";
const SESSION: &str = "5a150000-0000-4000-8000-000000000001";

fn var(name: &str) -> String {
    std::env::var(name)
        .unwrap_or_else(|_| panic!("{name} is not set: run this test through `cargo xtask test`"))
}

struct Pg {
    bin: PathBuf,
    port: String,
    database: String,
}

impl Pg {
    fn create() -> Self {
        let pg = Self {
            bin: PathBuf::from(var("VIVA_TEST_PG_BIN")),
            port: var("VIVA_TEST_PG_PORT"),
            database: format!(
                "viva_sessions_{}_{}",
                std::process::id(),
                NEXT_DATABASE.fetch_add(1, Ordering::Relaxed)
            ),
        };
        pg.psql("postgres", &format!("CREATE DATABASE {}", pg.database));
        let root = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../..");
        let mut files = vec![root.join("crates/localstack/tests/fixtures/supabase_shim.sql")];
        let mut migrations: Vec<PathBuf> = std::fs::read_dir(root.join("supabase/migrations"))
            .unwrap()
            .map(|entry| entry.unwrap().path())
            .filter(|path| path.extension().is_some_and(|e| e == "sql"))
            .collect();
        migrations.sort();
        files.extend(migrations);
        for file in files {
            let out = Command::new(pg.bin.join("psql"))
                .args(["-h", "127.0.0.1", "-p", &pg.port, "-U", "postgres", "-d"])
                .arg(&pg.database)
                .args(["-v", "ON_ERROR_STOP=1", "-q", "-f"])
                .arg(&file)
                .output()
                .unwrap();
            assert!(
                out.status.success(),
                "{}: {}",
                file.display(),
                String::from_utf8_lossy(&out.stderr)
            );
        }
        pg.psql(
            &pg.database,
            &format!(
                "do $$ begin create role {READER} login noinherit; exception when duplicate_object or unique_violation then null; end $$;
                 grant authenticated to {READER};
                 insert into tenants (id, name, voice_api) values ('{TENANT}', 'Acme', 'realtime');
                 insert into interview_sessions (id, tenant_id, candidate_id, title, question_set, status)
                     values ('{SESSION}', '{TENANT}', '{CANDIDATE}', 'Practice', 'general', 'active');
                 insert into transcript_entries (tenant_id, session_id, item_id, seq, speaker, text, started_ms) values
                     ('{TENANT}', '{SESSION}', 'b', 2, 'candidate', 'I chose Rust.', 900),
                     ('{TENANT}', '{SESSION}', 'a', 1, 'interviewer', 'Why Rust?', 0);"
            ),
        );
        pg
    }

    fn psql(&self, database: &str, sql: &str) -> String {
        let out = Command::new(self.bin.join("psql"))
            .args(["-h", "127.0.0.1", "-p", &self.port, "-U", "postgres", "-d"])
            .arg(database)
            .args(["-v", "ON_ERROR_STOP=1", "-At", "-c", sql])
            .output()
            .unwrap();
        assert!(
            out.status.success(),
            "{sql}: {}",
            String::from_utf8_lossy(&out.stderr)
        );
        String::from_utf8_lossy(&out.stdout).trim().to_owned()
    }

    fn url(&self, role: &str, port: &str) -> String {
        format!("postgres://{role}@127.0.0.1:{port}/{}", self.database)
    }
}

impl Drop for Pg {
    fn drop(&mut self) {
        let _ = Command::new(self.bin.join("psql"))
            .args(["-h", "127.0.0.1", "-p", &self.port, "-U", "postgres", "-d"])
            .args(["postgres", "-c"])
            .arg(format!(
                "DROP DATABASE IF EXISTS {} WITH (FORCE)",
                self.database
            ))
            .output();
    }
}

fn candidate(id: &str) -> VerifiedUser {
    VerifiedUser {
        user_id: id.to_owned(),
        email: format!("{id}@example.test"),
        tenant_id: TENANT.to_owned(),
        role: Some(Role::Candidate),
        auth_session: "laptop".to_owned(),
        claims: json!({
            "sub": id, "role": "authenticated", "aud": "authenticated",
            "app_metadata": {"tenant_id": TENANT, "viva_role": "candidate"},
        }),
    }
}

async fn reads_as_the_user(sessions: &PgSessions) {
    let me = candidate(CANDIDATE);
    assert_eq!(
        sessions.session(&me, "", SESSION).await,
        Ok(SessionInfo {
            tenant_id: TENANT.to_owned(),
            candidate_id: CANDIDATE.to_owned(),
            active: true,
            // The session names none: its organisation's.
            voice_api: VoiceApi::Realtime,
            question_set: "general".to_owned(),
        })
    );
    let turn = |item: &str, interviewer: bool, text: &str| StoredTurn {
        item_id: item.to_owned(),
        interviewer,
        text: text.to_owned(),
    };
    assert_eq!(
        sessions.transcript(&me, "", SESSION).await,
        Ok(vec![
            turn("a", true, "Why Rust?"),
            turn("b", false, "I chose Rust.")
        ])
    );
    // Row security: another candidate of the same organisation sees neither.
    let other = candidate(OTHER_CANDIDATE);
    assert_eq!(
        sessions.session(&other, "", SESSION).await,
        Err(SessionError::NotYours)
    );
    assert_eq!(sessions.transcript(&other, "", SESSION).await, Ok(vec![]));
    assert_eq!(
        sessions.session(&me, "", "not-a-uuid").await,
        Err(SessionError::NotYours)
    );
    // Nothing of the user's role stays on the connection after a read.
    for _ in 0..10 {
        assert!(sessions.session(&me, "", SESSION).await.is_ok());
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sessions_are_read_as_the_user_so_row_security_decides() {
    let pg = Pg::create();
    let pool = viva_proxy::lease::pg::pool(&pg.url(READER, &pg.port), 2).unwrap();
    let sessions = PgSessions::new(pool).await.unwrap();
    reads_as_the_user(&sessions).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sessions_are_read_as_the_user_through_a_pooler_in_transaction_mode() {
    let pg = Pg::create();
    let pool =
        viva_proxy::lease::pg::pool(&pg.url(READER, &var("VIVA_TEST_PGBOUNCER_PORT")), 2).unwrap();
    let sessions = PgSessions::new(pool).await.unwrap();
    reads_as_the_user(&sessions).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_role_that_cannot_act_as_users_is_refused_at_start_with_the_fix() {
    let pg = Pg::create();
    let outsider = format!("viva_proxy_no_users_{}", std::process::id());
    pg.psql(&pg.database, &format!("create role {outsider} login"));
    let pool = viva_proxy::lease::pg::pool(&pg.url(&outsider, &pg.port), 2).unwrap();
    let refused = PgSessions::new(pool).await.unwrap_err();
    pg.psql(&pg.database, &format!("drop role {outsider}"));
    assert!(refused.contains("grant authenticated to"), "{refused}");
}

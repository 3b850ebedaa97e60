//! The hosted schema (`supabase/migrations`) on a real PostgreSQL, with the roles and JWT claims
//! PostgREST uses: row-level security keeps tenants apart and candidates apart.
//! `cargo xtask test` starts the server and passes its port in `VIVA_TEST_PG_PORT`.

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)] // Tests fail loudly by design.

use std::path::PathBuf;
use std::process::Command;

use serde_json::json;

/// Each test gets its own database in the shared cluster.
static NEXT_DATABASE: std::sync::atomic::AtomicUsize = std::sync::atomic::AtomicUsize::new(0);

struct Pg {
    bin: PathBuf,
    port: String,
    database: String,
}

impl Pg {
    fn connect() -> Self {
        let var = |name: &str| {
            std::env::var(name).unwrap_or_else(|_| {
                panic!("{name} is not set: run this test through `cargo xtask test`")
            })
        };
        let pg = Self {
            bin: PathBuf::from(var("VIVA_TEST_PG_BIN")),
            port: var("VIVA_TEST_PG_PORT"),
            database: format!(
                "viva_schema_{}_{}",
                std::process::id(),
                NEXT_DATABASE.fetch_add(1, std::sync::atomic::Ordering::Relaxed)
            ),
        };
        pg.psql("postgres", &format!("CREATE DATABASE {}", pg.database))
            .unwrap();
        pg
    }

    /// Runs SQL as the superuser in `database`; the rows as text, or the error with its SQLSTATE.
    fn psql(&self, database: &str, sql: &str) -> Result<String, String> {
        let out = Command::new(self.bin.join("psql"))
            .args([
                "-h",
                "127.0.0.1",
                "-p",
                &self.port,
                "-U",
                "postgres",
                "-d",
                database,
            ])
            .args([
                "-v",
                "ON_ERROR_STOP=1",
                "-v",
                "VERBOSITY=verbose",
                "-At",
                "-c",
                sql,
            ])
            .output()
            .unwrap();
        if out.status.success() {
            Ok(String::from_utf8_lossy(&out.stdout).trim().to_owned())
        } else {
            Err(String::from_utf8_lossy(&out.stderr).into_owned())
        }
    }

    fn run_file(&self, path: &str) {
        let file = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join(path);
        let out = Command::new(self.bin.join("psql"))
            .args([
                "-h",
                "127.0.0.1",
                "-p",
                &self.port,
                "-U",
                "postgres",
                "-d",
                &self.database,
                "-v",
                "ON_ERROR_STOP=1",
                "-q",
                "-f",
            ])
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

    /// Runs SQL as PostgREST would for a signed-in user with these JWT claims.
    fn as_user(&self, claims: &serde_json::Value, sql: &str) -> Result<String, String> {
        let claims = claims.to_string().replace('\'', "''");
        self.psql(
            &self.database,
            &format!("BEGIN; SET LOCAL ROLE authenticated; SET LOCAL request.jwt.claims = '{claims}'; {sql}; COMMIT;"),
        )
        .map(|out| out.lines().filter(|l| !matches!(*l, "BEGIN" | "SET" | "COMMIT")).collect::<Vec<_>>().join("\n"))
    }
}

impl Drop for Pg {
    fn drop(&mut self) {
        let _ = self.psql(
            "postgres",
            &format!("DROP DATABASE IF EXISTS {} WITH (FORCE)", self.database),
        );
    }
}

const TENANT_A: &str = "aaaaaaaa-0000-4000-8000-000000000001";
const TENANT_B: &str = "bbbbbbbb-0000-4000-8000-000000000001";
const CANDIDATE_A1: &str = "a1a1a1a1-0000-4000-8000-000000000001";
const CANDIDATE_A2: &str = "a2a2a2a2-0000-4000-8000-000000000001";
const INTERVIEWER_A: &str = "1a1a1a1a-0000-4000-8000-000000000001";
const INTERVIEWER_B: &str = "1b1b1b1b-0000-4000-8000-000000000001";
const SESSION_A1: &str = "5a150000-0000-4000-8000-000000000001";
const SESSION_A2: &str = "5a150000-0000-4000-8000-000000000002";
const SESSION_B: &str = "5b150000-0000-4000-8000-000000000001";

fn claims(sub: &str, tenant: &str, role: &str) -> serde_json::Value {
    json!({"sub": sub, "role": "authenticated", "aud": "authenticated", "email": format!("{sub}@example.test"),
           "app_metadata": {"tenant_id": tenant, "viva_role": role}})
}

fn setup() -> Pg {
    let pg = Pg::connect();
    pg.run_file("tests/fixtures/supabase_shim.sql");
    pg.run_file("../../supabase/migrations/20261122000000_viva_schema.sql");
    pg.psql(
        &pg.database,
        &format!(
            "INSERT INTO tenants (id, name) VALUES ('{TENANT_A}', 'Acme'), ('{TENANT_B}', 'Globex');
             INSERT INTO interview_sessions (id, tenant_id, candidate_id, interviewer_id, title, question_set, status) VALUES
               ('{SESSION_A1}', '{TENANT_A}', '{CANDIDATE_A1}', '{INTERVIEWER_A}', 'A1', 'general', 'active'),
               ('{SESSION_A2}', '{TENANT_A}', '{CANDIDATE_A2}', '{INTERVIEWER_A}', 'A2', 'general', 'scheduled'),
               ('{SESSION_B}', '{TENANT_B}', NULL, '{INTERVIEWER_B}', 'B', 'general', 'scheduled');
             INSERT INTO transcript_entries (tenant_id, session_id, item_id, seq, speaker, text, started_ms) VALUES
               ('{TENANT_A}', '{SESSION_A1}', 'i1', 1, 'interviewer', 'Hello', 0);"
        ),
    )
    .unwrap();
    pg
}

fn code(result: Result<String, String>) -> String {
    let error = result.expect_err("the statement was allowed");
    error
        .split("ERROR:")
        .nth(1)
        .unwrap_or(&error)
        .trim()
        .split(':')
        .next()
        .unwrap_or_default()
        .to_owned()
}

#[test]
fn tenants_never_see_or_write_each_others_rows() {
    let pg = setup();
    let interviewer_a = claims(INTERVIEWER_A, TENANT_A, "interviewer");
    let interviewer_b = claims(INTERVIEWER_B, TENANT_B, "interviewer");
    assert_eq!(
        pg.as_user(&interviewer_a, "SELECT count(*) FROM interview_sessions")
            .unwrap(),
        "2"
    );
    assert_eq!(
        pg.as_user(&interviewer_b, "SELECT count(*) FROM interview_sessions")
            .unwrap(),
        "1"
    );
    assert_eq!(
        pg.as_user(
            &interviewer_b,
            &format!("SELECT count(*) FROM interview_sessions WHERE id = '{SESSION_A1}'")
        )
        .unwrap(),
        "0"
    );
    assert_eq!(
        pg.as_user(&interviewer_b, "SELECT count(*) FROM transcript_entries")
            .unwrap(),
        "0"
    );

    let cross_tenant = format!(
        "INSERT INTO interview_sessions (tenant_id, interviewer_id, title, question_set) VALUES ('{TENANT_A}', '{INTERVIEWER_B}', 'sneaky', 'general')"
    );
    assert_eq!(code(pg.as_user(&interviewer_b, &cross_tenant)), "42501");
    let own_tenant = cross_tenant.replace(TENANT_A, TENANT_B);
    assert_eq!(
        pg.as_user(&interviewer_b, &own_tenant),
        Ok("INSERT 0 1".into())
    );
    // Cancelling another tenant's interview touches nothing.
    assert_eq!(
        pg.as_user(
            &interviewer_b,
            &format!(
                "UPDATE interview_sessions SET status = 'cancelled' WHERE id = '{SESSION_A2}'"
            )
        ),
        Ok("UPDATE 0".into())
    );
}

#[test]
fn a_candidate_sees_only_their_own_sessions_and_lines() {
    let pg = setup();
    let candidate_a2 = claims(CANDIDATE_A2, TENANT_A, "candidate");
    let candidate_a1 = claims(CANDIDATE_A1, TENANT_A, "candidate");
    assert_eq!(
        pg.as_user(&candidate_a2, "SELECT title FROM interview_sessions")
            .unwrap(),
        "A2"
    );
    assert_eq!(
        pg.as_user(&candidate_a2, "SELECT count(*) FROM transcript_entries")
            .unwrap(),
        "0"
    );
    assert_eq!(
        pg.as_user(&candidate_a1, "SELECT text FROM transcript_entries")
            .unwrap(),
        "Hello"
    );

    let into_other = format!(
        "INSERT INTO transcript_entries (tenant_id, session_id, item_id, seq, speaker, text, started_ms) VALUES ('{TENANT_A}', '{SESSION_A1}', 'x', 2, 'candidate', 'not mine', 0)"
    );
    assert_eq!(code(pg.as_user(&candidate_a2, &into_other)), "42501");
    assert_eq!(
        pg.as_user(&candidate_a1, &into_other),
        Ok("INSERT 0 1".into())
    );
    let schedule = format!(
        "INSERT INTO interview_sessions (tenant_id, title, question_set) VALUES ('{TENANT_A}', 'self', 'general')"
    );
    assert_eq!(code(pg.as_user(&candidate_a1, &schedule)), "42501");
    // Closing their own live session works; closing someone else's changes nothing.
    assert_eq!(
        pg.as_user(
            &candidate_a1,
            &format!(
                "UPDATE interview_sessions SET status = 'completed' WHERE id = '{SESSION_A1}'"
            )
        ),
        Ok("UPDATE 1".into())
    );
    assert_eq!(
        pg.as_user(
            &candidate_a2,
            &format!(
                "UPDATE interview_sessions SET status = 'completed' WHERE id = '{SESSION_A1}'"
            )
        ),
        Ok("UPDATE 0".into())
    );
}

#[test]
fn anonymous_requests_get_nothing() {
    let pg = setup();
    let result = pg.psql(
        &pg.database,
        "BEGIN; SET LOCAL ROLE anon; SELECT count(*) FROM interview_sessions; COMMIT;",
    );
    assert_eq!(code(result), "42501");
}

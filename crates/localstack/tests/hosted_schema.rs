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

/// Every migration in `supabase/migrations`, in the order their names sort (as `supabase db
/// push` applies them).
fn migrations() -> Vec<PathBuf> {
    let folder = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../supabase/migrations");
    let mut files: Vec<PathBuf> = std::fs::read_dir(&folder)
        .unwrap()
        .map(|entry| entry.unwrap().path())
        .filter(|path| path.extension().is_some_and(|e| e == "sql"))
        .collect();
    files.sort();
    assert!(files.len() >= 2, "{files:?}");
    files
}

fn setup() -> Pg {
    let pg = Pg::connect();
    pg.run_file("tests/fixtures/supabase_shim.sql");
    for migration in migrations() {
        pg.run_file(migration.to_str().unwrap());
    }
    pg.psql(
        &pg.database,
        &format!(
            "INSERT INTO tenants (id, name) VALUES ('{TENANT_A}', 'Acme'), ('{TENANT_B}', 'Globex');
             INSERT INTO interview_sessions (id, tenant_id, candidate_id, interviewer_id, title, question_set, status) VALUES
               ('{SESSION_A1}', '{TENANT_A}', '{CANDIDATE_A1}', '{INTERVIEWER_A}', 'A1', 'general', 'active'),
               ('{SESSION_A2}', '{TENANT_A}', NULL, '{INTERVIEWER_A}', 'A2', 'general', 'scheduled'),
               ('{SESSION_B}', '{TENANT_B}', NULL, '{INTERVIEWER_B}', 'B', 'general', 'scheduled');
             UPDATE interview_sessions SET candidate_email = '{CANDIDATE_A2}@example.test' WHERE id = '{SESSION_A2}';
             INSERT INTO transcript_entries (tenant_id, session_id, item_id, seq, speaker, text, started_ms) VALUES
               ('{TENANT_A}', '{SESSION_A1}', 'i1', 1, 'interviewer', 'Hello', 0);"
        ),
    )
    .unwrap();
    pg
}

/// Calls the transcript pipeline as `claims`; its JSON answer.
fn record(
    pg: &Pg,
    claims: &serde_json::Value,
    session: &str,
    entries: &serde_json::Value,
) -> Result<serde_json::Value, String> {
    let entries = entries.to_string().replace('\'', "''");
    pg.as_user(
        claims,
        &format!("SELECT viva_pipeline.record_transcript_lines('{session}', '{entries}'::jsonb)"),
    )
    .map(|out| serde_json::from_str(&out).unwrap())
}

fn line(item_id: &str, speaker: &str, text: &str) -> serde_json::Value {
    json!({"item_id": item_id, "seq": 2, "speaker": speaker, "text": text, "started_ms": 100, "ended_ms": 900})
}

fn code<T: std::fmt::Debug>(result: Result<T, String>) -> String {
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

    // Nobody writes lines directly any more; the pipeline does (tests below).
    let into_other = format!(
        "INSERT INTO transcript_entries (tenant_id, session_id, item_id, seq, speaker, text, started_ms) VALUES ('{TENANT_A}', '{SESSION_A1}', 'x', 2, 'candidate', 'not mine', 0)"
    );
    assert_eq!(code(pg.as_user(&candidate_a2, &into_other)), "42501");
    let schedule = format!(
        "INSERT INTO interview_sessions (tenant_id, title, question_set) VALUES ('{TENANT_A}', 'self', 'general')"
    );
    assert_eq!(code(pg.as_user(&candidate_a1, &schedule)), "42501");
    // Closing their own live session works; closing someone else's changes nothing.
    let close = format!(
        "UPDATE interview_sessions SET status = 'completed', ended_at = now(), duration_ms = 60000, realtime_cost_usd = 0.12 WHERE id = '{SESSION_A1}'"
    );
    assert_eq!(pg.as_user(&candidate_a2, &close), Ok("UPDATE 0".into()));
    assert_eq!(pg.as_user(&candidate_a1, &close), Ok("UPDATE 1".into()));
    // The server noted when, on its own clock.
    assert_eq!(
        pg.psql(
            &pg.database,
            &format!(
                "SELECT closed_at IS NOT NULL FROM interview_sessions WHERE id = '{SESSION_A1}'"
            )
        ),
        Ok("t".into())
    );
}

/// The attacks on transcript lines an outside review carried out, each refused, and the
/// pipeline's own path still working.
#[test]
fn only_the_pipeline_writes_lines_and_it_never_overwrites_one() {
    let pg = setup();
    let candidate = claims(CANDIDATE_A1, TENANT_A, "candidate");
    let other_candidate = claims(CANDIDATE_A2, TENANT_A, "candidate");
    let interviewer = claims(INTERVIEWER_A, TENANT_A, "interviewer");
    let stranger = claims(INTERVIEWER_B, TENANT_B, "interviewer");
    let insert = |speaker: &str, item: &str| {
        format!(
            "INSERT INTO transcript_entries (tenant_id, session_id, item_id, seq, speaker, text, started_ms) VALUES ('{TENANT_A}', '{SESSION_A1}', '{item}', 2, '{speaker}', 'forged', 0)"
        )
    };
    // Direct inserts into their own live session, as either speaker, by either role: refused.
    assert_eq!(
        code(pg.as_user(&candidate, &insert("candidate", "c1"))),
        "42501"
    );
    assert_eq!(
        code(pg.as_user(&candidate, &insert("interviewer", "i2"))),
        "42501"
    );
    assert_eq!(
        code(pg.as_user(&interviewer, &insert("interviewer", "i2"))),
        "42501"
    );
    // Rewriting or deleting a line that is there: refused.
    assert_eq!(
        code(pg.as_user(
            &candidate,
            "UPDATE transcript_entries SET text = 'rewritten'"
        )),
        "42501"
    );
    assert_eq!(
        code(pg.as_user(&candidate, "DELETE FROM transcript_entries")),
        "42501"
    );
    assert_eq!(
        code(pg.as_user(&interviewer, "DELETE FROM transcript_entries")),
        "42501"
    );

    // The pipeline: the caller's own session only.
    let batch = json!([
        line("c1", "candidate", "My answer"),
        line("i2", "interviewer", "Next question")
    ]);
    for intruder in [&other_candidate, &interviewer, &stranger] {
        assert_eq!(code(record(&pg, intruder, SESSION_A1, &batch)), "42501");
    }
    assert_eq!(code(record(&pg, &candidate, SESSION_A2, &batch)), "42501");
    assert_eq!(code(record(&pg, &candidate, SESSION_B, &batch)), "42501");
    let no_caller = json!({"role": "authenticated"});
    assert_eq!(code(record(&pg, &no_caller, SESSION_A1, &batch)), "42501");
    // Claims naming the right user but another tenant are refused too.
    let wrong_tenant = claims(CANDIDATE_A1, TENANT_B, "candidate");
    assert_eq!(
        code(record(&pg, &wrong_tenant, SESSION_A1, &batch)),
        "42501"
    );
    // Anonymous requests may not even call it.
    assert_eq!(
        code(pg.psql(
            &pg.database,
            &format!("BEGIN; SET LOCAL ROLE anon; SELECT viva_pipeline.record_transcript_lines('{SESSION_A1}', '[]'); COMMIT;")
        )),
        "42501"
    );

    let answer = record(&pg, &candidate, SESSION_A1, &batch).unwrap();
    assert_eq!(
        answer,
        json!({"accepted": 2, "duplicates": 0, "rejected": []})
    );
    // Sending it again stores nothing twice; a second report of an existing id with other
    // words (a pre-claimed or replayed id) never replaces the first.
    let replay = json!([line("c1", "candidate", "Something else entirely")]);
    assert_eq!(
        record(&pg, &candidate, SESSION_A1, &replay).unwrap(),
        json!({"accepted": 0, "duplicates": 1, "rejected": []})
    );
    assert_eq!(
        pg.psql(
            &pg.database,
            &format!("SELECT text || '|' || speaker || '|' || (reported_by = '{CANDIDATE_A1}') || '|' || (received_at > now() - interval '1 minute') FROM transcript_entries WHERE item_id = 'c1'")
        ),
        Ok("My answer|candidate|true|true".into())
    );
}

#[test]
fn bad_lines_are_rejected_one_by_one_and_the_rest_are_stored() {
    let pg = setup();
    let candidate = claims(CANDIDATE_A1, TENANT_A, "candidate");
    let long = "a".repeat(20_001);
    let batch = json!([
        line("ok1", "candidate", "fine"),
        line("long", "candidate", &long),
        {"item_id": "backwards", "seq": 3, "speaker": "candidate", "text": "x", "started_ms": 900, "ended_ms": 100},
        {"item_id": "who", "seq": 3, "speaker": "narrator", "text": "x", "started_ms": 0},
        {"item_id": "frac", "seq": 1.5, "speaker": "candidate", "text": "x", "started_ms": 0},
        {"item_id": "", "seq": 3, "speaker": "candidate", "text": "x", "started_ms": 0},
        "not an object",
        line("ok2", "interviewer", "also fine"),
    ]);
    let answer = record(&pg, &candidate, SESSION_A1, &batch).unwrap();
    assert_eq!(answer["accepted"], 2, "{answer}");
    let rejected: Vec<(String, String)> = answer["rejected"]
        .as_array()
        .unwrap()
        .iter()
        .map(|r| {
            (
                r["item_id"].as_str().unwrap().to_owned(),
                r["code"].as_str().unwrap().to_owned(),
            )
        })
        .collect();
    assert_eq!(
        rejected,
        [
            ("long", "line_too_long"),
            ("backwards", "ends_before_start"),
            ("who", "invalid_entry"),
            ("frac", "invalid_entry"),
            ("", "invalid_entry"),
            ("", "invalid_entry"),
        ]
        .map(|(a, b)| (a.to_owned(), b.to_owned()))
    );
    // A line at the limit exactly is fine; a batch over the size limit is refused whole.
    let at_limit = json!([line("edge", "candidate", &"b".repeat(20_000))]);
    assert_eq!(
        record(&pg, &candidate, SESSION_A1, &at_limit).unwrap()["accepted"],
        1
    );
    let too_many: Vec<serde_json::Value> = (0..501)
        .map(|i| line(&format!("n{i}"), "candidate", "x"))
        .collect();
    assert_eq!(
        code(record(&pg, &candidate, SESSION_A1, &json!(too_many))),
        "54000"
    );
}

#[test]
fn lines_kept_offline_are_accepted_after_the_close_and_marked_late_only_after_the_grace() {
    let pg = setup();
    let candidate = claims(CANDIDATE_A1, TENANT_A, "candidate");
    let close = format!(
        "UPDATE interview_sessions SET status = 'interrupted', ended_at = now(), duration_ms = 1000 WHERE id = '{SESSION_A1}'"
    );
    assert_eq!(pg.as_user(&candidate, &close), Ok("UPDATE 1".into()));
    // The ordinary final batch, just after the close: accepted, not late.
    let answer = record(
        &pg,
        &candidate,
        SESSION_A1,
        &json!([line("final", "candidate", "last words")]),
    )
    .unwrap();
    assert_eq!(answer["accepted"], 1);
    // A day later (the server's close moved back a day): still accepted, marked late.
    pg.psql(
        &pg.database,
        &format!("UPDATE interview_sessions SET closed_at = now() - interval '1 day' WHERE id = '{SESSION_A1}'"),
    )
    .unwrap();
    let answer = record(
        &pg,
        &candidate,
        SESSION_A1,
        &json!([line("offline", "interviewer", "kept on the laptop")]),
    )
    .unwrap();
    assert_eq!(answer["accepted"], 1);
    assert_eq!(
        pg.as_user(&candidate, "SELECT string_agg(item_id || '=' || late, ',' ORDER BY item_id) FROM transcript_entries WHERE item_id IN ('final', 'offline')"),
        Ok("final=false,offline=true".into())
    );
}

/// Every way a candidate could change a session other than ending their own live one.
#[test]
fn a_candidate_may_only_end_their_own_live_session() {
    let pg = setup();
    let candidate = claims(CANDIDATE_A1, TENANT_A, "candidate");
    let update = |set: &str| {
        pg.as_user(
            &candidate,
            &format!("UPDATE interview_sessions SET {set} WHERE id = '{SESSION_A1}'"),
        )
    };
    // A free retake (back to scheduled), a cancel, staying live with rewritten details.
    assert_eq!(code(update("status = 'scheduled'")), "42501");
    assert_eq!(
        code(update("status = 'cancelled', ended_at = now()")),
        "42501"
    );
    assert_eq!(code(update("status = 'active', ended_at = now()")), "42501");
    // Ending it while rewriting what it was.
    for rewrite in [
        "title = 'Senior role'",
        "question_set = 'easy'",
        "scheduled_at = now() - interval '1 year'",
        "candidate_email = 'someone@else.test'",
    ] {
        assert_eq!(
            code(update(&format!(
                "status = 'completed', ended_at = now(), {rewrite}"
            ))),
            "42501",
            "{rewrite}"
        );
    }
    // Columns never granted: refused outright.
    assert_eq!(
        code(update("started_at = now() - interval '1 hour'")),
        "42501"
    );
    assert_eq!(code(update("candidate_id = NULL")), "42501");
    assert_eq!(
        code(update("closed_at = now() - interval '1 day'")),
        "42501"
    );
    // A negative cost is not an ending.
    assert!(update("status = 'completed', ended_at = now(), realtime_cost_usd = -5").is_err());
    // The legitimate end, then nothing more: once ended it cannot be changed again.
    assert_eq!(
        update(
            "status = 'completed', ended_at = now(), duration_ms = 5000, realtime_cost_usd = 0.5"
        ),
        Ok("UPDATE 1".into())
    );
    assert_eq!(
        update("status = 'interrupted', ended_at = now()"),
        Ok("UPDATE 0".into())
    );
    assert_eq!(update("realtime_cost_usd = 0"), Ok("UPDATE 0".into()));
    assert_eq!(
        pg.psql(&pg.database, &format!("SELECT status || '|' || realtime_cost_usd || '|' || title FROM interview_sessions WHERE id = '{SESSION_A1}'")),
        Ok("completed|0.500000|A1".into())
    );
}

#[test]
fn an_interviewer_may_edit_and_cancel_only_what_has_not_started() {
    let pg = setup();
    let interviewer = claims(INTERVIEWER_A, TENANT_A, "interviewer");
    let update = |id: &str, set: &str| {
        pg.as_user(
            &interviewer,
            &format!("UPDATE interview_sessions SET {set} WHERE id = '{id}'"),
        )
    };
    // A started interview is out of reach: no ending it, no rewriting it.
    assert_eq!(
        update(SESSION_A1, "status = 'completed'"),
        Ok("UPDATE 0".into())
    );
    assert_eq!(
        update(SESSION_A1, "title = 'renamed'"),
        Ok("UPDATE 0".into())
    );
    // A scheduled one: no starting or finishing it from here, no binding a candidate, no
    // start or end times, no other owner.
    assert_eq!(code(update(SESSION_A2, "status = 'active'")), "42501");
    assert_eq!(code(update(SESSION_A2, "status = 'completed'")), "42501");
    assert_eq!(
        code(update(
            SESSION_A2,
            &format!("candidate_id = '{CANDIDATE_A1}'")
        )),
        "42501"
    );
    assert_eq!(code(update(SESSION_A2, "started_at = now()")), "42501");
    assert_eq!(code(update(SESSION_A2, "ended_at = now()")), "42501");
    assert_eq!(
        code(update(
            SESSION_A2,
            &format!("interviewer_id = '{INTERVIEWER_B}'")
        )),
        "42501"
    );
    // Another tenant's scheduled interview: untouched.
    assert_eq!(
        update(SESSION_B, "title = 'mine now'"),
        Ok("UPDATE 0".into())
    );
    // The legitimate edits, then a cancel, after which it is closed to edits.
    assert_eq!(
        update(
            SESSION_A2,
            "title = 'Staff engineer', scheduled_at = now() + interval '1 day'"
        ),
        Ok("UPDATE 1".into())
    );
    assert_eq!(
        update(SESSION_A2, "status = 'cancelled'"),
        Ok("UPDATE 1".into())
    );
    assert_eq!(
        update(SESSION_A2, "status = 'scheduled'"),
        Ok("UPDATE 0".into())
    );
}

#[test]
fn a_new_candidate_address_unbinds_the_old_candidate() {
    let pg = setup();
    let interviewer = claims(INTERVIEWER_A, TENANT_A, "interviewer");
    let first = claims(CANDIDATE_A2, TENANT_A, "candidate");
    let second = claims(CANDIDATE_A1, TENANT_A, "candidate");
    // A row from before this migration, with the candidate bound at scheduling.
    pg.psql(
        &pg.database,
        &format!("UPDATE interview_sessions SET candidate_id = '{CANDIDATE_A2}' WHERE id = '{SESSION_A2}'"),
    )
    .unwrap();
    let visible = |who: &serde_json::Value| {
        pg.as_user(
            who,
            &format!("SELECT count(*) FROM interview_sessions WHERE id = '{SESSION_A2}'"),
        )
        .unwrap()
    };
    assert_eq!(visible(&first), "1");
    assert_eq!(
        pg.as_user(
            &interviewer,
            &format!("UPDATE interview_sessions SET candidate_email = '{CANDIDATE_A1}@example.test' WHERE id = '{SESSION_A2}'")
        ),
        Ok("UPDATE 1".into())
    );
    assert_eq!(visible(&first), "0");
    assert_eq!(visible(&second), "1");
}

#[test]
fn interviewers_insert_scheduling_only() {
    let pg = setup();
    let interviewer = claims(INTERVIEWER_A, TENANT_A, "interviewer");
    let victim = claims(CANDIDATE_A1, TENANT_A, "candidate");
    let insert = |columns: &str, values: &str| {
        pg.as_user(
            &interviewer,
            &format!("INSERT INTO interview_sessions (title, question_set, {columns}) VALUES ('Fabricated', 'general', {values})"),
        )
    };
    // A finished interview naming a candidate (the victim, or the interviewer themself).
    assert_eq!(
        code(insert(
            "candidate_id, status, started_at, ended_at",
            &format!("'{CANDIDATE_A1}', 'completed', now() - interval '1 hour', now()")
        )),
        "42501"
    );
    assert_eq!(
        code(insert("candidate_id", &format!("'{INTERVIEWER_A}'"))),
        "42501"
    );
    assert_eq!(code(insert("status", "'active'")), "42501");
    assert_eq!(code(insert("started_at", "now()")), "42501");
    assert_eq!(code(insert("duration_ms", "60000")), "42501");
    assert_eq!(code(insert("mode", "'practice'")), "42501");
    assert_eq!(
        code(insert("created_at", "now() - interval '1 year'")),
        "42501"
    );
    assert_eq!(
        code(insert("interviewer_id", &format!("'{INTERVIEWER_B}'"))),
        "42501"
    );
    // Candidates schedule nothing.
    assert_eq!(
        code(pg.as_user(
            &victim,
            "INSERT INTO interview_sessions (title, question_set) VALUES ('x', 'y')"
        )),
        "42501"
    );
    // Nothing fabricated reached the victim.
    assert_eq!(
        pg.as_user(&victim, "SELECT count(*) FROM interview_sessions")
            .unwrap(),
        "1"
    );
    // The legitimate schedule: tenant and interviewer filled in by the server.
    assert_eq!(
        insert(
            "scheduled_at, candidate_email",
            "now() + interval '1 day', 'new@example.test'"
        ),
        Ok("INSERT 0 1".into())
    );
    assert_eq!(
        pg.psql(&pg.database, "SELECT tenant_id || '|' || interviewer_id || '|' || status || '|' || (candidate_id IS NULL) FROM interview_sessions WHERE candidate_email = 'new@example.test'"),
        Ok(format!("{TENANT_A}|{INTERVIEWER_A}|scheduled|true"))
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

#[test]
fn the_voice_api_is_the_tenants_default_or_the_interviewers_choice_never_the_candidates() {
    let pg = setup();
    let interviewer = claims(INTERVIEWER_A, TENANT_A, "interviewer");
    let other_tenant = claims(INTERVIEWER_B, TENANT_B, "interviewer");
    let candidate = claims(CANDIDATE_A1, TENANT_A, "candidate");
    let api = |id: &str| {
        pg.psql(
            &pg.database,
            &format!("SELECT public.viva_session_voice_api('{id}')"),
        )
    };
    // Every tenant starts on GPT-Live.
    assert_eq!(api(SESSION_A1), Ok("live".into()));
    assert_eq!(api(SESSION_A2), Ok("live".into()));
    // The interviewer chooses Realtime for a scheduled interview of theirs.
    let set = |who: &serde_json::Value, id: &str, to: &str| {
        pg.as_user(
            who,
            &format!("UPDATE interview_sessions SET voice_api = {to} WHERE id = '{id}'"),
        )
    };
    assert_eq!(
        set(&interviewer, SESSION_A2, "'realtime'"),
        Ok("UPDATE 1".into())
    );
    assert_eq!(api(SESSION_A2), Ok("realtime".into()));
    assert_eq!(code(set(&interviewer, SESSION_A2, "'gemini'")), "23514");
    assert_eq!(
        set(&other_tenant, SESSION_A2, "'live'"),
        Ok("UPDATE 0".into())
    );
    assert_eq!(api(SESSION_A2), Ok("realtime".into()));
    // Scheduling with a choice is allowed.
    assert_eq!(
        pg.as_user(
            &interviewer,
            "INSERT INTO interview_sessions (title, question_set, voice_api) VALUES ('R', 'general', 'realtime')"
        ),
        Ok("INSERT 0 1".into())
    );
    // The candidate cannot switch their live interview to the API that lets a client rewrite
    // the interviewer's instructions: not alone, not while ending it.
    assert_eq!(code(set(&candidate, SESSION_A1, "'realtime'")), "42501");
    assert_eq!(
        code(pg.as_user(
            &candidate,
            &format!("UPDATE interview_sessions SET status = 'completed', ended_at = now(), voice_api = 'realtime' WHERE id = '{SESSION_A1}'")
        )),
        "42501"
    );
    assert_eq!(api(SESSION_A1), Ok("live".into()));
    // Nobody changes a tenant's default or asks the server-side lookup through the API.
    assert_eq!(
        code(pg.as_user(
            &interviewer,
            &format!("UPDATE tenants SET voice_api = 'realtime' WHERE id = '{TENANT_A}'")
        )),
        "42501"
    );
    assert_eq!(
        code(pg.as_user(
            &interviewer,
            &format!("SELECT public.viva_session_voice_api('{SESSION_A2}')")
        )),
        "42501"
    );
    // The legitimate ending still works.
    assert_eq!(
        pg.as_user(
            &candidate,
            &format!("UPDATE interview_sessions SET status = 'completed', ended_at = now() WHERE id = '{SESSION_A1}'")
        ),
        Ok("UPDATE 1".into())
    );
}

#[test]
fn a_line_belongs_to_its_sessions_tenant_whoever_writes_it() {
    let pg = setup();
    // Even the superuser and the service role (which row-level security does not check)
    // cannot file a line of tenant A's session under tenant B, or move a session with lines.
    let misfiled = format!(
        "INSERT INTO transcript_entries (tenant_id, session_id, item_id, seq, speaker, text, started_ms)
         VALUES ('{TENANT_B}', '{SESSION_A1}', 'x1', 2, 'candidate', 'Hi', 0)"
    );
    assert_eq!(code(pg.psql(&pg.database, &misfiled)), "23503");
    assert_eq!(
        code(pg.psql(
            &pg.database,
            &format!("BEGIN; SET LOCAL ROLE service_role; {misfiled}; COMMIT;")
        )),
        "23503"
    );
    assert_eq!(
        code(pg.psql(
            &pg.database,
            &format!(
                "UPDATE interview_sessions SET tenant_id = '{TENANT_B}' WHERE id = '{SESSION_A1}'"
            )
        )),
        "23503"
    );
    // The line filed under its own session's tenant is the one that exists.
    assert_eq!(
        pg.psql(&pg.database, "SELECT count(*) FROM transcript_entries")
            .unwrap(),
        "1"
    );
}

#[test]
fn only_the_operator_switches_a_tenants_voice_off_or_changes_its_rollout() {
    let pg = setup();
    assert_eq!(
        pg.psql(
            &pg.database,
            &format!(
                "SELECT voice_enabled, voice_rollout_percent FROM tenants WHERE id = '{TENANT_A}'"
            )
        )
        .unwrap(),
        "t|100"
    );
    for who in [
        claims(INTERVIEWER_A, TENANT_A, "interviewer"),
        claims(CANDIDATE_A1, TENANT_A, "candidate"),
    ] {
        for change in ["voice_enabled = false", "voice_rollout_percent = 0"] {
            assert_eq!(
                code(pg.as_user(
                    &who,
                    &format!("UPDATE tenants SET {change} WHERE id = '{TENANT_A}'")
                )),
                "42501",
                "{who} {change}"
            );
        }
    }
    assert_eq!(
        code(pg.psql(
            &pg.database,
            &format!("UPDATE tenants SET voice_rollout_percent = 101 WHERE id = '{TENANT_A}'")
        )),
        "23514"
    );
    pg.psql(
        &pg.database,
        &format!("UPDATE tenants SET voice_enabled = false WHERE id = '{TENANT_A}'"),
    )
    .unwrap();
    // Members read the switch (the app can say why it offers typed answers).
    assert_eq!(
        pg.as_user(
            &claims(CANDIDATE_A1, TENANT_A, "candidate"),
            "SELECT voice_enabled FROM tenants"
        )
        .unwrap(),
        "f"
    );
}

#[test]
fn a_consent_is_recorded_by_the_functions_only_and_no_interview_goes_live_without_one() {
    let pg = setup();
    let interviewer = claims(INTERVIEWER_A, TENANT_A, "interviewer");
    let candidate = claims(CANDIDATE_A1, TENANT_A, "candidate");
    let addressed = claims(CANDIDATE_A2, TENANT_A, "candidate");
    let consent = |id: &str| {
        pg.psql(
            &pg.database,
            &format!(
                "SELECT coalesce(consent_notice, '-') FROM interview_sessions WHERE id = '{id}'"
            ),
        )
    };
    // A candidate cannot forge (or wipe) an agreement on their live interview: not alone, not
    // while ending it.
    assert_eq!(
        code(pg.as_user(
            &candidate,
            &format!("UPDATE interview_sessions SET consent_at = now(), consent_notice = 'forged' WHERE id = '{SESSION_A1}'")
        )),
        "42501"
    );
    assert_eq!(
        code(pg.as_user(
            &candidate,
            &format!("UPDATE interview_sessions SET status = 'completed', ended_at = now(), consent_notice = 'forged', consent_at = now() WHERE id = '{SESSION_A1}'")
        )),
        "42501"
    );
    // Nor can the one it is addressed to, before it starts; nor an interviewer, who could
    // otherwise schedule an interview "agreed" in the candidate's name.
    assert_eq!(
        code(pg.as_user(
            &addressed,
            &format!("UPDATE interview_sessions SET consent_at = now(), consent_notice = 'v1' WHERE id = '{SESSION_A2}'")
        )),
        "42501"
    );
    assert_eq!(
        code(pg.as_user(
            &interviewer,
            &format!("UPDATE interview_sessions SET consent_at = now(), consent_notice = 'v1' WHERE id = '{SESSION_A2}'")
        )),
        "42501"
    );
    assert_eq!(
        code(pg.as_user(
            &interviewer,
            "INSERT INTO interview_sessions (title, question_set, consent_at, consent_notice) VALUES ('C', 'general', now(), 'v1')"
        )),
        "42501"
    );
    assert_eq!(consent(SESSION_A2), Ok("-".into()));
    // The functions' own connection (a trusted role) cannot make an interview live without an
    // agreement either, nor record half of one or a malformed version.
    let server = |sql: &str| pg.psql(&pg.database, sql);
    assert_eq!(
        code(server(&format!(
            "UPDATE interview_sessions SET status = 'active', candidate_id = '{CANDIDATE_A2}', started_at = now() WHERE id = '{SESSION_A2}'"
        ))),
        "23514"
    );
    assert_eq!(
        code(server(&format!(
            "UPDATE interview_sessions SET consent_at = now() WHERE id = '{SESSION_A2}'"
        ))),
        "23514"
    );
    assert_eq!(
        code(server(&format!(
            "UPDATE interview_sessions SET consent_at = now(), consent_notice = 'v 1; --' WHERE id = '{SESSION_A2}'"
        ))),
        "23514"
    );
    // With one, it starts; and everyone who reads the session reads the agreement.
    assert_eq!(
        server(&format!(
            "UPDATE interview_sessions SET status = 'active', candidate_id = '{CANDIDATE_A2}', started_at = now(), consent_at = now(), consent_notice = 'viva-2026-12' WHERE id = '{SESSION_A2}'"
        )),
        Ok("UPDATE 1".into())
    );
    for reader in [&interviewer, &addressed] {
        assert_eq!(
            pg.as_user(
                reader,
                &format!("SELECT consent_notice FROM interview_sessions WHERE id = '{SESSION_A2}'")
            ),
            Ok("viva-2026-12".into())
        );
    }
}

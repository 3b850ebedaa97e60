//! The transcript of record in a real PostgreSQL: `PgObservations`, an attack on each rule of its migration, and the standalone `viva-proxy` writing it.

// Each test gets its own database in the harness's cluster (`VIVA_TEST_PG_BIN`,
// `VIVA_TEST_PG_PORT`, `VIVA_TEST_PGBOUNCER_PORT`, from `cargo xtask test`) with what a new
// hosted project has (the Supabase shim's roles and auth functions, and the grants a hosted
// project gives its API roles on everything new in `public`), then every migration in
// supabase/migrations, as `supabase db push` applies them.

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)] // Tests fail loudly by design.

use std::io::{BufRead, BufReader};
use std::path::PathBuf;
use std::process::{Child, Command, ExitStatus, Stdio};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex, OnceLock};
use std::time::{Duration, Instant};

use futures_util::{SinkExt, StreamExt};
use serde_json::{Value, json};
use tokio_tungstenite::tungstenite::Message;
use viva_contract::Entry;
use viva_contract::observed::{ObservedFragment, Speaker, Verdict, compare, normalise};
use viva_localstack::{Config, LocalStack, Signaling};
use viva_proxy::observe::{
    CheckError, Observations, ObserveError, PgObservations, WindowEnd, WindowId, WindowStart,
};
use viva_rtc::{CallConfig, CallEvent, Grant, Media};

// ---- the database ----

static NEXT_DATABASE: AtomicUsize = AtomicUsize::new(0);
/// The proxy's login role here: a member of `viva_proxy`, as the operator's is.
const PROXY_LOGIN: &str = "viva_proxy_observer_test";
/// The migration under test.
const MIGRATION: &str = "20261209000000_observed_record.sql";
/// The one after it: each fragment's item id (Realtime calls).
const ITEM_IDS: &str = "20261210000000_observed_item_ids.sql";

const TENANT_A: &str = "aaaaaaaa-0000-4000-8000-0000000000b1";
const TENANT_B: &str = "bbbbbbbb-0000-4000-8000-0000000000b1";
const CANDIDATE_A: &str = "a1a1a1a1-0000-4000-8000-0000000000b1";
const INTERVIEWER_A: &str = "1a1a1a1a-0000-4000-8000-0000000000b1";
const INTERVIEWER_B: &str = "1b1b1b1b-0000-4000-8000-0000000000b1";
const SESSION_A: &str = "5a150000-0000-4000-8000-0000000000b1";
const SESSION_A2: &str = "5a150000-0000-4000-8000-0000000000b2";
const SESSION_B: &str = "5b150000-0000-4000-8000-0000000000b1";
/// Session A's record: one window still open, one closed; session B's: one open window.
const WINDOW_OPEN: &str = "0b500000-0000-4000-8000-0000000000a1";
const WINDOW_CLOSED: &str = "0b500000-0000-4000-8000-0000000000a2";
const WINDOW_B: &str = "0b500000-0000-4000-8000-0000000000b1";

/// What a hosted project grants its API roles on everything created in `public` (Supabase sets
/// these default privileges for the role migrations run as): the migration must take them back.
const HOSTED_DEFAULT_GRANTS: &str = "
alter default privileges in schema public grant all on tables to anon, authenticated, service_role;
alter default privileges in schema public grant all on sequences to anon, authenticated, service_role;
alter default privileges in schema public grant all on functions to anon, authenticated, service_role;";

fn var(name: &str) -> String {
    std::env::var(name)
        .unwrap_or_else(|_| panic!("{name} is not set: run this test through `cargo xtask test`"))
}

fn root() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../..")
}

/// Every migration, in the order their names sort (as `supabase db push` applies them).
fn migrations() -> Vec<PathBuf> {
    let mut files: Vec<PathBuf> = std::fs::read_dir(root().join("supabase/migrations"))
        .unwrap()
        .map(|entry| entry.unwrap().path())
        .filter(|path| path.extension().is_some_and(|e| e == "sql"))
        .collect();
    files.sort();
    assert!(
        files.iter().any(|f| f.ends_with(MIGRATION)),
        "{MIGRATION} is missing: {files:?}"
    );
    files
}

struct Pg {
    bin: PathBuf,
    port: String,
    database: String,
}

impl Pg {
    /// A database with every migration, the proxy's login role and the seed rows.
    fn create() -> Self {
        let pg = Self::with_migrations(|_| true);
        pg.sql(&format!(
            "insert into tenants (id, name) values ('{TENANT_A}', 'Acme'), ('{TENANT_B}', 'Globex');
             insert into interview_sessions (id, tenant_id, candidate_id, interviewer_id, title, question_set, status) values
               ('{SESSION_A}', '{TENANT_A}', '{CANDIDATE_A}', '{INTERVIEWER_A}', 'A', 'general', 'active'),
               ('{SESSION_A2}', '{TENANT_A}', null, '{INTERVIEWER_A}', 'A2', 'general', 'active'),
               ('{SESSION_B}', '{TENANT_B}', null, '{INTERVIEWER_B}', 'B', 'general', 'active');
             insert into observed_windows (id, tenant_id, session_id, provider_session, api, instance, from_ms, to_ms) values
               ('{WINDOW_OPEN}', '{TENANT_A}', '{SESSION_A}', 'live_a', 'live', 'proxy-1', 0, 2000),
               ('{WINDOW_B}', '{TENANT_B}', '{SESSION_B}', 'live_b', 'live', 'proxy-1', 0, 900);
             insert into observed_windows (id, tenant_id, session_id, provider_session, api, instance, from_ms, to_ms, ended_at, end_reason) values
               ('{WINDOW_CLOSED}', '{TENANT_A}', '{SESSION_A}', 'live_a0', 'live', 'proxy-0', 0, 5000, now(), 'drain');
             insert into observed_fragments (window_id, tenant_id, session_id, provider_session, speaker, text, start_ms, end_ms) values
               ('{WINDOW_CLOSED}', '{TENANT_A}', '{SESSION_A}', 'live_a0', 'interviewer', 'Why Rust?', 0, 900),
               ('{WINDOW_CLOSED}', '{TENANT_A}', '{SESSION_A}', 'live_a0', 'candidate', ' Memory safety.', 1200, 2400),
               ('{WINDOW_OPEN}', '{TENANT_A}', '{SESSION_A}', 'live_a', 'interviewer', 'And then?', 0, 800),
               ('{WINDOW_B}', '{TENANT_B}', '{SESSION_B}', 'live_b', 'candidate', 'Globex words', 100, 900);"
        ))
        .unwrap();
        pg
    }

    /// A fresh database with the shim, a hosted project's default grants, the migrations
    /// `apply` chooses, and the proxy's login role. Roles belong to the whole cluster, which
    /// tests in other processes share: creating or granting one can race with them, so a
    /// failed set-up is tried again on a new database.
    fn with_migrations(apply: impl Fn(&PathBuf) -> bool) -> Self {
        let mut tries = 0;
        loop {
            tries += 1;
            let pg = Self {
                bin: PathBuf::from(var("VIVA_TEST_PG_BIN")),
                port: var("VIVA_TEST_PG_PORT"),
                database: format!(
                    "viva_observed_{}_{}",
                    std::process::id(),
                    NEXT_DATABASE.fetch_add(1, Ordering::Relaxed)
                ),
            };
            match pg.set_up(&apply) {
                Ok(()) => return pg,
                Err(problem) if tries < 4 => {
                    eprintln!("set-up failed, trying again: {problem}");
                    std::thread::sleep(Duration::from_millis(300));
                }
                Err(problem) => panic!("{problem}"),
            }
        }
    }

    fn set_up(&self, apply: &impl Fn(&PathBuf) -> bool) -> Result<(), String> {
        self.psql("postgres", &format!("CREATE DATABASE {}", self.database))?;
        self.run_file(&root().join("crates/localstack/tests/fixtures/supabase_shim.sql"))?;
        self.sql(HOSTED_DEFAULT_GRANTS)?;
        for migration in migrations().iter().filter(|m| apply(m)) {
            self.run_file(migration)?;
        }
        self.sql(&format!(
            "do $$ begin create role {PROXY_LOGIN} login; exception when duplicate_object or unique_violation then null; end $$;
             grant viva_proxy to {PROXY_LOGIN};"
        ))?;
        Ok(())
    }

    fn run_file(&self, file: &PathBuf) -> Result<(), String> {
        let out = Command::new(self.bin.join("psql"))
            .args(["-h", "127.0.0.1", "-p", &self.port, "-U", "postgres", "-d"])
            .arg(&self.database)
            .args(["-v", "ON_ERROR_STOP=1", "-q", "-f"])
            .arg(file)
            .output()
            .unwrap();
        if out.status.success() {
            Ok(())
        } else {
            Err(format!(
                "{}: {}",
                file.display(),
                String::from_utf8_lossy(&out.stderr)
            ))
        }
    }

    /// Runs SQL in `database` as the superuser; the rows as text, or the error with its
    /// SQLSTATE.
    fn psql(&self, database: &str, sql: &str) -> Result<String, String> {
        let out = Command::new(self.bin.join("psql"))
            .args(["-h", "127.0.0.1", "-p", &self.port, "-U", "postgres", "-d"])
            .arg(database)
            .args([
                "-v",
                "ON_ERROR_STOP=1",
                "-v",
                "VERBOSITY=verbose",
                "-At",
                "-c",
            ])
            .arg(sql)
            .output()
            .unwrap();
        if out.status.success() {
            Ok(String::from_utf8_lossy(&out.stdout).trim().to_owned())
        } else {
            Err(String::from_utf8_lossy(&out.stderr).into_owned())
        }
    }

    /// Runs SQL in the test's database as the superuser (the operator in the SQL editor).
    fn sql(&self, sql: &str) -> Result<String, String> {
        self.psql(&self.database, sql)
    }

    /// Runs SQL in one transaction as `role`; the rows as text.
    fn as_role(&self, role: &str, sql: &str) -> Result<String, String> {
        self.sql(&format!("BEGIN; SET LOCAL ROLE {role}; {sql}; COMMIT;"))
            .map(|out| without_tags(&out))
    }

    /// Runs SQL as PostgREST does for a signed-in user with these JWT claims.
    fn as_user(&self, claims: &Value, sql: &str) -> Result<String, String> {
        let claims = claims.to_string().replace('\'', "''");
        self.sql(&format!(
            "BEGIN; SET LOCAL ROLE authenticated; SET LOCAL request.jwt.claims = '{claims}'; {sql}; COMMIT;"
        ))
        .map(|out| without_tags(&out))
    }

    /// Both tables as the superuser sees them, for "nothing changed".
    fn everything(&self) -> String {
        self.sql(
            "select (select string_agg(concat_ws('|', id, tenant_id, session_id, provider_session, api, instance, from_ms, to_ms, started_at, ended_at, end_reason), E'\\n' order by id) from observed_windows)
             || E'\\n--\\n' ||
             (select string_agg(concat_ws('|', id, window_id, tenant_id, session_id, provider_session, speaker, text, start_ms, end_ms), E'\\n' order by id) from observed_fragments)",
        )
        .unwrap()
    }

    /// The proxy role's connection string, through `port` (the server's or the pooler's).
    fn url_via(&self, port: &str) -> String {
        format!(
            "postgres://{PROXY_LOGIN}@127.0.0.1:{port}/{}",
            self.database
        )
    }

    fn url(&self) -> String {
        self.url_via(&self.port)
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

/// psql's command tags of a multi-statement string left out.
fn without_tags(out: &str) -> String {
    out.lines()
        .filter(|l| !matches!(*l, "BEGIN" | "SET" | "COMMIT"))
        .collect::<Vec<_>>()
        .join("\n")
}

/// The SQLSTATE of a refused statement.
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

fn claims(sub: &str, tenant: &str, role: &str) -> Value {
    json!({"sub": sub, "role": "authenticated", "aud": "authenticated", "email": format!("{sub}@example.test"),
           "app_metadata": {"tenant_id": tenant, "viva_role": role}})
}

fn insert_window(tenant: &str, session: &str) -> String {
    format!(
        "insert into public.observed_windows (tenant_id, session_id, provider_session, api, instance, from_ms, to_ms)
         values ('{tenant}', '{session}', 'live_new', 'live', 'proxy-9', 0, 0)"
    )
}

fn insert_fragment(window: &str, tenant: &str, session: &str, provider: &str) -> String {
    format!(
        "insert into public.observed_fragments (window_id, tenant_id, session_id, provider_session, speaker, text, start_ms, end_ms)
         values ('{window}', '{tenant}', '{session}', '{provider}', 'candidate', ' I never said this.', 3000, 3900)"
    )
}

/// How many rows a data-changing statement touched (row security skips rows silently).
fn touched(statement: &str) -> String {
    format!("with changed as ({statement} returning 1) select count(*) from changed")
}

const TABLES: [&str; 2] = ["observed_windows", "observed_fragments"];

// ---- who may read and write: one attack per rule ----

#[test]
fn a_candidate_neither_reads_nor_writes_the_record_of_their_own_interview() {
    let pg = Pg::create();
    let before = pg.everything();
    let me = claims(CANDIDATE_A, TENANT_A, "candidate");
    for table in TABLES {
        // Where the record has gaps is not the candidate's to know.
        assert_eq!(
            pg.as_user(&me, &format!("select count(*) from public.{table}")),
            Ok("0".to_owned()),
            "{table}"
        );
        assert_eq!(
            code(pg.as_user(&me, &format!("delete from public.{table}"))),
            "42501",
            "{table}"
        );
    }
    assert_eq!(
        code(pg.as_user(&me, &insert_window(TENANT_A, SESSION_A))),
        "42501"
    );
    assert_eq!(
        code(pg.as_user(
            &me,
            &insert_fragment(WINDOW_OPEN, TENANT_A, SESSION_A, "live_a")
        )),
        "42501"
    );
    assert_eq!(
        code(pg.as_user(
            &me,
            "update public.observed_windows set end_reason = 'closed', to_ms = 999999"
        )),
        "42501"
    );
    assert_eq!(
        code(pg.as_user(
            &me,
            "update public.observed_fragments set text = 'I said exactly this.'"
        )),
        "42501"
    );
    assert_eq!(pg.everything(), before);
}

#[test]
fn an_interviewer_reads_their_tenants_record_and_cannot_change_it() {
    let pg = Pg::create();
    let before = pg.everything();
    let me = claims(INTERVIEWER_A, TENANT_A, "interviewer");
    assert_eq!(
        pg.as_user(
            &me,
            "select string_agg(id::text || ':' || coalesce(end_reason, 'open'), ',' order by id) from public.observed_windows"
        ),
        Ok(format!("{WINDOW_OPEN}:open,{WINDOW_CLOSED}:drain"))
    );
    assert_eq!(
        pg.as_user(
            &me,
            "select string_agg(text, '|' order by id) from public.observed_fragments"
        ),
        Ok("Why Rust?| Memory safety.|And then?".to_owned())
    );
    for table in TABLES {
        assert_eq!(
            code(pg.as_user(&me, &format!("delete from public.{table}"))),
            "42501",
            "{table}"
        );
    }
    assert_eq!(
        code(pg.as_user(&me, &insert_window(TENANT_A, SESSION_A))),
        "42501"
    );
    assert_eq!(
        code(pg.as_user(
            &me,
            &insert_fragment(WINDOW_OPEN, TENANT_A, SESSION_A, "live_a")
        )),
        "42501"
    );
    assert_eq!(
        code(pg.as_user(&me, "update public.observed_windows set to_ms = 999999")),
        "42501"
    );
    assert_eq!(
        code(pg.as_user(&me, "update public.observed_fragments set text = 'x'")),
        "42501"
    );
    assert_eq!(pg.everything(), before);
}

#[test]
fn an_interviewer_of_another_tenant_sees_nothing_of_it() {
    let pg = Pg::create();
    let other = claims(INTERVIEWER_B, TENANT_B, "interviewer");
    for table in TABLES {
        assert_eq!(
            pg.as_user(
                &other,
                &format!("select count(*) from public.{table} where tenant_id = '{TENANT_A}'")
            ),
            Ok("0".to_owned()),
            "{table}"
        );
    }
    // Its own tenant's, only.
    assert_eq!(
        pg.as_user(
            &other,
            "select string_agg(text, '|') from public.observed_fragments"
        ),
        Ok("Globex words".to_owned())
    );
    // A token without a tenant reads nothing at all.
    let nowhere = json!({"sub": INTERVIEWER_A, "role": "authenticated", "app_metadata": {"viva_role": "interviewer"}});
    assert_eq!(
        pg.as_user(&nowhere, "select count(*) from public.observed_windows"),
        Ok("0".to_owned())
    );
}

#[test]
fn anonymous_requests_get_nothing() {
    let pg = Pg::create();
    for table in TABLES {
        assert_eq!(
            code(pg.as_role("anon", &format!("select count(*) from public.{table}"))),
            "42501",
            "{table}"
        );
    }
    assert_eq!(
        code(pg.as_role("anon", &insert_window(TENANT_A, SESSION_A))),
        "42501"
    );
}

#[test]
fn the_service_role_may_read_but_never_write_the_record() {
    let pg = Pg::create();
    let before = pg.everything();
    assert_eq!(
        pg.as_role(
            "service_role",
            "select count(*) from public.observed_fragments"
        ),
        Ok("4".to_owned())
    );
    assert_eq!(
        code(pg.as_role("service_role", &insert_window(TENANT_A, SESSION_A))),
        "42501"
    );
    assert_eq!(
        code(pg.as_role(
            "service_role",
            &insert_fragment(WINDOW_OPEN, TENANT_A, SESSION_A, "live_a")
        )),
        "42501"
    );
    assert_eq!(
        code(pg.as_role(
            "service_role",
            "update public.observed_windows set to_ms = 999999"
        )),
        "42501"
    );
    assert_eq!(
        code(pg.as_role("service_role", "delete from public.observed_fragments")),
        "42501"
    );
    assert_eq!(pg.everything(), before);
}

#[test]
fn the_proxy_never_changes_or_deletes_a_fragment_or_a_window() {
    let pg = Pg::create();
    let before = pg.everything();
    for statement in [
        "update public.observed_fragments set text = 'I said exactly this.'",
        "update public.observed_fragments set start_ms = 0",
        "delete from public.observed_fragments",
        "truncate public.observed_fragments",
        "delete from public.observed_windows",
        "truncate public.observed_windows cascade",
    ] {
        assert_eq!(
            code(pg.as_role("viva_proxy", statement)),
            "42501",
            "{statement}"
        );
    }
    assert_eq!(pg.everything(), before);
}

#[test]
fn a_closed_window_is_final_for_the_proxy_and_for_everyone_else() {
    let pg = Pg::create();
    let before = pg.everything();
    // Row security does not even let the proxy reach it: nothing is changed.
    for change in [
        "set ended_at = null, end_reason = null",
        "set to_ms = 999999",
        "set end_reason = 'closed'",
    ] {
        assert_eq!(
            pg.as_role(
                "viva_proxy",
                &touched(&format!(
                    "update public.observed_windows {change} where id = '{WINDOW_CLOSED}'"
                ))
            ),
            Ok("0".to_owned()),
            "{change}"
        );
    }
    // Nor can the table's owner (or anything that bypasses row security): the trigger holds.
    for change in [
        "set ended_at = null, end_reason = null",
        "set to_ms = 999999",
    ] {
        assert_eq!(
            code(pg.sql(&format!(
                "update public.observed_windows {change} where id = '{WINDOW_CLOSED}'"
            ))),
            "42501",
            "{change}"
        );
    }
    assert_eq!(pg.everything(), before);
}

#[test]
fn an_open_window_only_grows_and_ends_once_on_the_databases_clock() {
    let pg = Pg::create();
    let before = pg.everything();
    let update = |change: &str| {
        pg.as_role(
            "viva_proxy",
            &touched(&format!(
                "update public.observed_windows {change} where id = '{WINDOW_OPEN}'"
            )),
        )
    };
    // Shrinking would claim less was heard... or, moved back, hide a gap: refused.
    assert_eq!(code(update("set to_ms = 1999")), "42501");
    // Where it starts, whose it is and who listened are not the proxy's to change.
    for change in [
        "set from_ms = 0".to_owned(),
        format!("set tenant_id = '{TENANT_B}'"),
        format!("set session_id = '{SESSION_A2}'"),
        "set provider_session = 'live_other'".to_owned(),
        "set instance = 'proxy-2'".to_owned(),
        "set started_at = now() - interval '1 day'".to_owned(),
    ] {
        assert_eq!(code(update(&change)), "42501", "{change}");
    }
    // An end needs a reason.
    assert_eq!(code(update("set ended_at = now()")), "23514");
    assert_eq!(pg.everything(), before);

    // It grows, and ends once: when the database says, whatever the proxy sent.
    assert_eq!(update("set to_ms = 2500"), Ok("1".to_owned()));
    assert_eq!(
        update("set to_ms = 2600, end_reason = 'closed', ended_at = '2000-01-01'"),
        Ok("1".to_owned())
    );
    assert_eq!(
        pg.sql(&format!(
            "select to_ms || '|' || end_reason || '|' || (ended_at > now() - interval '1 minute') from observed_windows where id = '{WINDOW_OPEN}'"
        )),
        Ok("2600|closed|true".to_owned())
    );
    assert_eq!(update("set end_reason = 'lost'"), Ok("0".to_owned()));
}

#[test]
fn a_window_opens_open_in_its_sessions_tenant() {
    let pg = Pg::create();
    // A session of another tenant, or no such session: the database refuses.
    assert_eq!(
        code(pg.as_role("viva_proxy", &insert_window(TENANT_B, SESSION_A))),
        "23503"
    );
    assert_eq!(
        code(pg.as_role(
            "viva_proxy",
            &insert_window(TENANT_A, "5a150000-0000-4000-8000-0000000000ff")
        )),
        "23503"
    );
    // Not already ended, not with an id or a start of its choosing.
    for (columns, values) in [
        ("end_reason, ended_at", "'closed', now()"),
        ("id", "'0b500000-0000-4000-8000-0000000000c1'"),
        ("started_at", "now() - interval '1 day'"),
    ] {
        assert_eq!(
            code(pg.as_role(
                "viva_proxy",
                &format!(
                    "insert into public.observed_windows (tenant_id, session_id, provider_session, api, instance, from_ms, to_ms, {columns})
                     values ('{TENANT_A}', '{SESSION_A}', 'live_new', 'live', 'proxy-9', 0, 0, {values})"
                )
            )),
            "42501",
            "{columns}"
        );
    }
    // Its shape.
    for (api, from_ms, to_ms) in [("live", 10, 5), ("voice", 0, 0), ("live", -1, 0)] {
        assert_eq!(
            code(pg.as_role(
                "viva_proxy",
                &format!(
                    "insert into public.observed_windows (tenant_id, session_id, provider_session, api, instance, from_ms, to_ms)
                     values ('{TENANT_A}', '{SESSION_A}', 'live_new', '{api}', 'proxy-9', {from_ms}, {to_ms})"
                )
            )),
            "23514",
            "{api} {from_ms} {to_ms}"
        );
    }
    assert_eq!(
        pg.as_role("viva_proxy", &touched(&insert_window(TENANT_A, SESSION_A))),
        Ok("1".to_owned())
    );
}

#[test]
fn fragments_go_only_into_an_open_window_and_belong_to_its_session() {
    let pg = Pg::create();
    let before = pg.everything();
    // A closed window takes nothing more: no words added after the fact.
    assert_eq!(
        code(pg.as_role(
            "viva_proxy",
            &insert_fragment(WINDOW_CLOSED, TENANT_A, SESSION_A, "live_a0")
        )),
        "42501"
    );
    // Another tenant's, another session's or another provider session's fragment in this
    // window.
    for (tenant, session, provider) in [
        (TENANT_B, SESSION_A, "live_a"),
        (TENANT_A, SESSION_A2, "live_a"),
        (TENANT_A, SESSION_A, "live_other"),
        (TENANT_B, SESSION_B, "live_a"),
    ] {
        assert_eq!(
            code(pg.as_role(
                "viva_proxy",
                &insert_fragment(WINDOW_OPEN, tenant, session, provider)
            )),
            "23503",
            "{tenant} {session} {provider}"
        );
    }
    // Its shape, and its place in the arrival order is the database's.
    let fragment = |columns: &str, values: &str| {
        pg.as_role(
            "viva_proxy",
            &format!(
                "insert into public.observed_fragments (window_id, tenant_id, session_id, provider_session, {columns})
                 values ('{WINDOW_OPEN}', '{TENANT_A}', '{SESSION_A}', 'live_a', {values})"
            ),
        )
    };
    let too_long = format!("'candidate', '{}', 0, 10", "x".repeat(20_001));
    for values in [
        "'system', 'hi', 0, 10",
        "'candidate', 'hi', 10, 5",
        "'candidate', 'hi', -5, 10",
        too_long.as_str(),
    ] {
        assert_eq!(
            code(fragment("speaker, text, start_ms, end_ms", values)),
            "23514",
            "{}",
            &values[..values.len().min(40)]
        );
    }
    // Generated always: the database numbers them, whatever the role's rights.
    assert_eq!(
        code(fragment(
            "id, speaker, text, start_ms, end_ms",
            "1, 'candidate', 'first!', 0, 10"
        )),
        "428C9"
    );
    assert_eq!(pg.everything(), before);
    assert_eq!(
        pg.as_role(
            "viva_proxy",
            &touched(&insert_fragment(WINDOW_OPEN, TENANT_A, SESSION_A, "live_a"))
        ),
        Ok("1".to_owned())
    );
}

#[test]
fn the_proxy_reads_nothing_but_its_record() {
    let pg = Pg::create();
    for table in ["transcript_entries", "interview_sessions", "tenants"] {
        assert_eq!(
            code(pg.as_role(
                "viva_proxy",
                &format!("select count(*) from public.{table}")
            )),
            "42501",
            "{table}"
        );
    }
    assert_eq!(
        pg.as_role(
            "viva_proxy",
            "select count(*) from public.observed_fragments"
        ),
        Ok("4".to_owned())
    );
}

#[test]
fn deleting_a_session_deletes_its_record() {
    let pg = Pg::create();
    pg.sql(&format!(
        "delete from interview_sessions where id = '{SESSION_A}'"
    ))
    .unwrap();
    assert_eq!(
        pg.sql("select count(*) || '|' || (select count(*) from observed_fragments) from observed_windows"),
        Ok("1|1".to_owned())
    );
}

// ---- PgObservations ----

fn start(session: &str, tenant: &str, provider: &str, from_ms: u64) -> WindowStart {
    WindowStart {
        tenant_id: tenant.to_owned(),
        session_id: session.to_owned(),
        provider_session: provider.to_owned(),
        api: "live".to_owned(),
        instance: "proxy-test".to_owned(),
        from_ms,
    }
}

fn heard(
    provider: &str,
    speaker: Speaker,
    text: &str,
    start_ms: u64,
    end_ms: u64,
) -> ObservedFragment {
    ObservedFragment {
        provider_session: provider.to_owned(),
        speaker,
        text: text.to_owned(),
        start_ms,
        end_ms,
        item_id: None,
    }
}

async fn store(url: &str) -> PgObservations {
    PgObservations::new(viva_proxy::lease::pg::pool(url, 2).unwrap())
        .await
        .unwrap()
}

/// What the proxy's observer does over a call with a drain, a gap and a second provider
/// session, read back as review reads it.
async fn round_trip(store: &PgObservations) {
    let session = SESSION_A2;
    let question = heard("live_1", Speaker::Interviewer, "Why Rust?", 0, 900);
    let answer = heard(
        "live_1",
        Speaker::Candidate,
        " Memory safety.",
        1_200,
        2_400,
    );

    // Opened as the answer went out: from 0, claiming nothing yet.
    let first = store
        .open_window(&start(session, TENANT_A, "live_1", 0))
        .await
        .unwrap();
    store
        .record(&first, &[question.clone(), answer.clone()], 2_400)
        .await
        .unwrap();
    // A checkpoint alone moves the end; an older one never moves it back.
    store.record(&first, &[], 2_600).await.unwrap();
    store.record(&first, &[], 1_000).await.unwrap();
    store.close(&first, 2_500, WindowEnd::Drain).await.unwrap();
    // Once ended, it takes nothing more and does not end again.
    assert_eq!(
        store
            .record(&first, std::slice::from_ref(&answer), 9_000)
            .await,
        Err(ObserveError::NoSuchWindow)
    );
    assert_eq!(
        store.close(&first, 9_000, WindowEnd::Closed).await,
        Err(ObserveError::NoSuchWindow)
    );

    // Another instance took over while the session went on: it joined later, heard the end of
    // the answer again (kept once) and more; the events then stopped (`lost`).
    let second = store
        .open_window(&start(session, TENANT_A, "live_1", 2_900))
        .await
        .unwrap();
    let more = heard("live_1", Speaker::Candidate, " And tests.", 3_000, 3_800);
    store
        .record(&second, &[answer.clone(), more.clone()], 3_800)
        .await
        .unwrap();
    store.close(&second, 3_800, WindowEnd::Lost).await.unwrap();

    // A new provider session (a resumed call), with text PostgreSQL cannot take as it is: a
    // NUL, and more than one row holds.
    let third = store
        .open_window(&start(session, TENANT_A, "live_2", 0))
        .await
        .unwrap();
    let long = format!("{}\0end", "word ".repeat(5_000));
    let odd = heard("live_2", Speaker::Candidate, &long, 100, 60_000);
    store.record(&third, &[odd], 60_000).await.unwrap();
    store
        .close(&third, 60_000, WindowEnd::Closed)
        .await
        .unwrap();

    let windows = store.windows_of(session).await.unwrap();
    let summary: Vec<(&str, u64, u64, Option<WindowEnd>)> = windows
        .iter()
        .map(|w| {
            (
                w.start.provider_session.as_str(),
                w.start.from_ms,
                w.to_ms,
                w.end,
            )
        })
        .collect();
    assert_eq!(
        summary,
        [
            ("live_1", 0, 2_600, Some(WindowEnd::Drain)),
            ("live_1", 2_900, 3_800, Some(WindowEnd::Lost)),
            ("live_2", 0, 60_000, Some(WindowEnd::Closed)),
        ]
    );
    assert!(windows.iter().all(|w| w.start.instance == "proxy-test"
        && w.start.tenant_id == TENANT_A
        && w.start.session_id == session
        && w.start.api == "live"));
    assert_eq!(windows[0].id, first);

    let (fragments, observed) = store.record_of(session).await.unwrap();
    assert_eq!(&fragments[..3], &[question, answer, more]);
    let rest: String = fragments[3..].iter().map(|f| f.text.as_str()).collect();
    assert_eq!(rest, long.replace('\0', "\u{FFFD}"));
    assert!(fragments[3..].len() >= 2, "stored in parts");
    assert!(
        fragments[3..]
            .iter()
            .all(|f| f.start_ms == 100 && f.end_ms == 60_000)
    );
    assert_eq!(observed.len(), 3);
    assert_eq!((observed[1].from_ms, observed[1].to_ms), (2_900, 3_800));

    // A Realtime call: each item's final transcript with its item id, kept with it (a long
    // one's parts too); a fragment without one reads back without one.
    let realtime = store
        .open_window(&WindowStart {
            api: "realtime".into(),
            ..start(session, TENANT_A, "rtc_1", 0)
        })
        .await
        .unwrap();
    let item = |id: &str, speaker, text: &str, at| ObservedFragment {
        item_id: Some(id.to_owned()),
        ..heard("rtc_1", speaker, text, at, at)
    };
    let said = [
        item("item_a", Speaker::Interviewer, "Why Rust?", 4_000),
        item("item_b", Speaker::Candidate, &"safe ".repeat(5_000), 9_000),
    ];
    store.record(&realtime, &said, 9_500).await.unwrap();
    store
        .close(&realtime, 12_000, WindowEnd::Closed)
        .await
        .unwrap();
    let (fragments, _) = store.record_of(session).await.unwrap();
    let items: Vec<(Option<&str>, usize)> = fragments
        .iter()
        .filter(|f| f.provider_session == "rtc_1")
        .map(|f| (f.item_id.as_deref(), f.text.len()))
        .collect();
    assert_eq!(items.first(), Some(&(Some("item_a"), "Why Rust?".len())));
    assert!(items.len() >= 3, "stored in parts: {items:?}");
    assert!(items[1..].iter().all(|(id, _)| *id == Some("item_b")));
    assert!(fragments[..3].iter().all(|f| f.item_id.is_none()));
    let windows = store.windows_of(session).await.unwrap();
    assert_eq!(
        windows.last().map(|w| (w.start.api.as_str(), w.to_ms)),
        Some(("realtime", 12_000))
    );

    // The seeded session's record is its own; another session's is not in it.
    let (seeded, _) = store.record_of(SESSION_B).await.unwrap();
    assert_eq!(seeded.len(), 1);
    assert_eq!(
        store
            .record_of("not-a-uuid")
            .await
            .err()
            .map(|e| matches!(e, ObserveError::Store(_))),
        Some(true)
    );

    // Windows it never handed out, and windows outside their session's tenant.
    let unknown = WindowId("0b500000-0000-4000-8000-0000000000ff".to_owned());
    assert_eq!(
        store.record(&unknown, &[], 10).await,
        Err(ObserveError::NoSuchWindow)
    );
    assert_eq!(
        store
            .close(&WindowId("w1".to_owned()), 10, WindowEnd::Closed)
            .await,
        Err(ObserveError::NoSuchWindow)
    );
    assert!(matches!(
        store
            .open_window(&start(session, TENANT_B, "live_3", 0))
            .await,
        Err(ObserveError::Store(_))
    ));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_store_keeps_what_was_heard_in_windows_with_their_checkpoints_and_ends() {
    let pg = Pg::create();
    round_trip(&store(&pg.url()).await).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_store_works_through_a_pooler_in_transaction_mode() {
    let pg = Pg::create();
    round_trip(&store(&pg.url_via(&var("VIVA_TEST_PGBOUNCER_PORT"))).await).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_start_up_check_says_what_to_fix() {
    // A role that is not the proxy's.
    let pg = Pg::create();
    let outsider = format!("viva_observer_outsider_{}", std::process::id());
    pg.sql(&format!("create role {outsider} login")).unwrap();
    let url = format!(
        "postgres://{outsider}@127.0.0.1:{}/{}",
        pg.port, pg.database
    );
    let refused = PgObservations::new(viva_proxy::lease::pg::pool(&url, 2).unwrap())
        .await
        .unwrap_err();
    pg.sql(&format!("drop role {outsider}")).unwrap();
    assert_eq!(refused, CheckError::NotPermitted(outsider.clone()));
    let refused = refused.to_string();
    assert!(refused.contains("grant viva_proxy to"), "{refused}");
    assert!(!refused.contains('\n'), "{refused}");

    // A database that has the leases but not the record yet.
    let older = Pg::with_migrations(|m| !m.ends_with(MIGRATION) && !m.ends_with(ITEM_IDS));
    let missing = PgObservations::new(viva_proxy::lease::pg::pool(&older.url(), 2).unwrap())
        .await
        .unwrap_err();
    assert!(matches!(missing, CheckError::NoTables(_)), "{missing:?}");
    let missing = missing.to_string();
    assert!(missing.contains(MIGRATION), "{missing}");
    assert!(missing.contains("--observe off"), "{missing}");
    // One that has the record without its item ids: the proxy would fail every write.
    let older = Pg::with_migrations(|m| !m.ends_with(ITEM_IDS));
    let missing = PgObservations::new(viva_proxy::lease::pg::pool(&older.url(), 2).unwrap())
        .await
        .unwrap_err();
    assert!(matches!(missing, CheckError::NoTables(_)), "{missing:?}");
    assert!(missing.to_string().contains(ITEM_IDS), "{missing}");

    // Nothing listening.
    let unreachable = PgObservations::new(
        viva_proxy::lease::pg::pool(&pg.url_via(&free_port().to_string()), 2).unwrap(),
    )
    .await
    .unwrap_err();
    assert!(
        matches!(unreachable, CheckError::Unreachable(_)),
        "{unreachable:?}"
    );
    assert!(unreachable.to_string().contains("VIVA_PROXY_DATABASE_URL"));
}

// ---- the standalone proxy ----

/// The project key the local stack takes on `/v1/live/sessions` (the proxy's provider key).
const PROJECT_KEY: &str = "sk-live-observed-record-test";
const OFFER: &str = include_str!("../../contract/testdata/webrtc_rs_0_21_offer.sdp");

fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

/// A local stack whose GPT-Live sessions the proxy on `proxy_port` creates (its grants name
/// that proxy).
async fn live_stack(proxy_port: u16) -> LocalStack {
    LocalStack::start(Config {
        signaling: Signaling::WebSocket,
        live_api_key: Some(PROJECT_KEY.to_owned()),
        proxy_url: Some(format!("ws://127.0.0.1:{proxy_port}/ws")),
        ..Config::default()
    })
    .await
    .unwrap()
}

/// A candidate's GPT-Live practice on the stack, with its tenant and session also in the
/// hosted schema (the record's rows must belong to them): the access token and
/// `interview-start`'s reply.
async fn live_practice(stack: &LocalStack, pg: &Pg) -> (String, Value) {
    let http = reqwest::Client::new();
    let tenant = stack.add_tenant("Acme").await.unwrap();
    let email = format!("{}@acme.test", uuid::Uuid::new_v4());
    let user = stack
        .add_user(&email, "password-1", &tenant, "candidate")
        .await
        .unwrap();
    let signed_in: Value = http
        .post(format!(
            "{}/auth/v1/token?grant_type=password",
            stack.base_url
        ))
        .header("apikey", &stack.anon_key)
        .json(&json!({"email": email, "password": "password-1"}))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    let token = signed_in["access_token"].as_str().unwrap().to_owned();
    let response = http
        .post(format!("{}/functions/v1/interview-start", stack.base_url))
        .header("apikey", &stack.anon_key)
        .bearer_auth(&token)
        .json(&json!({"mode": "practice", "api": "live"}))
        .send()
        .await
        .unwrap();
    assert!(response.status().is_success(), "{}", response.status());
    let started: Value = response.json().await.unwrap();
    let session = started["session"]["id"].as_str().unwrap();
    pg.sql(&format!(
        "insert into tenants (id, name) values ('{tenant}', 'Acme');
         insert into interview_sessions (id, tenant_id, candidate_id, title, question_set, mode, status)
             values ('{session}', '{tenant}', '{user}', 'Practice', 'general', 'practice', 'active');"
    ))
    .unwrap();
    (token, started)
}

/// A `viva-proxy` process, killed (SIGKILL) when dropped; its stdout and stderr are kept (and
/// shown with the test's output).
struct ProxyProcess {
    child: Child,
    http: String,
    ws: String,
    log: Arc<Mutex<Vec<String>>>,
}

impl ProxyProcess {
    fn spawn(args: &[&str], database_url: Option<&str>) -> Self {
        let mut command = Command::new(env!("CARGO_BIN_EXE_viva-proxy"));
        command
            .args(["--metrics-listen", "off"])
            .args(args)
            .env("VIVA_PROXY_PROVIDER_KEY", PROJECT_KEY)
            .env_remove("VIVA_PROXY_DATABASE_URL")
            .env_remove("VIVA_PROXY_DATABASE_URL_FILE")
            .env_remove("VIVA_PROXY_PROVIDER_KEY_FILE")
            .env_remove("VIVA_PROXY_JWT_SECRET")
            .env_remove("VIVA_PROXY_JWT_SECRET_FILE")
            .env_remove("VIVA_PROXY_OBSERVE")
            .env("VIVA_LOG", "info")
            .stdout(Stdio::piped())
            .stderr(Stdio::piped());
        if let Some(url) = database_url {
            command.env("VIVA_PROXY_DATABASE_URL", url);
        }
        let mut child = command.spawn().unwrap();
        let log = Arc::new(Mutex::new(Vec::new()));
        let stdout = child.stdout.take().unwrap();
        let stderr = child.stderr.take().unwrap();
        for (name, stream) in [
            ("out", Box::new(stdout) as Box<dyn std::io::Read + Send>),
            ("err", Box::new(stderr)),
        ] {
            let log = log.clone();
            std::thread::spawn(move || {
                for line in BufReader::new(stream).lines().map_while(Result::ok) {
                    eprintln!("[viva-proxy {name}] {line}");
                    log.lock().unwrap().push(line);
                }
            });
        }
        Self {
            child,
            http: String::new(),
            ws: String::new(),
            log,
        }
    }

    /// Starts the proxy on `port` in front of `stack` (its backend and its voice service) and
    /// returns once `/health` answers.
    async fn start(port: u16, stack: &LocalStack, database_url: &str) -> Self {
        let listen = format!("127.0.0.1:{port}");
        let mut proxy = Self::spawn(
            &[
                "--listen",
                &listen,
                "--backend-url",
                &stack.base_url,
                "--anon-key",
                &stack.anon_key,
                "--upstream-url",
                &stack.base_url,
            ],
            Some(database_url),
        );
        proxy.http = format!("http://{listen}");
        proxy.ws = format!("ws://{listen}/ws");
        let deadline = Instant::now() + Duration::from_secs(30);
        loop {
            if let Ok(response) = reqwest::get(format!("{}/health", proxy.http)).await
                && response.status().is_success()
            {
                return proxy;
            }
            assert!(
                proxy.child.try_wait().unwrap().is_none(),
                "viva-proxy exited: {}",
                proxy.log()
            );
            assert!(Instant::now() < deadline, "viva-proxy did not come up");
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
    }

    fn log(&self) -> String {
        self.log.lock().unwrap().join("\n")
    }

    /// Waits until the log has a line containing `text`.
    async fn logged(&self, text: &str) {
        let deadline = Instant::now() + Duration::from_secs(20);
        while !self.log().contains(text) {
            assert!(
                Instant::now() < deadline,
                "never logged `{text}`:\n{}",
                self.log()
            );
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    }

    async fn health(&self) -> Value {
        reqwest::get(format!("{}/health", self.http))
            .await
            .unwrap()
            .json()
            .await
            .unwrap()
    }

    /// `kill -9`: a crash. The process ends at once, releasing nothing and ending no window.
    fn crash(mut self) {
        self.child.kill().unwrap();
        self.child.wait().unwrap();
    }

    /// SIGTERM: a deploy's stop.
    fn terminate(&self) {
        let status = Command::new("kill")
            .args(["-TERM", &self.child.id().to_string()])
            .status()
            .unwrap();
        assert!(status.success());
    }

    async fn exited(&mut self, limit: Duration) -> ExitStatus {
        let deadline = Instant::now() + limit;
        loop {
            if let Some(status) = self.child.try_wait().unwrap() {
                return status;
            }
            assert!(Instant::now() < deadline, "still running after {limit:?}");
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
    }
}

impl Drop for ProxyProcess {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// The session's windows as the database has them: `from|to|end`, in the order opened.
fn windows_in(pg: &Pg, session: &str) -> String {
    pg.sql(&format!(
        "select string_agg(from_ms || '|' || to_ms || '|' || coalesce(end_reason, 'open'), ',' order by started_at)
           from observed_windows where session_id = '{session}'"
    ))
    .unwrap()
}

/// A transcript line as the app uploads it.
fn entry(line: &viva_realtime::Line) -> Entry {
    Entry {
        item_id: line.item_id.clone(),
        seq: i32::try_from(line.seq).unwrap(),
        speaker: match line.speaker {
            viva_realtime::Speaker::Candidate => "candidate",
            viva_realtime::Speaker::Interviewer => "interviewer",
        }
        .to_owned(),
        text: line.text.clone(),
        started_ms: i64::try_from(line.started_ms).unwrap(),
        ended_ms: line.ended_ms.map(|ms| i64::try_from(ms).unwrap()),
    }
}

/// The call's final lines so far, in conversation order.
#[derive(Default)]
struct Lines(Vec<viva_realtime::Line>);

impl Lines {
    /// Reads the call's events until the final lines satisfy `done`.
    async fn until(
        &mut self,
        events: &mut tokio::sync::mpsc::Receiver<CallEvent>,
        what: &str,
        done: impl Fn(&[viva_realtime::Line]) -> bool,
    ) {
        let deadline = tokio::time::Instant::now() + Duration::from_secs(90);
        while !done(&self.0) {
            let event = tokio::time::timeout_at(deadline, events.recv())
                .await
                .unwrap_or_else(|_| panic!("{what}: not within 90 s; lines {:?}", self.0))
                .unwrap_or_else(|| panic!("{what}: the call ended; lines {:?}", self.0));
            match event {
                CallEvent::Transcript {
                    change: viva_realtime::TranscriptChange::LineFinal(line),
                } => {
                    self.0.retain(|l| l.item_id != line.item_id);
                    self.0.push(line);
                }
                CallEvent::Transcript {
                    change: viva_realtime::TranscriptChange::LineRenumbered { item_id, seq },
                } => {
                    if let Some(line) = self.0.iter_mut().find(|l| l.item_id == item_id) {
                        line.seq = seq;
                    }
                }
                CallEvent::Ended { summary } => {
                    panic!("{what}: the call ended ({summary:?}); lines {:?}", self.0)
                }
                CallEvent::Problem { code, message } => eprintln!("call problem {code}: {message}"),
                _ => {}
            }
            self.0.sort_by_key(|l| l.seq);
        }
    }
}

/// Whether the candidate has given `n` + 1 answers and the interviewer has spoken after the
/// last of them (`n` counts from 0).
fn answered(lines: &[viva_realtime::Line], n: usize) -> bool {
    lines
        .iter()
        .enumerate()
        .filter(|(_, l)| l.speaker == viva_realtime::Speaker::Candidate)
        .nth(n)
        .is_some_and(|(at, _)| {
            lines[at + 1..]
                .iter()
                .any(|l| l.speaker == viva_realtime::Speaker::Interviewer)
        })
}

/// A `viva-proxy` on `port` in front of `stack`, with `pg`'s database, once it says calls are
/// observed; and its instance id (its `/health`'s).
async fn observing_proxy(port: u16, stack: &LocalStack, pg: &Pg) -> (ProxyProcess, String) {
    let proxy = ProxyProcess::start(port, stack, &pg.url()).await;
    proxy
        .logged("Calls are observed (GPT-Live and Realtime)")
        .await;
    let health = proxy.health().await;
    let instance = health["instance"].as_str().unwrap().to_owned();
    (proxy, instance)
}

/// A candidate's GPT-Live practice on a local stack whose grants name the proxy on `port`,
/// taken by the app's client (`viva-rtc`), who answers in writing.
struct Practice {
    pg: Pg,
    port: u16,
    stack: LocalStack,
    /// The interview session.
    session: String,
    call: viva_rtc::CallHandle,
    events: tokio::sync::mpsc::Receiver<CallEvent>,
    lines: Lines,
    /// The microphone's end, open for the call's life (nothing is said into it).
    _microphone: Box<dyn std::any::Any + Send>,
}

impl Practice {
    /// Starts a proxy with the database (observation is then on by default) and the call
    /// through it; returns once the interviewer's opening is a final line, with the proxy and
    /// its instance id.
    async fn start() -> (Self, ProxyProcess, String) {
        let pg = Pg::create();
        let port = free_port();
        let stack = live_stack(port).await;
        let (token, started) = live_practice(&stack, &pg).await;
        let (proxy, instance) = observing_proxy(port, &stack, &pg).await;
        let grant = Grant::from_interview_start(&started, Some(token)).unwrap();
        assert_eq!(grant.realtime.url, proxy.ws, "the grant names this proxy");
        let session = grant.session_id.clone();
        let (microphone, uplink) = tokio::sync::mpsc::channel(1);
        let (call, events) = viva_rtc::start(
            grant,
            None,
            CallConfig {
                udp_addrs: vec!["127.0.0.1:0".into()],
                ..CallConfig::default()
            },
            Media {
                uplink,
                downlink: None,
            },
        );
        let mut practice = Self {
            pg,
            port,
            stack,
            session,
            call,
            events,
            lines: Lines::default(),
            _microphone: Box::new(microphone),
        };
        practice
            .until("the interviewer's opening", |lines| {
                lines
                    .iter()
                    .any(|l| l.speaker == viva_realtime::Speaker::Interviewer)
            })
            .await;
        (practice, proxy, instance)
    }

    /// Reads the call's events until its final lines satisfy `done`.
    async fn until(&mut self, what: &str, done: impl Fn(&[viva_realtime::Line]) -> bool) {
        self.lines.until(&mut self.events, what, done).await;
    }

    /// The candidate types `text`; returns once the interviewer has spoken after it, their
    /// `n`th answer (from 0).
    async fn answer(&mut self, n: usize, text: &str) {
        self.call.send_text(text).await.unwrap();
        self.until(&format!("answer {n}, then the interviewer"), |lines| {
            answered(lines, n)
        })
        .await;
    }
}

/// The app's client takes a GPT-Live practice through the standalone proxy, with the database
/// configured (observation is then on by default), and answers in writing: the proxy's window
/// from the session's start to its close is in PostgreSQL under this process's instance id,
/// with every fragment the client turned into lines — the typed answer included, as the
/// candidate's words (the provider sends it back on the session's events, which the proxy's
/// sideband carries too) — so review flags nothing in the honest transcript.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_standalone_proxy_keeps_a_live_calls_record_with_its_typed_answer_in_postgres() {
    let (mut practice, proxy, instance) = Practice::start().await;
    let typed = "I built a payments system in Rust, with property tests.";
    practice.answer(0, typed).await;
    let Practice {
        pg,
        stack,
        session,
        call,
        lines,
        ..
    } = practice;
    let summary = call.end().await;
    eprintln!("{summary:?}");

    // The session closed: so did the one window, which opened with it.
    let deadline = Instant::now() + Duration::from_secs(15);
    let store = store(&pg.url()).await;
    let windows = loop {
        let windows = store.windows_of(&session).await.unwrap();
        if !windows.is_empty() && windows.iter().all(|w| w.end.is_some()) {
            break windows;
        }
        assert!(Instant::now() < deadline, "{windows:?}");
        tokio::time::sleep(Duration::from_millis(100)).await;
    };
    let uploaded: Vec<Entry> = lines.0.iter().map(entry).collect();
    let live_id = uploaded[0].item_id.split('#').next().unwrap().to_owned();
    assert_eq!(windows.len(), 1, "{windows:?}");
    let window = &windows[0];
    assert_eq!(window.end, Some(WindowEnd::Closed));
    assert_eq!(window.start.from_ms, 0);
    assert_eq!(window.start.api, "live");
    assert_eq!(window.start.provider_session, live_id);
    // One id for this process: /health's, the lease rows' and the record's.
    assert_eq!(window.start.instance, instance);

    let (fragments, observed) = store.record_of(&session).await.unwrap();
    let last_end = fragments.iter().map(|f| f.end_ms).max().unwrap();
    assert!(
        window.to_ms >= last_end,
        "{window:?} ends before {last_end}"
    );
    let candidate: String = fragments
        .iter()
        .filter(|f| f.speaker == Speaker::Candidate)
        .map(|f| f.text.as_str())
        .collect();
    assert_eq!(normalise(&candidate), normalise(typed), "{fragments:?}");

    // Review: the honest transcript, typed answer included, is heard; nothing is flagged.
    let checked = compare(&uploaded, &fragments, &observed);
    assert_eq!(checked.summary.flagged, 0, "{checked:?}\n{uploaded:?}");
    let answer = uploaded
        .iter()
        .position(|l| l.speaker == "candidate")
        .unwrap();
    assert_eq!(normalise(&uploaded[answer].text), normalise(typed));
    assert!(
        matches!(checked.lines[answer].verdict, Verdict::Heard { .. }),
        "{checked:?}"
    );
    drop(proxy);
    stack.shutdown().await;
}

/// Keeps the `event` field of each event it is given.
struct EventNames(Arc<Mutex<Vec<String>>>);

impl<S: tracing::Subscriber> tracing_subscriber::Layer<S> for EventNames {
    fn on_event(&self, event: &tracing::Event<'_>, _: tracing_subscriber::layer::Context<'_, S>) {
        struct Name(Option<String>);
        impl tracing::field::Visit for Name {
            fn record_str(&mut self, field: &tracing::field::Field, value: &str) {
                if field.name() == "event" {
                    self.0 = Some(value.to_owned());
                }
            }
            fn record_debug(&mut self, field: &tracing::field::Field, value: &dyn std::fmt::Debug) {
                if field.name() == "event" {
                    self.0 = Some(format!("{value:?}"));
                }
            }
        }
        let mut name = Name(None);
        event.record(&mut name);
        if let Some(name) = name.0 {
            self.0.lock().unwrap().push(name);
        }
    }
}

/// What the candidate's client (`viva_rtc`, in this process) logs at `info` and above, by
/// each event's `event`, in order: it tells its owner nothing of its proxy link (the media
/// goes on without it), only its log does.
fn client_log() -> Arc<Mutex<Vec<String>>> {
    static LOG: OnceLock<Arc<Mutex<Vec<String>>>> = OnceLock::new();
    LOG.get_or_init(|| {
        use tracing_subscriber::Layer;
        use tracing_subscriber::layer::SubscriberExt;
        let log = Arc::new(Mutex::new(Vec::new()));
        let names = EventNames(log.clone()).with_filter(
            tracing_subscriber::filter::Targets::new()
                .with_target("viva_rtc", tracing::Level::INFO),
        );
        tracing::subscriber::set_global_default(tracing_subscriber::registry().with(names))
            .expect("nothing else in this process sets the log subscriber");
        log
    })
    .clone()
}

/// Waits until the client has logged `event` since its log held `since` entries.
async fn client_logged(log: &Mutex<Vec<String>>, since: usize, event: &str) {
    let deadline = Instant::now() + Duration::from_secs(30);
    loop {
        let logged = log.lock().unwrap()[since..].iter().any(|e| e == event);
        if logged {
            return;
        }
        assert!(
            Instant::now() < deadline,
            "the client never logged `{event}`: {:?}",
            log.lock().unwrap()[since..].to_vec()
        );
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

/// An honest interview with a proxy restart in the middle is not flagged. The app's client
/// takes a GPT-Live practice through the standalone proxy with the database and answers in
/// writing; after the first answer and the question that follows it, the proxy is killed
/// (`kill -9`: its window stays open at its last checkpoint). The candidate types the next
/// answer while no proxy runs (the client keeps it for its link), and a new process starts on
/// the same port with the same database. The client opens its link again in the background
/// (a sign-in only: the media never stopped, the call is peer-to-peer with the interviewer),
/// the same sign-in takes the interview over at once, and the new instance observes the call
/// under way. The interview goes on and ends with `bye`. The record then has two windows of
/// the provider session, from the two instances, the crashed one's open, the new one's
/// `closed`, with a gap between them; review flags nothing in the transcript the app would
/// upload, and a candidate line was heard in each window (lines on both sides of the restart
/// were checked, not merely unobserved). The same lines with that later answer altered are
/// flagged: the check can fail.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_standalone_proxy_restarted_mid_interview_leaves_a_gap_and_flags_nothing_honest() {
    let client = client_log();
    let answers = [
        "I am a backend engineer, and I build payment systems in Rust.",
        "My manager wanted to ship without tests, and I showed him the bugs they had caught.",
        "I once ran a migration without a backup, and now I always rehearse the rollback first.",
    ];
    let (mut practice, first, first_instance) = Practice::start().await;
    let session = practice.session.clone();
    let store = store(&practice.pg.url()).await;
    practice.answer(0, answers[0]).await;
    // The question after it is in the first instance's record (its last checkpoint is then
    // past the answer) before the crash.
    let question = practice
        .lines
        .0
        .iter()
        .rev()
        .find(|l| l.speaker == viva_realtime::Speaker::Interviewer)
        .map(|l| normalise(&l.text))
        .unwrap();
    let deadline = Instant::now() + Duration::from_secs(15);
    loop {
        let (fragments, _) = store.record_of(&session).await.unwrap();
        let heard: String = fragments
            .iter()
            .filter(|f| f.speaker == Speaker::Interviewer)
            .map(|f| f.text.as_str())
            .collect();
        if normalise(&heard).ends_with(&question) {
            break;
        }
        assert!(
            Instant::now() < deadline,
            "the record never held `{question}`: {fragments:?}"
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }

    let since = client.lock().unwrap().len();
    first.crash();
    // The client sees its link close; the call goes on.
    client_logged(&client, since, "sdp_proxy_closed").await;
    // No proxy runs: the client keeps the typed answer for its link.
    practice.call.send_text(answers[1]).await.unwrap();
    // A deploy: a new process on the same port, with the same database.
    let (second, second_instance) =
        observing_proxy(practice.port, &practice.stack, &practice.pg).await;
    assert_ne!(second_instance, first_instance);
    client_logged(&client, since, "sdp_proxy_reopened").await;
    // The same sign-in took the interview over at once (the crashed holder's lease had not
    // expired), and with it the call, which the new instance observes from what it hears next.
    second.logged(r#""how":"ReplacedOwn""#).await;
    assert_eq!(
        practice.pg.sql(&format!(
            "select holder from viva_proxy.leases where session_id = '{session}'"
        )),
        Ok(second_instance.clone())
    );
    second.logged(r#""from_start":false"#).await;
    practice
        .until(
            "answer 1, sent once the link was back, then the interviewer",
            |lines| answered(lines, 1),
        )
        .await;
    practice.answer(2, answers[2]).await;
    let summary = practice.call.end().await.unwrap();
    eprintln!("{summary:?}");
    assert_eq!(summary.reconnects, 0, "the media never stopped");

    // The session closed: so did the new instance's window.
    let deadline = Instant::now() + Duration::from_secs(15);
    let windows = loop {
        let windows = store.windows_of(&session).await.unwrap();
        if windows.iter().any(|w| w.end.is_some()) {
            break windows;
        }
        assert!(Instant::now() < deadline, "{windows:?}");
        tokio::time::sleep(Duration::from_millis(100)).await;
    };
    let uploaded: Vec<Entry> = practice.lines.0.iter().map(entry).collect();
    let live_id = uploaded[0].item_id.split('#').next().unwrap().to_owned();
    eprintln!("{windows:?}");
    assert_eq!(windows.len(), 2, "{windows:?}");
    assert!(
        windows.iter().all(|w| w.start.provider_session == live_id),
        "{windows:?}"
    );
    let (before, after) = (&windows[0], &windows[1]);
    // The crashed instance's: from the session's start, left open at its last checkpoint.
    assert_eq!(before.start.instance, first_instance);
    assert_eq!((before.start.from_ms, before.end), (0, None), "{before:?}");
    // The new instance's: from after the first words it heard, to the session's close.
    assert_eq!(after.start.instance, second_instance);
    assert_eq!(after.end, Some(WindowEnd::Closed), "{after:?}");
    assert!(after.start.from_ms > before.to_ms, "no gap: {windows:?}");

    // Review: the honest transcript, restart and all, has no flag...
    let (fragments, observed) = store.record_of(&session).await.unwrap();
    let checked = compare(&uploaded, &fragments, &observed);
    for (line, check) in uploaded.iter().zip(&checked.lines) {
        eprintln!(
            "{} {} at {} ms: {:?}",
            line.item_id, line.speaker, line.started_ms, check.verdict
        );
    }
    assert_eq!(checked.summary.flagged, 0, "{checked:?}\n{uploaded:?}");
    let candidate: Vec<usize> = (0..uploaded.len())
        .filter(|&at| uploaded[at].speaker == "candidate")
        .collect();
    let typed: Vec<String> = answers.iter().map(|a| normalise(a)).collect();
    let said: Vec<String> = candidate
        .iter()
        .map(|&at| normalise(&uploaded[at].text))
        .collect();
    assert_eq!(said, typed);
    // ...and it was checked on both sides of the restart: in each window, a candidate line
    // was heard (placed on the provider session's timeline with the offset review found).
    let offset = checked
        .sessions
        .iter()
        .find(|s| s.provider_session == live_id)
        .and_then(|s| s.offset_ms)
        .unwrap();
    let heard_in = |window: &viva_proxy::observe::StoredWindow| {
        let from = i64::try_from(window.start.from_ms).unwrap();
        let to = i64::try_from(window.to_ms).unwrap();
        candidate.iter().copied().find(|&at| {
            let on_session = uploaded[at].started_ms - offset;
            matches!(checked.lines[at].verdict, Verdict::Heard { .. })
                && (from..=to).contains(&on_session)
        })
    };
    let heard_before = heard_in(before);
    let heard_after = heard_in(after);
    assert!(
        heard_before.is_some() && heard_after.is_some(),
        "before the restart: {heard_before:?}, after: {heard_after:?}; offset {offset} ms\n{windows:?}\n{checked:?}"
    );

    // The control: the same lines, with the answer heard after the restart altered, are
    // flagged.
    let altered = heard_after.unwrap();
    let mut forged = uploaded.clone();
    forged[altered].text =
        "I have never made a single mistake at work, and my record is completely spotless."
            .to_owned();
    let checked = compare(&forged, &fragments, &observed);
    assert!(
        matches!(
            checked.lines[altered].verdict,
            Verdict::HeardDifferently { .. }
        ),
        "{checked:?}"
    );
    assert_eq!(checked.summary.flagged, 1, "{checked:?}");
    drop(second);
    practice.stack.shutdown().await;
}

/// A deploy's SIGTERM while a call is observed: the connection closes 1001, and the process
/// exits only once the window has ended as `drain` (the time until another instance listens
/// is then a gap, not a window that seems to go on).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_standalone_proxy_ends_its_windows_as_drain_before_it_exits() {
    let pg = Pg::create();
    let port = free_port();
    let stack = live_stack(port).await;
    let (token, started) = live_practice(&stack, &pg).await;
    let session = started["session"]["id"].as_str().unwrap().to_owned();
    let mut proxy = ProxyProcess::start(port, &stack, &pg.url()).await;

    let (mut socket, _) = tokio_tungstenite::connect_async(&proxy.ws).await.unwrap();
    for message in [
        json!({"type": "auth", "access_token": token, "session_id": session}),
        json!({"type": "offer", "sdp": OFFER}),
    ] {
        socket
            .send(Message::Text(message.to_string().into()))
            .await
            .unwrap();
    }
    assert_eq!(next(&mut socket).await, Ok(json!({"type": "ready"})));
    let answer = next(&mut socket).await.unwrap();
    assert_eq!(answer["type"], "answer", "{answer}");
    // Listening before the answer went out: a window from 0, open (written just after).
    let deadline = Instant::now() + Duration::from_secs(5);
    while windows_in(&pg, &session).is_empty() {
        assert!(Instant::now() < deadline, "no window");
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    assert_eq!(windows_in(&pg, &session), "0|0|open");

    // The database is slow to take the window's end: someone holds its row. The connection
    // is gone at once, but the process must not exit while its observer is still writing.
    let (holder, connection) = tokio_postgres::connect(
        &format!(
            "host=127.0.0.1 port={} user=postgres dbname={}",
            pg.port, pg.database
        ),
        tokio_postgres::NoTls,
    )
    .await
    .unwrap();
    tokio::spawn(connection);
    holder
        .batch_execute(&format!(
            "begin; select 1 from observed_windows where session_id = '{session}' for update"
        ))
        .await
        .unwrap();
    proxy.terminate();
    assert_eq!(next(&mut socket).await, Err((1001, "draining".to_owned())));
    tokio::time::sleep(Duration::from_millis(1_500)).await;
    assert!(
        proxy.child.try_wait().unwrap().is_none(),
        "viva-proxy exited with its window still open:\n{}",
        proxy.log()
    );
    holder.batch_execute("commit").await.unwrap();
    let status = proxy.exited(Duration::from_secs(25)).await;
    assert!(status.success(), "{status:?}\n{}", proxy.log());
    // Ended before the process was gone.
    assert_eq!(windows_in(&pg, &session), "0|0|drain");
    assert_eq!(
        pg.sql(&format!(
            "select count(*) from observed_windows where session_id = '{session}' and ended_at is not null"
        )),
        Ok("1".to_owned())
    );
    stack.shutdown().await;
}

/// The next JSON message, or the close code and reason.
async fn next(
    socket: &mut tokio_tungstenite::WebSocketStream<
        tokio_tungstenite::MaybeTlsStream<tokio::net::TcpStream>,
    >,
) -> Result<Value, (u16, String)> {
    loop {
        let frame = tokio::time::timeout(Duration::from_secs(20), socket.next())
            .await
            .expect("nothing from the proxy for 20 s");
        match frame {
            Some(Ok(Message::Text(text))) => return Ok(serde_json::from_str(&text).unwrap()),
            Some(Ok(Message::Close(frame))) => {
                return Err(frame.map_or((1005, String::new()), |f| {
                    (f.code.into(), f.reason.to_string())
                }));
            }
            Some(Ok(_)) => continue,
            other => return Err((1006, format!("{other:?}"))),
        }
    }
}

/// At start the proxy says whether calls are observed; `--observe on` without a database, or
/// with one that lacks the record's migration, is refused rather than quietly unobserved;
/// left to its default, such a database still serves interviews and the start says they are
/// not observed; `--observe off` keeps a database for the leases only.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_start_says_whether_calls_are_observed_and_observe_on_needs_a_database() {
    let pg = Pg::create();
    let unused = [
        "--backend-url",
        "http://127.0.0.1:9",
        "--anon-key",
        "anon",
        "--upstream-url",
        "http://127.0.0.1:9",
    ];
    let run = |observe: Option<&str>, database: Option<&str>| {
        let listen = format!("127.0.0.1:{}", free_port());
        let mut args = vec!["--listen", &listen];
        args.extend(unused);
        if let Some(observe) = observe {
            args.extend(["--observe", observe]);
        }
        ProxyProcess::spawn(&args, database)
    };

    let mut refused = run(Some("on"), None);
    let status = refused.exited(Duration::from_secs(30)).await;
    assert!(!status.success());
    refused
        .logged("--observe on needs VIVA_PROXY_DATABASE_URL")
        .await;

    let older = Pg::with_migrations(|m| !m.ends_with(MIGRATION) && !m.ends_with(ITEM_IDS));
    let mut strict = run(Some("on"), Some(&older.url()));
    let status = strict.exited(Duration::from_secs(30)).await;
    assert!(!status.success());
    strict.logged(MIGRATION).await;
    let mut lenient = run(None, Some(&older.url()));
    lenient
        .logged("Calls are not observed: review has no transcript of record")
        .await;
    assert!(lenient.log().contains(MIGRATION), "{}", lenient.log());
    assert!(lenient.child.try_wait().unwrap().is_none(), "it serves");

    let observed = run(None, Some(&pg.url()));
    observed
        .logged("Calls are observed (GPT-Live and Realtime): their transcript of record goes to PostgreSQL")
        .await;
    let off = run(Some("off"), Some(&pg.url()));
    off.logged("Calls are not observed (--observe off)").await;
    let alone = run(None, None);
    alone.logged("Calls are not observed (no database)").await;
}

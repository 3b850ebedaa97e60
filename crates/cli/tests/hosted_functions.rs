//! A whole scheduled interview from the `viva` CLI where the backend's work is done by the Deno
//! edge functions on PostgreSQL, as a hosted project runs them: sign-in is the local stack's
//! auth, and the local stack forwards `/functions/v1/*` to `supabase/functions/_dev/serve.ts`
//! (as Supabase's gateway does), whose functions verify the stack's ES256 tokens through its
//! JWKS and keep everything in PostgreSQL. The transcript must arrive there, each line once,
//! readable by the tenant's interviewer and the candidate and by nobody else, and the session's
//! close must land there too (`interview-end`): a row left `active` fails the test.
//!
//! `cargo xtask test` starts PostgreSQL (`VIVA_TEST_PG_PORT`, `VIVA_TEST_PG_BIN`) and names the
//! pinned Deno and its filled npm cache (`VIVA_TEST_DENO`, `VIVA_TEST_DENO_DIR`).

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)] // Tests fail loudly by design.

use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::Duration;

use serde_json::{Value, json};
use viva_backend::Backend;
use viva_localstack::{Config, LocalStack, Signaling};

mod common;

const PASSWORD: &str = "password-1234";
/// The project key the local stack's emulated OpenAI endpoints accept; the functions hold it
/// as their OPENAI_API_KEY.
const PROJECT_KEY: &str = "sk-viva-local-project-key";

fn var(name: &str) -> String {
    std::env::var(name)
        .unwrap_or_else(|_| panic!("{name} is not set: run this test through `cargo xtask test`"))
}

fn repo() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../..")
}

/// A fresh database in the harness's cluster with the hosted-Supabase shim and every migration,
/// dropped when this goes.
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
            database: format!("viva_hosted_fn_{}", std::process::id()),
        };
        pg.psql("postgres", &[], &format!("CREATE DATABASE {}", pg.database))
            .unwrap();
        pg.run_file(&repo().join("crates/localstack/tests/fixtures/supabase_shim.sql"));
        // Every migration in the order their names sort, as `supabase db push` applies them.
        let mut migrations: Vec<PathBuf> = std::fs::read_dir(repo().join("supabase/migrations"))
            .unwrap()
            .map(|entry| entry.unwrap().path())
            .filter(|path| path.extension().is_some_and(|e| e == "sql"))
            .collect();
        migrations.sort();
        assert!(migrations.len() >= 4, "{migrations:?}");
        for migration in &migrations {
            pg.run_file(migration);
        }
        pg
    }

    /// The URL the functions connect with (`SUPABASE_DB_URL`): the superuser, as a hosted
    /// project's `postgres` role; the functions act as the caller themselves.
    fn url(&self) -> String {
        format!(
            "postgres://postgres@127.0.0.1:{}/{}",
            self.port, self.database
        )
    }

    fn psql(&self, database: &str, extra: &[&str], sql: &str) -> Result<String, String> {
        let out = Command::new(self.bin.join("psql"))
            .args(["-h", "127.0.0.1", "-p", &self.port, "-U", "postgres", "-d"])
            .arg(database)
            .args(["-v", "ON_ERROR_STOP=1", "-q", "-At"])
            .args(extra)
            .args(["-c", sql])
            .output()
            .unwrap();
        if out.status.success() {
            Ok(String::from_utf8_lossy(&out.stdout).trim().to_owned())
        } else {
            Err(String::from_utf8_lossy(&out.stderr).into_owned())
        }
    }

    fn run_file(&self, file: &Path) {
        let out = Command::new(self.bin.join("psql"))
            .args(["-h", "127.0.0.1", "-p", &self.port, "-U", "postgres", "-d"])
            .arg(&self.database)
            .args(["-v", "ON_ERROR_STOP=1", "-q", "-f"])
            .arg(file)
            .output()
            .unwrap();
        assert!(
            out.status.success(),
            "{}: {}",
            file.display(),
            String::from_utf8_lossy(&out.stderr)
        );
    }

    /// One JSON value from `sql`, run as the superuser.
    fn json(&self, sql: &str) -> Value {
        let out = self.psql(&self.database, &[], sql).unwrap();
        serde_json::from_str(&out).unwrap_or_else(|e| panic!("{e}: {out}"))
    }

    /// One JSON value from `sql`, run as PostgREST runs a signed-in user's request: role
    /// `authenticated` and the user's claims in `request.jwt.claims`, in one transaction.
    fn json_as(&self, claims: &Value, sql: &str) -> Value {
        let claims = claims.to_string().replace('\'', "''");
        let out = self
            .psql(
                &self.database,
                &[],
                &format!(
                    "BEGIN; SET LOCAL ROLE authenticated; \
                     SET LOCAL request.jwt.claims = '{claims}'; {sql}; COMMIT;"
                ),
            )
            .unwrap();
        serde_json::from_str(&out).unwrap_or_else(|e| panic!("{e}: {out}"))
    }
}

impl Drop for Pg {
    fn drop(&mut self) {
        let _ = self.psql(
            "postgres",
            &[],
            &format!("DROP DATABASE IF EXISTS {} WITH (FORCE)", self.database),
        );
    }
}

/// The Deno functions server (`deno run` of `_dev/serve.ts`), killed when this goes, also when
/// the test fails.
struct Functions {
    child: Child,
    log: PathBuf,
}

impl Functions {
    fn start(port: u16, log: PathBuf, env: &[(&str, String)]) -> Self {
        let file = std::fs::File::create(&log).unwrap();
        let child = Command::new(var("VIVA_TEST_DENO"))
            .current_dir(repo().join("supabase/functions"))
            .args([
                "run",
                "--frozen",
                "--cached-only",
                "--allow-net",
                "--allow-env",
            ])
            .arg("_dev/serve.ts")
            .env("DENO_DIR", var("VIVA_TEST_DENO_DIR"))
            .env("DENO_NO_UPDATE_CHECK", "1")
            .env("NO_COLOR", "1")
            .env("DENO_SERVE_ADDRESS", format!("tcp:127.0.0.1:{port}"))
            .envs(env.iter().map(|(k, v)| (k, v)))
            .stdin(Stdio::null())
            .stdout(file.try_clone().unwrap())
            .stderr(file)
            .spawn()
            .unwrap();
        Self { child, log }
    }

    /// What the server printed (its start line, and any failure a function logged).
    fn log(&self) -> String {
        std::fs::read_to_string(&self.log).unwrap_or_default()
    }

    /// Waits until `url` answers a CORS preflight, failing at once if the server exits.
    async fn wait_until_it_answers(&mut self, url: &str) {
        let http = reqwest::Client::new();
        let deadline = tokio::time::Instant::now() + Duration::from_secs(60);
        loop {
            if let Some(status) = self.child.try_wait().unwrap() {
                panic!("the functions server exited ({status}):\n{}", self.log());
            }
            let answered = http
                .request(reqwest::Method::OPTIONS, url)
                .timeout(Duration::from_secs(2))
                .send()
                .await;
            if answered.is_ok_and(|r| r.status().is_success()) {
                return;
            }
            assert!(
                tokio::time::Instant::now() < deadline,
                "the functions server did not answer within 60 s:\n{}",
                self.log()
            );
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
    }
}

impl Drop for Functions {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

/// A user's access-token claims exactly as the local stack signs them.
async fn claims_of(stack: &LocalStack, email: &str) -> Value {
    let backend = Backend::new(&stack.base_url, &stack.anon_key);
    let token = backend.sign_in(email, PASSWORD).await.unwrap().access_token;
    serde_json::to_value(stack.state.keys.verify(&token).unwrap()).unwrap()
}

/// How many rows the local stack's own SQLite holds in `table`.
async fn local_rows(stack: &LocalStack, table: &'static str) -> i64 {
    stack
        .state
        .db
        .call(move |conn| {
            conn.query_row(&format!("SELECT count(*) FROM {table}"), [], |r| r.get(0))
                .map_err(viva_localstack::db::DbError::from)
        })
        .await
        .unwrap()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_scheduled_interview_on_the_deno_functions_lands_in_postgresql_once_and_closed() {
    let pg = Pg::create();
    let dir = tempfile::tempdir().unwrap();

    // The functions' port first: the stack forwards there from its start.
    let functions_port = free_port();
    let functions_url = format!("http://127.0.0.1:{functions_port}");
    let stack = LocalStack::start(Config {
        // The Realtime API's HTTP signalling: the client posts its offer with the `ek_` secret
        // the Deno interview-start minted at the stack's emulated client_secrets endpoint, and
        // the local interviewer answers it. (A GPT-Live grant would send the call through the
        // SDP proxy, which still reads the local stack's own database, not PostgreSQL; the
        // standalone proxy is W2-5. So this tenant speaks Realtime.)
        signaling: Signaling::Http,
        live_api_key: Some(PROJECT_KEY.into()),
        functions_url: Some(functions_url.clone()),
        ..Config::default()
    })
    .await
    .unwrap();

    // Two organisations with the same ids in the stack (whose tokens carry them) and in
    // PostgreSQL (where the functions look them up).
    let acme = stack.add_tenant("Acme").await.unwrap();
    let globex = stack.add_tenant("Globex").await.unwrap();
    let people = [
        ("interviewer@acme.test", &acme, "interviewer"),
        ("candidate@acme.test", &acme, "candidate"),
        ("other-candidate@acme.test", &acme, "candidate"),
        ("interviewer@globex.test", &globex, "interviewer"),
    ];
    for (email, tenant, role) in people {
        stack.add_user(email, PASSWORD, tenant, role).await.unwrap();
    }
    let interviewer = claims_of(&stack, "interviewer@acme.test").await;
    let candidate = claims_of(&stack, "candidate@acme.test").await;
    let other_candidate = claims_of(&stack, "other-candidate@acme.test").await;
    let other_interviewer = claims_of(&stack, "interviewer@globex.test").await;
    pg.psql(
        &pg.database,
        &[],
        &format!(
            "INSERT INTO tenants (id, name, voice_api) VALUES
               ('{acme}', 'Acme', 'realtime'), ('{globex}', 'Globex', 'live')"
        ),
    )
    .unwrap();
    // Acme's interviewer schedules the interview as PostgREST would insert it for them.
    let scheduled = pg.json_as(
        &interviewer,
        "INSERT INTO interview_sessions (title, question_set, candidate_email, scheduled_at)
         VALUES ('Backend engineer', 'general_behavioural', 'candidate@acme.test', now())
         RETURNING to_json(id)",
    );
    let session_id = scheduled.as_str().unwrap().to_owned();

    let mut functions = Functions::start(
        functions_port,
        dir.path().join("functions.log"),
        &[
            ("SUPABASE_URL", stack.base_url.clone()),
            ("SUPABASE_DB_URL", pg.url()),
            ("OPENAI_API_KEY", PROJECT_KEY.into()),
            ("VIVA_OPENAI_BASE_URL", stack.base_url.clone()),
        ],
    );
    functions
        .wait_until_it_answers(&format!("{functions_url}/interview-start"))
        .await;
    functions
        .wait_until_it_answers(&format!("{}/functions/v1/interview-start", stack.base_url))
        .await;

    // Without the candidate's agreement nothing starts: the CLI shows the notice and stops,
    // and a modified client that skips it is refused by the function itself.
    let refused = Command::new(env!("CARGO_BIN_EXE_viva"))
        .args(["call", "--interview-id", &session_id])
        .args(["--backend", &stack.base_url, "--anon-key", &stack.anon_key])
        .args([
            "--email",
            "candidate@acme.test",
            "--audio-file",
            "unused.wav",
        ])
        .env("VIVA_PASSWORD", PASSWORD)
        .output()
        .unwrap();
    let notice = String::from_utf8_lossy(&refused.stderr);
    assert_eq!(refused.status.code(), Some(2), "{notice}");
    assert!(
        notice.contains("No audio is recorded") && notice.contains("--consent"),
        "{notice}"
    );
    let candidate_token = Backend::new(&stack.base_url, &stack.anon_key)
        .sign_in("candidate@acme.test", PASSWORD)
        .await
        .unwrap()
        .access_token;
    let skipped = reqwest::Client::new()
        .post(format!("{functions_url}/interview-start"))
        .bearer_auth(&candidate_token)
        .header("content-type", "application/json")
        .body(json!({"mode": "interview", "interview_id": session_id}).to_string())
        .send()
        .await
        .unwrap();
    assert_eq!(skipped.status(), 403);
    let body: Value = serde_json::from_str(&skipped.text().await.unwrap()).unwrap();
    assert_eq!(body["code"], "consent_required", "{body}");
    let row = pg.json(&format!(
        "SELECT row_to_json(s) FROM interview_sessions s WHERE id = '{session_id}'"
    ));
    assert_eq!(row["status"], "scheduled", "{row}");
    assert!(row["consent_at"].is_null(), "{row}");

    // The candidate takes the interview with the CLI, two answers spoken.
    let said = [
        "I build payment systems and I enjoy working with databases.",
        "We finished two weeks early and nobody lost any data.",
    ];
    let db = dir.path().join("transcripts.sqlite3");
    let mut command = Command::new(env!("CARGO_BIN_EXE_viva"));
    command
        .args(["call", "--interview-id", &session_id])
        .args([
            "--backend",
            &stack.base_url,
            "--anon-key",
            &stack.anon_key,
            "--consent",
        ])
        .args([
            "--email",
            "candidate@acme.test",
            "--udp",
            "127.0.0.1:0",
            "--db",
        ])
        .arg(&db)
        .env("VIVA_PASSWORD", PASSWORD);
    for (i, text) in said.iter().enumerate() {
        let wav = dir.path().join(format!("answer{i}.wav"));
        common::say_to_wav(&wav, text);
        command.arg("--audio-file").arg(wav);
    }
    let output = tokio::task::spawn_blocking(move || command.output())
        .await
        .unwrap()
        .unwrap();
    let stdout = String::from_utf8_lossy(&output.stdout).into_owned();
    let context = format!(
        "viva printed:\n{stdout}\nviva's stderr:\n{}\nthe functions logged:\n{}",
        String::from_utf8_lossy(&output.stderr),
        functions.log()
    );
    assert!(output.status.success(), "{context}");
    let events: Vec<Value> = stdout
        .lines()
        .filter_map(|l| serde_json::from_str(l).ok())
        .collect();
    let started = events.iter().find(|e| e["type"] == "session").unwrap();
    assert_eq!(started["session_id"], session_id.as_str(), "{context}");
    assert_eq!(started["api"], "realtime", "{context}");
    let printed: Vec<&Value> = events.iter().filter(|e| e["type"] == "line").collect();

    // The close landed in PostgreSQL, through interview-end: a row left `active` means it went
    // somewhere else (or nowhere).
    let row = pg.json(&format!(
        "SELECT row_to_json(s) FROM interview_sessions s WHERE id = '{session_id}'"
    ));
    assert_eq!(
        row["status"], "completed",
        "PostgreSQL's session did not close: {row}\n{context}"
    );
    for column in ["started_at", "ended_at", "closed_at"] {
        assert!(row[column].is_string(), "{column} is not set: {row}");
    }
    assert!(row["duration_ms"].as_i64().unwrap_or(0) > 0, "{row}");
    assert_eq!(row["candidate_id"], candidate["sub"], "{row}");
    assert_eq!(row["tenant_id"], acme.as_str(), "{row}");
    // The agreement is on record with the session, as the CLI showed it.
    assert_eq!(
        row["consent_notice"],
        viva_session::consent::NOTICE_VERSION,
        "{row}"
    );
    assert!(row["consent_at"].is_string(), "{row}");
    let sync = events.iter().find(|e| e["type"] == "sync").unwrap();
    assert_eq!(sync["sync"]["state"], "synced", "{context}");

    // Every line the CLI showed as final is stored once, as it was shown, reported by the
    // candidate under Acme; nothing else is stored.
    let mut shown: Vec<(String, String)> = printed
        .iter()
        .map(|e| {
            (
                e["item_id"].as_str().unwrap().to_owned(),
                e["text"].as_str().unwrap().to_owned(),
            )
        })
        .collect();
    assert_eq!(
        shown.len(),
        5,
        "greeting and question, answer, question, answer, question: {context}"
    );
    shown.sort();
    let stored = pg.json(
        "SELECT coalesce(json_agg(json_build_object('item_id', item_id, 'text', text,
                  'session_id', session_id, 'tenant_id', tenant_id, 'reported_by', reported_by)
                  ORDER BY item_id), '[]') FROM transcript_entries",
    );
    let stored = stored.as_array().unwrap();
    let kept: Vec<(String, String)> = stored
        .iter()
        .map(|r| {
            (
                r["item_id"].as_str().unwrap().to_owned(),
                r["text"].as_str().unwrap().to_owned(),
            )
        })
        .collect();
    assert_eq!(kept, shown, "{context}");
    for r in stored {
        assert_eq!(r["session_id"], session_id.as_str(), "{r}");
        assert_eq!(r["tenant_id"], acme.as_str(), "{r}");
        assert_eq!(r["reported_by"], candidate["sub"], "{r}");
    }

    // The answers were heard.
    let answers: Vec<&str> = printed
        .iter()
        .filter(|e| e["speaker"] == "candidate")
        .map(|e| e["text"].as_str().unwrap())
        .collect();
    assert_eq!(answers.len(), said.len(), "{context}");
    for (said, heard) in said.iter().zip(answers) {
        common::assert_heard(said, heard);
    }

    // Read as each user, as PostgREST would: Acme's interviewer and the candidate read every
    // line and the session; Globex's interviewer and Acme's other candidate read nothing.
    let lines_sql = "SELECT coalesce(json_agg(json_build_object('item_id', item_id, 'text', text)
                     ORDER BY item_id), '[]') FROM transcript_entries";
    let sessions_sql = "SELECT coalesce(json_agg(id), '[]') FROM interview_sessions";
    let everything = json!(
        shown
            .iter()
            .map(|(id, text)| json!({"item_id": id, "text": text}))
            .collect::<Vec<_>>()
    );
    for (who, claims) in [
        ("Acme's interviewer", &interviewer),
        ("the candidate", &candidate),
    ] {
        assert_eq!(pg.json_as(claims, lines_sql), everything, "{who}");
        assert_eq!(
            pg.json_as(claims, sessions_sql),
            json!([session_id]),
            "{who}"
        );
    }
    for (who, claims) in [
        ("Globex's interviewer", &other_interviewer),
        ("Acme's other candidate", &other_candidate),
    ] {
        assert_eq!(pg.json_as(claims, lines_sql), json!([]), "{who}");
        assert_eq!(pg.json_as(claims, sessions_sql), json!([]), "{who}");
    }

    // The functions did the work: the stack's own database has no session and no line, and
    // the only client secrets it knows are the ones the functions minted through its
    // emulated OpenAI endpoint.
    assert_eq!(local_rows(&stack, "interview_sessions").await, 0);
    assert_eq!(local_rows(&stack, "transcript_entries").await, 0);
    assert_eq!(local_rows(&stack, "client_secrets").await, 0);
    assert!(local_rows(&stack, "provider_client_secrets").await >= 1);

    drop(functions);
    stack.shutdown().await;
}

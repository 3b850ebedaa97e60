//! The shared contract suite (`supabase/functions/tests/contract.json`) against the local
//! stack's functions: every case in a fresh stack, every step over HTTP. The Deno functions run
//! the same file on PostgreSQL (`supabase/functions/tests/contract_test.ts`), so a change to one
//! implementation that the other does not follow fails a test.

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)] // Tests fail loudly by design.

use std::collections::BTreeMap;
use std::path::PathBuf;

use serde::Deserialize;
use serde_json::{Value, json};
use viva_localstack::jwt::{AppMetadata, Claims};
use viva_localstack::{Config, LocalStack};

#[derive(Debug, Deserialize)]
struct Suite {
    cases: Vec<Case>,
}

#[derive(Debug, Deserialize)]
struct Case {
    name: String,
    world: WorldSpec,
    steps: Vec<Step>,
}

#[derive(Debug, Default, Deserialize)]
struct WorldSpec {
    #[serde(default)]
    limits: Limits,
    #[serde(default)]
    tenants: BTreeMap<String, TenantSpec>,
    #[serde(default)]
    users: BTreeMap<String, UserSpec>,
    #[serde(default)]
    sessions: BTreeMap<String, SessionSpec>,
}

#[derive(Debug, Default, Deserialize)]
struct Limits {
    practice_sessions_per_hour: Option<u32>,
}

#[derive(Debug, Default, Deserialize)]
struct TenantSpec {
    voice_api: Option<String>,
    voice_enabled: Option<bool>,
    voice_rollout_percent: Option<u8>,
}

#[derive(Debug, Deserialize)]
struct UserSpec {
    tenant: String,
    role: String,
    id: Option<String>,
}

#[derive(Debug, Deserialize)]
struct SessionSpec {
    tenant: String,
    candidate: Option<String>,
    candidate_email: Option<String>,
    status: Option<String>,
    mode: Option<String>,
    question_set: Option<String>,
    voice_api: Option<String>,
    closed_minutes_ago: Option<i64>,
}

#[derive(Debug, Deserialize)]
struct Step {
    call: String,
    #[serde(rename = "as")]
    caller: Option<String>,
    token: Option<String>,
    body: Option<Value>,
    raw_body: Option<String>,
    repeat: Option<usize>,
    expect: Expect,
    expect_session: Option<ExpectSession>,
    expect_lines: Option<ExpectLines>,
}

#[derive(Debug, Deserialize)]
struct Expect {
    status: u16,
    body: Option<Value>,
    #[serde(default)]
    headers: BTreeMap<String, Value>,
}

#[derive(Debug, Deserialize)]
struct ExpectSession {
    session: String,
    row: Value,
}

#[derive(Debug, Deserialize)]
struct ExpectLines {
    session: String,
    lines: Value,
}

fn suite() -> Suite {
    let path = PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join("../../supabase/functions/tests/contract.json");
    let text = std::fs::read_to_string(&path)
        .unwrap_or_else(|e| panic!("cannot read {}: {e}", path.display()));
    serde_json::from_str(&text).unwrap_or_else(|e| panic!("{}: {e}", path.display()))
}

/// Where each named thing of a case's world ended up.
struct World {
    stack: LocalStack,
    http: reqwest::Client,
    /// name → id, for tenants, users and sessions alike (names are unique within a case).
    ids: BTreeMap<String, String>,
    emails: BTreeMap<String, String>,
    /// user name → the claims of a live sign-in.
    claims: BTreeMap<String, Claims>,
}

fn timestamp(minutes_ago: i64) -> String {
    viva_localstack::rest::query::format_timestamp(
        chrono::Utc::now() - chrono::Duration::minutes(minutes_ago),
    )
}

impl World {
    async fn create(spec: &WorldSpec) -> Self {
        let stack = LocalStack::start(Config {
            practice_sessions_per_hour: spec
                .limits
                .practice_sessions_per_hour
                .unwrap_or(viva_localstack::server::DEFAULT_PRACTICE_SESSIONS_PER_HOUR),
            ..Config::default()
        })
        .await
        .unwrap();
        let mut ids = BTreeMap::new();
        let mut emails = BTreeMap::new();
        let mut claims = BTreeMap::new();
        let mut sql: Vec<(String, Vec<Option<String>>)> = Vec::new();
        let text = |v: &str| Some(v.to_owned());
        for (name, tenant) in &spec.tenants {
            let id = uuid::Uuid::new_v4().to_string();
            sql.push((
                "INSERT INTO tenants (id, name, voice_api, voice_enabled, voice_rollout_percent) VALUES (?1, ?2, ?3, ?4, ?5)".into(),
                vec![
                    text(&id),
                    text(name),
                    text(tenant.voice_api.as_deref().unwrap_or("live")),
                    text(if tenant.voice_enabled.unwrap_or(true) { "1" } else { "0" }),
                    Some(tenant.voice_rollout_percent.unwrap_or(100).to_string()),
                ],
            ));
            ids.insert(name.clone(), id);
        }
        for (name, user) in &spec.users {
            let id = user
                .id
                .clone()
                .unwrap_or_else(|| uuid::Uuid::new_v4().to_string());
            let email = format!("{name}@{}.test", user.tenant);
            let tenant = ids[&user.tenant].clone();
            let login = uuid::Uuid::new_v4().to_string();
            let now = timestamp(0);
            sql.push((
                "INSERT INTO users (id, email, password_hash, tenant_id, viva_role, created_at) VALUES (?1, ?2, 'not-a-password', ?3, ?4, ?5)".into(),
                vec![text(&id), text(&email), text(&tenant), text(&user.role), text(&now)],
            ));
            sql.push((
                "INSERT INTO auth_sessions (id, user_id, created_at) VALUES (?1, ?2, ?3)".into(),
                vec![text(&login), text(&id), text(&now)],
            ));
            let iat = chrono::Utc::now().timestamp();
            claims.insert(
                name.clone(),
                Claims {
                    sub: id.clone(),
                    aud: "authenticated".into(),
                    role: "authenticated".into(),
                    exp: iat + 3600,
                    iat,
                    email: email.clone(),
                    session_id: login,
                    app_metadata: AppMetadata {
                        provider: "email".into(),
                        tenant_id: tenant,
                        viva_role: user.role.clone(),
                    },
                },
            );
            ids.insert(name.clone(), id);
            emails.insert(name.clone(), email);
        }
        for (name, session) in &spec.sessions {
            let id = uuid::Uuid::new_v4().to_string();
            let status = session.status.as_deref().unwrap_or("scheduled");
            let started = matches!(status, "active" | "completed" | "interrupted" | "failed");
            let closed = matches!(status, "completed" | "interrupted" | "failed" | "cancelled");
            let closed_at = closed.then(|| timestamp(session.closed_minutes_ago.unwrap_or(1)));
            let email = session.candidate_email.as_ref().map(|e| {
                if e.contains('@') {
                    e.clone()
                } else {
                    emails[e].clone()
                }
            });
            sql.push((
                "INSERT INTO interview_sessions (id, tenant_id, candidate_id, candidate_email, title, question_set, mode, status, started_at, ended_at, closed_at, voice_api, created_at)
                 VALUES (?1, ?2, ?3, ?4, 'An interview', ?5, ?6, ?7, ?8, ?9, ?9, ?10, ?11)".into(),
                vec![
                    text(&id),
                    text(&ids[&session.tenant]),
                    session.candidate.as_ref().map(|c| ids[c].clone()),
                    email,
                    text(session.question_set.as_deref().unwrap_or("software_engineer")),
                    text(session.mode.as_deref().unwrap_or("interview")),
                    text(status),
                    started.then(|| timestamp(5)),
                    closed_at,
                    session.voice_api.clone(),
                    text(&timestamp(0)),
                ],
            ));
            ids.insert(name.clone(), id);
        }
        stack
            .state
            .db
            .call(move |conn| {
                for (statement, values) in &sql {
                    conn.execute(statement, rusqlite::params_from_iter(values.iter()))
                        .map_err(viva_localstack::db::DbError::from)?;
                }
                Ok::<_, viva_localstack::db::DbError>(())
            })
            .await
            .unwrap();
        Self {
            stack,
            http: reqwest::Client::new(),
            ids,
            emails,
            claims,
        }
    }

    /// Replaces "{name}", "{name.id}" and "{name.email}" strings, anywhere in `value`.
    fn substitute(&self, value: &Value) -> Value {
        match value {
            Value::String(s) if s.starts_with('{') && s.ends_with('}') => {
                let inner = &s[1..s.len() - 1];
                let (name, field) = inner.split_once('.').unwrap_or((inner, "id"));
                let found = match field {
                    "email" => self.emails.get(name),
                    "id" => self.ids.get(name),
                    _ => None,
                };
                found.map_or_else(|| value.clone(), |v| Value::String(v.clone()))
            }
            Value::Array(items) => Value::Array(items.iter().map(|v| self.substitute(v)).collect()),
            Value::Object(map) => Value::Object(
                map.iter()
                    .map(|(k, v)| (k.clone(), self.substitute(v)))
                    .collect(),
            ),
            other => other.clone(),
        }
    }

    fn token(&self, step: &Step) -> Option<String> {
        let keys = &self.stack.state.keys;
        let kind = step.token.as_deref().unwrap_or("valid");
        let claims = || {
            let name = step
                .caller
                .as_deref()
                .expect("a step with a token names its caller");
            self.claims
                .get(name)
                .unwrap_or_else(|| panic!("no user {name} in the world"))
                .clone()
        };
        match kind {
            "none" => None,
            "garbage" => Some("not.a.token".into()),
            "valid" => Some(keys.sign(&claims()).unwrap()),
            "expired" => {
                let mut c = claims();
                c.iat -= 7200;
                c.exp = chrono::Utc::now().timestamp() - 3600;
                Some(keys.sign(&c).unwrap())
            }
            "wrong_audience" => {
                let mut c = claims();
                c.aud = "anon".into();
                Some(keys.sign(&c).unwrap())
            }
            "bad_signature" => {
                let token = keys.sign(&claims()).unwrap();
                let (signed, signature) = token.rsplit_once('.').unwrap();
                // Another valid-looking signature: the first character changed.
                let first = if signature.starts_with('A') { 'B' } else { 'A' };
                Some(format!("{signed}.{first}{}", &signature[1..]))
            }
            other => panic!("unknown token kind {other}"),
        }
    }

    async fn call(&self, step: &Step) -> (u16, reqwest::header::HeaderMap, String) {
        let mut request = self
            .http
            .post(format!(
                "{}/functions/v1/{}",
                self.stack.base_url, step.call
            ))
            .header("apikey", &self.stack.anon_key)
            .header("content-type", "application/json");
        if let Some(token) = self.token(step) {
            request = request.bearer_auth(token);
        }
        let body = match (&step.raw_body, &step.body) {
            (Some(raw), _) => raw.clone(),
            (None, Some(body)) => self.substitute(body).to_string(),
            (None, None) => "{}".into(),
        };
        let response = request.body(body).send().await.unwrap();
        let status = response.status().as_u16();
        let headers = response.headers().clone();
        (status, headers, response.text().await.unwrap())
    }

    async fn session_row(&self, name: &str) -> Value {
        let id = self.ids[name].clone();
        self.stack
            .state
            .db
            .call(move |conn| {
                conn.query_row(
                    "SELECT status, candidate_id, tenant_id, started_at, ended_at, closed_at, duration_ms, mode, voice_api, consent_at, consent_notice FROM interview_sessions WHERE id = ?1",
                    [&id],
                    |r| {
                        Ok(json!({
                            "status": r.get::<_, String>(0)?,
                            "candidate_id": r.get::<_, Option<String>>(1)?,
                            "tenant_id": r.get::<_, String>(2)?,
                            "started_at": r.get::<_, Option<String>>(3)?,
                            "ended_at": r.get::<_, Option<String>>(4)?,
                            "closed_at": r.get::<_, Option<String>>(5)?,
                            "duration_ms": r.get::<_, Option<i64>>(6)?,
                            "mode": r.get::<_, String>(7)?,
                            "voice_api": r.get::<_, Option<String>>(8)?,
                            "consent_at": r.get::<_, Option<String>>(9)?,
                            "consent_notice": r.get::<_, Option<String>>(10)?,
                        }))
                    },
                )
                .map_err(viva_localstack::db::DbError::from)
            })
            .await
            .unwrap()
    }

    async fn lines(&self, name: &str) -> Value {
        let id = self.ids[name].clone();
        self.stack
            .state
            .db
            .call(move |conn| {
                let mut statement = conn.prepare(
                    "SELECT item_id, seq, speaker, text, started_ms, ended_ms, reported_by, late FROM transcript_entries WHERE session_id = ?1 ORDER BY seq, item_id",
                )?;
                let rows = statement
                    .query_map([&id], |r| {
                        Ok(json!({
                            "item_id": r.get::<_, String>(0)?,
                            "seq": r.get::<_, i64>(1)?,
                            "speaker": r.get::<_, String>(2)?,
                            "text": r.get::<_, String>(3)?,
                            "started_ms": r.get::<_, i64>(4)?,
                            "ended_ms": r.get::<_, Option<i64>>(5)?,
                            "reported_by": r.get::<_, Option<String>>(6)?,
                            "late": r.get::<_, bool>(7)?,
                        }))
                    })?
                    .collect::<Result<Vec<_>, _>>()?;
                Ok::<_, viva_localstack::db::DbError>(Value::Array(rows))
            })
            .await
            .unwrap()
    }
}

/// Where `actual` differs from `pattern` (the suite's pattern language), one line each.
fn mismatches(pattern: &Value, actual: Option<&Value>, at: &str) -> Vec<String> {
    let present = actual.filter(|v| !v.is_null());
    if let Value::Object(map) = pattern {
        if let Some((key, arg)) = map.iter().next().filter(|(k, _)| k.starts_with('$')) {
            let ok = match (key.as_str(), present) {
                ("$any", v) => v.is_some(),
                ("$absent", v) => v.is_none(),
                ("$prefix", Some(Value::String(s))) => {
                    arg.as_str().is_some_and(|p| s.starts_with(p))
                }
                ("$suffix", Some(Value::String(s))) => arg.as_str().is_some_and(|p| s.ends_with(p)),
                ("$int_gt", Some(v)) => {
                    let number = v
                        .as_f64()
                        .or_else(|| v.as_str().and_then(|s| s.parse().ok()));
                    number
                        .zip(arg.as_f64())
                        .is_some_and(|(n, limit)| n.fract() == 0.0 && n > limit)
                }
                ("$prefix" | "$suffix" | "$int_gt", _) => false,
                (other, _) => return vec![format!("{at}: unknown matcher {other}")],
            };
            return if ok {
                Vec::new()
            } else {
                vec![format!(
                    "{at}: expected {pattern}, got {}",
                    actual.map_or("nothing".into(), Value::to_string)
                )]
            };
        }
        let Some(Value::Object(object)) = actual else {
            return vec![format!(
                "{at}: expected an object, got {}",
                actual.map_or("nothing".into(), Value::to_string)
            )];
        };
        return map
            .iter()
            .flat_map(|(key, sub)| mismatches(sub, object.get(key), &format!("{at}.{key}")))
            .collect();
    }
    match (pattern, actual) {
        (Value::Array(items), Some(Value::Array(got))) => {
            if items.len() != got.len() {
                return vec![format!(
                    "{at}: expected {} items, got {}",
                    items.len(),
                    got.len()
                )];
            }
            items
                .iter()
                .zip(got)
                .enumerate()
                .flat_map(|(i, (p, g))| mismatches(p, Some(g), &format!("{at}[{i}]")))
                .collect()
        }
        (Value::Number(n), Some(Value::Number(g))) if n.as_f64() == g.as_f64() => Vec::new(),
        (p, Some(g)) if p == g => Vec::new(),
        (Value::Null, None) => Vec::new(),
        _ => vec![format!(
            "{at}: expected {pattern}, got {}",
            actual.map_or("nothing".into(), Value::to_string)
        )],
    }
}

async fn run(case: &Case) -> Result<(), String> {
    let world = World::create(&case.world).await;
    let result = async {
        for (index, step) in case.steps.iter().enumerate() {
            for round in 0..step.repeat.unwrap_or(1) {
                let where_ = format!("step {} ({}, call {})", index + 1, step.call, round + 1);
                let (status, headers, text) = world.call(step).await;
                let mut problems = Vec::new();
                if status != step.expect.status {
                    problems.push(format!(
                        "status: expected {}, got {status}",
                        step.expect.status
                    ));
                }
                let body: Option<Value> = serde_json::from_str(&text).ok();
                if body.is_none() {
                    problems.push(format!("the reply is not JSON: {text:.200}"));
                }
                if let Some(pattern) = &step.expect.body {
                    problems.extend(mismatches(
                        &world.substitute(pattern),
                        body.as_ref(),
                        "body",
                    ));
                }
                for (name, pattern) in &step.expect.headers {
                    let value = headers
                        .get(name.as_str())
                        .and_then(|v| v.to_str().ok())
                        .map(|v| Value::String(v.to_owned()));
                    problems.extend(mismatches(
                        &world.substitute(pattern),
                        value.as_ref(),
                        &format!("header {name}"),
                    ));
                }
                if !problems.is_empty() {
                    return Err(format!(
                        "{where_}:\n  {}\n  reply: {text:.600}",
                        problems.join("\n  ")
                    ));
                }
            }
            if let Some(expected) = &step.expect_session {
                let row = world.session_row(&expected.session).await;
                let problems = mismatches(&world.substitute(&expected.row), Some(&row), "row");
                if !problems.is_empty() {
                    return Err(format!(
                        "step {}, session {}:\n  {}\n  row: {row}",
                        index + 1,
                        expected.session,
                        problems.join("\n  ")
                    ));
                }
            }
            if let Some(expected) = &step.expect_lines {
                let lines = world.lines(&expected.session).await;
                let problems =
                    mismatches(&world.substitute(&expected.lines), Some(&lines), "lines");
                if !problems.is_empty() {
                    return Err(format!(
                        "step {}, lines of {}:\n  {}\n  lines: {lines:.1500}",
                        index + 1,
                        expected.session,
                        problems.join("\n  ")
                    ));
                }
            }
        }
        Ok(())
    }
    .await;
    world.stack.shutdown().await;
    result
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_local_stack_meets_every_case_of_the_shared_contract_suite() {
    let suite = suite();
    assert!(
        suite.cases.len() >= 20,
        "the suite has only {} cases",
        suite.cases.len()
    );
    let mut failures = Vec::new();
    for case in &suite.cases {
        if let Err(problem) = run(case).await {
            failures.push(format!("{}: {problem}", case.name));
        }
    }
    assert!(
        failures.is_empty(),
        "{} of {} contract cases fail on the local stack:\n\n{}",
        failures.len(),
        suite.cases.len(),
        failures.join("\n\n")
    );
}

#[test]
fn the_pattern_language_catches_what_it_should() {
    let got = json!({"a": 1, "b": "ek_123", "c": [1, 2], "d": null});
    assert!(mismatches(&json!({"a": 1, "b": {"$prefix": "ek_"}, "d": {"$absent": true}, "e": {"$absent": true}}), Some(&got), "x").is_empty());
    assert_eq!(mismatches(&json!({"a": 2}), Some(&got), "x").len(), 1);
    assert_eq!(mismatches(&json!({"c": [1]}), Some(&got), "x").len(), 1);
    assert_eq!(
        mismatches(&json!({"d": {"$any": true}}), Some(&got), "x").len(),
        1
    );
    assert_eq!(
        mismatches(&json!({"b": {"$suffix": "9"}}), Some(&got), "x").len(),
        1
    );
    assert_eq!(
        mismatches(&json!({"a": {"$int_gt": 1}}), Some(&got), "x").len(),
        1
    );
    assert!(mismatches(&json!({"a": {"$int_gt": 0}}), Some(&got), "x").is_empty());
}

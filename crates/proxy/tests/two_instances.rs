//! One live connection per interview across instances, with the leases in a real PostgreSQL
//! (`viva_proxy.leases`, from supabase/migrations/20261208000000_proxy_leases.sql):
//!
//! - the lease statements themselves (`PgLeases`, two in one process with short timing): the
//!   same rules as `MemoryLeases`, racing acquires, expiry on the database's clock, fencing,
//!   and the start-up check's one-line fixes;
//! - two real `viva-proxy` processes sharing one database in front of a local stack: another
//!   sign-in is refused anywhere, the same sign-in moves between instances, a killed
//!   instance's interview frees itself within the lease's lifetime, and an instance cut off
//!   from the database lets go before another takes over.
//!
//! `cargo xtask test` starts the PostgreSQL server and passes `VIVA_TEST_PG_BIN` and
//! `VIVA_TEST_PG_PORT`; each test gets its own database.

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)] // Tests fail loudly by design.

use std::io::{BufRead, BufReader};
use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::time::{Duration, Instant};

use futures_util::{SinkExt, StreamExt};
use serde_json::{Value, json};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio_tungstenite::tungstenite::Message;
use viva_localstack::{Config, LocalStack};
use viva_proxy::lease::pg::{PgLeases, Timing};
use viva_proxy::lease::{Acquired, Claim, LeaseError, LeaseLoss, Leases};
use viva_proxy::upstream::UpstreamCall;

// ---- the database ----

static NEXT_DATABASE: AtomicUsize = AtomicUsize::new(0);
/// The login role the proxies use in these tests: a member of `viva_proxy`, as the operator's
/// would be.
const ROLE: &str = "viva_proxy_test";
const MIGRATION: &str = "../../supabase/migrations/20261208000000_proxy_leases.sql";

struct Pg {
    bin: PathBuf,
    port: String,
    database: String,
}

impl Pg {
    /// A fresh database with the lease migration applied, and the test's login role.
    fn create() -> Self {
        let var = |name: &str| {
            std::env::var(name).unwrap_or_else(|_| {
                panic!("{name} is not set: run this test through `cargo xtask test`")
            })
        };
        let pg = Self {
            bin: PathBuf::from(var("VIVA_TEST_PG_BIN")),
            port: var("VIVA_TEST_PG_PORT"),
            database: format!(
                "viva_leases_{}_{}",
                std::process::id(),
                NEXT_DATABASE.fetch_add(1, Ordering::Relaxed)
            ),
        };
        pg.psql("postgres", &format!("CREATE DATABASE {}", pg.database))
            .unwrap();
        let migration = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join(MIGRATION);
        let sql = std::fs::read_to_string(&migration).unwrap();
        // Roles belong to the cluster, which tests in other processes share: creating one
        // can race with them, so it is retried.
        let mut tries = 0;
        loop {
            tries += 1;
            let setup = pg.psql(&pg.database, &sql).and_then(|_| {
                pg.psql(
                    &pg.database,
                    &format!(
                        "do $$ begin create role {ROLE} login; exception when duplicate_object or unique_violation then null; end $$;
                         grant viva_proxy to {ROLE};"
                    ),
                )
            });
            match setup {
                Ok(_) => break,
                Err(_) if tries < 5 => {
                    let _ = pg.psql(&pg.database, "drop schema if exists viva_proxy cascade");
                    std::thread::sleep(Duration::from_millis(200));
                }
                Err(problem) => panic!("{}: {problem}", migration.display()),
            }
        }
        pg
    }

    /// Runs SQL as the superuser in `database`; the rows as text.
    fn psql(&self, database: &str, sql: &str) -> Result<String, String> {
        let out = Command::new(self.bin.join("psql"))
            .args(["-h", "127.0.0.1", "-p", &self.port, "-U", "postgres", "-d"])
            .arg(database)
            .args(["-v", "ON_ERROR_STOP=1", "-At", "-c", sql])
            .output()
            .unwrap();
        if out.status.success() {
            Ok(String::from_utf8_lossy(&out.stdout).trim().to_owned())
        } else {
            Err(String::from_utf8_lossy(&out.stderr).into_owned())
        }
    }

    /// The proxies' connection string, through `port` (the server's, a relay's or a pooler's).
    fn url_via(&self, port: &str) -> String {
        format!("postgres://{ROLE}@127.0.0.1:{port}/{}", self.database)
    }

    fn url(&self) -> String {
        self.url_via(&self.port)
    }

    /// Who holds `session` now (its conn_id), if anyone.
    fn holder_of(&self, session: &str) -> String {
        self.psql(
            &self.database,
            &format!(
                "select conn_id from viva_proxy.leases where session_id = '{session}' and expires_at > now()"
            ),
        )
        .unwrap()
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

/// A TCP relay in front of the database that can be cut: while cut it forwards nothing (in
/// either direction) but keeps every socket open, as a network partition does.
struct Relay {
    port: u16,
    cut: Arc<AtomicBool>,
}

impl Relay {
    async fn start(target_port: u16) -> Self {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let port = listener.local_addr().unwrap().port();
        let cut = Arc::new(AtomicBool::new(false));
        let flag = cut.clone();
        tokio::spawn(async move {
            while let Ok((inbound, _)) = listener.accept().await {
                let Ok(outbound) = tokio::net::TcpStream::connect(("127.0.0.1", target_port)).await
                else {
                    continue;
                };
                let (in_read, in_write) = inbound.into_split();
                let (out_read, out_write) = outbound.into_split();
                tokio::spawn(pump(in_read, out_write, flag.clone()));
                tokio::spawn(pump(out_read, in_write, flag.clone()));
            }
        });
        Self { port, cut }
    }

    fn cut(&self, cut: bool) {
        self.cut.store(cut, Ordering::SeqCst);
    }
}

async fn pump(
    mut from: tokio::net::tcp::OwnedReadHalf,
    mut to: tokio::net::tcp::OwnedWriteHalf,
    cut: Arc<AtomicBool>,
) {
    let mut buffer = vec![0; 16 * 1024];
    loop {
        let read = from.read(&mut buffer).await;
        while cut.load(Ordering::SeqCst) {
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
        match read {
            Ok(0) | Err(_) => break,
            Ok(n) => {
                if to.write_all(&buffer[..n]).await.is_err() {
                    break;
                }
            }
        }
    }
    let _ = to.shutdown().await;
}

/// The harness's pgbouncer (transaction mode, in front of the same server).
fn pgbouncer_port() -> String {
    std::env::var("VIVA_TEST_PGBOUNCER_PORT").unwrap_or_else(|_| {
        panic!("VIVA_TEST_PGBOUNCER_PORT is not set: run this test through `cargo xtask test`")
    })
}

// ---- the lease statements, in process ----

/// Short timing, so expiry and fencing take seconds.
fn quick() -> Timing {
    Timing {
        ttl: Duration::from_secs(3),
        renew_every: Duration::from_millis(500),
        fence_after: Duration::from_secs(2),
        statement_timeout: Duration::from_secs(1),
    }
}

fn id() -> String {
    uuid::Uuid::new_v4().to_string()
}

fn claim(session: &str, user: &str, sign_in: &str) -> Claim {
    Claim {
        session_id: session.to_owned(),
        conn_id: id(),
        user_id: user.to_owned(),
        auth_session: sign_in.to_owned(),
    }
}

fn call(session: &str, id: &str) -> UpstreamCall {
    UpstreamCall {
        session_id: session.to_owned(),
        live: true,
        id: id.to_owned(),
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_lease_rules_in_postgres_are_the_memory_leases_rules_across_instances() {
    let pg = Pg::create();
    lease_rules(&pg, &pg.url()).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_lease_rules_hold_through_a_pooler_in_transaction_mode() {
    let pg = Pg::create();
    lease_rules(&pg, &pg.url_via(&pgbouncer_port())).await;
}

/// The rules of `MemoryLeases`' tests, with two instances on the database at `url`.
async fn lease_rules(pg: &Pg, url: &str) {
    let a = PgLeases::connect_with(url, 2, quick()).await.unwrap();
    let b = PgLeases::connect_with(url, 2, quick()).await.unwrap();
    assert_eq!(a.kind(), "postgres");
    assert!(a.healthy().await);
    let (session, user) = (id(), id());

    // Another sign-in, or a token without one, is refused wherever it connects.
    let first_claim = claim(&session, &user, "laptop");
    let first = a.acquire(&first_claim).await.unwrap();
    assert_eq!(first.how, Acquired::Fresh);
    assert_eq!(first.call, None);
    for other in [
        claim(&session, &user, "desktop"),
        claim(&session, &user, ""),
    ] {
        assert_eq!(b.acquire(&other).await.err(), Some(LeaseError::Held));
        assert_eq!(a.acquire(&other).await.err(), Some(LeaseError::Held));
    }

    // A call is recorded; the same call again replaces nothing.
    assert_eq!(
        a.record_call(&first_claim, &call(&session, "live_1")).await,
        Ok(None)
    );
    assert_eq!(
        a.record_call(&first_claim, &call(&session, "live_1")).await,
        Ok(None)
    );

    // The same sign-in on the other instance replaces the holder at once and gets its call;
    // the old holder learns at its instance's next renewal.
    let started = Instant::now();
    let second_claim = claim(&session, &user, "laptop");
    let second = b.acquire(&second_claim).await.unwrap();
    assert_eq!(second.how, Acquired::ReplacedOwn);
    assert_eq!(second.call, Some(call(&session, "live_1")));
    let loss = tokio::time::timeout(Duration::from_secs(3), first.lost)
        .await
        .expect("the replaced holder was not told");
    assert_eq!(loss, Ok(LeaseLoss::Replaced));
    assert!(
        started.elapsed() < Duration::from_secs(2),
        "{:?}",
        started.elapsed()
    );

    // The replaced connection can neither record a call nor free the new holder's lease.
    assert_eq!(
        a.record_call(&first_claim, &call(&session, "live_2")).await,
        Err(LeaseError::Lost)
    );
    assert_eq!(a.release(&first_claim).await, None);
    assert_eq!(pg.holder_of(&session), second_claim.conn_id);
    assert_eq!(
        a.acquire(&claim(&session, &user, "desktop")).await.err(),
        Some(LeaseError::Held)
    );

    // A new call names the one it replaced; release returns the call and frees the session.
    assert_eq!(
        b.record_call(&second_claim, &call(&session, "live_3"))
            .await,
        Ok(Some(call(&session, "live_1")))
    );
    assert_eq!(
        b.release(&second_claim).await,
        Some(call(&session, "live_3"))
    );
    assert_eq!(pg.holder_of(&session), "");
    let third_claim = claim(&session, &user, "desktop");
    let third = a.acquire(&third_claim).await.unwrap();
    assert_eq!((third.how, third.call), (Acquired::Fresh, None));

    // A replaced holder on the same instance is told at once, not at the next renewal.
    let slow = Timing {
        renew_every: Duration::from_secs(30),
        ttl: Duration::from_secs(60),
        fence_after: Duration::from_secs(50),
        ..quick()
    };
    let c = PgLeases::connect_with(url, 2, slow).await.unwrap();
    let other_session = id();
    let old = c
        .acquire(&claim(&other_session, &user, "phone"))
        .await
        .unwrap();
    let _new = c
        .acquire(&claim(&other_session, &user, "phone"))
        .await
        .unwrap();
    let loss = tokio::time::timeout(Duration::from_millis(200), old.lost).await;
    assert_eq!(loss.ok(), Some(Ok(LeaseLoss::Replaced)));

    // Ids that are not UUIDs never reach SQL.
    assert_eq!(
        a.acquire(&claim("s1", &user, "laptop")).await.err(),
        Some(LeaseError::Unavailable)
    );

    // A stopping instance frees all its interviews at once.
    c.release_all().await;
    assert_eq!(pg.holder_of(&other_session), "");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn racing_acquires_of_a_free_session_let_exactly_one_win() {
    let pg = Pg::create();
    let a = Arc::new(PgLeases::connect_with(&pg.url(), 8, quick()).await.unwrap());
    let b = Arc::new(PgLeases::connect_with(&pg.url(), 8, quick()).await.unwrap());
    for _ in 0..20 {
        let (session, user) = (id(), id());
        let mut racers = Vec::new();
        for n in 0..12 {
            let leases = if n % 2 == 0 { a.clone() } else { b.clone() };
            let claim = claim(&session, &user, &format!("computer-{n}"));
            racers.push(tokio::spawn(async move {
                leases.acquire(&claim).await.map(|grant| grant.how)
            }));
        }
        let mut won = Vec::new();
        for racer in racers {
            match racer.await.unwrap() {
                Ok(how) => won.push(how),
                Err(problem) => assert_eq!(problem, LeaseError::Held),
            }
        }
        assert_eq!(won, vec![Acquired::Fresh], "exactly one wins");
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_lease_nobody_renews_expires_on_the_database_clock_and_keeps_its_call() {
    let pg = Pg::create();
    let timing = quick();
    let a = PgLeases::connect_with(&pg.url(), 2, timing).await.unwrap();
    let b = PgLeases::connect_with(&pg.url(), 2, timing).await.unwrap();
    let (session, user) = (id(), id());
    let holder = claim(&session, &user, "laptop");
    let _grant = a.acquire(&holder).await.unwrap();
    a.record_call(&holder, &call(&session, "rtc_1"))
        .await
        .unwrap();
    // Renewals keep it held well past its lifetime.
    tokio::time::sleep(timing.ttl + Duration::from_secs(1)).await;
    let other = claim(&session, &user, "desktop");
    assert_eq!(b.acquire(&other).await.err(), Some(LeaseError::Held));

    // The instance goes (its heartbeat with it): the lease is free once its time is up.
    drop(a);
    let gone = Instant::now();
    let grant = loop {
        match b.acquire(&claim(&session, &user, "desktop")).await {
            Ok(grant) => break grant,
            Err(LeaseError::Held) => {}
            Err(problem) => panic!("{problem}"),
        }
        assert!(gone.elapsed() < timing.ttl + Duration::from_secs(2));
        tokio::time::sleep(Duration::from_millis(100)).await;
    };
    let waited = gone.elapsed();
    assert!(
        waited >= timing.ttl - timing.renew_every - Duration::from_millis(200),
        "taken over after {waited:?}, before the lease could have expired"
    );
    assert_eq!(grant.how, Acquired::TookOverExpired);
    assert_eq!(grant.call, Some(call(&session, "rtc_1")));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_holder_cut_off_from_the_database_lets_go_before_another_instance_takes_over() {
    let pg = Pg::create();
    let timing = quick();
    let relay = Relay::start(pg.port.parse().unwrap()).await;
    let a = PgLeases::connect_with(&pg.url_via(&relay.port.to_string()), 2, timing)
        .await
        .unwrap();
    let b = PgLeases::connect_with(&pg.url(), 2, timing).await.unwrap();
    let (session, user) = (id(), id());
    let grant = a.acquire(&claim(&session, &user, "laptop")).await.unwrap();
    tokio::time::sleep(Duration::from_secs(1)).await;

    relay.cut(true);
    let cut = Instant::now();
    let fenced = tokio::spawn(async move {
        let loss = grant.lost.await;
        (loss, Instant::now())
    });
    let taken = loop {
        match b.acquire(&claim(&session, &user, "desktop")).await {
            Ok(_) => break Instant::now(),
            Err(LeaseError::Held) => {}
            Err(problem) => panic!("{problem}"),
        }
        assert!(cut.elapsed() < timing.ttl + Duration::from_secs(2));
        tokio::time::sleep(Duration::from_millis(50)).await;
    };
    let (loss, fenced_at) = tokio::time::timeout(Duration::from_secs(1), fenced)
        .await
        .expect("the cut-off holder was never told")
        .unwrap();
    assert_eq!(loss, Ok(LeaseLoss::Unconfirmed));
    assert!(
        fenced_at < taken,
        "the cut-off holder was told {:?} after the cut, the other instance took over after {:?}",
        fenced_at - cut,
        taken - cut
    );
    assert!(!a.healthy().await, "a cut-off instance is not healthy");
    relay.cut(false);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_start_up_check_says_what_to_fix() {
    let pg = Pg::create();
    // A role that is not a member of viva_proxy.
    let outsider = format!("viva_proxy_outsider_{}", std::process::id());
    pg.psql(&pg.database, &format!("create role {outsider} login"))
        .unwrap();
    let url = format!(
        "postgres://{outsider}@127.0.0.1:{}/{}",
        pg.port, pg.database
    );
    let refused = PgLeases::connect(&url, 2).await.unwrap_err();
    assert!(refused.contains("grant viva_proxy to"), "{refused}");
    assert!(!refused.contains('\n'), "{refused}");
    pg.psql(&pg.database, &format!("drop role {outsider}"))
        .unwrap();

    // A database without the migration.
    pg.psql(&pg.database, "drop schema viva_proxy cascade")
        .unwrap();
    let missing = PgLeases::connect(&pg.url(), 2).await.unwrap_err();
    assert!(
        missing.contains("20261208000000_proxy_leases.sql"),
        "{missing}"
    );

    // Nothing listening.
    let closed = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let port = closed.local_addr().unwrap().port();
    drop(closed);
    let unreachable = PgLeases::connect(&pg.url_via(&port.to_string()), 2)
        .await
        .unwrap_err();
    assert!(
        unreachable.contains("VIVA_PROXY_DATABASE_URL"),
        "{unreachable}"
    );
    assert!(!unreachable.contains('\n'), "{unreachable}");
}

// ---- two real instances ----

/// A local stack (tokens, JWKS, REST, sessions) for the proxies to stand in front of.
struct Stack {
    stack: LocalStack,
    http: reqwest::Client,
}

impl Stack {
    async fn start() -> Self {
        Self {
            stack: LocalStack::start(Config::default()).await.unwrap(),
            http: reqwest::Client::new(),
        }
    }

    /// A new sign-in (its own `session_id` claim); the access token.
    async fn sign_in(&self, email: &str) -> String {
        let response = self
            .http
            .post(format!(
                "{}/auth/v1/token?grant_type=password",
                self.stack.base_url
            ))
            .header("apikey", &self.stack.anon_key)
            .json(&json!({"email": email, "password": "password-1"}))
            .send()
            .await
            .unwrap();
        assert!(response.status().is_success(), "{}", response.status());
        let body: Value = response.json().await.unwrap();
        body["access_token"].as_str().unwrap().to_owned()
    }

    /// A candidate with a practice interview: their e-mail, a sign-in's token, the session.
    async fn candidate_in_practice(&self) -> (String, String, String) {
        let tenant = self.stack.add_tenant("Acme").await.unwrap();
        let email = format!("{}@acme.test", id());
        self.stack
            .add_user(&email, "password-1", &tenant, "candidate")
            .await
            .unwrap();
        let token = self.sign_in(&email).await;
        let response = self
            .http
            .post(format!(
                "{}/functions/v1/interview-start",
                self.stack.base_url
            ))
            .header("apikey", &self.stack.anon_key)
            .bearer_auth(&token)
            .json(&json!({"mode": "practice"}))
            .send()
            .await
            .unwrap();
        assert!(response.status().is_success(), "{}", response.status());
        let started: Value = response.json().await.unwrap();
        let session = started["session"]["id"].as_str().unwrap().to_owned();
        (email, token, session)
    }
}

/// A `viva-proxy` process, killed (SIGKILL) when dropped.
struct Instance {
    name: &'static str,
    child: Child,
    http: String,
    ws: String,
}

impl Instance {
    async fn start(name: &'static str, stack: &Stack, database_url: &str) -> Self {
        let mut child = Command::new(env!("CARGO_BIN_EXE_viva-proxy"))
            .args(["--listen", "127.0.0.1:0"])
            .args(["--metrics-listen", "off"])
            .args(["--backend-url", &stack.stack.base_url])
            .args(["--anon-key", &stack.stack.anon_key])
            .args(["--upstream-url", &stack.stack.base_url])
            // Retrying every half second must not trip the rate limits.
            .args(["--per-address-per-minute", "10000"])
            .args(["--per-user-per-minute", "10000"])
            .env("VIVA_PROXY_PROVIDER_KEY", "x")
            .env("VIVA_PROXY_DATABASE_URL", database_url)
            .env_remove("VIVA_PROXY_DATABASE_URL_FILE")
            .env_remove("VIVA_PROXY_PROVIDER_KEY_FILE")
            .env_remove("VIVA_PROXY_JWT_SECRET")
            .env_remove("VIVA_PROXY_JWT_SECRET_FILE")
            .env("VIVA_LOG", "info")
            .stdout(Stdio::piped())
            .spawn()
            .unwrap();
        // Its log lines go to the test's output (shown when a test fails); the listening line
        // names its address.
        let stdout = child.stdout.take().unwrap();
        let (address_tx, address_rx) = std::sync::mpsc::channel();
        std::thread::spawn(move || {
            for line in BufReader::new(stdout).lines().map_while(Result::ok) {
                if let Some(address) = line.strip_prefix("viva-proxy listening on http://") {
                    let _ = address_tx.send(address.to_owned());
                }
                eprintln!("[{name}] {line}");
            }
        });
        let address = address_rx
            .recv_timeout(Duration::from_secs(30))
            .unwrap_or_else(|_| panic!("{name}: viva-proxy did not start"));
        let instance = Self {
            name,
            child,
            http: format!("http://{address}"),
            ws: format!("ws://{address}/ws"),
        };
        let deadline = Instant::now() + Duration::from_secs(20);
        loop {
            let health = stack
                .http
                .get(format!("{}/health", instance.http))
                .send()
                .await;
            if let Ok(response) = health
                && response.status().is_success()
            {
                let body: Value = response.json().await.unwrap();
                assert_eq!(
                    (body["lease"].as_str(), body["db"].as_str()),
                    (Some("postgres"), Some("ok"))
                );
                return instance;
            }
            assert!(Instant::now() < deadline, "{name}: /health never answered");
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
    }

    /// SIGTERM: a deploy's stop (open connections drain, then the process exits).
    fn terminate(&mut self) {
        let status = Command::new("kill")
            .args(["-TERM", &self.child.id().to_string()])
            .status()
            .unwrap();
        assert!(status.success());
    }

    /// `kill -9`: the process ends without releasing anything.
    fn kill(&mut self) {
        self.child.kill().unwrap();
        self.child.wait().unwrap();
    }
}

impl Drop for Instance {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
        eprintln!("[{}] stopped", self.name);
    }
}

type Socket =
    tokio_tungstenite::WebSocketStream<tokio_tungstenite::MaybeTlsStream<tokio::net::TcpStream>>;

/// The next JSON message, or the close code and reason.
async fn next(socket: &mut Socket) -> Result<Value, (u16, String)> {
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

/// Connects to `instance` and authenticates for `session`: the open socket once `ready`, or
/// the close.
async fn join(instance: &Instance, token: &str, session: &str) -> Result<Socket, (u16, String)> {
    let (mut socket, _) = tokio_tungstenite::connect_async(&instance.ws)
        .await
        .unwrap();
    let auth = json!({"type": "auth", "access_token": token, "session_id": session});
    socket
        .send(Message::Text(auth.to_string().into()))
        .await
        .unwrap();
    match next(&mut socket).await {
        Ok(message) if message == json!({"type": "ready"}) => Ok(socket),
        Ok(message) => panic!("{}: expected ready, got {message}", instance.name),
        Err(close) => Err(close),
    }
}

/// Joins through `instance` every half second while the session is held (4009) until
/// `ready` or `limit`; the socket and when it was ready.
async fn join_when_free(
    instance: &Instance,
    token: &str,
    session: &str,
    limit: Duration,
) -> (Socket, Instant) {
    let started = Instant::now();
    loop {
        match join(instance, token, session).await {
            Ok(socket) => return (socket, Instant::now()),
            Err((4009, reason)) => assert_ne!(reason, "replaced"),
            Err(close) => panic!("{}: {close:?}", instance.name),
        }
        assert!(
            started.elapsed() < limit,
            "the session was still held after {limit:?}"
        );
        tokio::time::sleep(Duration::from_millis(500)).await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn two_instances_keep_one_live_connection_and_the_same_sign_in_moves_between_them() {
    let pg = Pg::create();
    one_live_connection_across(&pg.url()).await;
}

/// The same through pgbouncer in transaction mode, as a stand-in for Supabase's Supavisor:
/// every statement may run on another server connection.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn two_instances_work_through_a_pooler_in_transaction_mode() {
    let pg = Pg::create();
    one_live_connection_across(&pg.url_via(&pgbouncer_port())).await;
}

async fn one_live_connection_across(database_url: &str) {
    let stack = Stack::start().await;
    let a = Instance::start("A", &stack, database_url).await;
    let b = Instance::start("B", &stack, database_url).await;
    let (email, token, session) = stack.candidate_in_practice().await;

    let mut first = join(&a, &token, &session).await.unwrap();

    // The same user signed in on another computer is refused on the other instance.
    let elsewhere = stack.sign_in(&email).await;
    assert_ne!(elsewhere, token);
    let refused = join(&b, &elsewhere, &session).await.err().unwrap();
    assert_eq!(refused.0, 4009);
    assert_ne!(refused.1, "replaced");

    // The same sign-in reconnecting through the other instance replaces its old connection,
    // which is told within a renewal.
    let moved = Instant::now();
    let mut second = join(&b, &token, &session).await.unwrap();
    assert_eq!(next(&mut first).await, Err((4009, "replaced".to_owned())));
    let told = moved.elapsed();
    eprintln!("the replaced connection was told after {told:?}");
    assert!(told <= Duration::from_secs(5), "{told:?}");

    // The other sign-in is still refused, on either instance, until the holder says bye.
    assert_eq!(
        join(&a, &elsewhere, &session).await.err().map(|c| c.0),
        Some(4009)
    );
    second
        .send(Message::Text(json!({"type": "bye"}).to_string().into()))
        .await
        .unwrap();
    assert_eq!(next(&mut second).await, Ok(json!({"type": "bye"})));
    let (_third, _) = join_when_free(&a, &elsewhere, &session, Duration::from_secs(2)).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_killed_instances_interview_frees_itself_within_the_lease_lifetime() {
    let pg = Pg::create();
    let stack = Stack::start().await;
    let mut a = Instance::start("A", &stack, &pg.url()).await;
    let b = Instance::start("B", &stack, &pg.url()).await;
    let (email, token, session) = stack.candidate_in_practice().await;
    let other_sign_in = stack.sign_in(&email).await;

    let _held = join(&a, &token, &session).await.unwrap();
    a.kill();
    let killed = Instant::now();
    // Nothing released it: another sign-in is refused at first...
    assert_eq!(
        join(&b, &other_sign_in, &session).await.err().map(|c| c.0),
        Some(4009)
    );
    // ...and gets the interview once the dead instance's lease expires.
    let (_socket, ready) =
        join_when_free(&b, &other_sign_in, &session, Duration::from_secs(20)).await;
    let waited = ready - killed;
    eprintln!("the killed instance's interview was free after {waited:?}");
    assert!(waited <= Duration::from_secs(15), "{waited:?}");
    assert!(
        waited >= Duration::from_secs(5),
        "free after {waited:?}: the lease's lifetime did not gate it"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_stopping_instance_frees_its_interviews_at_once() {
    let pg = Pg::create();
    let stack = Stack::start().await;
    let mut a = Instance::start("A", &stack, &pg.url()).await;
    let b = Instance::start("B", &stack, &pg.url()).await;
    let (email, token, session) = stack.candidate_in_practice().await;
    let other_sign_in = stack.sign_in(&email).await;

    let mut held = join(&a, &token, &session).await.unwrap();
    a.terminate();
    let stopped = Instant::now();
    assert_eq!(next(&mut held).await, Err((1001, "draining".to_owned())));
    // Not at expiry: as soon as the stopping instance let go.
    let (_socket, ready) =
        join_when_free(&b, &other_sign_in, &session, Duration::from_secs(3)).await;
    eprintln!(
        "a stopping instance's interview was free after {:?}",
        ready - stopped
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_instance_cut_off_from_the_database_closes_its_connection_before_another_takes_over() {
    let pg = Pg::create();
    let stack = Stack::start().await;
    let relay = Relay::start(pg.port.parse().unwrap()).await;
    let a = Instance::start("A", &stack, &pg.url_via(&relay.port.to_string())).await;
    let b = Instance::start("B", &stack, &pg.url()).await;
    let (email, token, session) = stack.candidate_in_practice().await;
    let other_sign_in = stack.sign_in(&email).await;

    let mut held = join(&a, &token, &session).await.unwrap();
    relay.cut(true);
    let cut = Instant::now();
    // Reading keeps answering the proxy's pings, so only the lease can end it.
    let closed = tokio::spawn(async move {
        let close = next(&mut held).await;
        (close, Instant::now())
    });
    let (_socket, taken) =
        join_when_free(&b, &other_sign_in, &session, Duration::from_secs(20)).await;
    let (close, closed_at) = tokio::time::timeout(Duration::from_secs(1), closed)
        .await
        .expect("the cut-off instance kept its connection after another took over")
        .unwrap();
    eprintln!(
        "cut-off holder closed after {:?}; the other instance took over after {:?}",
        closed_at - cut,
        taken - cut
    );
    assert_eq!(close, Err((1011, "lease_unavailable".to_owned())));
    assert!(closed_at < taken, "two holders at once");
    assert!(taken - cut <= Duration::from_secs(15), "{:?}", taken - cut);

    // Back on the network, A knows it holds nothing: the first sign-in is refused there now.
    relay.cut(false);
    let deadline = Instant::now() + Duration::from_secs(15);
    loop {
        match join(&a, &token, &session).await {
            Err((4009, _)) => break,
            // Its pool is still reconnecting.
            Err((1011, _)) if Instant::now() < deadline => {
                tokio::time::sleep(Duration::from_millis(500)).await;
            }
            other => panic!("{:?}", other.map(|_| "ready")),
        }
    }
}

//! The SDP proxy under signalling load (W2-5): the release `viva-proxy` binary as its own
//! process, in front of a local stack in this process (tokens, JWKS, the sessions it reads over
//! REST) and a stub voice service here that answers at once. For N = 50, 200 and 500 concurrent
//! GPT-Live practice sessions of one candidate: the connect time (`auth` sent → `ready`), the
//! memory an idle connection holds (the proxy's VmRSS), then one offer a second on every socket
//! for 20 s: the proxy's own added latency offer → answer (measured at the client, minus the
//! stub's own time, which the stub writes into its answer), the proxy's CPU, and how late this
//! process's own timers ran meanwhile (the load generator's share of the tail). Then the largest
//! N again with the leases in PostgreSQL (`VIVA_TEST_PG_BIN`/`VIVA_TEST_PG_PORT`, as `cargo
//! xtask bench proxy` provides them). Prints a table and, when `VIVA_BENCH_ROWS` names a folder,
//! leaves its rows there.
//!
//! The client, the local stack and the stub share the machine's cores with the proxy.
//! `VIVA_BENCH_PROXY_SIZES` (e.g. `50,200`) and `VIVA_BENCH_PROXY_OFFERS` (1–20 offers per
//! socket) shorten a run.

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)] // A benchmark fails loudly.

use std::io::{BufRead, BufReader, Read};
use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::sync::atomic::{AtomicBool, AtomicU64, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use axum::Json;
use axum::extract::{Request, State};
use axum::http::{StatusCode, header};
use axum::response::{IntoResponse, Response};
use axum::routing::post;
use futures_util::{SinkExt, StreamExt};
use serde_json::{Value, json};
use tokio::sync::watch;
use tokio_tungstenite::tungstenite::Message;
use viva_localstack::{Config, LocalStack};

/// A real offer (webrtc-rs 0.21, audio and a data channel).
const OFFER: &str = include_str!("../../contract/testdata/webrtc_rs_0_21_offer.sdp");
const PASSWORD: &str = "password-1";
const PROVIDER_KEY: &str = "sk-bench-provider-key";
/// The stub's answer; its own time follows in an `a=x-stub-ns:` line.
const ANSWER: &str = "v=0\r\no=- 1 1 IN IP4 127.0.0.1\r\ns=-\r\nt=0 0\r\nm=audio 9 UDP/TLS/RTP/SAVPF 111\r\na=ice-pwd:stubanswerpassword00000\r\nm=application 9 UDP/DTLS/SCTP webrtc-datachannel\r\n";
const STUB_TIME: &str = "a=x-stub-ns:";
/// The sizes measured, unless `VIVA_BENCH_PROXY_SIZES` says otherwise.
const SIZES: [usize; 3] = [50, 200, 500];
/// Offers per socket, one a second (the proxy allows 20 on one connection).
const OFFERS: u32 = 20;
/// How fast the sockets connect (a ramp, not one burst): 500 sockets take 5 s.
const CONNECTS_PER_SECOND: f64 = 100.0;
/// How long the sockets sit idle, all connected, before the memory is read.
const SETTLE: Duration = Duration::from_secs(2);
/// How long any one step may take before the client gives up.
const STEP: Duration = Duration::from_secs(30);
/// The login role the proxy uses for the PostgreSQL run (a member of `viva_proxy`).
const PG_ROLE: &str = "viva_proxy_bench";
const MIGRATION: &str = "../../supabase/migrations/20261208000000_proxy_leases.sql";

type Socket =
    tokio_tungstenite::WebSocketStream<tokio_tungstenite::MaybeTlsStream<tokio::net::TcpStream>>;

// ---- the stub voice service ----

#[derive(Clone, Default)]
struct Stub {
    created: Arc<AtomicU64>,
}

/// Reads the request's body (as a service must before it can answer) and says how long that
/// and this took.
async fn stub_read(request: Request) -> Option<Instant> {
    let started = Instant::now();
    axum::body::to_bytes(request.into_body(), 1024 * 1024)
        .await
        .ok()
        .map(|_| started)
}

/// `POST /v1/live/sessions`: a Live session created at once.
async fn stub_live(State(stub): State<Stub>, request: Request) -> Response {
    let Some(started) = stub_read(request).await else {
        return StatusCode::BAD_REQUEST.into_response();
    };
    stub.created.fetch_add(1, Ordering::Relaxed);
    let sdp = format!("{ANSWER}{STUB_TIME}{}\r\n", started.elapsed().as_nanos());
    let created = json!({
        "session": {"id": "live_bench"},
        "transport": {"type": "webrtc", "sdp": sdp},
    });
    (StatusCode::CREATED, Json(created)).into_response()
}

/// `POST /v1/realtime/calls`: a Realtime call answered at once.
async fn stub_realtime(State(stub): State<Stub>, request: Request) -> Response {
    let Some(started) = stub_read(request).await else {
        return StatusCode::BAD_REQUEST.into_response();
    };
    stub.created.fetch_add(1, Ordering::Relaxed);
    let sdp = format!("{ANSWER}{STUB_TIME}{}\r\n", started.elapsed().as_nanos());
    (
        StatusCode::CREATED,
        [
            (header::CONTENT_TYPE, "application/sdp"),
            (header::LOCATION, "/v1/realtime/calls/rtc_bench"),
        ],
        sdp,
    )
        .into_response()
}

async fn stub_ok() -> StatusCode {
    StatusCode::OK
}

/// Serves the stub on loopback; its base URL (`--upstream-url`).
async fn start_stub(stub: Stub) -> String {
    let app = axum::Router::new()
        .route("/v1/live/sessions", post(stub_live))
        .route("/v1/live/sessions/{id}/hangup", post(stub_ok))
        .route("/v1/realtime/calls", post(stub_realtime).head(stub_ok))
        .route("/v1/realtime/calls/{id}/hangup", post(stub_ok))
        .with_state(stub);
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let url = format!("http://{}", listener.local_addr().unwrap());
    tokio::spawn(async move { axum::serve(listener, app).await.unwrap() });
    url
}

// ---- the proxy process ----

/// A release `viva-proxy` on a loopback port of its choosing; killed when dropped.
struct ProxyProcess {
    child: Child,
    http_url: String,
    ws_url: String,
    /// Its internal `/metrics` port's base URL.
    metrics_url: String,
}

impl ProxyProcess {
    async fn start(stack: &LocalStack, upstream_url: &str, database_url: Option<&str>) -> Self {
        // `/metrics` is served on its own internal port, as deployed; a free one per run.
        let metrics_port = std::net::TcpListener::bind("127.0.0.1:0")
            .unwrap()
            .local_addr()
            .unwrap()
            .port();
        let mut command = Command::new(env!("CARGO_BIN_EXE_viva-proxy"));
        command
            .args(["--listen", "127.0.0.1:0"])
            .args(["--metrics-listen", &format!("127.0.0.1:{metrics_port}")])
            .args(["--backend-url", &stack.base_url])
            .args(["--anon-key", &stack.anon_key])
            .args(["--upstream-url", upstream_url])
            .args(["--per-address-per-minute", "1000000"])
            .args(["--per-user-per-minute", "1000000"])
            .env("VIVA_PROXY_PROVIDER_KEY", PROVIDER_KEY)
            // What an operator runs: JSON logs at `info`.
            .env("VIVA_LOG", "info")
            .env_remove("VIVA_PROXY_DATABASE_URL")
            .env_remove("VIVA_PROXY_DATABASE_URL_FILE")
            .env_remove("VIVA_PROXY_CLIENT_IP_HEADER")
            .env_remove("VIVA_PROXY_JWT_SECRET")
            .stdout(Stdio::piped())
            .stderr(Stdio::piped());
        if let Some(url) = database_url {
            command.env("VIVA_PROXY_DATABASE_URL", url);
        }
        let mut child = command.spawn().unwrap();
        // Its stdout is read to the end (a full pipe would stall it); the address comes first.
        let (address_tx, address_rx) = std::sync::mpsc::channel();
        let stdout = child.stdout.take().unwrap();
        std::thread::spawn(move || {
            for line in BufReader::new(stdout).lines() {
                let Ok(line) = line else { break };
                if let Some(address) = line.strip_prefix("viva-proxy listening on http://") {
                    let _ = address_tx.send(address.trim().to_owned());
                }
            }
        });
        let stderr_text = Arc::new(Mutex::new(String::new()));
        let mut stderr = child.stderr.take().unwrap();
        {
            let stderr_text = stderr_text.clone();
            std::thread::spawn(move || {
                let mut text = String::new();
                let _ = stderr.read_to_string(&mut text);
                stderr_text.lock().unwrap().push_str(&text);
            });
        }
        let deadline = Instant::now() + STEP;
        let address = loop {
            if let Ok(address) = address_rx.try_recv() {
                break address;
            }
            if let Some(status) = child.try_wait().unwrap() {
                tokio::time::sleep(Duration::from_millis(100)).await;
                panic!(
                    "viva-proxy exited ({status}): {}",
                    stderr_text.lock().unwrap()
                );
            }
            assert!(Instant::now() < deadline, "viva-proxy did not start");
            tokio::time::sleep(Duration::from_millis(20)).await;
        };
        let proxy = Self {
            child,
            http_url: format!("http://{address}"),
            ws_url: format!("ws://{address}/ws"),
            metrics_url: format!("http://127.0.0.1:{metrics_port}"),
        };
        let http = reqwest::Client::new();
        loop {
            let healthy = http
                .get(format!("{}/health", proxy.http_url))
                .send()
                .await
                .is_ok_and(|r| r.status().is_success());
            if healthy {
                break;
            }
            assert!(Instant::now() < deadline, "viva-proxy is not healthy");
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
        proxy
    }

    fn pid(&self) -> u32 {
        self.child.id()
    }

    /// `/metrics`, from its internal port.
    async fn metrics(&self) -> Option<String> {
        let response = reqwest::get(format!("{}/metrics", self.metrics_url))
            .await
            .ok()?;
        if !response.status().is_success() {
            return None;
        }
        response.text().await.ok()
    }
}

impl Drop for ProxyProcess {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

// ---- /proc ----

/// A `/proc/<pid>/status` field in KiB (`VmRSS`, `VmHWM`).
fn status_kib(pid: &str, field: &str) -> u64 {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).unwrap();
    status
        .lines()
        .find_map(|line| line.strip_prefix(field)?.strip_prefix(':'))
        .and_then(|value| value.split_whitespace().next()?.parse().ok())
        .unwrap_or_else(|| panic!("no {field} in /proc/{pid}/status"))
}

/// utime + stime of `pid` (or `self`), in seconds.
fn cpu_seconds(pid: &str, ticks_per_second: f64) -> f64 {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).unwrap();
    // Fields after the command name (which may hold spaces); utime and stime are fields 14
    // and 15 of the whole line, 12th and 13th after the name.
    let rest = &stat[stat.rfind(')').unwrap() + 1..];
    let fields: Vec<&str> = rest.split_whitespace().collect();
    let ticks: u64 = fields[11].parse::<u64>().unwrap() + fields[12].parse::<u64>().unwrap();
    ticks as f64 / ticks_per_second
}

/// From `/proc/stat`, in seconds over all cores: the time the machine spent busy (user,
/// nice, system, irq, softirq), and the time the hypervisor ran something else while this
/// machine's CPUs wanted to run (steal: on a shared VM, cores it did not get).
fn machine_seconds(ticks_per_second: f64) -> (f64, f64) {
    let stat = std::fs::read_to_string("/proc/stat").unwrap();
    let fields: Vec<u64> = stat
        .lines()
        .next()
        .unwrap()
        .split_whitespace()
        .skip(1)
        .map(|v| v.parse().unwrap())
        .collect();
    // user nice system idle iowait irq softirq steal
    let busy = fields[0] + fields[1] + fields[2] + fields[5] + fields[6];
    (
        busy as f64 / ticks_per_second,
        fields[7] as f64 / ticks_per_second,
    )
}

fn clock_ticks() -> f64 {
    Command::new("getconf")
        .arg("CLK_TCK")
        .output()
        .ok()
        .and_then(|out| String::from_utf8(out.stdout).ok()?.trim().parse().ok())
        .unwrap_or(100.0)
}

// ---- PostgreSQL ----

/// A fresh database with the lease migration applied, and a login role in `viva_proxy`;
/// dropped with it.
struct Pg {
    bin: PathBuf,
    port: String,
    database: String,
}

impl Pg {
    /// `None` when no PostgreSQL server was given (`cargo bench` outside the harness).
    fn create() -> Option<Self> {
        let pg = Self {
            bin: PathBuf::from(std::env::var("VIVA_TEST_PG_BIN").ok()?),
            port: std::env::var("VIVA_TEST_PG_PORT").ok()?,
            database: format!("viva_proxy_bench_{}", std::process::id()),
        };
        pg.psql("postgres", &format!("CREATE DATABASE {}", pg.database))
            .unwrap();
        let migration = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join(MIGRATION);
        let sql = std::fs::read_to_string(&migration).unwrap();
        pg.psql(&pg.database, &sql)
            .unwrap_or_else(|problem| panic!("{}: {problem}", migration.display()));
        pg.psql(
            &pg.database,
            &format!(
                "do $$ begin create role {PG_ROLE} login; exception when duplicate_object or unique_violation then null; end $$;
                 grant viva_proxy to {PG_ROLE};"
            ),
        )
        .unwrap();
        Some(pg)
    }

    fn psql(&self, database: &str, sql: &str) -> Result<String, String> {
        let out = Command::new(self.bin.join("psql"))
            .args(["-h", "127.0.0.1", "-p", &self.port, "-U", "postgres", "-d"])
            .arg(database)
            .args(["-v", "ON_ERROR_STOP=1", "-At", "-c", sql])
            .output()
            .map_err(|e| e.to_string())?;
        if out.status.success() {
            Ok(String::from_utf8_lossy(&out.stdout).trim().to_owned())
        } else {
            Err(String::from_utf8_lossy(&out.stderr).into_owned())
        }
    }

    fn url(&self) -> String {
        format!(
            "postgres://{PG_ROLE}@127.0.0.1:{}/{}",
            self.port, self.database
        )
    }

    fn version(&self) -> String {
        // `15.18 (Debian 15.18-0+deb12u1)`: the number is enough.
        let version = self
            .psql("postgres", "show server_version")
            .unwrap_or_default();
        version.split_whitespace().next().unwrap_or("?").to_owned()
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

// ---- the client ----

/// The next JSON text message; pings are answered by reading on.
async fn next_json(socket: &mut Socket) -> Result<Value, String> {
    loop {
        let message = tokio::time::timeout(STEP, socket.next())
            .await
            .map_err(|_| "the proxy said nothing".to_owned())?;
        match message {
            Some(Ok(Message::Text(text))) => {
                return serde_json::from_str(&text).map_err(|e| e.to_string());
            }
            Some(Ok(Message::Close(frame))) => return Err(format!("closed: {frame:?}")),
            Some(Ok(_)) => {}
            Some(Err(error)) => return Err(error.to_string()),
            None => return Err("the socket ended".to_owned()),
        }
    }
}

/// Reads while waiting for something else: only pings (answered) may come.
fn quiet(
    message: Option<Result<Message, tokio_tungstenite::tungstenite::Error>>,
) -> Result<(), String> {
    match message {
        Some(Ok(Message::Ping(_) | Message::Pong(_) | Message::Frame(_))) => Ok(()),
        Some(Ok(Message::Text(text))) => Err(format!("unexpected: {text}")),
        Some(Ok(other)) => Err(format!("unexpected: {other:?}")),
        Some(Err(error)) => Err(error.to_string()),
        None => Err("the socket ended".to_owned()),
    }
}

async fn say(socket: &mut Socket, value: Value) -> Result<(), String> {
    socket
        .send(Message::text(value.to_string()))
        .await
        .map_err(|e| e.to_string())
}

/// Connects and authenticates; the socket and the time from `auth` sent to `ready`.
async fn join(ws_url: &str, token: &str, session: &str) -> Result<(Socket, Duration), String> {
    let (mut socket, _) = tokio::time::timeout(STEP, tokio_tungstenite::connect_async(ws_url))
        .await
        .map_err(|_| "connect timed out".to_owned())?
        .map_err(|e| e.to_string())?;
    say(
        &mut socket,
        json!({"type": "auth", "access_token": token, "session_id": session}),
    )
    .await?;
    let sent = Instant::now();
    let ready = next_json(&mut socket).await?;
    let took = sent.elapsed();
    if ready["type"] != "ready" {
        return Err(format!("not ready: {ready}"));
    }
    Ok((socket, took))
}

/// One offer → answer; the time at the client and the stub's own time.
async fn offer(socket: &mut Socket) -> Result<(Duration, Duration), String> {
    say(socket, json!({"type": "offer", "sdp": OFFER})).await?;
    let sent = Instant::now();
    let answer = next_json(socket).await?;
    let took = sent.elapsed();
    if answer["type"] != "answer" {
        return Err(format!("not an answer: {answer}"));
    }
    let stub_ns: u64 = answer["sdp"]
        .as_str()
        .and_then(|sdp| {
            sdp.lines()
                .find_map(|line| line.trim().strip_prefix(STUB_TIME)?.parse().ok())
        })
        .ok_or("the answer is not the stub's")?;
    Ok((took, Duration::from_nanos(stub_ns)))
}

async fn bye(socket: &mut Socket) {
    if say(socket, json!({"type": "bye"})).await.is_ok() {
        // `bye`, then the close.
        while next_json(socket).await.is_ok() {}
    }
}

/// The shared signals of one round.
struct Phase {
    /// When the offers start (the first tick of every socket is spread over the next second).
    go: watch::Sender<Option<Instant>>,
    /// Sockets that finished their offers (or failed).
    done: AtomicUsize,
    /// Time to say bye.
    end: watch::Sender<bool>,
}

#[derive(Default)]
struct Outcome {
    connect: Option<Duration>,
    /// Client-measured offer → answer, and the stub's own part of it.
    offers: Vec<(Duration, Duration)>,
    last_answer: Option<Instant>,
    error: Option<String>,
}

/// Counts the socket as done with its offers however it got there.
struct Done<'a>(&'a Phase, bool);

impl Done<'_> {
    fn finish(&mut self) {
        if !self.1 {
            self.1 = true;
            self.0.done.fetch_add(1, Ordering::SeqCst);
        }
    }
}

impl Drop for Done<'_> {
    fn drop(&mut self) {
        self.finish();
    }
}

/// What one candidate's socket does: connect after `delay`, wait (reading) for the go, send
/// `offers` offers one a second from `offset` after it, wait (reading) for the end, say bye.
struct Plan {
    ws_url: String,
    token: Arc<str>,
    session: String,
    delay: Duration,
    offset: Duration,
    offers: u32,
}

/// One candidate's socket, as `plan` says.
async fn client(
    plan: Plan,
    phase: Arc<Phase>,
    ready: tokio::sync::mpsc::UnboundedSender<bool>,
) -> Outcome {
    let Plan {
        ws_url,
        token,
        session,
        delay,
        offset,
        offers,
    } = plan;
    let mut outcome = Outcome::default();
    let mut done = Done(&phase, false);
    let mut go = phase.go.subscribe();
    let mut end = phase.end.subscribe();
    tokio::time::sleep(delay).await;
    let mut socket = match join(&ws_url, &token, &session).await {
        Ok((socket, took)) => {
            outcome.connect = Some(took);
            let _ = ready.send(true);
            socket
        }
        Err(error) => {
            outcome.error = Some(format!("join: {error}"));
            let _ = ready.send(false);
            return outcome;
        }
    };
    let result: Result<(), String> = async {
        let start = loop {
            tokio::select! {
                message = socket.next() => quiet(message)?,
                go = go.wait_for(Option::is_some) => break go.map_err(|e| e.to_string())?.unwrap_or_else(Instant::now),
            }
        };
        let mut ticks = tokio::time::interval_at((start + offset).into(), Duration::from_secs(1));
        ticks.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        for _ in 0..offers {
            loop {
                tokio::select! {
                    message = socket.next() => quiet(message)?,
                    _ = ticks.tick() => break,
                }
            }
            outcome.offers.push(offer(&mut socket).await?);
            outcome.last_answer = Some(Instant::now());
        }
        done.finish();
        loop {
            tokio::select! {
                message = socket.next() => quiet(message)?,
                _ = end.wait_for(|end| *end) => break,
            }
        }
        Ok(())
    }
    .await;
    done.finish();
    match result {
        Ok(()) => bye(&mut socket).await,
        Err(error) => outcome.error = Some(error),
    }
    outcome
}

// ---- one round ----

struct Round {
    label: String,
    n: usize,
    /// One socket, one offer at a time, before the load.
    sequential: Vec<(Duration, Duration)>,
    connect: Vec<Duration>,
    offers: Vec<(Duration, Duration)>,
    expected_offers: usize,
    errors: Vec<String>,
    rss_before_kib: u64,
    rss_idle_kib: u64,
    rss_after_kib: u64,
    hwm_kib: u64,
    /// The offer phase: its wall time, the proxy's CPU and this process's (client, local
    /// stack, stub), in seconds.
    wall: f64,
    proxy_cpu: f64,
    bench_cpu: f64,
    /// What other processes ran meanwhile (PostgreSQL in its run, and whatever else).
    other_cpu: f64,
    /// CPU time the hypervisor gave to others while this machine wanted it.
    steal: f64,
    metrics: Option<String>,
    /// How late this process's own timers fired during the offers.
    lateness: Vec<Duration>,
}

/// What every round shares.
struct Setup<'a> {
    stack: &'a LocalStack,
    stub_url: &'a str,
    token: Arc<str>,
    /// One per socket, and one for the warm-up.
    sessions: Vec<String>,
    offers: u32,
}

/// `n` sockets against a fresh proxy (its leases in the database at `database_url`, if any).
async fn round(label: String, setup: &Setup<'_>, n: usize, database_url: Option<&str>) -> Round {
    let (stack, token, sessions, offers) =
        (setup.stack, &setup.token, &setup.sessions, setup.offers);
    let ticks = clock_ticks();
    eprintln!("proxy bench: {label}: {n} sockets");
    let proxy = ProxyProcess::start(stack, setup.stub_url, database_url).await;
    let pid = proxy.pid().to_string();
    // A warm-up that is also the unloaded figure: one socket, offers back to back.
    let (mut socket, _) = join(&proxy.ws_url, token, &sessions[0]).await.unwrap();
    let mut sequential = Vec::new();
    for _ in 0..offers {
        sequential.push(offer(&mut socket).await.unwrap());
    }
    bye(&mut socket).await;
    drop(socket);
    tokio::time::sleep(Duration::from_millis(500)).await;
    let rss_before_kib = status_kib(&pid, "VmRSS");

    let (go, _) = watch::channel(None);
    let (end, _) = watch::channel(false);
    let phase = Arc::new(Phase {
        go,
        done: AtomicUsize::new(0),
        end,
    });
    let (ready_tx, mut ready_rx) = tokio::sync::mpsc::unbounded_channel();
    let mut tasks = Vec::with_capacity(n);
    for (i, session) in sessions[1..=n].iter().enumerate() {
        let delay = Duration::from_secs_f64(i as f64 / CONNECTS_PER_SECOND);
        let offset = Duration::from_secs_f64(i as f64 / n as f64);
        let plan = Plan {
            ws_url: proxy.ws_url.clone(),
            token: setup.token.clone(),
            session: session.clone(),
            delay,
            offset,
            offers: setup.offers,
        };
        tasks.push(tokio::spawn(client(plan, phase.clone(), ready_tx.clone())));
    }
    drop(ready_tx);
    // Each socket says once whether it joined (it keeps its sender while it lives).
    let mut joined = 0;
    for _ in 0..n {
        joined += usize::from(ready_rx.recv().await.unwrap_or(false));
    }
    tokio::time::sleep(SETTLE).await;
    let rss_idle_kib = status_kib(&pid, "VmRSS");
    if joined < n {
        eprintln!("{label}: {} of {n} sockets did not join", n - joined);
    }

    let (proxy_cpu0, bench_cpu0, machine0) = (
        cpu_seconds(&pid, ticks),
        cpu_seconds("self", ticks),
        machine_seconds(ticks),
    );
    let probing = Arc::new(AtomicBool::new(true));
    let probe = tokio::spawn(lateness_probe(probing.clone()));
    let started = Instant::now();
    phase.go.send_replace(Some(started));
    while phase.done.load(Ordering::SeqCst) < n {
        tokio::time::sleep(Duration::from_millis(5)).await;
    }
    let (proxy_cpu1, bench_cpu1, machine1) = (
        cpu_seconds(&pid, ticks),
        cpu_seconds("self", ticks),
        machine_seconds(ticks),
    );
    let rss_after_kib = status_kib(&pid, "VmRSS");
    let hwm_kib = status_kib(&pid, "VmHWM");
    probing.store(false, Ordering::SeqCst);
    let lateness = probe.await.unwrap();
    let metrics = proxy.metrics().await;
    phase.end.send_replace(true);

    let mut result = Round {
        label,
        n,
        sequential,
        connect: Vec::new(),
        offers: Vec::new(),
        expected_offers: n * offers as usize,
        errors: Vec::new(),
        rss_before_kib,
        rss_idle_kib,
        rss_after_kib,
        hwm_kib,
        wall: 0.0,
        proxy_cpu: proxy_cpu1 - proxy_cpu0,
        bench_cpu: bench_cpu1 - bench_cpu0,
        other_cpu: ((machine1.0 - machine0.0)
            - (proxy_cpu1 - proxy_cpu0)
            - (bench_cpu1 - bench_cpu0))
            .max(0.0),
        steal: machine1.1 - machine0.1,
        metrics,
        lateness,
    };
    let mut last_answer = started;
    for task in tasks {
        let outcome = task.await.unwrap();
        result.connect.extend(outcome.connect);
        result.offers.extend(outcome.offers);
        if let Some(at) = outcome.last_answer {
            last_answer = last_answer.max(at);
        }
        result.errors.extend(outcome.error);
    }
    // The offer phase ends with its last answer (the CPU is read within 5 ms of it).
    result.wall = last_answer
        .duration_since(started)
        .max(Duration::from_millis(1))
        .as_secs_f64();
    drop(proxy);
    result
}

// ---- figures ----

fn percentile(values: &[Duration], p: f64) -> Duration {
    let mut sorted = values.to_vec();
    sorted.sort();
    if sorted.is_empty() {
        return Duration::ZERO;
    }
    let rank = ((sorted.len() as f64 * p).ceil() as usize).clamp(1, sorted.len());
    sorted[rank - 1]
}

fn ms(d: Duration) -> String {
    let ms = d.as_secs_f64() * 1000.0;
    if ms < 10.0 {
        format!("{ms:.2} ms")
    } else {
        format!("{ms:.1} ms")
    }
}

fn p50_p99(values: &[Duration]) -> String {
    if values.is_empty() {
        return "—".to_owned();
    }
    format!(
        "{} / {}",
        ms(percentile(values, 0.5)),
        ms(percentile(values, 0.99))
    )
}

/// Offer → answer minus the stub's own time.
fn added(offers: &[(Duration, Duration)]) -> Vec<Duration> {
    offers
        .iter()
        .map(|(total, stub)| total.saturating_sub(*stub))
        .collect()
}

/// A sample's value from `/metrics` text.
fn sample(text: &str, series: &str) -> Option<f64> {
    text.lines()
        .find_map(|line| line.strip_prefix(series)?.strip_prefix(' ')?.parse().ok())
}

impl Round {
    fn kib_per_connection(&self) -> f64 {
        self.rss_idle_kib.saturating_sub(self.rss_before_kib) as f64 / self.n.max(1) as f64
    }

    fn cpu_percent(&self) -> f64 {
        100.0 * self.proxy_cpu / self.wall
    }

    fn failures(&self) -> String {
        let missing = self.expected_offers.saturating_sub(self.offers.len());
        if self.errors.is_empty() && missing == 0 {
            "0".to_owned()
        } else {
            format!("{} sockets, {missing} offers unanswered", self.errors.len())
        }
    }

    fn row(&self) -> String {
        format!(
            "| {} | release | {} | {} | {:.1} KiB | {:.0} % of a core | {:.0} % of a core | {} |",
            self.label,
            p50_p99(&self.connect),
            p50_p99(&added(&self.offers)),
            self.kib_per_connection(),
            self.cpu_percent(),
            100.0 * self.steal / self.wall,
            self.failures(),
        )
    }

    fn details(&self) -> String {
        let stub: Vec<Duration> = self.offers.iter().map(|(_, stub)| *stub).collect();
        let total: Vec<Duration> = self.offers.iter().map(|(total, _)| *total).collect();
        let mib = |kib: u64| kib as f64 / 1024.0;
        let mut text = format!(
            "- {}: {} of {} offers answered in {:.1} s ({:.0} offers/s); offer → answer at the client {} (max {}), of it the stub's own time p99 {}; proxy RSS before / all idle / after the offers / peak: {:.1} / {:.1} / {:.1} / {:.1} MiB; proxy CPU {:.1} s; this process (client, local stack, stub) {:.0} % of a core; other processes {:.0} % of a core; stolen by the hypervisor {:.0} % of a core",
            self.label,
            self.offers.len(),
            self.expected_offers,
            self.wall,
            self.offers.len() as f64 / self.wall,
            p50_p99(&total),
            ms(percentile(&total, 1.0)),
            ms(percentile(&stub, 0.99)),
            mib(self.rss_before_kib),
            mib(self.rss_idle_kib),
            mib(self.rss_after_kib),
            mib(self.hwm_kib),
            self.proxy_cpu,
            100.0 * self.bench_cpu / self.wall,
            100.0 * self.other_cpu / self.wall,
            100.0 * self.steal / self.wall,
        );
        text.push_str(&format!(
            "; this process's own timers late by p50 / p99: {} (the load generator's share of any tail)",
            p50_p99(&self.lateness)
        ));
        match &self.metrics {
            Some(metrics) => {
                let mean = |sum: &str, count: &str| -> String {
                    match (sample(metrics, sum), sample(metrics, count)) {
                        (Some(sum), Some(count)) if count > 0.0 => {
                            format!("{:.2}", 1000.0 * sum / count)
                        }
                        _ => "?".to_owned(),
                    }
                };
                text.push_str(&format!(
                    "; `/metrics`: mean offer {} ms (p99 ≤ {} ms), of it upstream {} ms",
                    mean(
                        "viva_proxy_offer_seconds_sum",
                        "viva_proxy_offer_seconds_count"
                    ),
                    bucket_quantile(metrics, "viva_proxy_offer_seconds", 0.99)
                        .map_or_else(|| "?".to_owned(), |le| format!("{:.2}", 1000.0 * le)),
                    mean(
                        r#"viva_proxy_upstream_seconds_sum{api="live"}"#,
                        r#"viva_proxy_upstream_seconds_count{api="live"}"#
                    ),
                ));
            }
            None => text.push_str("; `/metrics` could not be read"),
        }
        if let Some(first) = self.errors.first() {
            text.push_str(&format!("; first error: {first}"));
        }
        text
    }
}

// ---- set-up ----

/// One candidate, signed in once, with `count` GPT-Live practice sessions.
async fn candidate(stack: &LocalStack, count: usize) -> (Arc<str>, Vec<String>) {
    let tenant = stack.add_tenant("Bench").await.unwrap();
    let email = "load@bench.test";
    stack
        .add_user(email, PASSWORD, &tenant, "candidate")
        .await
        .unwrap();
    let http = reqwest::Client::new();
    let signed_in: Value = http
        .post(format!(
            "{}/auth/v1/token?grant_type=password",
            stack.base_url
        ))
        .header("apikey", &stack.anon_key)
        .json(&json!({"email": email, "password": PASSWORD}))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    let token: Arc<str> = signed_in["access_token"].as_str().unwrap().into();
    let mut sessions = Vec::with_capacity(count);
    for _ in 0..count {
        let response = http
            .post(format!("{}/functions/v1/interview-start", stack.base_url))
            .header("apikey", &stack.anon_key)
            .bearer_auth(&*token)
            .json(&json!({"mode": "practice", "api": "live"}))
            .send()
            .await
            .unwrap();
        assert_eq!(response.status(), reqwest::StatusCode::OK);
        let started: Value = response.json().await.unwrap();
        sessions.push(started["session"]["id"].as_str().unwrap().to_owned());
    }
    (token, sessions)
}

/// The two REST reads the proxy makes for every GPT-Live offer (the session, its transcript),
/// one after the other, from this process: how long the pair takes.
async fn rest_pair(
    http: &reqwest::Client,
    stack: &Backend,
    token: &str,
    session: &str,
) -> Duration {
    let started = Instant::now();
    for path in [
        format!(
            "interview_sessions?id=eq.{session}&select=tenant_id,candidate_id,status,question_set,voice_api"
        ),
        format!(
            "transcript_entries?session_id=eq.{session}&select=item_id,speaker,text&order=seq.asc,item_id.asc&limit=1000&offset=0"
        ),
    ] {
        let response = http
            .get(format!("{}/rest/v1/{path}", stack.base_url))
            .header("apikey", &stack.anon_key)
            .bearer_auth(token)
            .send()
            .await
            .unwrap();
        assert!(response.status().is_success());
        let _: Value = response.json().await.unwrap();
    }
    started.elapsed()
}

/// The local stack's address, for the REST probe.
#[derive(Clone)]
struct Backend {
    base_url: String,
    anon_key: String,
}

/// The upper bound of the histogram bucket `name` that holds its `q` quantile.
fn bucket_quantile(metrics: &str, name: &str, q: f64) -> Option<f64> {
    let count = sample(metrics, &format!("{name}_count"))?;
    let prefix = format!("{name}_bucket{{le=\"");
    metrics.lines().find_map(|line| {
        let rest = line.strip_prefix(&prefix)?;
        let (le, value) = rest.split_once("\"} ")?;
        let le: f64 = le.parse().ok()?;
        let value: f64 = value.trim().parse().ok()?;
        (value >= q * count).then_some(le)
    })
}

/// This process's own timer lateness, every 2 ms while `probing`: the client, the local stack
/// and the stub share it, so how late it runs is a floor under any tail it measures.
async fn lateness_probe(probing: Arc<AtomicBool>) -> Vec<Duration> {
    let mut late = Vec::new();
    while probing.load(Ordering::SeqCst) {
        let due = tokio::time::Instant::now() + Duration::from_millis(2);
        tokio::time::sleep_until(due).await;
        late.push(tokio::time::Instant::now().saturating_duration_since(due));
    }
    late
}

fn env_sizes() -> Vec<usize> {
    std::env::var("VIVA_BENCH_PROXY_SIZES")
        .ok()
        .map(|sizes| {
            sizes
                .split(',')
                .filter_map(|n| n.trim().parse().ok())
                .filter(|n| *n > 0)
                .collect::<Vec<usize>>()
        })
        .filter(|sizes| !sizes.is_empty())
        .unwrap_or_else(|| SIZES.to_vec())
}

fn main() {
    // `cargo bench` passes `--bench`; nothing else is taken.
    let sizes = env_sizes();
    let offers: u32 = std::env::var("VIVA_BENCH_PROXY_OFFERS")
        .ok()
        .and_then(|n| n.parse().ok())
        .unwrap_or(OFFERS)
        .clamp(1, OFFERS);
    let largest = sizes.iter().copied().max().unwrap_or(1);
    let runtime = tokio::runtime::Runtime::new().unwrap();
    runtime.block_on(async {
        let stack = LocalStack::start(Config {
            practice_sessions_per_hour: 10_000,
            ..Config::default()
        })
        .await
        .unwrap();
        let stub = Stub::default();
        let stub_url = start_stub(stub.clone()).await;
        let (token, sessions) = candidate(&stack, largest + 1).await;
        let backend = Backend {
            base_url: stack.base_url.clone(),
            anon_key: stack.anon_key.clone(),
        };
        let http = reqwest::Client::new();
        let mut rest = Vec::new();
        for _ in 0..40 {
            rest.push(rest_pair(&http, &backend, &token, &sessions[0]).await);
        }

        let setup = Setup {
            stack: &stack,
            stub_url: &stub_url,
            token,
            sessions,
            offers,
        };
        let mut rounds = Vec::new();
        for &n in &sizes {
            rounds.push(round(n.to_string(), &setup, n, None).await);
        }
        let pg = Pg::create();
        let pg_round = match &pg {
            Some(pg) => {
                let label = format!("{largest}, leases in PostgreSQL {}", pg.version());
                Some(round(label, &setup, largest, Some(&pg.url())).await)
            }
            None => None,
        };
        drop(pg);

        let sequential: Vec<(Duration, Duration)> = rounds
            .iter()
            .flat_map(|r| r.sequential.iter().copied())
            .collect();
        println!(
            "\n| concurrent signalling sessions | build | connect, auth → ready, p50 / p99 | proxy's added latency offer → answer, p50 / p99 | memory per idle connection | proxy CPU, offer phase | CPU stolen by the hypervisor, offer phase | failures |\n|---|---|---|---|---|---|---|---|"
        );
        println!(
            "| 1, one offer at a time ({} offers) | release | — | {} | — | — | — | 0 |",
            sequential.len(),
            p50_p99(&added(&sequential))
        );
        for round in &rounds {
            println!("{}", round.row());
        }
        match &pg_round {
            Some(round) => println!("{}", round.row()),
            None => println!(
                "| {largest}, leases in PostgreSQL | release | not measured (no PostgreSQL server: run `cargo xtask bench proxy`) | | | | | |"
            ),
        }
        println!();
        println!(
            "- the two REST reads a GPT-Live connection makes when it joins (session, transcript; an offer makes none), alone from this process, p50 / p99: {}",
            p50_p99(&rest)
        );
        for round in rounds.iter().chain(&pg_round) {
            println!("{}", round.details());
        }
        if let Some(pg) = &pg_round
            && let Some(memory) = rounds.iter().find(|r| r.n == pg.n)
        {
            println!(
                "- the lease in PostgreSQL at {}: connect p50 {:+.2} ms, p99 {:+.2} ms; added offer latency p50 {:+.2} ms, p99 {:+.2} ms (vs in memory)",
                pg.n,
                (percentile(&pg.connect, 0.5).as_secs_f64()
                    - percentile(&memory.connect, 0.5).as_secs_f64())
                    * 1000.0,
                (percentile(&pg.connect, 0.99).as_secs_f64()
                    - percentile(&memory.connect, 0.99).as_secs_f64())
                    * 1000.0,
                (percentile(&added(&pg.offers), 0.5).as_secs_f64()
                    - percentile(&added(&memory.offers), 0.5).as_secs_f64())
                    * 1000.0,
                (percentile(&added(&pg.offers), 0.99).as_secs_f64()
                    - percentile(&added(&memory.offers), 0.99).as_secs_f64())
                    * 1000.0,
            );
        }
        println!(
            "- the stub created {} sessions in all",
            stub.created.load(Ordering::Relaxed)
        );

        let rows: Vec<String> = rounds
            .iter()
            .chain(&pg_round)
            .map(|round| {
                format!(
                    "| proxy, {} concurrent sessions (release): added offer → answer p50 / p99 · connect p50 / p99 · per idle connection · CPU (stolen) | {} · {} · {:.1} KiB · {:.0} % of a core ({:.0} %) | p99 ≤ 5 ms at 500; ≤ 100 KiB |",
                    round.label,
                    p50_p99(&added(&round.offers)),
                    p50_p99(&round.connect),
                    round.kib_per_connection(),
                    round.cpu_percent(),
                    100.0 * round.steal / round.wall,
                )
            })
            .collect();
        if let Ok(dir) = std::env::var("VIVA_BENCH_ROWS") {
            let _ = std::fs::create_dir_all(&dir);
            let _ = std::fs::write(
                std::path::Path::new(&dir).join("proxy.md"),
                rows.join("\n") + "\n",
            );
        }
        stack.shutdown().await;
    });
}

//! The proxy as an operator runs it: the `viva-proxy` binary on loopback in front of a local
//! stack (tokens, sessions and GPT-Live answers), with a stub voice service where the upstream
//! must misbehave. What a candidate and an operator would notice: upstream faults reach the
//! client as a kind and a fixed sentence while the proxy stays up; SIGTERM drains (open
//! exchanges finish, idle connections close 1001, new ones are refused, the process exits 0);
//! connection rate limits per address (the TCP peer unless a trusted header is named) and per
//! user; JSON logs carrying each connection's id and no secret; `/metrics` after a scripted
//! session (in process, until the binary serves it); and `/health`.

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)] // Tests fail loudly by design.

use std::io::{BufRead, BufReader};
use std::net::SocketAddr;
use std::process::{Child, Command, ExitStatus, Stdio};
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use axum::body::Bytes;
use axum::extract::ws::{Message as AxumMessage, WebSocketUpgrade};
use axum::extract::{Path, State};
use axum::http::{HeaderMap, StatusCode, header};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use futures_util::{SinkExt, StreamExt};
use serde_json::{Value, json};
use tokio_tungstenite::tungstenite::Message;
use tokio_tungstenite::tungstenite::client::IntoClientRequest;
use viva_localstack::{Config, LocalStack};
use viva_proxy::auth::jwks::JwksVerifier;
use viva_proxy::auth::{BoxFuture, VerifiedUser};
use viva_proxy::lease::MemoryLeases;
use viva_proxy::service::Service;
use viva_proxy::sessions::rest::RestSessions;
use viva_proxy::sessions::{SessionError, SessionInfo, Sessions, StoredTurn};
use viva_proxy::upstream::openai::HostedUpstream;
use viva_proxy::{Proxy, ProxyParts};

const OFFER: &str = include_str!("../../contract/testdata/webrtc_rs_0_21_offer.sdp");
/// The project key the stack's `/v1/live/sessions` accepts: the proxy's provider key.
const LIVE_KEY: &str = "sk-proj-test-key-5d8e1f";
const PASSWORD: &str = "password-1";
/// How long any one step may take before the test gives up.
const STEP: Duration = Duration::from_secs(20);
/// An answer the stub gives when it answers by itself.
const CANNED_ANSWER: &str = "v=0\r\no=- 1 1 IN IP4 127.0.0.1\r\ns=-\r\nt=0 0\r\nm=audio 9 UDP/TLS/RTP/SAVPF 111\r\na=ice-pwd:stubanswerpassword00000\r\nm=application 9 UDP/DTLS/SCTP webrtc-datachannel\r\n";
/// What a provider's refusal says (an account detail and a request id the client must not see).
const PROVIDER_REFUSAL: &str = r#"{"error":{"message":"Incorrect API key provided req_abc123","type":"invalid_request_error","code":"invalid_api_key","param":null}}"#;

type Socket =
    tokio_tungstenite::WebSocketStream<tokio_tungstenite::MaybeTlsStream<tokio::net::TcpStream>>;

// ---- the backend: a local stack ----

struct Backend {
    stack: LocalStack,
    http: reqwest::Client,
}

struct Candidate {
    email: String,
    token: String,
    session: String,
}

impl Backend {
    async fn start() -> Self {
        let stack = LocalStack::start(Config {
            live_api_key: Some(LIVE_KEY.to_owned()),
            ..Config::default()
        })
        .await
        .unwrap();
        Self {
            stack,
            http: reqwest::Client::new(),
        }
    }

    /// A new access token for `email` (a sign-in of its own: another computer).
    async fn sign_in(&self, email: &str) -> String {
        let response = self
            .http
            .post(format!(
                "{}/auth/v1/token?grant_type=password",
                self.stack.base_url
            ))
            .header("apikey", &self.stack.anon_key)
            .json(&json!({"email": email, "password": PASSWORD}))
            .send()
            .await
            .unwrap();
        assert_eq!(response.status(), reqwest::StatusCode::OK);
        let body: Value = response.json().await.unwrap();
        body["access_token"].as_str().unwrap().to_owned()
    }

    /// A candidate in an organisation of their own, signed in, with a GPT-Live practice
    /// session started (practice is Realtime unless it asks).
    async fn candidate(&self, email: &str) -> Candidate {
        let tenant = self.stack.add_tenant(email).await.unwrap();
        self.stack
            .add_user(email, PASSWORD, &tenant, "candidate")
            .await
            .unwrap();
        let token = self.sign_in(email).await;
        let response = self
            .http
            .post(format!(
                "{}/functions/v1/interview-start",
                self.stack.base_url
            ))
            .header("apikey", &self.stack.anon_key)
            .bearer_auth(&token)
            .json(&json!({"mode": "practice", "api": "live"}))
            .send()
            .await
            .unwrap();
        assert_eq!(response.status(), reqwest::StatusCode::OK);
        let started: Value = response.json().await.unwrap();
        Candidate {
            email: email.to_owned(),
            token,
            session: started["session"]["id"].as_str().unwrap().to_owned(),
        }
    }
}

// ---- a stub voice service ----

/// How the stub answers `POST /v1/live/sessions`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Mode {
    /// Passed to the local stack's own endpoint: a real answer from the local interviewer.
    Forward,
    /// [`CANNED_ANSWER`] after a delay.
    Canned(Duration),
    /// 200 with an HTML page (a captive portal or a misrouted proxy).
    Html,
    /// 200 with a session but no SDP.
    NoSdp,
    /// 200 with 2 MiB.
    Huge,
    /// 401 with the provider's words.
    Refuse,
}

#[derive(Clone)]
struct StubState {
    stack: String,
    mode: Arc<Mutex<Mode>>,
    /// Told each time an offer arrives.
    offered: Arc<tokio::sync::Notify>,
    /// What came on the sidebands.
    sideband: Arc<Mutex<Vec<String>>>,
    /// The sessions hung up, in order.
    hung_up: Arc<Mutex<Vec<String>>>,
    http: reqwest::Client,
}

struct Stub {
    /// The base URL (`--upstream-url`).
    url: String,
    state: StubState,
}

impl Stub {
    async fn start(stack: &str, mode: Mode) -> Self {
        let state = StubState {
            stack: stack.to_owned(),
            mode: Arc::new(Mutex::new(mode)),
            offered: Arc::default(),
            sideband: Arc::default(),
            hung_up: Arc::default(),
            http: reqwest::Client::new(),
        };
        let app = axum::Router::new()
            .route("/v1/live/sessions", post(stub_create))
            .route("/v1/live/sessions/{id}/hangup", post(stub_hang_up))
            .route("/v1/live/sessions/{id}/attach", get(stub_attach))
            .with_state(state.clone());
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let url = format!("http://{}", listener.local_addr().unwrap());
        tokio::spawn(async move { axum::serve(listener, app).await.unwrap() });
        Self { url, state }
    }

    fn set(&self, mode: Mode) {
        *self.state.mode.lock().unwrap() = mode;
    }

    /// Waits until an offer has reached the stub.
    async fn offered(&self) {
        tokio::time::timeout(STEP, self.state.offered.notified())
            .await
            .expect("no offer reached the voice service");
    }

    fn sideband(&self) -> Vec<String> {
        self.state.sideband.lock().unwrap().clone()
    }
}

async fn stub_create(State(state): State<StubState>, headers: HeaderMap, body: Bytes) -> Response {
    state.offered.notify_one();
    let mode = *state.mode.lock().unwrap();
    let json = [(header::CONTENT_TYPE, "application/json")];
    match mode {
        Mode::Forward => {
            let mut request = state
                .http
                .post(format!("{}/v1/live/sessions", state.stack))
                .header(header::CONTENT_TYPE, "application/json")
                .body(body);
            if let Some(auth) = headers.get(header::AUTHORIZATION) {
                request = request.header(header::AUTHORIZATION, auth.clone());
            }
            let response = request.send().await.unwrap();
            let status = StatusCode::from_u16(response.status().as_u16()).unwrap();
            (status, json, response.bytes().await.unwrap()).into_response()
        }
        Mode::Canned(delay) => {
            tokio::time::sleep(delay).await;
            let created = json!({
                "session": {"id": "live_stub_1"},
                "transport": {"type": "webrtc", "sdp": CANNED_ANSWER},
            });
            (StatusCode::CREATED, axum::Json(created)).into_response()
        }
        Mode::Html => (
            StatusCode::OK,
            [(header::CONTENT_TYPE, "text/html")],
            "<html><body>Welcome to the hotel network</body></html>",
        )
            .into_response(),
        Mode::NoSdp => (
            StatusCode::OK,
            axum::Json(json!({"session": {"id": "live_stub_2"}, "transport": {"type": "webrtc"}})),
        )
            .into_response(),
        Mode::Huge => (StatusCode::OK, json, "x".repeat(2 * 1024 * 1024)).into_response(),
        Mode::Refuse => (StatusCode::UNAUTHORIZED, json, PROVIDER_REFUSAL).into_response(),
    }
}

async fn stub_hang_up(
    State(state): State<StubState>,
    Path(id): Path<String>,
    headers: HeaderMap,
) -> Response {
    state.hung_up.lock().unwrap().push(id.clone());
    if *state.mode.lock().unwrap() != Mode::Forward {
        return StatusCode::OK.into_response();
    }
    let mut request = state
        .http
        .post(format!("{}/v1/live/sessions/{id}/hangup", state.stack));
    if let Some(auth) = headers.get(header::AUTHORIZATION) {
        request = request.header(header::AUTHORIZATION, auth.clone());
    }
    let status = request.send().await.unwrap().status().as_u16();
    StatusCode::from_u16(status).unwrap().into_response()
}

/// A Live session's sideband (the local stack has none): keeps what it is sent.
async fn stub_attach(State(state): State<StubState>, upgrade: WebSocketUpgrade) -> Response {
    upgrade.on_upgrade(move |mut socket| async move {
        while let Some(Ok(message)) = socket.recv().await {
            if let AxumMessage::Text(text) = message {
                state.sideband.lock().unwrap().push(text.to_string());
            }
        }
    })
}

// ---- the proxy process ----

/// A `viva-proxy` process on a loopback port of its choosing; killed when dropped.
struct ProxyProcess {
    child: Child,
    http_url: String,
    ws_url: String,
    /// Its stdout, line by line.
    lines: Arc<Mutex<Vec<String>>>,
    /// Its stdout has ended.
    ended: Arc<AtomicBool>,
    http: reqwest::Client,
}

impl ProxyProcess {
    /// Starts the proxy in front of `backend` with the voice service at `upstream_url`, its
    /// logs at `log_level`, and `args`; returns once `/health` answers.
    async fn start(backend: &Backend, upstream_url: &str, log_level: &str, args: &[&str]) -> Self {
        let mut child = Command::new(env!("CARGO_BIN_EXE_viva-proxy"))
            .args(["--listen", "127.0.0.1:0"])
            .args(["--metrics-listen", "off"])
            .args(["--backend-url", &backend.stack.base_url])
            .args(["--anon-key", &backend.stack.anon_key])
            .args(["--upstream-url", upstream_url])
            .args(args)
            .env("VIVA_PROXY_PROVIDER_KEY", LIVE_KEY)
            .env("VIVA_LOG", log_level)
            .env_remove("VIVA_PROXY_DATABASE_URL")
            .env_remove("VIVA_PROXY_CLIENT_IP_HEADER")
            .stdout(Stdio::piped())
            .spawn()
            .unwrap();
        let stdout = child.stdout.take().unwrap();
        let lines = Arc::new(Mutex::new(Vec::new()));
        let ended = Arc::new(AtomicBool::new(false));
        {
            let (lines, ended) = (lines.clone(), ended.clone());
            std::thread::spawn(move || {
                for line in BufReader::new(stdout).lines() {
                    let Ok(line) = line else { break };
                    lines.lock().unwrap().push(line);
                }
                ended.store(true, Ordering::SeqCst);
            });
        }
        // The address it listens on, from its `proxy_listening` log line.
        let deadline = Instant::now() + STEP;
        let address = loop {
            let found = lines.lock().unwrap().iter().find_map(|line| {
                let line: Value = serde_json::from_str(line).ok()?;
                (line["fields"]["event"] == "proxy_listening")
                    .then(|| line["fields"]["address"].as_str().map(str::to_owned))?
            });
            if let Some(address) = found {
                break address;
            }
            if let Some(status) = child.try_wait().unwrap() {
                panic!("viva-proxy exited ({status}): {:?}", lines.lock().unwrap());
            }
            assert!(Instant::now() < deadline, "viva-proxy did not start");
            tokio::time::sleep(Duration::from_millis(50)).await;
        };
        let proxy = Self {
            child,
            http_url: format!("http://{address}"),
            ws_url: format!("ws://{address}/ws"),
            lines,
            ended,
            http: reqwest::Client::new(),
        };
        while proxy.health().await.0 != StatusCode::OK {
            assert!(Instant::now() < deadline, "viva-proxy is not healthy");
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
        proxy
    }

    async fn health(&self) -> (StatusCode, Value) {
        let response = self
            .http
            .get(format!("{}/health", self.http_url))
            .send()
            .await
            .unwrap();
        let status = StatusCode::from_u16(response.status().as_u16()).unwrap();
        (status, response.json().await.unwrap())
    }

    /// `kill -TERM`: what a deploy or `systemctl stop` sends.
    fn terminate(&self) {
        let status = Command::new("kill")
            .args(["-TERM", &self.child.id().to_string()])
            .status()
            .unwrap();
        assert!(status.success());
    }

    /// Its exit status, if it exits within `limit`.
    async fn exited_within(&mut self, limit: Duration) -> Option<ExitStatus> {
        let deadline = Instant::now() + limit;
        loop {
            if let Some(status) = self.child.try_wait().unwrap() {
                return Some(status);
            }
            if Instant::now() >= deadline {
                return None;
            }
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
    }

    /// Stops it (SIGTERM) and returns everything it wrote to stdout.
    async fn stop(mut self) -> Vec<String> {
        self.terminate();
        let status = self.exited_within(STEP).await.expect("viva-proxy exits");
        assert!(status.success(), "{status}");
        let deadline = Instant::now() + STEP;
        while !self.ended.load(Ordering::SeqCst) && Instant::now() < deadline {
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
        self.lines.lock().unwrap().clone()
    }
}

impl Drop for ProxyProcess {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

// ---- the signalling link ----

/// Connects to `ws_url` with `headers`; the socket and its `x-request-id`.
async fn connect_with(ws_url: &str, headers: &[(&'static str, &str)]) -> (Socket, String) {
    let mut request = ws_url.into_client_request().unwrap();
    for (name, value) in headers {
        request.headers_mut().insert(*name, value.parse().unwrap());
    }
    let (socket, response) = tokio::time::timeout(STEP, tokio_tungstenite::connect_async(request))
        .await
        .unwrap()
        .unwrap();
    let id = response
        .headers()
        .get("x-request-id")
        .and_then(|v| v.to_str().ok())
        .unwrap_or_default()
        .to_owned();
    (socket, id)
}

async fn connect(ws_url: &str) -> (Socket, String) {
    connect_with(ws_url, &[]).await
}

async fn say(socket: &mut Socket, value: Value) {
    socket.send(Message::text(value.to_string())).await.unwrap();
}

/// The next JSON message, or the close frame's code and reason.
async fn next(socket: &mut Socket) -> Result<Value, (u16, String)> {
    loop {
        let message = tokio::time::timeout(STEP, socket.next())
            .await
            .expect("the proxy said nothing");
        match message {
            Some(Ok(Message::Text(text))) => return Ok(serde_json::from_str(&text).unwrap()),
            Some(Ok(Message::Close(Some(frame)))) => {
                return Err((frame.code.into(), frame.reason.to_string()));
            }
            Some(Ok(Message::Close(None))) => return Err((1005, String::new())),
            Some(Ok(_)) => continue,
            other => panic!("the socket ended without a close frame: {other:?}"),
        }
    }
}

/// Connects as `candidate` and waits for `ready`.
async fn join(ws_url: &str, candidate: &Candidate) -> (Socket, String) {
    let (mut socket, id) = connect(ws_url).await;
    say(
        &mut socket,
        json!({"type": "auth", "access_token": candidate.token, "session_id": candidate.session}),
    )
    .await;
    assert_eq!(next(&mut socket).await, Ok(json!({"type": "ready"})));
    (socket, id)
}

/// An offer answered, then `bye`: the socket closes 1000.
async fn answered_then_bye(socket: &mut Socket) -> String {
    say(socket, json!({"type": "offer", "sdp": OFFER})).await;
    let answer = next(socket).await.unwrap();
    assert_eq!(answer["type"], "answer", "{answer}");
    say(socket, json!({"type": "bye"})).await;
    assert_eq!(next(socket).await, Ok(json!({"type": "bye"})));
    assert_eq!(next(socket).await, Err((1000, "bye".to_owned())));
    answer["sdp"].as_str().unwrap().to_owned()
}

/// Words of a provider's reply that must never reach the client or the logs.
fn assert_no_provider_words(text: &str) {
    for word in ["req_", "Incorrect", "API key", "sk-", "hotel"] {
        assert!(!text.contains(word), "{word:?} in {text}");
    }
}

// ---- the tests ----

#[tokio::test]
async fn upstream_faults_reach_the_client_as_a_kind_and_the_proxy_stays_up() {
    let backend = Backend::start().await;
    let stub = Stub::start(&backend.stack.base_url, Mode::Forward).await;
    let proxy =
        ProxyProcess::start(&backend, &stub.url, "info", &["--upstream-timeout-s", "1"]).await;
    let candidate = backend.candidate("faults@acme.test").await;
    let unusable = "the voice service answered with something unusable";
    for (mode, message, reason) in [
        (
            Mode::Canned(Duration::from_secs(3)),
            "the voice service did not answer in time",
            "upstream_timeout",
        ),
        (Mode::Html, unusable, "upstream_bad_answer"),
        (Mode::NoSdp, unusable, "upstream_bad_answer"),
        (Mode::Huge, unusable, "upstream_bad_answer"),
        (
            Mode::Refuse,
            "the voice service refused the call (invalid_api_key)",
            "upstream_refused",
        ),
    ] {
        stub.set(mode);
        let (mut socket, _) = join(&proxy.ws_url, &candidate).await;
        say(&mut socket, json!({"type": "offer", "sdp": OFFER})).await;
        let error = next(&mut socket).await.unwrap();
        assert_eq!(
            error,
            json!({"type": "error", "code": "upstream_failed", "message": message}),
            "{mode:?}"
        );
        assert_no_provider_words(&error.to_string());
        assert_eq!(
            next(&mut socket).await,
            Err((1011, reason.to_owned())),
            "{mode:?}"
        );
        let (status, health) = proxy.health().await;
        assert_eq!(status, StatusCode::OK, "{mode:?}: {health}");
    }
    // The next connection is answered once the voice service is back.
    stub.set(Mode::Forward);
    let (mut socket, _) = join(&proxy.ws_url, &candidate).await;
    answered_then_bye(&mut socket).await;

    // A voice service that is not there at all: a closed port.
    let closed_port = {
        let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        listener.local_addr().unwrap().port()
    };
    let down = ProxyProcess::start(
        &backend,
        &format!("http://127.0.0.1:{closed_port}"),
        "info",
        &["--upstream-timeout-s", "1"],
    )
    .await;
    // The operator sees it in /health, and the instance stays in rotation (an upstream outage
    // hits every instance alike).
    let deadline = Instant::now() + STEP;
    loop {
        let (status, health) = down.health().await;
        assert_eq!(status, StatusCode::OK, "{health}");
        if health["upstream"] == "unreachable" {
            assert_eq!(health["status"], "degraded", "{health}");
            break;
        }
        assert!(Instant::now() < deadline, "{health}");
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    let (mut socket, _) = join(&down.ws_url, &candidate).await;
    say(&mut socket, json!({"type": "offer", "sdp": OFFER})).await;
    assert_eq!(
        next(&mut socket).await,
        Ok(
            json!({"type": "error", "code": "upstream_failed", "message": "the voice service could not be reached"})
        )
    );
    assert_eq!(
        next(&mut socket).await,
        Err((1011, "upstream_unreachable".to_owned()))
    );
    assert_eq!(down.health().await.0, StatusCode::OK);
    let (mut socket, _) = join(&down.ws_url, &candidate).await;
    say(&mut socket, json!({"type": "bye"})).await;
    assert_eq!(next(&mut socket).await, Ok(json!({"type": "bye"})));
    drop((proxy, down));
    backend.stack.shutdown().await;
}

#[tokio::test]
async fn sigterm_lets_an_open_exchange_finish_closes_the_rest_and_exits_cleanly() {
    let backend = Backend::start().await;
    let stub = Stub::start(
        &backend.stack.base_url,
        Mode::Canned(Duration::from_secs(2)),
    )
    .await;
    let mut proxy =
        ProxyProcess::start(&backend, &stub.url, "info", &["--drain-timeout-s", "5"]).await;
    let (a, b) = (
        backend.candidate("a@drain.test").await,
        backend.candidate("b@drain.test").await,
    );
    let (mut busy, _) = join(&proxy.ws_url, &a).await;
    let (mut idle, _) = join(&proxy.ws_url, &b).await;
    say(&mut busy, json!({"type": "offer", "sdp": OFFER})).await;
    stub.offered().await;

    proxy.terminate();
    let terminated = Instant::now();
    // The idle connection is told at once.
    let closed = tokio::time::timeout(Duration::from_secs(1), next(&mut idle))
        .await
        .expect("the idle connection was not closed within a second");
    assert_eq!(closed, Err((1001, "draining".to_owned())));
    // No new connection is taken, and load balancers are told.
    match tokio_tungstenite::connect_async(proxy.ws_url.as_str()).await {
        Err(tokio_tungstenite::tungstenite::Error::Http(response)) => {
            assert_eq!(response.status(), 503);
        }
        other => panic!("a connection during the drain: {:?}", other.map(|(_, r)| r)),
    }
    let (status, health) = proxy.health().await;
    assert_eq!(status, StatusCode::SERVICE_UNAVAILABLE, "{health}");
    assert_eq!(health["status"], "draining", "{health}");
    // The exchange under way finishes: its answer, then 1001.
    assert_eq!(
        next(&mut busy).await,
        Ok(json!({"type": "answer", "sdp": CANNED_ANSWER}))
    );
    assert!(
        terminated.elapsed() >= Duration::from_millis(1500),
        "the answer came before the upstream gave it"
    );
    assert_eq!(next(&mut busy).await, Err((1001, "draining".to_owned())));
    let status = proxy
        .exited_within(Duration::from_secs(5).saturating_sub(terminated.elapsed()))
        .await
        .expect("viva-proxy did not exit within the drain timeout");
    assert!(status.success(), "{status}");
    backend.stack.shutdown().await;
}

/// Connects with `headers` and says something the proxy refuses (a forged token): the close
/// tells whether the connection was let in (1008) or limited (4029).
async fn connection_closes_with(ws_url: &str, headers: &[(&'static str, &str)]) -> u16 {
    let (mut socket, _) = connect_with(ws_url, headers).await;
    // A limited connection is closed before it is read: the send may find it gone.
    let _ = socket
        .send(Message::text(
            json!({"type": "auth", "access_token": "forged", "session_id": "s"}).to_string(),
        ))
        .await;
    match next(&mut socket).await {
        Err((code, _)) => code,
        Ok(message) => panic!("{message}"),
    }
}

#[tokio::test]
async fn connections_are_limited_per_address_by_the_tcp_peer_unless_a_header_is_trusted() {
    let backend = Backend::start().await;
    // No header named: a client's own `x-test-ip` is ignored, each forged value alike.
    let proxy = ProxyProcess::start(
        &backend,
        &backend.stack.base_url,
        "info",
        &["--per-address-per-minute", "3"],
    )
    .await;
    for forged in ["10.0.0.1", "10.0.0.2", "10.0.0.3"] {
        assert_eq!(
            connection_closes_with(&proxy.ws_url, &[("x-test-ip", forged)]).await,
            1008
        );
    }
    assert_eq!(
        connection_closes_with(&proxy.ws_url, &[("x-test-ip", "10.0.0.4")]).await,
        4029
    );

    // A trusted load balancer's header: each address it names counts on its own.
    let behind = ProxyProcess::start(
        &backend,
        &backend.stack.base_url,
        "info",
        &[
            "--per-address-per-minute",
            "3",
            "--client-ip-header",
            "x-test-ip",
        ],
    )
    .await;
    for _ in 0..3 {
        assert_eq!(
            connection_closes_with(&behind.ws_url, &[("x-test-ip", "10.0.0.1")]).await,
            1008
        );
    }
    assert_eq!(
        connection_closes_with(&behind.ws_url, &[("x-test-ip", "10.0.0.1")]).await,
        4029
    );
    assert_eq!(
        connection_closes_with(&behind.ws_url, &[("x-test-ip", "10.0.0.2")]).await,
        1008
    );
    drop((proxy, behind));
    backend.stack.shutdown().await;
}

#[tokio::test]
async fn a_users_third_connection_in_a_minute_is_closed_4029_after_auth() {
    let backend = Backend::start().await;
    let proxy = ProxyProcess::start(
        &backend,
        &backend.stack.base_url,
        "info",
        &["--per-user-per-minute", "2"],
    )
    .await;
    let (first, other) = (
        backend.candidate("often@acme.test").await,
        backend.candidate("other@acme.test").await,
    );
    let (mut one, _) = join(&proxy.ws_url, &first).await;
    // The same computer reconnecting: allowed, and it replaces its own connection.
    let (_two, _) = join(&proxy.ws_url, &first).await;
    assert_eq!(next(&mut one).await, Err((4009, "replaced".to_owned())));
    let (mut three, _) = connect(&proxy.ws_url).await;
    say(
        &mut three,
        json!({"type": "auth", "access_token": first.token, "session_id": first.session}),
    )
    .await;
    assert_eq!(
        next(&mut three).await,
        Err((4029, "too many connections for this user".to_owned()))
    );
    // Someone else is not held back by it.
    join(&proxy.ws_url, &other).await;
    drop(proxy);
    backend.stack.shutdown().await;
}

/// The connection ids a log line carries: its own `conn_id` field and its spans'.
fn conn_ids(line: &Value) -> Vec<String> {
    let own = line["fields"]["conn_id"].as_str().map(str::to_owned);
    let spans = line["spans"]
        .as_array()
        .into_iter()
        .flatten()
        .filter_map(|span| span["conn_id"].as_str().map(str::to_owned));
    own.into_iter().chain(spans).collect()
}

#[tokio::test]
async fn logs_are_json_lines_that_carry_the_connection_id_and_no_secret() {
    let backend = Backend::start().await;
    let stub = Stub::start(&backend.stack.base_url, Mode::Refuse).await;
    let proxy = ProxyProcess::start(&backend, &stub.url, "debug", &[]).await;
    let candidate = backend.candidate("logs@acme.test").await;

    // One refused call (the provider's words must stay out of the logs too), then one call
    // answered by the local interviewer with a typed answer on it.
    let (mut refused, refused_id) = join(&proxy.ws_url, &candidate).await;
    say(&mut refused, json!({"type": "offer", "sdp": OFFER})).await;
    assert_eq!(next(&mut refused).await.unwrap()["code"], "upstream_failed");
    assert_eq!(next(&mut refused).await.unwrap_err().0, 1011);
    stub.set(Mode::Forward);
    let (mut socket, answered_id) = join(&proxy.ws_url, &candidate).await;
    say(&mut socket, json!({"type": "offer", "sdp": OFFER})).await;
    let answer = next(&mut socket).await.unwrap();
    assert_eq!(answer["type"], "answer", "{answer}");
    let typed = "my secret answer";
    say(&mut socket, json!({"type": "text", "text": typed})).await;
    let deadline = Instant::now() + STEP;
    while !stub.sideband().iter().any(|sent| sent.contains(typed)) {
        assert!(
            Instant::now() < deadline,
            "the typed answer never reached the session"
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    say(&mut socket, json!({"type": "bye"})).await;
    assert_eq!(next(&mut socket).await, Ok(json!({"type": "bye"})));
    assert_eq!(next(&mut socket).await.unwrap_err().0, 1000);
    let lines = proxy.stop().await;

    for id in [&refused_id, &answered_id] {
        assert!(uuid::Uuid::parse_str(id).is_ok(), "x-request-id {id:?}");
    }
    assert_ne!(refused_id, answered_id);
    let ice_pwd = |sdp: &str| {
        sdp.lines()
            .find_map(|l| l.trim().strip_prefix("a=ice-pwd:"))
            .unwrap()
            .to_owned()
    };
    let secrets = [
        candidate.token.clone(),
        LIVE_KEY.to_owned(),
        ice_pwd(OFFER),
        ice_pwd(answer["sdp"].as_str().unwrap()),
        typed.to_owned(),
    ];
    let mut events: Vec<(String, String)> = Vec::new();
    for line in &lines {
        for secret in &secrets {
            assert!(!line.contains(secret.as_str()), "{secret:?} logged: {line}");
        }
        assert_no_provider_words(line);
        // The one line for a person starting it by hand (everything else is for machines).
        if line.starts_with("viva-proxy listening on http://") {
            continue;
        }
        let parsed: Value = serde_json::from_str(line)
            .unwrap_or_else(|error| panic!("not a JSON line ({error}): {line}"));
        let ids = conn_ids(&parsed);
        let target = parsed["target"].as_str().unwrap_or_default();
        // What the connection's own task logs (the socket, and the upstream it calls) carries
        // its id, and only its id.
        if target.starts_with("viva_proxy::socket") || target.starts_with("viva_proxy::upstream") {
            assert!(!ids.is_empty(), "no conn_id: {line}");
        }
        if let Some(first) = ids.first() {
            assert!(ids.iter().all(|id| id == first), "two ids: {line}");
            assert!(
                *first == refused_id || *first == answered_id,
                "an id no client was told: {line}"
            );
            let event = parsed["fields"]["event"].as_str().unwrap_or_default();
            events.push((first.clone(), event.to_owned()));
        }
    }
    let of = |id: &str| -> Vec<&str> {
        events
            .iter()
            .filter(|(conn, _)| conn == id)
            .map(|(_, event)| event.as_str())
            .collect()
    };
    for expected in [
        "proxy_lease_granted",
        "upstream_refused",
        "proxy_upstream_failed",
        "proxy_connection_closed",
    ] {
        assert!(
            of(&refused_id).contains(&expected),
            "{expected} for {refused_id}: {:?}",
            of(&refused_id)
        );
    }
    for expected in ["proxy_lease_granted", "proxy_connection_closed"] {
        assert!(
            of(&answered_id).contains(&expected),
            "{expected} for {answered_id}: {:?}",
            of(&answered_id)
        );
    }
    backend.stack.shutdown().await;
}

/// The value of the sample `series` (its name and labels exactly as rendered).
fn sample(text: &str, series: &str) -> f64 {
    text.lines()
        .find_map(|line| line.strip_prefix(series)?.strip_prefix(' '))
        .and_then(|value| value.parse().ok())
        .unwrap_or_else(|| panic!("no {series} in\n{text}"))
}

#[tokio::test]
async fn metrics_count_a_scripted_session() {
    let backend = Backend::start().await;
    let stub = Stub::start(&backend.stack.base_url, Mode::Forward).await;
    let sessions = RestSessions::new(&backend.stack.base_url, &backend.stack.anon_key).unwrap();
    let (ws_url, metrics_url) = in_process(
        &backend,
        &stub,
        Arc::new(sessions),
        viva_proxy::socket::SESSION_RECHECK_AFTER,
    )
    .await;

    let candidate = backend.candidate("metrics@acme.test").await;
    let (mut socket, _) = join(&ws_url, &candidate).await;
    // A typed answer before there is a call, an invalid offer, then a real one.
    say(&mut socket, json!({"type": "text", "text": "too early"})).await;
    assert_eq!(
        next(&mut socket).await.unwrap()["code"],
        "unexpected_message"
    );
    say(&mut socket, json!({"type": "offer", "sdp": "hello"})).await;
    assert_eq!(next(&mut socket).await.unwrap()["code"], "invalid_sdp");
    say(&mut socket, json!({"type": "offer", "sdp": OFFER})).await;
    assert_eq!(next(&mut socket).await.unwrap()["type"], "answer");
    say(&mut socket, json!({"type": "text", "text": "an answer"})).await;
    // The same candidate signed in on another computer is refused while this one is live.
    let elsewhere = Candidate {
        token: backend.sign_in(&candidate.email).await,
        ..candidate
    };
    let (mut other, _) = connect(&ws_url).await;
    say(
        &mut other,
        json!({"type": "auth", "access_token": elsewhere.token, "session_id": elsewhere.session}),
    )
    .await;
    assert_eq!(next(&mut other).await.unwrap_err().0, 4009);
    say(&mut socket, json!({"type": "bye"})).await;
    assert_eq!(next(&mut socket).await, Ok(json!({"type": "bye"})));
    assert_eq!(next(&mut socket).await.unwrap_err().0, 1000);
    // Then the voice service refuses.
    stub.set(Mode::Refuse);
    let (mut socket, _) = join(&ws_url, &elsewhere).await;
    say(&mut socket, json!({"type": "offer", "sdp": OFFER})).await;
    assert_eq!(next(&mut socket).await.unwrap()["code"], "upstream_failed");
    assert_eq!(next(&mut socket).await.unwrap_err().0, 1011);

    let http = reqwest::Client::new();
    let deadline = Instant::now() + STEP;
    let text = loop {
        let response = http.get(&metrics_url).send().await.unwrap();
        assert_eq!(response.status(), reqwest::StatusCode::OK);
        assert_eq!(
            response.headers()[reqwest::header::CONTENT_TYPE],
            "text/plain; version=0.0.4; charset=utf-8"
        );
        let text = response.text().await.unwrap();
        if sample(&text, "viva_proxy_connections_open") == 0.0 {
            break text;
        }
        assert!(Instant::now() < deadline, "connections still open:\n{text}");
        tokio::time::sleep(Duration::from_millis(50)).await;
    };
    let expected = [
        (
            r#"viva_proxy_offers_total{api="live",result="answered"}"#,
            1.0,
        ),
        (
            r#"viva_proxy_offers_total{api="live",result="invalid_sdp"}"#,
            1.0,
        ),
        (
            r#"viva_proxy_offers_total{api="live",result="upstream_failed"}"#,
            1.0,
        ),
        (
            r#"viva_proxy_offers_total{api="live",result="session_failed"}"#,
            0.0,
        ),
        (
            r#"viva_proxy_offers_total{api="realtime",result="answered"}"#,
            0.0,
        ),
        (r#"viva_proxy_closes_total{code="1000"}"#, 1.0),
        (r#"viva_proxy_closes_total{code="4009"}"#, 1.0),
        (r#"viva_proxy_closes_total{code="1011"}"#, 1.0),
        (r#"viva_proxy_closes_total{code="1001"}"#, 0.0),
        (r#"viva_proxy_closes_total{code="1006"}"#, 0.0),
        (r#"viva_proxy_lease_conflicts_total{kind="refused"}"#, 1.0),
        (
            r#"viva_proxy_lease_conflicts_total{kind="replaced_own"}"#,
            0.0,
        ),
        (r#"viva_proxy_lease_conflicts_total{kind="lost"}"#, 0.0),
        (r#"viva_proxy_rate_limited_total{scope="address"}"#, 0.0),
        (r#"viva_proxy_typed_answers_total{result="sent"}"#, 1.0),
        (
            r#"viva_proxy_typed_answers_total{result="no_live_call"}"#,
            1.0,
        ),
        (r#"viva_proxy_typed_answers_total{result="failed"}"#, 0.0),
        ("viva_proxy_silent_connections_dropped_total", 0.0),
        (r#"viva_proxy_upstream_seconds_count{api="live"}"#, 2.0),
        (r#"viva_proxy_upstream_seconds_count{api="realtime"}"#, 0.0),
        ("viva_proxy_offer_seconds_count", 1.0),
        ("viva_proxy_connections_open", 0.0),
    ];
    for (series, value) in expected {
        assert_eq!(sample(&text, series), value, "{series}\n{text}");
    }
    // The whole offer took at least the upstream's part of it.
    assert!(
        sample(&text, "viva_proxy_offer_seconds_sum") > 0.0,
        "{text}"
    );
    assert!(
        sample(&text, r#"viva_proxy_upstream_seconds_sum{api="live"}"#) > 0.0,
        "{text}"
    );
    // Nothing about who connected.
    assert!(!text.contains("acme.test"), "{text}");
    backend.stack.shutdown().await;
}

/// The binary's parts, in this process (the binary does not serve /metrics yet), reading
/// sessions through `sessions`: the signalling socket's and `/metrics`' URLs.
async fn in_process(
    backend: &Backend,
    stub: &Stub,
    sessions: Arc<dyn Sessions>,
    session_recheck: Duration,
) -> (String, String) {
    let base = &backend.stack.base_url;
    let tokens = JwksVerifier::new(&format!("{base}/auth/v1/.well-known/jwks.json"), None).unwrap();
    tokens.prefetch().await;
    let upstream = HostedUpstream::with_timeout(
        &format!("{}/v1/realtime/calls", stub.url),
        LIVE_KEY,
        "gpt-realtime",
        Duration::from_secs(5),
    )
    .unwrap()
    .with_live(&format!("{}/v1/live/sessions", stub.url), "gpt-live-1");
    let proxy = Proxy::new(ProxyParts {
        tokens: Arc::new(tokens),
        sessions,
        leases: Arc::new(MemoryLeases::default()),
        upstream: Arc::new(upstream),
        limits: Some(viva_proxy::limits::ConnectLimits::default()),
        observations: Arc::new(viva_proxy::observe::NoObservations),
        session_recheck,
    });
    let service = Service::new(proxy, None);
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let ws_url = format!("ws://{}/ws", listener.local_addr().unwrap());
    let app = service
        .router()
        .into_make_service_with_connect_info::<SocketAddr>();
    tokio::spawn(async move { axum::serve(listener, app).await.unwrap() });
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let metrics_url = format!("http://{}/metrics", listener.local_addr().unwrap());
    let metrics_app = service.metrics_router();
    tokio::spawn(async move { axum::serve(listener, metrics_app).await.unwrap() });
    (ws_url, metrics_url)
}

/// The backend's sessions, counting the reads the proxy makes.
#[derive(Debug)]
struct CountedSessions {
    inner: RestSessions,
    sessions: AtomicUsize,
    transcripts: AtomicUsize,
}

impl CountedSessions {
    fn reads(&self) -> (usize, usize) {
        (
            self.sessions.load(Ordering::SeqCst),
            self.transcripts.load(Ordering::SeqCst),
        )
    }
}

impl Sessions for CountedSessions {
    fn session<'a>(
        &'a self,
        user: &'a VerifiedUser,
        token: &'a str,
        session_id: &'a str,
    ) -> BoxFuture<'a, Result<SessionInfo, SessionError>> {
        self.sessions.fetch_add(1, Ordering::SeqCst);
        self.inner.session(user, token, session_id)
    }

    fn transcript<'a>(
        &'a self,
        user: &'a VerifiedUser,
        token: &'a str,
        session_id: &'a str,
    ) -> BoxFuture<'a, Result<Vec<StoredTurn>, SessionError>> {
        self.transcripts.fetch_add(1, Ordering::SeqCst);
        self.inner.transcript(user, token, session_id)
    }
}

/// Offers on an open connection make no backend round trip of their own (it was the most of an
/// offer's time under load): the session is read when the connection joins, then again beside
/// the conversation, and an interview ended meanwhile closes the connection within the bound.
#[tokio::test]
async fn offers_read_nothing_and_an_interview_ended_meanwhile_closes_the_connection() {
    const RECHECK: Duration = Duration::from_secs(2);
    let backend = Backend::start().await;
    let stub = Stub::start(&backend.stack.base_url, Mode::Forward).await;
    let counted = Arc::new(CountedSessions {
        inner: RestSessions::new(&backend.stack.base_url, &backend.stack.anon_key).unwrap(),
        sessions: AtomicUsize::new(0),
        transcripts: AtomicUsize::new(0),
    });
    let (ws_url, _) = in_process(&backend, &stub, counted.clone(), RECHECK).await;
    let candidate = backend.candidate("recheck@acme.test").await;
    let (mut socket, _) = join(&ws_url, &candidate).await;
    let joined_at = Instant::now();
    // Joining read the session and, for GPT-Live, its stored transcript.
    assert_eq!(counted.reads(), (1, 1));
    for _ in 0..3 {
        say(&mut socket, json!({"type": "offer", "sdp": OFFER})).await;
        assert_eq!(next(&mut socket).await.unwrap()["type"], "answer");
    }
    assert!(
        joined_at.elapsed() < RECHECK,
        "the offers took longer than the bound: nothing shown"
    );
    assert_eq!(counted.reads(), (1, 1), "the offers read the backend again");
    // Beside the conversation the session is read again, and the connection stays.
    tokio::time::sleep(RECHECK + RECHECK / 2).await;
    assert_eq!(counted.reads(), (2, 1));
    say(&mut socket, json!({"type": "offer", "sdp": OFFER})).await;
    assert_eq!(next(&mut socket).await.unwrap()["type"], "answer");

    // The candidate ends the interview (from anywhere): the connection closes by itself.
    let ended = backend
        .http
        .post(format!(
            "{}/functions/v1/interview-end",
            backend.stack.base_url
        ))
        .header("apikey", &backend.stack.anon_key)
        .bearer_auth(&candidate.token)
        .json(&json!({"session_id": candidate.session, "status": "completed", "ended_at": "2026-12-07T10:00:00Z"}))
        .send()
        .await
        .unwrap();
    assert_eq!(ended.status(), reqwest::StatusCode::OK);
    let ended_at = Instant::now();
    assert_eq!(
        next(&mut socket).await.unwrap_err(),
        (1008, "session_not_active".to_owned())
    );
    assert!(
        ended_at.elapsed() <= RECHECK + Duration::from_secs(1),
        "closed {:?} after the end",
        ended_at.elapsed()
    );
    // Its call was hung up with it (each new offer's call replaced the one before).
    let deadline = Instant::now() + STEP;
    while stub.state.hung_up.lock().unwrap().len() < 4 {
        assert!(Instant::now() < deadline, "the last call was not hung up");
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    assert_eq!(counted.reads().1, 1, "the transcript was read again");
    backend.stack.shutdown().await;
}

#[tokio::test]
async fn health_names_the_instance_its_lease_store_and_the_upstream() {
    let backend = Backend::start().await;
    let proxy = ProxyProcess::start(&backend, &backend.stack.base_url, "info", &[]).await;
    let (status, health) = proxy.health().await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(health["status"], "healthy", "{health}");
    assert!(
        uuid::Uuid::parse_str(health["instance"].as_str().unwrap()).is_ok(),
        "{health}"
    );
    assert_eq!(health["lease"], "memory", "{health}");
    assert_eq!(health["db"], "none", "{health}");
    assert_eq!(health["upstream"], "ok", "{health}");
    assert_eq!(health["open_connections"], 0, "{health}");
    assert!(
        chrono::DateTime::parse_from_rfc3339(health["timestamp"].as_str().unwrap()).is_ok(),
        "{health}"
    );
    drop(proxy);
    backend.stack.shutdown().await;
}

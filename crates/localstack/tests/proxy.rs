//! The SDP proxy over a real WebSocket: health, authentication in the first message, one live
//! connection per session, offer checks, and a clear close when no realtime peer can answer.

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)] // Tests fail loudly by design.

mod common;

use common::Stack;
use futures_util::{SinkExt, StreamExt};
use reqwest::StatusCode;
use serde_json::{Value, json};
use tokio_tungstenite::tungstenite::Message;
use viva_localstack::Config;
use viva_localstack::proxy::{SdpError, validate_offer};

const OFFER: &str = include_str!("../../contract/testdata/webrtc_rs_0_21_offer.sdp");

type Socket =
    tokio_tungstenite::WebSocketStream<tokio_tungstenite::MaybeTlsStream<tokio::net::TcpStream>>;

async fn connect(s: &Stack) -> Socket {
    let url = format!("{}/ws", s.stack.base_url.replacen("http", "ws", 1));
    tokio_tungstenite::connect_async(url).await.unwrap().0
}

async fn say(socket: &mut Socket, value: Value) {
    socket
        .send(Message::Text(value.to_string().into()))
        .await
        .unwrap();
}

/// The next JSON message, or the close code.
async fn next(socket: &mut Socket) -> Result<Value, u16> {
    loop {
        match socket.next().await {
            Some(Ok(Message::Text(text))) => return Ok(serde_json::from_str(&text).unwrap()),
            Some(Ok(Message::Close(frame))) => return Err(frame.map_or(1005, |f| f.code.into())),
            Some(Ok(_)) => continue,
            other => panic!("the socket ended without a close frame: {other:?}"),
        }
    }
}

/// The close frame's code and reason, skipping messages before it.
async fn next_close(socket: &mut Socket) -> (u16, String) {
    loop {
        match socket.next().await {
            Some(Ok(Message::Close(Some(frame)))) => {
                return (frame.code.into(), frame.reason.to_string());
            }
            Some(Ok(Message::Close(None))) => return (1005, String::new()),
            Some(Ok(_)) => continue,
            other => panic!("the socket ended without a close frame: {other:?}"),
        }
    }
}

async fn practice_session(s: &Stack) -> (String, String) {
    let tenant = s.stack.add_tenant("Acme").await.unwrap();
    let ca = s.account("ca@acme.test", &tenant, "candidate").await;
    let session = s.start_practice(&ca.access_token).await;
    (ca.access_token, session)
}

#[tokio::test]
async fn health_answers_without_an_api_key() {
    let s = Stack::start(Config::default()).await;
    let response = s
        .http
        .get(format!("{}/health", s.stack.base_url))
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), StatusCode::OK);
    let body: Value = response.json().await.unwrap();
    assert_eq!(body["status"], "healthy");
    assert!(chrono::DateTime::parse_from_rfc3339(body["timestamp"].as_str().unwrap()).is_ok());
    s.stack.shutdown().await;
}

#[tokio::test]
async fn a_session_gets_one_live_connection_and_offers_are_checked() {
    let s = Stack::start(Config::default()).await;
    let (token, session) = practice_session(&s).await;

    let mut first = connect(&s).await;
    say(
        &mut first,
        json!({"type": "auth", "access_token": token, "session_id": session}),
    )
    .await;
    assert_eq!(next(&mut first).await, Ok(json!({"type": "ready"})));

    // The same candidate signed in on another computer is refused while this one is live.
    let elsewhere = s.sign_in("ca@acme.test", "password-1").await;
    let mut other = connect(&s).await;
    say(
        &mut other,
        json!({"type": "auth", "access_token": elsewhere.access_token, "session_id": session}),
    )
    .await;
    assert_eq!(next(&mut other).await, Err(4009));

    // The same sign-in reconnecting (a laptop that changed networks, before its old socket is
    // known dead) replaces its own connection at once: the old one is told it was replaced.
    let mut first = {
        let mut again = connect(&s).await;
        say(
            &mut again,
            json!({"type": "auth", "access_token": token, "session_id": session}),
        )
        .await;
        assert_eq!(next(&mut again).await, Ok(json!({"type": "ready"})));
        assert_eq!(next_close(&mut first).await, (4009, "replaced".to_owned()));
        again
    };

    say(&mut first, json!({"type": "offer", "sdp": "hello"})).await;
    let error = next(&mut first).await.unwrap();
    assert_eq!(
        (error["type"].as_str(), error["code"].as_str()),
        (Some("error"), Some("invalid_sdp"))
    );

    // A real offer is answered by the local interviewer; bye ends the call and frees the session.
    say(&mut first, json!({"type": "offer", "sdp": OFFER})).await;
    let answer = next(&mut first).await.unwrap();
    assert_eq!(answer["type"], "answer", "{answer}");
    say(&mut first, json!({"type": "bye"})).await;
    assert_eq!(next(&mut first).await, Ok(json!({"type": "bye"})));
    assert_eq!(next(&mut first).await, Err(1000));

    // The session is free again once the connection is gone.
    tokio::time::sleep(std::time::Duration::from_millis(100)).await;
    let mut third = connect(&s).await;
    say(
        &mut third,
        json!({"type": "auth", "access_token": token, "session_id": session}),
    )
    .await;
    assert_eq!(next(&mut third).await, Ok(json!({"type": "ready"})));
    say(&mut third, json!({"type": "bye"})).await;
    assert_eq!(next(&mut third).await, Ok(json!({"type": "bye"})));
    assert_eq!(next(&mut third).await, Err(1000));
    s.stack.shutdown().await;
}

#[tokio::test]
async fn bad_or_missing_authentication_closes_with_1008() {
    let s = Stack::start(Config::default()).await;
    let (token, session) = practice_session(&s).await;
    for first in [
        json!({"type": "auth", "access_token": "forged", "session_id": session}),
        json!({"type": "auth", "access_token": token, "session_id": "00000000-0000-4000-8000-000000000000"}),
        json!({"type": "offer", "sdp": OFFER}),
    ] {
        let mut socket = connect(&s).await;
        say(&mut socket, first.clone()).await;
        assert_eq!(next(&mut socket).await, Err(1008), "{first}");
    }
    s.stack.shutdown().await;
}

#[test]
fn offers_need_sdp_with_one_audio_and_one_data_channel_section() {
    assert_eq!(validate_offer(OFFER), Ok(()));
    assert_eq!(validate_offer("hello"), Err(SdpError::NotSdp));
    let two_audio = OFFER.replace(
        "m=application 9 UDP/DTLS/SCTP webrtc-datachannel",
        "m=audio 9 UDP/TLS/RTP/SAVPF 0",
    );
    assert_eq!(
        validate_offer(&two_audio),
        Err(SdpError::WrongSections {
            audio: 2,
            application: 0,
            others: 0
        })
    );
    // An indented line is no SDP line: refused as such, never miscounted.
    let indented = OFFER.replace("m=audio", "  m=audio");
    assert!(matches!(
        validate_offer(&indented),
        Err(SdpError::MalformedLine { .. })
    ));
    let video = format!("{OFFER}m=video 9 UDP/TLS/RTP/SAVPF 96\r\n");
    assert!(matches!(
        validate_offer(&video),
        Err(SdpError::WrongSections { .. })
    ));
    let huge = format!("{OFFER}a=x:{}\r\n", "y".repeat(70 * 1024));
    assert!(matches!(validate_offer(&huge), Err(SdpError::TooLarge(_))));
}

/// A stand-in for the hosted Realtime endpoint (the one boundary that cannot run here), speaking
/// its unified-interface format: multipart `sdp` + `session`, bearer API key, 201 with SDP.
async fn fake_hosted_realtime(
    reply: (u16, &'static str, &'static str),
) -> (
    String,
    tokio::sync::mpsc::Receiver<(String, String, String)>,
) {
    use axum::extract::Multipart;
    use axum::http::HeaderMap;
    let (seen, received) = tokio::sync::mpsc::channel(8);
    let app = axum::Router::new().route(
        "/v1/realtime/calls",
        axum::routing::post(move |headers: HeaderMap, mut form: Multipart| {
            let seen = seen.clone();
            async move {
                let auth = headers
                    .get("authorization")
                    .and_then(|v| v.to_str().ok())
                    .unwrap_or_default()
                    .to_owned();
                let (mut sdp, mut session) = (String::new(), String::new());
                while let Ok(Some(field)) = form.next_field().await {
                    let name = field.name().unwrap_or_default().to_owned();
                    let text = field.text().await.unwrap_or_default();
                    if name == "sdp" {
                        sdp = text
                    } else if name == "session" {
                        session = text
                    }
                }
                seen.send((auth, sdp, session)).await.unwrap();
                let status = axum::http::StatusCode::from_u16(reply.0).unwrap();
                (
                    status,
                    [
                        ("content-type", reply.1),
                        ("location", "/v1/realtime/calls/rtc_123"),
                    ],
                    reply.2,
                )
            }
        }),
    );
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let url = format!(
        "http://{}/v1/realtime/calls",
        listener.local_addr().unwrap()
    );
    tokio::spawn(async move { axum::serve(listener, app).await.unwrap() });
    (url, received)
}

async fn stack_with_hosted(url: &str) -> Stack {
    let upstream =
        viva_localstack::proxy::HostedUpstream::new(url, "sk-server-side-key", "gpt-realtime")
            .unwrap();
    Stack::start(Config {
        upstream: Some(std::sync::Arc::new(upstream)),
        ..Config::default()
    })
    .await
}

#[tokio::test]
async fn offers_are_forwarded_to_a_hosted_endpoint_with_the_server_key() {
    let answer = "v=0\r\no=- 9 9 IN IP4 127.0.0.1\r\ns=-\r\nt=0 0\r\nm=audio 9 UDP/TLS/RTP/SAVPF 111\r\nm=application 9 UDP/DTLS/SCTP webrtc-datachannel\r\n";
    let (url, mut seen) = fake_hosted_realtime((201, "application/sdp", answer)).await;
    let s = stack_with_hosted(&url).await;
    let (token, session) = practice_session(&s).await;
    let mut socket = connect(&s).await;
    say(
        &mut socket,
        json!({"type": "auth", "access_token": token, "session_id": session}),
    )
    .await;
    assert_eq!(next(&mut socket).await, Ok(json!({"type": "ready"})));
    say(&mut socket, json!({"type": "offer", "sdp": OFFER})).await;
    assert_eq!(
        next(&mut socket).await,
        Ok(json!({"type": "answer", "sdp": answer}))
    );

    let (auth, sdp, session_config) = seen.recv().await.unwrap();
    assert_eq!(auth, "Bearer sk-server-side-key");
    assert_eq!(sdp, OFFER);
    let session_config: Value = serde_json::from_str(&session_config).unwrap();
    assert_eq!(
        session_config,
        json!({"type": "realtime", "model": "gpt-realtime"})
    );
    s.stack.shutdown().await;
}

#[tokio::test]
async fn a_hosted_refusal_or_a_non_sdp_answer_ends_the_call_with_its_reason() {
    // The client learns the kind of failure; the provider's own words (which can carry account
    // details and request ids) stay in the proxy.
    for (reply, expected, reason) in [
        (
            (
                401,
                "application/json",
                r#"{"error":{"message":"Incorrect API key provided: sk-abc. req_123","type":"invalid_request_error","code":"invalid_api_key","param":null}}"#,
            ),
            "refused the call (invalid_api_key)",
            "upstream_refused",
        ),
        (
            (
                503,
                "application/json",
                r#"{"error":{"message":"overloaded req_456"}}"#,
            ),
            "busy",
            "upstream_busy",
        ),
        (
            (200, "text/html", "<html>proxy error</html>"),
            "something unusable",
            "upstream_bad_answer",
        ),
    ] {
        let (url, _seen) = fake_hosted_realtime(reply).await;
        let s = stack_with_hosted(&url).await;
        let (token, session) = practice_session(&s).await;
        let mut socket = connect(&s).await;
        say(
            &mut socket,
            json!({"type": "auth", "access_token": token, "session_id": session}),
        )
        .await;
        next(&mut socket).await.unwrap();
        say(&mut socket, json!({"type": "offer", "sdp": OFFER})).await;
        let error = next(&mut socket).await.unwrap();
        let message = error["message"].as_str().unwrap();
        assert!(message.contains(expected), "{error}");
        assert!(
            !message.contains("req_") && !message.contains("sk-") && !message.contains("Incorrect"),
            "{error}"
        );
        assert_eq!(next_close(&mut socket).await, (1011, reason.to_owned()));
        s.stack.shutdown().await;
    }
}

/// A TCP relay whose `cut` stops forwarding on the connections it carries but keeps them open:
/// a half-open socket, as a laptop that changed networks leaves behind (no FIN, no pong).
struct CutTcp {
    address: std::net::SocketAddr,
    cut: tokio::sync::watch::Sender<bool>,
    task: tokio::task::JoinHandle<()>,
}

impl CutTcp {
    async fn to(target: std::net::SocketAddr) -> Self {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let address = listener.local_addr().unwrap();
        let (cut, _) = tokio::sync::watch::channel(false);
        let cuts = cut.clone();
        let task = tokio::spawn(async move {
            while let Ok((client, _)) = listener.accept().await {
                let server = tokio::net::TcpStream::connect(target).await.unwrap();
                let mut cut = cuts.subscribe();
                tokio::spawn(async move {
                    let (mut client, mut server) = (client, server);
                    let cut_now = async {
                        let _ = cut.wait_for(|cut| *cut).await;
                    };
                    let cut_happened = tokio::select! {
                        _ = tokio::io::copy_bidirectional(&mut client, &mut server) => false,
                        () = cut_now => true,
                    };
                    if cut_happened {
                        // Hold both ends open and silent until the test ends.
                        std::future::pending::<()>().await;
                    }
                });
            }
        });
        Self { address, cut, task }
    }

    fn cut(&self) {
        self.cut.send_replace(true);
    }
}

impl Drop for CutTcp {
    fn drop(&mut self) {
        self.task.abort();
    }
}

/// A ready proxy connection for `session` that goes through a [`CutTcp`] relay.
async fn held_through_a_relay(s: &Stack, token: &str, session: &str) -> (CutTcp, Socket) {
    let stack_address: std::net::SocketAddr = s
        .stack
        .base_url
        .trim_start_matches("http://")
        .parse()
        .unwrap();
    let relay = CutTcp::to(stack_address).await;
    let (mut held, _) = tokio_tungstenite::connect_async(format!("ws://{}/ws", relay.address))
        .await
        .unwrap();
    say(
        &mut held,
        json!({"type": "auth", "access_token": token, "session_id": session}),
    )
    .await;
    assert_eq!(next(&mut held).await, Ok(json!({"type": "ready"})));
    (relay, held)
}

/// Keeps reading a socket (so the proxy's pings get their pongs) until the test drops it.
fn keep_answering(mut socket: Socket) -> tokio::task::JoinHandle<()> {
    tokio::spawn(async move { while let Some(Ok(_)) = socket.next().await {} })
}

#[tokio::test]
async fn a_half_open_connection_frees_its_interview_within_the_bound() {
    let s = Stack::start(Config::default()).await;
    let (token, session) = practice_session(&s).await;
    let (relay, held) = held_through_a_relay(&s, &token, &session).await;
    let reader = keep_answering(held);
    // Alive and answering pings: the interview stays held past the silence limit.
    tokio::time::sleep(viva_contract::proxy::SILENCE_LIMIT + std::time::Duration::from_secs(1))
        .await;
    let elsewhere = s.sign_in("ca@acme.test", "password-1").await;
    let try_other = || async {
        let mut other = connect(&s).await;
        say(
            &mut other,
            json!({"type": "auth", "access_token": elsewhere.access_token, "session_id": session}),
        )
        .await;
        next(&mut other).await
    };
    assert_eq!(
        try_other().await,
        Err(4009),
        "a live holder keeps its interview"
    );

    // The network goes: no FIN, no pong. Another sign-in gets the interview within the bound
    // (the silence limit after the last pong, at most a ping interval before the cut).
    relay.cut();
    let cut_at = std::time::Instant::now();
    let bound = viva_contract::proxy::SILENCE_LIMIT + viva_contract::proxy::PING_EVERY;
    loop {
        match try_other().await {
            Ok(ready) => {
                assert_eq!(ready, json!({"type": "ready"}));
                break;
            }
            Err(code) => assert_eq!(code, 4009),
        }
        assert!(
            cut_at.elapsed() < bound,
            "still held {:?} after the cut",
            cut_at.elapsed()
        );
        tokio::time::sleep(std::time::Duration::from_millis(500)).await;
    }
    let freed_after = cut_at.elapsed();
    assert!(
        freed_after <= std::time::Duration::from_secs(15),
        "freed only after {freed_after:?}"
    );
    reader.abort();
    s.stack.shutdown().await;
}

#[tokio::test]
async fn the_same_sign_in_reconnecting_through_a_new_network_takes_over_at_once() {
    let s = Stack::start(Config::default()).await;
    let (token, session) = practice_session(&s).await;
    let (relay, _held) = held_through_a_relay(&s, &token, &session).await;
    relay.cut();
    // The laptop is on a new network: it reconnects directly, at once, and gets in.
    let started = std::time::Instant::now();
    let mut again = connect(&s).await;
    say(
        &mut again,
        json!({"type": "auth", "access_token": token, "session_id": session}),
    )
    .await;
    assert_eq!(next(&mut again).await, Ok(json!({"type": "ready"})));
    assert!(started.elapsed() < std::time::Duration::from_secs(2));
    s.stack.shutdown().await;
}

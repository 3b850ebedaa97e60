//! GPT-Live behind the SDP proxy: the local stack's own `POST /v1/live/sessions` (its key and
//! its form), the session the proxy builds for an interview (the candidate's three commands,
//! nothing stored, the stored transcript as `input` within the limits), a Live call answered
//! in-process through the proxy, and the hosted form of the upstream making a real HTTP round
//! trip to a Live endpoint on loopback — each ending with `session.closed` on `bye`.

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

mod common;
mod live_common;
#[path = "../../realtime/tests/sdk_oracle/mod.rs"]
mod sdk_oracle;

use std::time::{Duration, Instant};

use common::candidate::model_path;
use common::{Account, Stack};
use futures_util::{SinkExt, StreamExt};
use live_common::{LIVE_KEY, LiveOfferer, assert_sdk_valid, create, normalise};
use serde_json::{Value, json};
use tokio_tungstenite::tungstenite::Message;
use viva_localstack::Config;
use viva_localstack::interviewer::InterviewerConfig;
use viva_localstack::interviewer::script::question_set;
use viva_localstack::live_sessions::{
    MAX_INPUT_MESSAGES, MAX_INPUT_TOKENS, RESUME_CONTEXT, estimate_tokens,
};
use viva_localstack::proxy::{CallApi, call_api, live_session_config};

const OFFER: &str = "v=0\r\no=- 1 2 IN IP4 127.0.0.1\r\ns=-\r\nt=0 0\r\nm=audio 9 UDP/TLS/RTP/SAVPF 111\r\na=rtpmap:111 opus/48000/2\r\nm=application 9 UDP/DTLS/SCTP webrtc-datachannel\r\n";
const TURN: Duration = Duration::from_secs(30);

type Socket =
    tokio_tungstenite::WebSocketStream<tokio_tungstenite::MaybeTlsStream<tokio::net::TcpStream>>;

/// Calls stream real media: they take turns.
static ONE_CALL_TEST_AT_A_TIME: tokio::sync::Mutex<()> = tokio::sync::Mutex::const_new(());

fn interviewer() -> InterviewerConfig {
    InterviewerConfig {
        model_path: Some(model_path()),
        ..InterviewerConfig::default()
    }
}

async fn stack(config: Config) -> Stack {
    Stack::start(Config {
        signaling: viva_localstack::Signaling::WebSocket,
        ..config
    })
    .await
}

/// A candidate with a practice session in `api`; the account, the session id and the proxy's
/// address.
async fn practice(s: &Stack, email: &str, api: &str) -> (Account, String, String) {
    let tenant = s.stack.add_tenant("Acme").await.unwrap();
    let who = s.account(email, &tenant, "candidate").await;
    let started = s
        .interview_start(&who.access_token, json!({"mode": "practice", "api": api}))
        .await;
    assert_eq!(started["realtime"]["signaling"], "websocket");
    let session = started["session"]["id"].as_str().unwrap().to_owned();
    let url = started["realtime"]["url"].as_str().unwrap().to_owned();
    (who, session, url)
}

/// Stores `lines` (speaker, text) as the session's transcript, in `seq` order, through
/// `transcript-processor`, sent in reverse to show the order is the transcript's own.
async fn store_lines(s: &Stack, who: &Account, session: &str, lines: &[(&str, String)]) {
    let entries: Vec<Value> = lines
        .iter()
        .enumerate()
        .rev()
        .map(|(i, (speaker, text))| {
            json!({"item_id": format!("item_{i:04}"), "seq": i + 1, "speaker": speaker, "text": text, "started_ms": i * 1000, "ended_ms": i * 1000 + 900})
        })
        .collect();
    let (status, body) = s
        .send(
            reqwest::Method::POST,
            "/functions/v1/transcript-processor",
            &who.access_token,
            json!({"session_id": session, "entries": entries}),
        )
        .await;
    assert_eq!(status, 200, "{body}");
    assert_eq!(body["accepted"], lines.len(), "{body}");
}

async fn open_proxy(url: &str, who: &Account, session: &str) -> Socket {
    let (mut socket, _) = tokio_tungstenite::connect_async(url).await.unwrap();
    say(
        &mut socket,
        json!({"type": "auth", "access_token": who.access_token, "session_id": session}),
    )
    .await;
    assert_eq!(next(&mut socket).await, Ok(json!({"type": "ready"})));
    socket
}

async fn say(socket: &mut Socket, value: Value) {
    socket.send(Message::text(value.to_string())).await.unwrap();
}

/// The next JSON message, or the close code.
async fn next(socket: &mut Socket) -> Result<Value, u16> {
    loop {
        match tokio::time::timeout(TURN, socket.next()).await.unwrap() {
            Some(Ok(Message::Text(text))) => return Ok(serde_json::from_str(&text).unwrap()),
            Some(Ok(Message::Close(frame))) => return Err(frame.map_or(1005, |f| f.code.into())),
            Some(Ok(_)) => continue,
            Some(Err(_)) | None => return Err(1006),
        }
    }
}

fn opening() -> String {
    let set = question_set("general_behavioural").unwrap();
    format!("{} {}", set.greeting, set.questions[0])
}

/// A short transcript: the opening question and the candidate's answer.
fn short_transcript() -> Vec<(&'static str, String)> {
    vec![
        ("interviewer", opening()),
        ("candidate", "I lead a team of four engineers.".to_owned()),
        ("candidate", "We build payment systems.".to_owned()),
    ]
}

/// `input` as `(role, text)`.
fn input_of(session: &Value) -> Vec<(String, String)> {
    session["input"]
        .as_array()
        .map(|items| {
            items
                .iter()
                .map(|m| {
                    (
                        m["role"].as_str().unwrap().to_owned(),
                        m["content"][0]["text"].as_str().unwrap().to_owned(),
                    )
                })
                .collect()
        })
        .unwrap_or_default()
}

fn expected_short_input() -> Vec<(String, String)> {
    let mut expected = vec![("developer".to_owned(), RESUME_CONTEXT.to_owned())];
    expected.extend(short_transcript().into_iter().map(|(speaker, text)| {
        let role = if speaker == "interviewer" {
            "assistant"
        } else {
            "user"
        };
        (role.to_owned(), text)
    }));
    expected
}

#[tokio::test]
async fn the_live_endpoint_wants_the_project_key_and_the_create_form() {
    let s = stack(Config {
        live_api_key: Some(LIVE_KEY.into()),
        ..Config::default()
    })
    .await;
    let base = s.stack.base_url.clone();
    let valid =
        json!({"session": {"model": "gpt-live-1"}, "transport": {"type": "webrtc", "sdp": OFFER}});
    for key in [None, Some("sk-wrong"), Some("")] {
        let (status, body) = create(&base, key, &valid).await;
        assert_eq!(status, 401, "{key:?}: {body}");
        assert_eq!(body["error"]["type"], "invalid_request_error");
        assert_eq!(body["error"]["code"], "invalid_api_key");
        assert!(body["error"]["message"].is_string());
        assert!(body["error"].get("param").is_some());
    }
    for (body, code) in [
        (
            json!({"type": "realtime", "model": "gpt-realtime"}),
            "invalid_request",
        ),
        (
            json!({"session": {"model": "gpt-live-1", "voice": "marin"}, "transport": {"type": "webrtc", "sdp": OFFER}}),
            "invalid_request",
        ),
        (
            json!({"session": {"model": "gpt-live-1"}, "transport": {"type": "webrtc", "sdp": "hello"}}),
            "invalid_offer",
        ),
        (
            json!({"session": {"model": "gpt-live-1", "input": [{"role": "user", "content": []}]}, "transport": {"type": "webrtc", "sdp": OFFER}}),
            "invalid_value",
        ),
    ] {
        let (status, answer) = create(&base, Some(LIVE_KEY), &body).await;
        assert_eq!(status, 400, "{body}: {answer}");
        assert_eq!(answer["error"]["code"], code, "{answer}");
    }
    // The Realtime API's form (an SDP body) is not Live's.
    let response = reqwest::Client::new()
        .post(format!("{base}/v1/live/sessions"))
        .bearer_auth(LIVE_KEY)
        .header("content-type", "application/sdp")
        .body(OFFER)
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 400);
    // Hanging up wants the key too, and a session that exists.
    let hang_up = |key: &'static str| {
        reqwest::Client::new()
            .post(format!("{base}/v1/live/sessions/live_nope/hangup"))
            .bearer_auth(key)
            .send()
    };
    assert_eq!(hang_up("sk-wrong").await.unwrap().status(), 401);
    assert_eq!(hang_up(LIVE_KEY).await.unwrap().status(), 404);
    assert_eq!(s.stack.state.interviewer.live_calls(), 0);
    s.stack.shutdown().await;

    // A stack with no key configured creates no Live sessions at all.
    let keyless = stack(Config::default()).await;
    let (status, body) = create(&keyless.stack.base_url, Some(LIVE_KEY), &valid).await;
    assert_eq!(status, 401, "{body}");
    keyless.stack.shutdown().await;
}

#[tokio::test]
async fn the_proxys_live_session_permits_the_candidates_commands_and_carries_the_transcript_in_order()
 {
    let s = stack(Config::default()).await;
    let (who, session, _) = practice(&s, "live@example.com", "live").await;
    store_lines(&s, &who, &session, &short_transcript()).await;
    let db = &s.stack.state.db;
    let CallApi::Live(config) = call_api(db, &session).await.unwrap() else {
        panic!("a Live session's offer asks for a Live call");
    };
    let wire = serde_json::to_value(&*config).unwrap();
    assert_eq!(
        wire["client"]["data_channel"]["allowed_client_events"],
        json!(viva_realtime::live::CANDIDATE_COMMANDS)
    );
    assert_eq!(wire["store"], false);
    assert_eq!(wire["model"], "gpt-live-1");
    assert!(
        wire["instructions"]
            .as_str()
            .unwrap()
            .contains("`general_behavioural`")
    );
    assert_eq!(input_of(&wire), expected_short_input());
    assert_eq!(wire["input"][1]["content"][0]["type"], "output_text");
    assert_eq!(wire["input"][2]["content"][0]["type"], "input_text");
    // A Realtime session's offer asks for a Realtime call.
    let (_, realtime, _) = practice(&s, "rt@example.com", "realtime").await;
    assert!(matches!(
        call_api(db, &realtime).await.unwrap(),
        CallApi::Realtime
    ));
    // Nothing stored yet: no input at all.
    let (_, fresh, _) = practice(&s, "fresh@example.com", "live").await;
    let config = live_session_config(db, &fresh).await.unwrap();
    assert!(config.input.is_empty());
    s.stack.shutdown().await;
}

#[tokio::test]
async fn a_long_stored_transcript_keeps_the_first_question_and_the_most_recent_lines() {
    let s = stack(Config::default()).await;
    let (who, session, _) = practice(&s, "long@example.com", "live").await;
    let mut lines = vec![("interviewer", opening())];
    for i in 1..=140 {
        let speaker = if i % 2 == 1 {
            "candidate"
        } else {
            "interviewer"
        };
        lines.push((speaker, format!("Line {i} of the interview.")));
    }
    store_lines(&s, &who, &session, &lines).await;
    let config = live_session_config(&s.stack.state.db, &session)
        .await
        .unwrap();
    let wire = serde_json::to_value(&config).unwrap();
    let input = input_of(&wire);
    assert_eq!(input.len(), MAX_INPUT_MESSAGES);
    let tokens: usize = input.iter().map(|(_, text)| estimate_tokens(text)).sum();
    assert!(tokens <= MAX_INPUT_TOKENS, "{tokens}");
    assert_eq!(
        input[0],
        ("developer".to_owned(), RESUME_CONTEXT.to_owned())
    );
    assert_eq!(input[1], ("assistant".to_owned(), opening()));
    assert_eq!(input[2].0, "developer");
    assert!(input[2].1.contains("15 earlier lines"), "{}", input[2].1);
    // The 125 most recent lines, in order: 16..=140.
    let recent: Vec<String> = input[3..].iter().map(|(_, t)| t.clone()).collect();
    let expected: Vec<String> = (16..=140)
        .map(|i| format!("Line {i} of the interview."))
        .collect();
    assert_eq!(recent, expected);
    assert_eq!(input.last().unwrap().0, "assistant");
    // The local endpoint, like the service, accepts it as it is.
    config.check().unwrap();
    s.stack.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn through_the_proxy_a_live_session_continues_the_interview_and_bye_closes_it() {
    let _one_at_a_time = ONE_CALL_TEST_AT_A_TIME.lock().await;
    let s = stack(Config {
        interviewer: interviewer(),
        ..Config::default()
    })
    .await;
    let (who, session, url) = practice(&s, "proxy@example.com", "live").await;
    store_lines(&s, &who, &session, &short_transcript()).await;
    let mut socket = open_proxy(&url, &who, &session).await;
    let offerer = LiveOfferer::new().await;
    say(&mut socket, json!({"type": "offer", "sdp": offerer.sdp})).await;
    let answer = next(&mut socket).await.unwrap();
    assert_eq!(answer["type"], "answer", "{answer}");
    let candidate = offerer
        .connect(answer["sdp"].as_str().unwrap().to_owned())
        .await;
    let (first, started) = candidate
        .wait_for(0, "session.started", TURN, |_| true)
        .await;
    assert_eq!(first, 0);
    let resolved = &started["session"];
    assert!(resolved["id"].as_str().unwrap().starts_with("live_"));
    assert_eq!(
        resolved["client"]["data_channel"]["allowed_client_events"],
        json!(viva_realtime::live::CANDIDATE_COMMANDS)
    );
    assert_eq!(resolved["store"], false);
    assert_eq!(input_of(resolved), expected_short_input());
    // The candidate answered the first question: the interviewer asks the second.
    let second = &question_set("general_behavioural").unwrap().questions[1];
    candidate
        .wait_for_text(0, "session.output_transcript.delta", second, TURN)
        .await;
    assert!(
        normalise(&candidate.text(0, "session.output_transcript.delta"))
            .starts_with(&normalise(second))
    );
    assert_eq!(s.stack.state.interviewer.live_calls(), 1);

    say(&mut socket, json!({"type": "bye"})).await;
    assert_eq!(next(&mut socket).await, Ok(json!({"type": "bye"})));
    let (_, closed) = candidate
        .wait_for(0, "session.closed", TURN, |_| true)
        .await;
    assert_eq!(closed["reason"], "close_requested");
    candidate.wait_closed(Duration::from_secs(10)).await;
    let deadline = Instant::now() + Duration::from_secs(10);
    while s.stack.state.interviewer.live_calls() > 0 && Instant::now() < deadline {
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    assert_eq!(s.stack.state.interviewer.live_calls(), 0);
    assert_sdk_valid(&candidate);
    candidate.hang_up().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_hosted_upstream_creates_live_sessions_on_a_live_endpoint_with_the_project_key() {
    let _one_at_a_time = ONE_CALL_TEST_AT_A_TIME.lock().await;
    // The "hosted service": a local stack serving /v1/live/sessions with its project key.
    let service = stack(Config {
        live_api_key: Some(LIVE_KEY.into()),
        interviewer: interviewer(),
        ..Config::default()
    })
    .await;
    let realtime_url = format!("{}/v1/realtime/calls", service.stack.base_url);
    let upstream = |key: &str| {
        // The Live endpoint is found beside the Realtime one: `/v1/live/sessions`.
        let hosted =
            viva_localstack::proxy::HostedUpstream::new(&realtime_url, key, "gpt-realtime")
                .unwrap();
        Some(std::sync::Arc::new(hosted) as std::sync::Arc<dyn viva_localstack::proxy::Upstream>)
    };

    // A wrong key: the service's refusal reaches the client and the proxy closes with 1011.
    let refused = stack(Config {
        upstream: upstream("sk-wrong"),
        ..Config::default()
    })
    .await;
    let (who, session, url) = practice(&refused, "wrong@example.com", "live").await;
    let mut socket = open_proxy(&url, &who, &session).await;
    say(&mut socket, json!({"type": "offer", "sdp": OFFER})).await;
    let error = next(&mut socket).await.unwrap();
    assert_eq!(error["code"], "upstream_failed");
    assert!(
        error["message"]
            .as_str()
            .unwrap()
            .contains("incorrect API key provided"),
        "{error}"
    );
    assert_eq!(next(&mut socket).await, Err(1011));
    refused.stack.shutdown().await;

    // The right key: the session the proxy built arrives whole, and `bye` hangs it up.
    let proxy = stack(Config {
        upstream: upstream(LIVE_KEY),
        ..Config::default()
    })
    .await;
    let (who, session, url) = practice(&proxy, "hosted@example.com", "live").await;
    store_lines(&proxy, &who, &session, &short_transcript()).await;
    let mut socket = open_proxy(&url, &who, &session).await;
    let offerer = LiveOfferer::new().await;
    say(&mut socket, json!({"type": "offer", "sdp": offerer.sdp})).await;
    let answer = next(&mut socket).await.unwrap();
    assert_eq!(answer["type"], "answer", "{answer}");
    assert_eq!(service.stack.state.interviewer.live_calls(), 1);
    let candidate = offerer
        .connect(answer["sdp"].as_str().unwrap().to_owned())
        .await;
    let (_, started) = candidate
        .wait_for(0, "session.started", TURN, |_| true)
        .await;
    // What the service resolved is what the proxy sent: the allow-list, nothing stored, the
    // transcript as input, the question set's instructions.
    let resolved = &started["session"];
    assert_eq!(
        resolved["client"]["data_channel"]["allowed_client_events"],
        json!(viva_realtime::live::CANDIDATE_COMMANDS)
    );
    assert_eq!(resolved["store"], false);
    assert_eq!(input_of(resolved), expected_short_input());
    let expected = live_session_config(&proxy.stack.state.db, &session)
        .await
        .unwrap();
    assert_eq!(resolved["instructions"], json!(expected.instructions));

    say(&mut socket, json!({"type": "bye"})).await;
    assert_eq!(next(&mut socket).await, Ok(json!({"type": "bye"})));
    let (_, closed) = candidate
        .wait_for(0, "session.closed", TURN, |_| true)
        .await;
    assert_eq!(closed["reason"], "close_requested");
    assert_eq!(closed["session"]["id"], resolved["id"]);
    candidate.wait_closed(Duration::from_secs(10)).await;
    let deadline = Instant::now() + Duration::from_secs(10);
    while service.stack.state.interviewer.live_calls() > 0 && Instant::now() < deadline {
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    assert_eq!(service.stack.state.interviewer.live_calls(), 0);
    assert_sdk_valid(&candidate);
    candidate.hang_up().await;
}

//! Typed answers are acknowledged and delivered again (docs/protocols.md §3), on the real
//! parts: the local stack in-process with its SDP proxy and local interviewer, a real
//! WebSocket, the app's own call engine. A typed answer written into a link that had silently
//! died reaches the interviewer once the link is opened again, exactly once; a resend of an
//! id the proxy already passed on is acknowledged and not passed on twice, even while the
//! first is still on its way; a text without id (an older client) goes on as before.

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

mod common;
// The shared proxy client alone (the rest of `live_common` needs the SDK oracle); not every
// helper in it is used here.
#[allow(dead_code)]
#[path = "live_common/proxy_socket.rs"]
mod proxy_socket;
#[path = "live_common/recording.rs"]
mod recording;

use std::sync::Arc;
use std::time::{Duration, Instant};

use common::candidate::model_path;
use common::{Account, Stack};
use futures_util::StreamExt;
use proxy_socket::{Socket, open_proxy, say};
use serde_json::{Value, json};
use tokio_tungstenite::tungstenite::Message;
use viva_localstack::Config;
use viva_localstack::interviewer::InterviewerConfig;
use viva_realtime::{Line, LineStatus, Speaker, TranscriptChange};
use viva_rtc::{CallConfig, CallEvent, Grant, Media};

const OFFER: &str = include_str!("../../contract/testdata/webrtc_rs_0_21_offer.sdp");

/// A candidate with a GPT-Live practice: the account, the session id, the proxy's address and
/// `interview-start`'s whole answer.
async fn practice(s: &Stack, email: &str, api: &str) -> (Account, String, String, Value) {
    let tenant = s.stack.add_tenant("Acme").await.unwrap();
    let who = s.account(email, &tenant, "candidate").await;
    let started = s
        .interview_start(&who.access_token, json!({"mode": "practice", "api": api}))
        .await;
    assert_eq!(started["realtime"]["signaling"], "websocket");
    let session = started["session"]["id"].as_str().unwrap().to_owned();
    let url = started["realtime"]["url"].as_str().unwrap().to_owned();
    (who, session, url, started)
}

// ---- (a) a silently dead link, through the app's call engine ----------------------------

/// A TCP relay whose `cut` silences the connections it carries now, keeping them open (a
/// half-open socket, as a laptop that changed networks leaves behind: no FIN, no pong; a
/// write still succeeds on the sender's side). Connections made after the cut go through.
struct Relay {
    address: std::net::SocketAddr,
    cut: tokio::sync::watch::Sender<u64>,
    /// Connections silenced so far.
    silenced: Arc<std::sync::atomic::AtomicUsize>,
    task: tokio::task::JoinHandle<()>,
}

impl Relay {
    async fn to(target: std::net::SocketAddr) -> Self {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let address = listener.local_addr().unwrap();
        let (cut, _) = tokio::sync::watch::channel(0_u64);
        let cuts = cut.clone();
        let silenced = Arc::new(std::sync::atomic::AtomicUsize::new(0));
        let counted = silenced.clone();
        let task = tokio::spawn(async move {
            while let Ok((mut client, _)) = listener.accept().await {
                let mut server = tokio::net::TcpStream::connect(target).await.unwrap();
                let mut cut = cuts.subscribe();
                let born = *cut.borrow_and_update();
                let counted = counted.clone();
                tokio::spawn(async move {
                    let cut_now = async {
                        let _ = cut.wait_for(|cuts| *cuts > born).await;
                    };
                    let cut_happened = tokio::select! {
                        _ = tokio::io::copy_bidirectional(&mut client, &mut server) => false,
                        () = cut_now => true,
                    };
                    if cut_happened {
                        counted.fetch_add(1, std::sync::atomic::Ordering::SeqCst);
                        // Both ends stay open and silent until the test ends.
                        std::future::pending::<()>().await;
                    }
                });
            }
        });
        Self {
            address,
            cut,
            silenced,
            task,
        }
    }

    /// Silences every connection open now; returns once the first of them is silent.
    async fn cut(&self) {
        self.cut.send_modify(|cuts| *cuts += 1);
        let deadline = Instant::now() + Duration::from_secs(5);
        while self.silenced.load(std::sync::atomic::Ordering::SeqCst) == 0 {
            assert!(Instant::now() < deadline, "the relay did not cut");
            tokio::time::sleep(Duration::from_millis(10)).await;
        }
    }
}

impl Drop for Relay {
    fn drop(&mut self) {
        self.task.abort();
    }
}

/// Every final line of the call so far, as the app keeps them.
#[derive(Default)]
struct Lines(Vec<Line>);

impl Lines {
    fn take(&mut self, event: &CallEvent) {
        if let CallEvent::Transcript {
            change: TranscriptChange::LineFinal(line),
        } = event
        {
            match self.0.iter_mut().find(|l| l.item_id == line.item_id) {
                Some(known) => *known = line.clone(),
                None => self.0.push(line.clone()),
            }
        }
    }

    fn candidate_saying(&self, text: &str) -> usize {
        self.0
            .iter()
            .filter(|l| l.speaker == Speaker::Candidate && l.status == LineStatus::Final)
            .filter(|l| normalise(&l.text).contains(&normalise(text)))
            .count()
    }
}

fn normalise(text: &str) -> String {
    text.to_lowercase()
        .split(|c: char| !c.is_alphanumeric())
        .filter(|w| !w.is_empty())
        .collect::<Vec<_>>()
        .join(" ")
}

/// Reads the call's events (keeping lines and problems) until `done` holds, at most `wait`.
async fn until(
    events: &mut tokio::sync::mpsc::Receiver<CallEvent>,
    lines: &mut Lines,
    problems: &mut Vec<(String, String)>,
    what: &str,
    wait: Duration,
    done: impl Fn(&Lines) -> bool,
) {
    let deadline = tokio::time::Instant::now() + wait;
    while !done(lines) {
        let event = tokio::time::timeout_at(deadline, events.recv())
            .await
            .unwrap_or_else(|_| {
                panic!(
                    "{what}: not within {wait:?}; lines {:?}, problems {problems:?}",
                    lines.0.iter().map(|l| &l.text).collect::<Vec<_>>()
                )
            })
            .unwrap_or_else(|| panic!("{what}: the call ended"));
        lines.take(&event);
        if let CallEvent::Problem { code, message } = &event {
            problems.push((code.clone(), message.clone()));
        }
    }
}

/// The app's client on a GPT-Live practice, its proxy link through a relay that goes
/// half-open right before the candidate types: the answer, written into the dead socket, is
/// given to the interviewer once the link is opened again — once.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_typed_answer_written_into_a_half_open_link_reaches_the_interviewer_once_after_it_reopens()
 {
    let s = Stack::start(Config {
        signaling: viva_localstack::Signaling::WebSocket,
        interviewer: InterviewerConfig {
            model_path: Some(model_path()),
            ..InterviewerConfig::default()
        },
        ..Config::default()
    })
    .await;
    let (who, _session, url, started) = practice(&s, "half-open@example.com", "live").await;
    let stack_address = url
        .trim_start_matches("ws://")
        .trim_end_matches("/ws")
        .parse()
        .unwrap();
    let relay = Relay::to(stack_address).await;
    let mut grant = Grant::from_interview_start(&started, Some(who.access_token.clone())).unwrap();
    grant.realtime.url = format!("ws://{}/ws", relay.address);
    let (_microphone, uplink) = tokio::sync::mpsc::channel(1);
    let started_at = Instant::now();
    let (call, mut events) = viva_rtc::start(
        grant,
        None,
        CallConfig {
            udp_addrs: vec!["127.0.0.1:0".into()],
            // Above the proxy's ping interval (5 s), so only a dead link is quiet this long.
            proxy_quiet_limit: viva_contract::proxy::PING_EVERY + Duration::from_secs(2),
            ..CallConfig::default()
        },
        Media {
            uplink,
            downlink: None,
        },
    );
    let (mut lines, mut problems) = (Lines::default(), Vec::new());
    until(
        &mut events,
        &mut lines,
        &mut problems,
        "the interviewer's opening",
        Duration::from_secs(60),
        |lines| lines.0.iter().any(|l| l.speaker == Speaker::Interviewer),
    )
    .await;
    // The link has been pinged (so its silence will count) before the network goes.
    let pinged = viva_contract::proxy::PING_EVERY + Duration::from_secs(1);
    tokio::time::sleep(pinged.saturating_sub(started_at.elapsed())).await;
    // The relay has stopped forwarding before the answer is typed: it is written into a
    // silent socket (the write succeeds on this side), never read by the proxy.
    relay.cut().await;
    let typed = "I moved our billing service to Rust without downtime.";
    call.send_text(typed).await.unwrap();
    until(
        &mut events,
        &mut lines,
        &mut problems,
        "the typed answer as the candidate's line",
        Duration::from_secs(60),
        |lines| lines.candidate_saying(typed) > 0,
    )
    .await;
    // Given time to come twice (and the interviewer to answer it), it came once.
    let deadline = tokio::time::Instant::now() + Duration::from_secs(5);
    while let Ok(Some(event)) = tokio::time::timeout_at(deadline, events.recv()).await {
        lines.take(&event);
        if let CallEvent::Problem { code, message } = event {
            problems.push((code, message));
        }
    }
    assert_eq!(lines.candidate_saying(typed), 1, "{:?}", lines.0);
    assert!(problems.is_empty(), "{problems:?}");
    let summary = call.end().await.unwrap();
    assert_eq!(
        summary.reconnects, 0,
        "the media went on; only the link was opened again"
    );
    s.stack.shutdown().await;
}

// ---- (b), (c) the proxy's socket, driven directly ----------------------------------------

/// The next message, which must come within `wait` (one deadline: the proxy's pings, read
/// meanwhile, do not extend it); `None` when nothing came.
async fn within(socket: &mut Socket, wait: Duration) -> Option<Value> {
    let deadline = tokio::time::Instant::now() + wait;
    loop {
        match tokio::time::timeout_at(deadline, socket.next()).await {
            Ok(Some(Ok(Message::Text(text)))) => return Some(serde_json::from_str(&text).unwrap()),
            Ok(Some(Ok(Message::Ping(_) | Message::Pong(_)))) => {}
            Ok(other) => panic!("expected a message or nothing, got {other:?}"),
            Err(_) => return None,
        }
    }
}

/// The proxy's next message, which must come within 10 s (pings do not count: a reply that
/// never comes fails the test instead of holding it).
async fn reply(socket: &mut Socket) -> Value {
    within(socket, Duration::from_secs(10))
        .await
        .expect("a reply within 10 s")
}

async fn recording_stack() -> (Stack, Arc<recording::Recording>) {
    let recording = Arc::new(recording::Recording::default());
    let s = Stack::start(Config {
        signaling: viva_localstack::Signaling::WebSocket,
        upstream: Some(recording.clone()),
        ..Config::default()
    })
    .await;
    (s, recording)
}

fn text(id: &str, text: &str) -> Value {
    json!({"type": "text", "id": id, "text": text})
}

fn ok(id: &str) -> Value {
    json!({"type": "text_ok", "id": id})
}

#[tokio::test]
async fn a_resent_id_the_proxy_passed_on_is_acknowledged_again_and_not_passed_on_twice() {
    let (s, recording) = recording_stack().await;
    let (who, session, url, _) = practice(&s, "resend@example.com", "live").await;
    let mut socket = open_proxy(&url, &who.access_token, &session).await;
    // Before any call: refused, and the refusal names the answer.
    say(&mut socket, text("early-1", "Too early.")).await;
    let early = reply(&mut socket).await;
    assert_eq!(
        (&early["code"], &early["id"]),
        (&json!("unexpected_message"), &json!("early-1")),
        "{early}"
    );
    say(&mut socket, json!({"type": "offer", "sdp": OFFER})).await;
    assert_eq!(reply(&mut socket).await["type"], "answer");

    say(&mut socket, text("a-1", "I chose Rust.")).await;
    assert_eq!(reply(&mut socket).await, ok("a-1"));
    // The acknowledgement was lost: the client sends it again, on this link…
    say(&mut socket, text("a-1", "I chose Rust.")).await;
    assert_eq!(reply(&mut socket).await, ok("a-1"));
    // …or on the one that replaced it (the same sign-in, no offer: the call is the
    // interview's).
    let mut again = open_proxy(&url, &who.access_token, &session).await;
    say(&mut again, text("a-1", "I chose Rust.")).await;
    assert_eq!(reply(&mut again).await, ok("a-1"));
    say(&mut again, text("a-2", "For its safety.")).await;
    assert_eq!(reply(&mut again).await, ok("a-2"));
    assert_eq!(recording.typed(), ["I chose Rust.", "For its safety."]);

    // A failure names the answer, and does not count as passed on.
    say(&mut again, text("a-3", "fail")).await;
    let failed = reply(&mut again).await;
    assert_eq!(
        (&failed["code"], &failed["id"]),
        (&json!("typed_answer_failed"), &json!("a-3")),
        "{failed}"
    );
    assert_eq!(failed["message"], "the call has ended");
    // Out of its limits: refused, with its id.
    say(&mut again, text("a-4", "   ")).await;
    let refused = reply(&mut again).await;
    assert_eq!(
        (&refused["code"], &refused["id"]),
        (&json!("unexpected_message"), &json!("a-4")),
        "{refused}"
    );

    // A resend while the first is still on its way (the old connection, replaced, is still
    // passing it on) waits for it, and is acknowledged without a second delivery.
    let mut third = open_proxy(&url, &who.access_token, &session).await;
    say(&mut third, text("slow-1", "slow answer")).await;
    tokio::time::sleep(Duration::from_millis(200)).await;
    let mut fourth = open_proxy(&url, &who.access_token, &session).await;
    say(&mut fourth, text("slow-1", "slow answer")).await;
    assert_eq!(
        within(&mut fourth, Duration::from_millis(300)).await,
        None,
        "it waits for the first"
    );
    recording.slow.add_permits(2);
    assert_eq!(reply(&mut fourth).await, ok("slow-1"));
    tokio::time::sleep(Duration::from_millis(200)).await;
    assert_eq!(
        recording.typed(),
        ["I chose Rust.", "For its safety.", "slow answer"],
        "each passed on once"
    );

    // The call ends: its ids go with it.
    say(&mut fourth, json!({"type": "bye"})).await;
    assert_eq!(reply(&mut fourth).await, json!({"type": "bye"}));
    s.stack.shutdown().await;
}

#[tokio::test]
async fn a_text_without_an_id_from_an_older_client_is_passed_on_as_before() {
    let (s, recording) = recording_stack().await;
    let (who, session, url, _) = practice(&s, "older@example.com", "live").await;
    let mut socket = open_proxy(&url, &who.access_token, &session).await;
    say(&mut socket, json!({"type": "offer", "sdp": OFFER})).await;
    assert_eq!(reply(&mut socket).await["type"], "answer");
    // Passed on, and nothing comes back; the same words again are a new answer (without an
    // id nothing says they are a resend).
    for _ in 0..2 {
        say(
            &mut socket,
            json!({"type": "text", "text": "I chose Rust."}),
        )
        .await;
        assert_eq!(within(&mut socket, Duration::from_millis(300)).await, None);
    }
    assert_eq!(recording.typed(), ["I chose Rust.", "I chose Rust."]);
    // Its failure is told as before: no id.
    say(&mut socket, json!({"type": "text", "text": "fail"})).await;
    let failed = reply(&mut socket).await;
    assert_eq!(
        failed,
        json!({"type": "error", "code": "typed_answer_failed", "message": "the call has ended"})
    );
    // And an id on the same connection is acknowledged as usual.
    say(&mut socket, text("b-1", "Because of its tooling.")).await;
    assert_eq!(reply(&mut socket).await, ok("b-1"));
    say(&mut socket, json!({"type": "bye"})).await;
    assert_eq!(reply(&mut socket).await, json!({"type": "bye"}));
    s.stack.shutdown().await;
}

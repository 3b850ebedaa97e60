//! The transcript of record (W2-5 item 6): the SDP proxy listens to each GPT-Live call it
//! creates and stores the fragments it hears, with the windows it listened in, where the
//! candidate's computer cannot write (`observed_windows`, `observed_fragments`). Review's
//! comparison (`viva_contract::observed::compare`) then flags a line the client invented or
//! altered, and nothing in an honest call.

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

mod common;
mod live_common;
use live_common::proxy_socket::{answering_pings, next, open_proxy, say};
#[path = "../../realtime/tests/sdk_oracle/mod.rs"]
mod sdk_oracle;

use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::{Duration, Instant};

use common::candidate::model_path;
use common::{Account, Stack};
use live_common::LiveOfferer;
use serde_json::{Value, json};
use viva_contract::Entry;
use viva_contract::observed::{ObservedFragment, Speaker, Verdict, compare};
use viva_localstack::Config;
use viva_localstack::interviewer::InterviewerConfig;
use viva_localstack::interviewer::script::question_set;
use viva_localstack::observations::{observed_record, observed_windows};
use viva_localstack::proxy::{Answered, CallApi, UpstreamCall, UpstreamError};
use viva_proxy::observe::{DELIVERY_MARGIN_MS, EventStream, WindowEnd};

const OFFER: &str = include_str!("../../contract/testdata/webrtc_rs_0_21_offer.sdp");
const TURN: Duration = Duration::from_secs(30);
/// Where the candidate's client placed the Live session on the interview's timeline.
const CLIENT_OFFSET_MS: i64 = 1_500;

/// Calls stream real media: they take turns.
static ONE_CALL_TEST_AT_A_TIME: tokio::sync::Mutex<()> = tokio::sync::Mutex::const_new(());

async fn stack(config: Config) -> Stack {
    Stack::start(Config {
        signaling: viva_localstack::Signaling::WebSocket,
        ..config
    })
    .await
}

/// A candidate with a GPT-Live practice session; the account, the session id and the proxy's
/// address.
async fn practice(s: &Stack, email: &str) -> (Account, String, String) {
    let tenant = s.stack.add_tenant("Acme").await.unwrap();
    let who = s.account(email, &tenant, "candidate").await;
    let started = s
        .interview_start(
            &who.access_token,
            json!({"mode": "practice", "api": "live"}),
        )
        .await;
    let session = started["session"]["id"].as_str().unwrap().to_owned();
    let url = started["realtime"]["url"].as_str().unwrap().to_owned();
    (who, session, url)
}

/// The transcript fragments among `events`, as the client received them.
fn fragments_of(events: &[Value], live_id: &str) -> Vec<ObservedFragment> {
    events
        .iter()
        .filter_map(|e| {
            let speaker = match e["type"].as_str()? {
                "session.input_transcript.delta" => Speaker::Candidate,
                "session.output_transcript.delta" => Speaker::Interviewer,
                _ => return None,
            };
            Some(ObservedFragment {
                provider_session: live_id.to_owned(),
                speaker,
                text: e["delta"].as_str()?.to_owned(),
                start_ms: e["start_ms"].as_u64()?,
                end_ms: e["end_ms"].as_u64()?,
                item_id: None,
            })
        })
        .collect()
}

/// The lines an honest client uploads from `fragments`: one per speaker turn, with the Live
/// line ids (`<session>#<n>`) and the session placed [`CLIENT_OFFSET_MS`] into the interview.
fn honest_lines(fragments: &[ObservedFragment]) -> Vec<Entry> {
    let mut lines: Vec<Entry> = Vec::new();
    let mut last: Option<Speaker> = None;
    for fragment in fragments {
        let start = i64::try_from(fragment.start_ms).unwrap() + CLIENT_OFFSET_MS;
        let end = i64::try_from(fragment.end_ms).unwrap() + CLIENT_OFFSET_MS;
        match lines.last_mut() {
            Some(line) if last == Some(fragment.speaker) => {
                line.text.push_str(&fragment.text);
                line.started_ms = line.started_ms.min(start);
                line.ended_ms = line.ended_ms.max(Some(end));
            }
            _ => {
                let n = lines.len();
                lines.push(Entry {
                    item_id: format!("{}#{n}", fragment.provider_session),
                    seq: i32::try_from(n + 1).unwrap(),
                    speaker: match fragment.speaker {
                        Speaker::Candidate => "candidate",
                        Speaker::Interviewer => "interviewer",
                    }
                    .to_owned(),
                    text: fragment.text.clone(),
                    started_ms: start,
                    ended_ms: Some(end),
                });
            }
        }
        last = Some(fragment.speaker);
    }
    for line in &mut lines {
        line.text = line.text.trim().to_owned();
    }
    lines
}

/// Waits until the session's windows satisfy `done`.
async fn windows_until(
    s: &Stack,
    session: &str,
    done: impl Fn(&[viva_proxy::observe::StoredWindow]) -> bool,
) -> Vec<viva_proxy::observe::StoredWindow> {
    let deadline = Instant::now() + Duration::from_secs(10);
    loop {
        let windows = observed_windows(&s.stack.state.db, session).await.unwrap();
        if done(&windows) {
            return windows;
        }
        assert!(Instant::now() < deadline, "{windows:?}");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_proxys_record_of_a_live_call_flags_an_invented_and_an_altered_line_but_not_the_honest_ones()
 {
    let _one_at_a_time = ONE_CALL_TEST_AT_A_TIME.lock().await;
    let s = stack(Config {
        interviewer: InterviewerConfig {
            model_path: Some(model_path()),
            ..InterviewerConfig::default()
        },
        ..Config::default()
    })
    .await;
    let (who, session, url) = practice(&s, "observed@example.com").await;
    let mut socket = open_proxy(&url, &who.access_token, &session).await;
    let offerer = LiveOfferer::new().await;
    say(&mut socket, json!({"type": "offer", "sdp": offerer.sdp})).await;
    let answer = next(&mut socket).await.unwrap();
    assert_eq!(answer["type"], "answer", "{answer}");
    let candidate = offerer
        .connect(answer["sdp"].as_str().unwrap().to_owned())
        .await;
    // The interviewer opens; the candidate types an answer (its words come back as the
    // candidate's fragments); the interviewer asks the next question; bye.
    let set = question_set("general_behavioural").unwrap();
    let opening = format!("{} {}", set.greeting, set.questions[0]);
    answering_pings(
        &mut socket,
        candidate.wait_for_text(0, "session.output_transcript.delta", &opening, TURN),
    )
    .await;
    let typed = "I built a payments system in Rust.";
    say(&mut socket, json!({"type": "text", "text": typed})).await;
    answering_pings(
        &mut socket,
        candidate.wait_for_text(
            0,
            "session.output_transcript.delta",
            &set.questions[1],
            TURN,
        ),
    )
    .await;
    say(&mut socket, json!({"type": "bye"})).await;
    assert_eq!(next(&mut socket).await, Ok(json!({"type": "bye"})));
    candidate
        .wait_for(0, "session.closed", TURN, |_| true)
        .await;
    candidate.hang_up().await;

    let events = candidate.values();
    let live_id = events
        .iter()
        .find(|e| e["type"] == "session.started")
        .and_then(|e| e["session"]["id"].as_str())
        .unwrap()
        .to_owned();
    // The session closed: so did the proxy's one window, which opened with the session.
    let windows = windows_until(&s, &session, |w| w.iter().all(|w| w.end.is_some())).await;
    assert_eq!(windows.len(), 1, "{windows:?}");
    let window = &windows[0];
    assert_eq!(window.end, Some(WindowEnd::Closed));
    assert_eq!(window.start.provider_session, live_id);
    assert_eq!(window.start.api, "live");
    assert_eq!(window.start.from_ms, 0);

    // The proxy heard what the client received, fragment for fragment.
    let received = fragments_of(&events, &live_id);
    let (fragments, observed) = observed_record(&s.stack.state.db, &session).await.unwrap();
    assert_eq!(fragments, received);
    let last_end = received.iter().map(|f| f.end_ms).max().unwrap();
    assert!(
        window.to_ms >= last_end,
        "{window:?} ends before {last_end}"
    );
    assert_eq!(observed.len(), 1);
    assert!(
        fragments
            .iter()
            .any(|f| f.speaker == Speaker::Candidate && f.text.contains("payments"))
    );

    // An honest client's lines: nothing flagged, every line judged and heard.
    let honest = honest_lines(&received);
    assert_eq!(
        honest
            .iter()
            .map(|l| l.speaker.as_str())
            .collect::<Vec<_>>(),
        ["interviewer", "candidate", "interviewer"],
        "{honest:?}"
    );
    let checked = compare(&honest, &fragments, &observed);
    assert_eq!(checked.summary.flagged, 0, "{checked:?}");
    assert!(
        checked
            .lines
            .iter()
            .all(|c| matches!(c.verdict, Verdict::Heard { .. })),
        "{checked:?}"
    );
    assert_eq!(
        checked.sessions[0].offset_ms,
        Some(CLIENT_OFFSET_MS),
        "{checked:?}"
    );

    // A line the candidate never said, placed while the interviewer was asking the first
    // question: not heard.
    let first = &honest[0];
    let middle = (first.started_ms + first.ended_ms.unwrap()) / 2;
    let mut invented = honest.clone();
    invented.push(Entry {
        item_id: format!("{live_id}#{}", honest.len()),
        seq: 99,
        speaker: "candidate".into(),
        text: "I have ten years of experience leading teams at a large bank.".into(),
        started_ms: middle - 500,
        ended_ms: Some(middle + 500),
    });
    let checked = compare(&invented, &fragments, &observed);
    let flagged: Vec<_> = checked.flagged().collect();
    assert_eq!(flagged.len(), 1, "{checked:?}");
    assert_eq!(flagged[0].item_id, format!("{live_id}#{}", honest.len()));
    assert_eq!(flagged[0].verdict, Verdict::NotHeard);

    // The typed answer, altered after the fact: heard differently, with what was heard.
    let mut altered = honest.clone();
    altered[1].text = "I built a trading system in Go.".into();
    let checked = compare(&altered, &fragments, &observed);
    let flagged: Vec<_> = checked.flagged().collect();
    assert_eq!(flagged.len(), 1, "{checked:?}");
    assert_eq!(flagged[0].item_id, altered[1].item_id);
    match &flagged[0].verdict {
        Verdict::HeardDifferently { observed } => {
            assert!(observed.contains("payments system in Rust"), "{observed}");
        }
        other => panic!("expected heard differently, got {other:?}"),
    }
    s.stack.shutdown().await;
}

/// An upstream whose Live calls' events the test sends itself.
#[derive(Debug)]
struct Scripted {
    events: tokio::sync::broadcast::Sender<String>,
    observed: AtomicUsize,
}

const STUB_ANSWER: &str = "v=0\r\no=- 1 1 IN IP4 127.0.0.1\r\ns=-\r\nt=0 0\r\n";

impl viva_localstack::proxy::Upstream for Scripted {
    fn answer<'a>(
        &'a self,
        session_id: &'a str,
        _offer: &'a str,
        api: &'a CallApi,
    ) -> viva_proxy::auth::BoxFuture<'a, Result<Answered, UpstreamError>> {
        Box::pin(async move {
            Ok(Answered {
                sdp: STUB_ANSWER.to_owned(),
                call: UpstreamCall {
                    session_id: session_id.to_owned(),
                    live: matches!(api, CallApi::Live(_)),
                    id: "live_scripted".to_owned(),
                },
            })
        })
    }

    fn observe<'a>(
        &'a self,
        _call: &'a UpstreamCall,
    ) -> viva_proxy::auth::BoxFuture<'a, Result<EventStream, UpstreamError>> {
        Box::pin(async move {
            self.observed.fetch_add(1, Ordering::SeqCst);
            Ok(Box::new(self.events.subscribe()) as EventStream)
        })
    }
}

fn delta(kind: &str, text: &str, start_ms: u64, end_ms: u64) -> String {
    json!({"type": kind, "event_id": "e", "delta": text, "start_ms": start_ms, "end_ms": end_ms})
        .to_string()
}

/// The window's bookkeeping without media: one observer per call however often the candidate
/// reconnects, a gap where the observer fell behind (the window before it ends `lost`, the one
/// after starts after the first fragment it heard), and a drain that ends the window.
#[tokio::test]
async fn one_observer_per_call_and_gaps_and_drains_end_windows() {
    let (events, _) = tokio::sync::broadcast::channel(16);
    let scripted = Arc::new(Scripted {
        events,
        observed: AtomicUsize::new(0),
    });
    let s = stack(Config {
        upstream: Some(scripted.clone()),
        observe_calls: Some(true),
        ..Config::default()
    })
    .await;
    let (who, session, url) = practice(&s, "gaps@example.com").await;
    let mut socket = open_proxy(&url, &who.access_token, &session).await;
    say(&mut socket, json!({"type": "offer", "sdp": OFFER})).await;
    assert_eq!(next(&mut socket).await.unwrap()["type"], "answer");
    assert_eq!(scripted.observed.load(Ordering::SeqCst), 1);
    let send = |text: String| {
        scripted.events.send(text).unwrap();
    };
    send(
        json!({"type": "session.started", "event_id": "e", "session": {"id": "live_scripted"}})
            .to_string(),
    );
    send(delta(
        "session.output_transcript.delta",
        "Tell me about a project.",
        0,
        900,
    ));
    send(delta(
        "session.input_transcript.delta",
        " I built one.",
        1_000,
        1_400,
    ));
    // The same sign-in reconnects (a second window of the app): it takes the call over, and
    // the call goes on being observed by the one observer.
    let mut again = open_proxy(&url, &who.access_token, &session).await;
    assert_eq!(next(&mut socket).await, Err(4009));
    let windows = windows_until(&s, &session, |w| w.len() == 1 && w[0].to_ms == 1_400).await;
    assert_eq!(windows[0].start.from_ms, 0);
    assert_eq!(windows[0].end, None);
    assert_eq!(scripted.observed.load(Ordering::SeqCst), 1);
    assert_eq!(s.stack.state.proxy.observing(), 1);

    // More than the backlog at once: the observer falls behind.
    for i in 0..40u64 {
        send(delta(
            "session.input_transcript.delta",
            " word",
            2_000 + i * 10,
            2_005 + i * 10,
        ));
    }
    let windows = windows_until(&s, &session, |w| w.len() == 2).await;
    assert_eq!(windows[0].end, Some(WindowEnd::Lost));
    assert_eq!(windows[0].to_ms, 1_400);
    // It cannot know what it missed: the next window starts after the first fragment it heard.
    assert!(
        windows[1].start.from_ms >= 2_000 + DELIVERY_MARGIN_MS,
        "{windows:?}"
    );

    // A drain ends the window (another instance would take the interview over).
    s.stack.state.proxy.drain();
    assert_eq!(next(&mut again).await, Err(1001));
    let windows = windows_until(&s, &session, |w| w.len() == 2 && w[1].end.is_some()).await;
    assert_eq!(windows[1].end, Some(WindowEnd::Drain));
    let deadline = Instant::now() + Duration::from_secs(5);
    while s.stack.state.proxy.observing() > 0 {
        assert!(Instant::now() < deadline);
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    let (fragments, observed) = observed_record(&s.stack.state.db, &session).await.unwrap();
    assert_eq!(observed.len(), 2);
    assert_eq!(fragments[0].speaker, Speaker::Interviewer);
    assert_eq!(fragments[1].text, " I built one.");
    // What was missed is missing: only the backlog's last events after the first two.
    assert_eq!(fragments.len(), 2 + 16, "{fragments:?}");
    s.stack.shutdown().await;
}

/// What the fake hosted Live service saw, and the events its session sends.
#[derive(Debug)]
struct Hosted {
    attached: AtomicUsize,
    sent: std::sync::Mutex<Vec<String>>,
    hung_up: AtomicUsize,
    events: tokio::sync::broadcast::Sender<String>,
}

type HostedState = Arc<Hosted>;

/// A fake hosted Live service on loopback: creates `live_fake1`; its sideband sends the events
/// the test gives the session and records what it is sent; a hang-up sends `session.closed`
/// and the sideband closes after it, as the service's does. Its base URL.
async fn fake_live_service(state: HostedState) -> String {
    use axum::extract::State;
    use axum::extract::ws::{Message as AxumMessage, WebSocketUpgrade};
    use axum::http::StatusCode;
    use axum::routing::{get, post};

    async fn created() -> (StatusCode, axum::Json<Value>) {
        (
            StatusCode::CREATED,
            axum::Json(
                json!({"session": {"id": "live_fake1"}, "transport": {"type": "webrtc", "sdp": STUB_ANSWER}}),
            ),
        )
    }
    async fn attach(
        State(state): State<HostedState>,
        upgrade: WebSocketUpgrade,
    ) -> axum::response::Response {
        state.attached.fetch_add(1, Ordering::SeqCst);
        // Every event from the moment of attaching.
        let mut events = state.events.subscribe();
        upgrade.on_upgrade(move |mut socket| async move {
            loop {
                tokio::select! {
                    event = events.recv() => {
                        let Ok(event) = event else { break };
                        let closed = event.contains("\"session.closed\"");
                        if socket.send(AxumMessage::Text(event.into())).await.is_err() || closed {
                            break;
                        }
                    }
                    message = socket.recv() => match message {
                        Some(Ok(AxumMessage::Text(text))) => state.sent.lock().unwrap().push(text.to_string()),
                        Some(Ok(AxumMessage::Close(_)) | Err(_)) | None => break,
                        Some(Ok(_)) => {}
                    },
                }
            }
            let _ = socket.send(AxumMessage::Close(None)).await;
        })
    }
    async fn hang_up(State(state): State<HostedState>) -> StatusCode {
        state.hung_up.fetch_add(1, Ordering::SeqCst);
        let _ = state.events.send(
            json!({"type": "session.closed", "event_id": "e", "reason": "close_requested"})
                .to_string(),
        );
        StatusCode::OK
    }
    let app = axum::Router::new()
        .route("/v1/live/sessions", post(created))
        .route("/v1/live/sessions/{id}/attach", get(attach))
        .route("/v1/live/sessions/{id}/hangup", post(hang_up))
        .with_state(state);
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let address = listener.local_addr().unwrap();
    tokio::spawn(async move { axum::serve(listener, app).await.unwrap() });
    format!("http://{address}")
}

/// A hosted Live session allows one sideband: the proxy opens it as it creates the session
/// (before the answer goes, so the window starts at 0), sends the typed answers on it, and
/// keeps it after the hang-up until the session's `session.closed` has come.
#[tokio::test]
async fn a_hosted_sessions_one_sideband_carries_its_typed_answers_and_its_record() {
    let hosted = Arc::new(Hosted {
        attached: AtomicUsize::new(0),
        sent: std::sync::Mutex::default(),
        hung_up: AtomicUsize::new(0),
        events: tokio::sync::broadcast::channel(64).0,
    });
    let service = fake_live_service(hosted.clone()).await;
    let upstream = viva_localstack::proxy::HostedUpstream::new(
        &format!("{service}/v1/realtime/calls"),
        live_common::LIVE_KEY,
        "gpt-realtime",
    )
    .unwrap();
    let s = stack(Config {
        upstream: Some(Arc::new(upstream)),
        observe_calls: Some(true),
        ..Config::default()
    })
    .await;
    let (who, session, url) = practice(&s, "hosted-record@example.com").await;
    let mut socket = open_proxy(&url, &who.access_token, &session).await;
    say(&mut socket, json!({"type": "offer", "sdp": OFFER})).await;
    assert_eq!(next(&mut socket).await.unwrap()["type"], "answer");
    // Attached before the answer went.
    assert_eq!(hosted.attached.load(Ordering::SeqCst), 1);
    let send = |text: String| {
        hosted.events.send(text).unwrap();
    };
    send(
        json!({"type": "session.started", "event_id": "e", "session": {"id": "live_fake1"}})
            .to_string(),
    );
    send(delta(
        "session.output_transcript.delta",
        "Tell me about a project.",
        0,
        900,
    ));
    say(&mut socket, json!({"type": "text", "text": "I built one."})).await;
    let deadline = Instant::now() + Duration::from_secs(10);
    while hosted.sent.lock().unwrap().is_empty() {
        assert!(Instant::now() < deadline);
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    let typed: Value = serde_json::from_str(&hosted.sent.lock().unwrap()[0]).unwrap();
    assert_eq!(typed["type"], "session.instructions.append");
    // The session says the candidate's words back.
    send(delta(
        "session.input_transcript.delta",
        " I built one.",
        1_000,
        1_400,
    ));
    say(&mut socket, json!({"type": "bye"})).await;
    assert_eq!(next(&mut socket).await, Ok(json!({"type": "bye"})));
    let windows = windows_until(&s, &session, |w| w.len() == 1 && w[0].end.is_some()).await;
    assert_eq!(windows[0].end, Some(WindowEnd::Closed), "{windows:?}");
    assert_eq!((windows[0].start.from_ms, windows[0].to_ms), (0, 1_400));
    assert_eq!(hosted.attached.load(Ordering::SeqCst), 1);
    assert_eq!(hosted.hung_up.load(Ordering::SeqCst), 1);
    let (fragments, _) = observed_record(&s.stack.state.db, &session).await.unwrap();
    let texts: Vec<(Speaker, &str)> = fragments
        .iter()
        .map(|f| (f.speaker, f.text.as_str()))
        .collect();
    assert_eq!(
        texts,
        [
            (Speaker::Interviewer, "Tell me about a project."),
            (Speaker::Candidate, " I built one.")
        ]
    );
    s.stack.shutdown().await;
}

//! A bad network, for real: the call's media goes through a UDP relay in this test that can be
//! paused. A signaling shim in front of the local stack rewrites each side's ICE candidate to
//! the relay, so every packet between the candidate and the interviewer passes through it.

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use std::collections::HashSet;
use std::net::SocketAddr;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;

use axum::body::Bytes;
use axum::extract::State;
use axum::http::{HeaderMap, StatusCode, header};
use tokio::net::UdpSocket;
use viva_audio::{EncoderSettings, PacedMicrophone};
use viva_cli::embedded::{self, Embedded, EmbeddedOptions};

mod common;
use common::{recording, settings, speech};
use viva_cli::script::{self, Script};
use viva_realtime::{LineStatus, SessionState, Speaker};
use viva_rtc::{CallConfig, CallEvent, Grant, GrantError, GrantSource, Media, VoiceApi};
use viva_session::BackendGrants;
use viva_session::LiveEvent;

/// Two sockets: one the candidate sends to (posing as the interviewer), one the interviewer
/// sends to (posing as the candidate).
struct Relay {
    facing_client: Arc<UdpSocket>,
    facing_interviewer: Arc<UdpSocket>,
}

impl Relay {
    async fn bind() -> Self {
        Self {
            facing_client: Arc::new(UdpSocket::bind("127.0.0.1:0").await.unwrap()),
            facing_interviewer: Arc::new(UdpSocket::bind("127.0.0.1:0").await.unwrap()),
        }
    }

    /// Forwards both ways between the two real addresses unless paused.
    fn start(self, client: SocketAddr, interviewer: SocketAddr, paused: Arc<AtomicBool>) {
        for (from, to, destination) in [
            (
                self.facing_client.clone(),
                self.facing_interviewer.clone(),
                interviewer,
            ),
            (self.facing_interviewer, self.facing_client, client),
        ] {
            let paused = paused.clone();
            tokio::spawn(async move {
                let mut buffer = vec![0u8; 2048];
                while let Ok((n, _)) = from.recv_from(&mut buffer).await {
                    if !paused.load(Ordering::SeqCst) {
                        let _ = to.send_to(&buffer[..n], destination).await;
                    }
                }
            });
        }
    }
}

/// The host candidate's address in an SDP (loopback calls have exactly one).
fn candidate(sdp: &str) -> SocketAddr {
    let line = sdp
        .lines()
        .find(|l| l.starts_with("a=candidate:") && l.to_lowercase().contains(" udp "))
        .unwrap_or_else(|| panic!("no UDP candidate in\n{sdp}"));
    let fields: Vec<&str> = line.split_whitespace().collect();
    format!("{}:{}", fields[4], fields[5]).parse().unwrap()
}

fn rewrite(sdp: &str, from: SocketAddr, to: SocketAddr) -> String {
    sdp.replace(
        &format!("{} {} typ", from.ip(), from.port()),
        &format!("{} {} typ", to.ip(), to.port()),
    )
}

#[derive(Clone)]
struct Shim {
    upstream: String,
    paused: Arc<AtomicBool>,
    http: reqwest::Client,
}

async fn offer(State(shim): State<Shim>, headers: HeaderMap, body: Bytes) -> (StatusCode, String) {
    let offer = String::from_utf8(body.to_vec()).unwrap();
    let client = candidate(&offer);
    let relay = Relay::bind().await;
    let offer = rewrite(
        &offer,
        client,
        relay.facing_interviewer.local_addr().unwrap(),
    );
    let response = shim
        .http
        .post(&shim.upstream)
        .header(
            header::AUTHORIZATION,
            headers[header::AUTHORIZATION].clone(),
        )
        .header(header::CONTENT_TYPE, "application/sdp")
        .body(offer)
        .send()
        .await
        .unwrap();
    let status = response.status();
    let answer = response.text().await.unwrap();
    if !status.is_success() {
        return (status, answer);
    }
    let interviewer = candidate(&answer);
    let facing_client = relay.facing_client.local_addr().unwrap();
    relay.start(client, interviewer, shim.paused.clone());
    (
        StatusCode::CREATED,
        rewrite(&answer, interviewer, facing_client),
    )
}

/// Gives calls the shim's address instead of the stack's, also on renewal.
#[derive(Debug)]
struct ThroughShim {
    inner: BackendGrants,
    url: String,
}

#[async_trait::async_trait]
impl GrantSource for ThroughShim {
    async fn renew(&self, session_id: &str) -> Result<Grant, GrantError> {
        let mut grant = self.inner.renew(session_id).await?;
        grant.realtime.url.clone_from(&self.url);
        Ok(grant)
    }
}

/// The relay stops now and lets packets through again five seconds later.
fn five_second_outage(paused: &Arc<AtomicBool>) {
    paused.store(true, Ordering::SeqCst);
    let paused = paused.clone();
    tokio::spawn(async move {
        tokio::time::sleep(Duration::from_secs(5)).await;
        paused.store(false, Ordering::SeqCst);
    });
}

/// The interview went on through one outage: no error, exactly one reconnect, both answers.
fn assert_carried_over_one_outage(outcome: &script::Outcome, states: &[SessionState]) {
    assert_eq!(outcome.error, None, "{states:?}\n{:#?}", outcome.lines);
    assert!(
        states
            .iter()
            .any(|s| matches!(s, SessionState::Reconnecting { attempt: 1, .. })),
        "{states:?}"
    );
    assert_eq!(outcome.summary.as_ref().unwrap().reconnects, 1);
    assert_eq!(outcome.answers.len(), 2);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_five_second_outage_reconnects_and_the_transcript_carries_on_without_loss_or_repeats() {
    let (_embedded, grant, renewals, paused) = through_relay(VoiceApi::Realtime).await;

    let said = [
        "I led the migration of our billing system to a new database.",
        "We finished two weeks early and nobody lost any data.",
    ];
    let script = Script {
        answers: said.iter().map(|s| speech(s)).collect(),
        step_timeout: Duration::from_secs(45),
        wait_for_reply: false,
        ..Script::default()
    };
    let mut states = Vec::new();
    let mut shown_before_outage = Vec::new();
    let mut finals_seen = Vec::new();
    let config = CallConfig {
        udp_addrs: vec!["127.0.0.1:0".into()],
        ..CallConfig::default()
    };
    let (recording, _dir) = recording(&grant);
    let taken = script::take(
        grant,
        Some(renewals),
        recording,
        settings(config),
        script,
        |event| match event {
            LiveEvent::Line { line } if line.status == LineStatus::Final => {
                finals_seen.push(line.item_id.clone());
                if line.speaker == Speaker::Candidate
                    && !paused.load(Ordering::SeqCst)
                    && shown_before_outage.is_empty()
                {
                    // The first answer is on screen: now the network goes away for 5 s.
                    shown_before_outage = finals_seen.clone();
                    five_second_outage(&paused);
                }
            }
            LiveEvent::State { state } => states.push(state.clone()),
            _ => {}
        },
    )
    .await;
    let (outcome, _) = taken.unwrap();
    assert_carried_over_one_outage(&outcome, &states);

    // Nothing lost: every line shown before the outage is still there, final, in place.
    let ids: Vec<&str> = outcome.lines.iter().map(|l| l.item_id.as_str()).collect();
    assert_eq!(&ids[..shown_before_outage.len()], &shown_before_outage[..]);
    // Nothing repeated, and numbered without gaps.
    assert_eq!(
        ids.iter().collect::<HashSet<_>>().len(),
        ids.len(),
        "{ids:?}"
    );
    let seqs: Vec<u32> = outcome.lines.iter().map(|l| l.seq).collect();
    assert_eq!(seqs, (1..=seqs.len() as u32).collect::<Vec<_>>());
    assert!(outcome.lines.iter().all(|l| l.status == LineStatus::Final));
    // The second answer was said and transcribed after the reconnect.
    let second = &outcome.answers[1];
    assert!(second.text.to_lowercase().contains("weeks"), "{second:?}");
    assert!(
        outcome
            .lines
            .iter()
            .position(|l| l.item_id == second.item_id)
            > outcome
                .lines
                .iter()
                .position(|l| l.item_id == outcome.answers[0].item_id)
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_network_that_stays_down_ends_in_failed_with_a_reason_after_two_minutes() {
    let (_embedded, grant, renewals, paused) = through_relay(VoiceApi::Realtime).await;
    let (_microphone, frames) = PacedMicrophone::start(EncoderSettings::default()).unwrap();
    let (handle, mut events) = viva_rtc::start(
        grant,
        Some(renewals),
        CallConfig {
            udp_addrs: vec!["127.0.0.1:0".into()],
            ..CallConfig::default()
        },
        Media {
            uplink: frames,
            downlink: None,
        },
    );
    let mut states = Vec::new();
    let mut went_down_at = None;
    let deadline = tokio::time::Instant::now() + Duration::from_secs(200);
    while let Ok(Some(event)) = tokio::time::timeout_at(deadline, events.recv()).await {
        if let CallEvent::State { state } = event {
            if state == SessionState::Live && went_down_at.is_none() {
                // Live: now the network goes away for good (3 minutes is past giving up).
                paused.store(true, Ordering::SeqCst);
                went_down_at = Some(std::time::Instant::now());
            }
            let done = state.is_final();
            states.push(state);
            if done {
                break;
            }
        }
    }
    let down_for = went_down_at.unwrap().elapsed();
    let Some(SessionState::Failed { reason }) = states.last() else {
        panic!("{states:?}");
    };
    assert!(reason.contains("could not reconnect"), "{reason}");
    let attempts = states
        .iter()
        .filter_map(|s| match s {
            SessionState::Reconnecting { attempt, .. } => Some(*attempt),
            _ => None,
        })
        .max()
        .unwrap_or(0);
    // Backoff, not a storm: a handful of attempts spread over the two minutes.
    assert!(
        (3..=40).contains(&attempts),
        "{attempts} attempts: {states:?}"
    );
    assert!(
        (Duration::from_secs(120)..Duration::from_secs(170)).contains(&down_for),
        "gave up after {down_for:?}"
    );
    drop(handle);
}

/// The SDP proxy's WebSocket, passed through: each offer's candidate is rewritten to a new
/// relay and its answer's candidate to the relay's other side, as the HTTP shim does.
#[derive(Clone)]
struct ProxyShim {
    upstream: String,
    paused: Arc<AtomicBool>,
    /// A network change: an outage leaves the signalling sockets open at the time dead for
    /// good (no FIN, no pong, nothing forwarded), as a laptop that switched networks does;
    /// connections made after it pass as usual.
    kills_signalling: bool,
}

async fn proxy_socket(
    State(shim): State<ProxyShim>,
    upgrade: axum::extract::ws::WebSocketUpgrade,
) -> axum::response::Response {
    upgrade.on_upgrade(move |socket| pass_through(shim, socket))
}

async fn pass_through(shim: ProxyShim, client: axum::extract::ws::WebSocket) {
    use axum::extract::ws::{CloseFrame, Message as Down};
    use futures_util::{SinkExt, StreamExt};
    use tokio_tungstenite::tungstenite::Message as Up;

    let (proxy, _) = tokio_tungstenite::connect_async(&shim.upstream)
        .await
        .unwrap();
    let (mut up_tx, mut up_rx) = proxy.split();
    let (mut down_tx, mut down_rx) = client.split();
    let mut offered: Option<(Relay, SocketAddr)> = None;
    let mut outage = tokio::time::interval(Duration::from_millis(50));
    loop {
        tokio::select! {
            _ = outage.tick(), if shim.kills_signalling => {
                if shim.paused.load(Ordering::SeqCst) {
                    // Hold both sockets, silent, until the test ends.
                    let _held = (up_tx, up_rx, down_tx, down_rx);
                    std::future::pending::<()>().await;
                    return;
                }
            }
            message = down_rx.next() => {
                let Some(Ok(Down::Text(text))) = message else { break };
                let mut value: serde_json::Value = serde_json::from_str(&text).unwrap();
                if value["type"] == "offer" {
                    let sdp = value["sdp"].as_str().unwrap().to_owned();
                    let client = candidate(&sdp);
                    let relay = Relay::bind().await;
                    let facing = relay.facing_interviewer.local_addr().unwrap();
                    value["sdp"] = rewrite(&sdp, client, facing).into();
                    offered = Some((relay, client));
                }
                if up_tx.send(Up::text(value.to_string())).await.is_err() {
                    break;
                }
            }
            message = up_rx.next() => {
                match message {
                    Some(Ok(Up::Text(text))) => {
                        let mut value: serde_json::Value = serde_json::from_str(&text).unwrap();
                        if value["type"] == "answer"
                            && let Some((relay, client)) = offered.take()
                        {
                            let sdp = value["sdp"].as_str().unwrap().to_owned();
                            let interviewer = candidate(&sdp);
                            let facing = relay.facing_client.local_addr().unwrap();
                            relay.start(client, interviewer, shim.paused.clone());
                            value["sdp"] = rewrite(&sdp, interviewer, facing).into();
                        }
                        if down_tx.send(Down::Text(value.to_string().into())).await.is_err() {
                            break;
                        }
                    }
                    Some(Ok(Up::Close(frame))) => {
                        let frame = frame.map(|f| CloseFrame {
                            code: f.code.into(),
                            reason: f.reason.as_str().to_owned().into(),
                        });
                        let _ = down_tx.send(Down::Close(frame)).await;
                        break;
                    }
                    Some(Ok(_)) => {}
                    Some(Err(_)) | None => break,
                }
            }
        }
    }
}

/// A practice session in `api` on the embedded stack whose media goes through a relay, also
/// after renewal (pause the relay with the flag): Realtime signalled over HTTP through the
/// offer shim, GPT-Live through the SDP proxy's socket passed through [`pass_through`].
async fn through_relay(api: VoiceApi) -> (Embedded, Grant, Arc<dyn GrantSource>, Arc<AtomicBool>) {
    through_relay_with(api, false).await
}

/// As [`through_relay`]; with `kills_signalling`, an outage also leaves the SDP proxy's socket
/// of the time half-open for good ([`ProxyShim::kills_signalling`]).
async fn through_relay_with(
    api: VoiceApi,
    kills_signalling: bool,
) -> (Embedded, Grant, Arc<dyn GrantSource>, Arc<AtomicBool>) {
    let signaling = match api {
        VoiceApi::Live => viva_localstack::Signaling::WebSocket,
        VoiceApi::Realtime => viva_localstack::Signaling::Http,
    };
    let embedded = embedded::start(EmbeddedOptions {
        signaling: Some(signaling),
        ..EmbeddedOptions::default()
    })
    .await
    .unwrap();
    let grants = BackendGrants::new(
        embedded.backend.clone(),
        embedded.session.access_token.clone(),
        true,
    )
    .with_practice_api(Some(api));
    let mut grant = grants.start(None).await.unwrap();
    assert_eq!(grant.realtime.api, api);
    let paused = Arc::new(AtomicBool::new(false));
    let upstream = grant.realtime.url.clone();
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let address = listener.local_addr().unwrap();
    let (app, url) = match api {
        VoiceApi::Live => (
            axum::Router::new()
                .route("/ws", axum::routing::get(proxy_socket))
                .with_state(ProxyShim {
                    upstream,
                    paused: paused.clone(),
                    kills_signalling,
                }),
            format!("ws://{address}/ws"),
        ),
        VoiceApi::Realtime => (
            axum::Router::new()
                .route("/v1/realtime/calls", axum::routing::post(offer))
                .with_state(Shim {
                    upstream,
                    paused: paused.clone(),
                    http: reqwest::Client::new(),
                }),
            format!("http://{address}/v1/realtime/calls"),
        ),
    };
    tokio::spawn(async move { axum::serve(listener, app).await });
    grant.realtime.url.clone_from(&url);
    (
        embedded,
        grant,
        Arc::new(ThroughShim { inner: grants, url }),
        paused,
    )
}

/// GPT-Live has no done events: the network goes while the candidate's answer is still an
/// open line. It is kept as it was shown, final, with its id; the new session, built by the
/// proxy with the transcript the offer carried, goes on to the next question; nothing is lost,
/// doubled or asked twice.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn on_gpt_live_an_outage_mid_answer_keeps_the_open_line_and_the_interview_goes_on() {
    outage_mid_answer(false).await;
}

/// A network change mid-interview: the media and the SDP proxy's socket both go, and the old
/// socket stays half-open (the proxy still thinks it is live when the candidate reconnects).
/// The reconnect, the same sign-in, takes the interview over at once instead of meeting 4009,
/// and the interview goes on as after any outage.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn on_gpt_live_a_network_change_leaves_a_dead_signalling_socket_and_the_reconnect_takes_over()
{
    outage_mid_answer(true).await;
}

async fn outage_mid_answer(kills_signalling: bool) {
    let (_embedded, grant, renewals, paused) =
        through_relay_with(VoiceApi::Live, kills_signalling).await;
    let said = [
        "I led the migration of our billing system to a new database.",
        "We finished two weeks early and nobody lost any data.",
    ];
    let script = Script {
        answers: said.iter().map(|s| speech(s)).collect(),
        step_timeout: Duration::from_secs(45),
        wait_for_reply: false,
        ..Script::default()
    };
    let mut states = Vec::new();
    let mut finals_seen: Vec<String> = Vec::new();
    let mut shown_before_outage: Vec<String> = Vec::new();
    let mut open_at_outage: Option<(String, String)> = None;
    let config = CallConfig {
        udp_addrs: vec!["127.0.0.1:0".into()],
        ..CallConfig::default()
    };
    let (recording, _dir) = recording(&grant);
    let taken = script::take(
        grant,
        Some(renewals),
        recording,
        settings(config),
        script,
        |event| match event {
            LiveEvent::Line { line } if line.status == LineStatus::Final => {
                finals_seen.push(line.item_id.clone());
            }
            LiveEvent::Line { line }
                if line.speaker == Speaker::Candidate && open_at_outage.is_none() =>
            {
                // The first answer is on screen, still open: the network goes for 5 s.
                open_at_outage = Some((line.item_id.clone(), line.text.clone()));
                shown_before_outage = finals_seen.clone();
                five_second_outage(&paused);
            }
            LiveEvent::State { state } => states.push(state.clone()),
            _ => {}
        },
    )
    .await;
    let (outcome, _) = taken.unwrap();
    assert_carried_over_one_outage(&outcome, &states);

    // The lines final before the outage are in place with their ids; the open answer is
    // kept, final, with its id and at least the words shown.
    let ids: Vec<&str> = outcome.lines.iter().map(|l| l.item_id.as_str()).collect();
    assert!(!shown_before_outage.is_empty());
    assert_eq!(&ids[..shown_before_outage.len()], &shown_before_outage[..]);
    let (open_id, open_text) = open_at_outage.unwrap();
    let kept = outcome
        .lines
        .iter()
        .find(|l| l.item_id == open_id)
        .unwrap_or_else(|| panic!("the open answer was lost: {:#?}", outcome.lines));
    assert_eq!(kept.status, LineStatus::Final);
    assert!(
        kept.text.starts_with(&open_text),
        "{kept:?} vs {open_text:?}"
    );
    assert_eq!(outcome.answers[0].item_id, open_id);
    // Nothing doubled, numbered without gaps, all final.
    assert_eq!(
        ids.iter().collect::<HashSet<_>>().len(),
        ids.len(),
        "{ids:?}"
    );
    let seqs: Vec<u32> = outcome.lines.iter().map(|l| l.seq).collect();
    assert_eq!(seqs, (1..=seqs.len() as u32).collect::<Vec<_>>());
    assert!(outcome.lines.iter().all(|l| l.status == LineStatus::Final));
    // The interview went on: greeting once, the second question asked once, after the first
    // answer, then the second answer.
    let interviewer: Vec<&str> = outcome
        .lines
        .iter()
        .filter(|l| l.speaker == Speaker::Interviewer)
        .map(|l| l.text.as_str())
        .collect();
    assert_eq!(
        interviewer.iter().filter(|t| t.contains("Hello")).count(),
        1,
        "{interviewer:?}"
    );
    assert_eq!(
        interviewer
            .iter()
            .filter(|t| t.contains("disagreed"))
            .count(),
        1,
        "{interviewer:?}"
    );
    let position = |id: &str| outcome.lines.iter().position(|l| l.item_id == id);
    let second = &outcome.answers[1];
    assert!(second.text.to_lowercase().contains("weeks"), "{second:?}");
    assert!(position(&second.item_id) > position(&open_id));
    assert_ne!(
        second.item_id.split('#').next(),
        open_id.split('#').next(),
        "the second answer came from the new session"
    );
}

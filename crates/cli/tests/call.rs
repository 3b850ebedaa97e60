//! Whole calls against the embedded local stack over real WebRTC on loopback, in both
//! signaling modes; health; key renewal; refusals; and peers that answer with junk.

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use std::sync::Arc;
use std::sync::atomic::{AtomicU32, Ordering};
use std::time::Duration;

use viva_audio::{EncoderSettings, PacedMicrophone};
use viva_cli::embedded::{self, Embedded, EmbeddedOptions};
use viva_cli::script::{self, Script};
use viva_localstack::Signaling;
use viva_session::BackendGrants;

mod common;
use common::{assert_heard, grant_for, recording, settings, speech};
use viva_realtime::{SessionState, Speaker};
use viva_rtc::{CallConfig, CallEvent, Grant, GrantError, GrantSource, Health, Media, VoiceApi};
use viva_session::LiveEvent;

/// Calls stream speech in real time and run Whisper: one at a time under plain `cargo test`
/// too (nextest's `interviewer` group does it across processes).
static ONE_CALL_AT_A_TIME: tokio::sync::Mutex<()> = tokio::sync::Mutex::const_new(());

fn loopback() -> CallConfig {
    CallConfig {
        udp_addrs: vec!["127.0.0.1:0".into()],
        ..CallConfig::default()
    }
}

/// Counts renewals, delegating to the backend.
#[derive(Debug)]
struct Counting {
    inner: BackendGrants,
    renewals: AtomicU32,
}

#[async_trait::async_trait]
impl GrantSource for Counting {
    async fn renew(&self, session_id: &str) -> Result<Grant, GrantError> {
        self.renewals.fetch_add(1, Ordering::SeqCst);
        self.inner.renew(session_id).await
    }
}

async fn stack(options: EmbeddedOptions) -> (Embedded, BackendGrants) {
    let embedded = embedded::start(options).await.unwrap();
    let grants = BackendGrants::new(
        embedded.backend.clone(),
        embedded.session.access_token.clone(),
        true,
    );
    (embedded, grants)
}

/// Greeting and first question once, each answer after its question, the next question after
/// it, the closing question last: nothing said twice or skipped, numbered 1 to 5.
fn assert_two_questions_answered_in_order(outcome: &script::Outcome) {
    let order: Vec<Speaker> = outcome.lines.iter().map(|l| l.speaker).collect();
    assert_eq!(
        order,
        [
            Speaker::Interviewer,
            Speaker::Candidate,
            Speaker::Interviewer,
            Speaker::Candidate,
            Speaker::Interviewer
        ],
        "{:#?}",
        outcome.lines
    );
    let seqs: Vec<u32> = outcome.lines.iter().map(|l| l.seq).collect();
    assert_eq!(seqs, [1, 2, 3, 4, 5]);
    let questions: Vec<&str> = outcome
        .lines
        .iter()
        .filter(|l| l.speaker == Speaker::Interviewer)
        .map(|l| l.text.as_str())
        .collect();
    assert!(questions[0].starts_with("Hello"), "{questions:?}");
    assert!(questions[1].contains("disagreed"), "{questions:?}");
    assert!(questions[2].contains("mistake"), "{questions:?}");
}

/// Each answer was heard with at most two of its words missing.
fn assert_answers_heard(outcome: &script::Outcome, said: &[&str]) {
    for (answer, text) in outcome.answers.iter().zip(said.iter().copied()) {
        assert_heard(text, &answer.text);
    }
}

/// Which SDP proxy a call signals through.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum ProxyKind {
    /// The local stack's own `/ws`.
    Embedded,
    /// The `viva-proxy` binary in front of the stack: tokens checked against its JWKS,
    /// sessions read through its REST API as the candidate, the call created with the project
    /// key at its voice endpoints.
    Standalone,
}

async fn full_call(signaling: Signaling, api: VoiceApi) {
    full_call_through(signaling, api, ProxyKind::Embedded).await;
}

async fn full_call_through(signaling: Signaling, api: VoiceApi, proxy: ProxyKind) {
    let _turn = ONE_CALL_AT_A_TIME.lock().await;
    let port = common::StandaloneProxy::free_port();
    let standalone = proxy == ProxyKind::Standalone;
    let (embedded, grants) = stack(EmbeddedOptions {
        signaling: Some(signaling),
        proxy_url: standalone.then(|| format!("ws://127.0.0.1:{port}/ws")),
        project_key: standalone.then(|| "sk-test-project-key".to_owned()),
        ..EmbeddedOptions::default()
    })
    .await;
    let proxy = if standalone {
        Some(
            common::StandaloneProxy::start(
                port,
                &embedded.stack.base_url,
                &embedded.stack.anon_key,
                &embedded.stack.base_url,
                "sk-test-project-key",
            )
            .await,
        )
    } else {
        None
    };
    let grants = grants.with_practice_api(Some(api));
    let grant = grants.start(None).await.unwrap();
    assert_eq!(grant.realtime.api, api);
    if let Some(proxy) = &proxy {
        assert_eq!(
            grant.realtime.url, proxy.ws_url,
            "the grant names the standalone proxy"
        );
    }
    let said = "I led the migration of our billing system to a new database.";
    let script = Script {
        answers: vec![speech(said)],
        step_timeout: Duration::from_secs(40),
        ..Script::default()
    };
    let mut health: Vec<Health> = Vec::new();
    let mut states = Vec::new();
    let (recording, _dir) = recording(&grant);
    let store = recording.store.clone();
    let (outcome, uplink) = script::take(
        grant,
        Some(Arc::new(grants)),
        recording,
        settings(loopback()),
        script,
        |event| match event {
            LiveEvent::Health { health: sample } => health.push(sample.clone()),
            LiveEvent::State { state } => states.push(state.clone()),
            _ => {}
        },
    )
    .await
    .unwrap();
    assert_eq!(outcome.error, None, "{:?}", outcome.lines);

    // Written ahead by the session, the app's pipeline: every final line, and the ending.
    let ended = outcome.ended.clone().unwrap();
    assert_eq!(ended.status, viva_store::SessionStatus::Completed);
    assert_eq!(ended.unsaved, 0);
    assert_eq!(
        ended.sync,
        viva_session::EndedSync::Known(viva_store::SyncState::LocalOnly)
    );
    let kept = store.lines(&ended.session_id, true).unwrap();
    assert_eq!(kept.len(), outcome.lines.len(), "{kept:?}");

    // The question was heard: its voice decoded with speech in it, then the answer went up.
    assert!(
        outcome.loud_frames > 50,
        "{} loud frames",
        outcome.loud_frames
    );
    assert!(uplink.packets.load(Ordering::Relaxed) > 200);

    // Question, answer, next question, numbered in conversation order.
    let order: Vec<(u32, Speaker)> = outcome.lines.iter().map(|l| (l.seq, l.speaker)).collect();
    assert_eq!(
        order,
        [
            (1, Speaker::Interviewer),
            (2, Speaker::Candidate),
            (3, Speaker::Interviewer)
        ],
        "{:?}",
        outcome.lines
    );
    assert_heard(said, &outcome.answers[0].text);
    assert!(outcome.lines[0].started_ms < outcome.lines[1].started_ms);

    // Health: a measured round trip and counters that rise while the call runs.
    assert!(health.len() >= 5, "{} samples", health.len());
    assert!(
        health.iter().any(|h| h.rtt_ms.is_some_and(|rtt| rtt > 0.0)),
        "{health:?}"
    );
    let (first, last) = (&health[1], health.last().unwrap());
    assert!(
        last.uplink_packets > first.uplink_packets + 100,
        "{first:?} → {last:?}"
    );
    assert!(
        last.downlink_packets > first.downlink_packets + 100,
        "{first:?} → {last:?}"
    );
    assert!(
        health.iter().all(|h| h.uplink_loss.is_none()),
        "never a made-up zero"
    );
    assert!(
        health
            .iter()
            .any(|h| h.quality.level == viva_rtc::QualityLevel::Good)
    );

    let summary = outcome.summary.unwrap();
    assert_eq!(
        (summary.lines, summary.candidate_lines, summary.reconnects),
        (3, 1, 0)
    );
    assert_eq!(summary.cost_usd, Some(0.0), "the local interviewer is free");
    assert!(matches!(summary.ended, SessionState::Ended { .. }));
    assert_eq!(states.first(), Some(&SessionState::Connecting));
    assert!(states.contains(&SessionState::Live));
    // The interviewer's call is gone once we hang up.
    tokio::time::sleep(Duration::from_millis(500)).await;
    assert_eq!(embedded.stack.state.interviewer.live_calls(), 0);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_practice_interview_over_http_signaling_is_heard_transcribed_and_healthy() {
    full_call(Signaling::Http, VoiceApi::Realtime).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_practice_interview_through_the_sdp_proxy_is_heard_transcribed_and_healthy() {
    full_call(Signaling::WebSocket, VoiceApi::Realtime).await;
}

/// GPT-Live: the session is created by the proxy, lines are decided by the grouping policy
/// (no done events), and the call ends with `session.close` confirmed.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_practice_interview_on_gpt_live_is_heard_transcribed_and_healthy() {
    full_call(Signaling::WebSocket, VoiceApi::Live).await;
}

/// The standalone proxy (`viva-proxy`, as a team deploys it) carries a whole GPT-Live practice
/// interview: the grant names it, it checks the candidate's token against the stack's JWKS,
/// reads the session as the candidate through REST, and creates the Live session upstream.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_practice_interview_on_gpt_live_through_the_standalone_proxy_is_heard_and_transcribed() {
    full_call_through(Signaling::WebSocket, VoiceApi::Live, ProxyKind::Standalone).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn planned_re_sessions_mid_interview_lose_no_word_and_repeat_no_question() {
    let _turn = ONE_CALL_AT_A_TIME.lock().await;
    let (_embedded, grants) = stack(EmbeddedOptions::default()).await;
    let grant = grants.start(None).await.unwrap();
    let said = [
        "I build payment systems and I enjoy working with databases.",
        "We finished two weeks early and nobody lost any data.",
    ];
    let script = Script {
        answers: said.iter().map(|s| speech(s)).collect(),
        step_timeout: Duration::from_secs(40),
        ..Script::default()
    };
    // A provider cap of 3 s: the call must move to a new connection at every quiet moment
    // it finds, between the interviewer's questions and the candidate's answers.
    let config = CallConfig {
        session_cap: Duration::from_secs(3),
        health_every: Duration::from_millis(250),
        ..loopback()
    };
    let (recording, _dir) = recording(&grant);
    let (outcome, uplink) = script::take(
        grant,
        Some(Arc::new(grants)),
        recording,
        settings(config),
        script,
        |_| {},
    )
    .await
    .unwrap();
    assert_eq!(outcome.error, None, "{:?}", outcome.lines);
    let summary = outcome.summary.clone().unwrap();
    assert!(summary.resessions >= 1, "{summary:?}");
    assert_eq!(summary.reconnects, 0, "{summary:?}");

    // The interview carried on across connections: greeting and first question once, each
    // answer in full after its question, the next question after it — nothing said twice.
    assert_two_questions_answered_in_order(&outcome);
    assert_answers_heard(&outcome, &said);
    assert_eq!(
        uplink.dropped.load(Ordering::Relaxed),
        0,
        "microphone frames between connections wait and go out on the next one"
    );
}

/// GPT-Live: the provider ends its session (`expired`) in the middle of the interview. The
/// call moves to a new session at once, the proxy builds it with the transcript so far (sent
/// with the offer), and the interview goes on from there: no greeting again, no question
/// repeated or skipped, the first session's line keeping its id.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn on_gpt_live_an_expired_session_mid_interview_is_continued_by_a_new_one() {
    let _turn = ONE_CALL_AT_A_TIME.lock().await;
    let (embedded, grants) = stack(EmbeddedOptions {
        signaling: Some(Signaling::WebSocket),
        ..EmbeddedOptions::default()
    })
    .await;
    let grants = grants.with_practice_api(Some(VoiceApi::Live));
    let grant = grants.start(None).await.unwrap();
    assert_eq!(grant.realtime.api, VoiceApi::Live);
    let session_id = grant.session_id.clone();
    let said = [
        "I build payment systems and I enjoy working with databases.",
        "We finished two weeks early and nobody lost any data.",
    ];
    let script = Script {
        answers: said.iter().map(|s| speech(s)).collect(),
        step_timeout: Duration::from_secs(40),
        ..Script::default()
    };
    let interviewer = embedded.stack.state.interviewer.clone();
    let mut expired = false;
    let mut first_question = None;
    let mut states = Vec::new();
    let (recording, _dir) = recording(&grant);
    let (outcome, uplink) = script::take(
        grant,
        Some(Arc::new(grants)),
        recording,
        settings(loopback()),
        script,
        |event| match event {
            LiveEvent::Line { line }
                if line.status == viva_realtime::LineStatus::Final
                    && line.speaker == Speaker::Interviewer
                    && !expired =>
            {
                // The first question is on screen: the provider's cap arrives now.
                first_question = Some(line.item_id.clone());
                expired = interviewer.expire_session(&session_id);
            }
            LiveEvent::State { state } => states.push(state.clone()),
            _ => {}
        },
    )
    .await
    .unwrap();
    assert!(expired, "the session had a Live call to expire");
    assert_eq!(outcome.error, None, "{:#?}", outcome.lines);
    let summary = outcome.summary.clone().unwrap();
    assert!(summary.resessions >= 1, "{summary:?}");
    assert_eq!(summary.reconnects, 0, "{summary:?} {states:?}");

    assert_two_questions_answered_in_order(&outcome);
    // The first session's line kept its id; the rest came from another session.
    let first = first_question.unwrap();
    assert_eq!(outcome.lines[0].item_id, first);
    let session_of = |id: &str| id.split('#').next().unwrap().to_owned();
    assert!(
        outcome.lines[1..]
            .iter()
            .all(|l| session_of(&l.item_id) != session_of(&first)),
        "{:#?}",
        outcome.lines
    );
    assert_answers_heard(&outcome, &said);
    assert_eq!(uplink.dropped.load(Ordering::Relaxed), 0);
}

/// Runs a call until it is live or final, returning the states it went through.
async fn states_until_settled(
    grant: Grant,
    grants: Option<Arc<dyn GrantSource>>,
    config: CallConfig,
) -> Vec<SessionState> {
    states_and_settling_time(grant, grants, config).await.0
}

/// The states, and how long the call took to reach the last one (hanging up is not counted).
async fn states_and_settling_time(
    grant: Grant,
    grants: Option<Arc<dyn GrantSource>>,
    config: CallConfig,
) -> (Vec<SessionState>, Duration) {
    let started = std::time::Instant::now();
    let (_microphone, frames) = PacedMicrophone::start(EncoderSettings::default()).unwrap();
    let (handle, mut events) = viva_rtc::start(
        grant,
        grants,
        config,
        Media {
            uplink: frames,
            downlink: None,
        },
    );
    let mut states = Vec::new();
    let deadline = tokio::time::Instant::now() + Duration::from_secs(30);
    while let Ok(Some(event)) = tokio::time::timeout_at(deadline, events.recv()).await {
        if let CallEvent::State { state } = event {
            let settled = state.is_final() || state == SessionState::Live;
            states.push(state);
            if settled {
                break;
            }
        }
    }
    let took = started.elapsed();
    let _ = handle.end().await;
    (states, took)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_expired_client_secret_is_renewed_before_use_and_after_a_401() {
    let _turn = ONE_CALL_AT_A_TIME.lock().await;
    let (_embedded, grants) = stack(EmbeddedOptions {
        client_secret_lifetime_s: Some(1),
        ..EmbeddedOptions::default()
    })
    .await;
    let grant = grants.start(None).await.unwrap();
    tokio::time::sleep(Duration::from_millis(2100)).await;
    let counting = Arc::new(Counting {
        inner: grants,
        renewals: AtomicU32::new(0),
    });

    // Known to be expired: renewed before the offer goes out.
    let states = states_until_settled(grant.clone(), Some(counting.clone()), loopback()).await;
    assert_eq!(states.last(), Some(&SessionState::Live), "{states:?}");
    assert_eq!(counting.renewals.load(Ordering::SeqCst), 1);

    // Believed valid (no margin, clock says otherwise): the voice AI's 401 triggers one renewal.
    let mut stale = grant;
    stale.realtime.client_secret.expires_at = i64::MAX;
    let states = states_until_settled(
        stale,
        Some(counting.clone()),
        CallConfig {
            secret_margin: Duration::ZERO,
            ..loopback()
        },
    )
    .await;
    assert_eq!(states.last(), Some(&SessionState::Live), "{states:?}");
    assert_eq!(counting.renewals.load(Ordering::SeqCst), 2);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_revoked_sign_in_fails_at_once_with_sign_in_again_and_no_retries() {
    let _turn = ONE_CALL_AT_A_TIME.lock().await;
    let (embedded, grants) = stack(EmbeddedOptions {
        client_secret_lifetime_s: Some(1),
        ..EmbeddedOptions::default()
    })
    .await;
    let grant = grants.start(None).await.unwrap();
    tokio::time::sleep(Duration::from_millis(1100)).await;
    // The user's token no longer works (signed out everywhere, or the account was removed).
    let revoked = Arc::new(Counting {
        inner: BackendGrants::new(embedded.backend.clone(), "not-a-valid-token".into(), true),
        renewals: AtomicU32::new(0),
    });
    let (states, took) = states_and_settling_time(grant, Some(revoked.clone()), loopback()).await;
    let Some(SessionState::Failed { reason }) = states.last() else {
        panic!("{states:?}");
    };
    assert!(reason.contains("sign in again"), "{reason}");
    assert!(
        !states
            .iter()
            .any(|s| matches!(s, SessionState::Reconnecting { .. }))
    );
    assert_eq!(revoked.renewals.load(Ordering::SeqCst), 1, "no retry storm");
    // "At once": no backoff before giving up (a retry schedule would take tens of seconds).
    // Hanging up afterwards is not counted: it waits on the transport's own shutdown.
    assert!(took < Duration::from_secs(8), "took {took:?}: {states:?}");
}

/// A voice AI endpoint that answers every offer with `status` and `body`.
async fn junk_endpoint(status: u16, content_type: &'static str, body: &'static str) -> String {
    use axum::http::{StatusCode, header};
    let app = axum::Router::new().route(
        "/v1/realtime/calls",
        axum::routing::post(move || async move {
            (
                StatusCode::from_u16(status).unwrap(),
                [(header::CONTENT_TYPE, content_type)],
                body,
            )
        }),
    );
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let url = format!(
        "http://{}/v1/realtime/calls",
        listener.local_addr().unwrap()
    );
    tokio::spawn(async move { axum::serve(listener, app).await });
    url
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn answers_that_are_not_usable_sdp_fail_the_call_with_a_reason_not_a_panic() {
    let cases: [(u16, &str, &str, &str); 5] = [
        (
            201,
            "text/html",
            "<html><body>Welcome to nginx</body></html>",
            "HTML",
        ),
        (201, "application/json", r#"{"id":"call_1"}"#, "JSON"),
        (
            201,
            "application/sdp",
            "v=0\r\nm=audio this is not sdp\r\n",
            "unusable answer",
        ),
        (502, "text/html", "<html>Bad Gateway</html>", "502"),
        (
            400,
            "application/json",
            r#"{"error":{"message":"Invalid SDP offer","type":"invalid_request_error","code":null}}"#,
            "Invalid SDP offer",
        ),
    ];
    for (status, content_type, body, says) in cases {
        let url = junk_endpoint(status, content_type, body).await;
        let states = states_until_settled(grant_for(url), None, loopback()).await;
        let Some(SessionState::Failed { reason }) = states.last() else {
            panic!("{status} {body}: {states:?}");
        };
        assert!(reason.contains(says), "{status} {body}: {reason}");
    }
}

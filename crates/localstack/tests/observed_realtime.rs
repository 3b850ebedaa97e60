//! The transcript of record for Realtime calls (W2-5 item 6): the SDP proxy listens to each
//! Realtime call it creates on the call's server-side connection, stores each item's final
//! transcript with its item id on its own clock, and review flags a line the client invented or
//! altered, and nothing in an honest call. Also the local stack's own server-side connection
//! (`GET /v1/realtime?call_id=…`), which the hosted upstream's sideband client is tested against.

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

mod common;
mod live_common;
#[path = "../../realtime/tests/sdk_oracle/mod.rs"]
mod sdk_oracle;
use live_common::proxy_socket::{answering_pings, next, open_proxy, say};

use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use common::Stack;
use common::candidate::{Candidate, Offerer, model_path, speech};
use serde_json::{Value, json};
use viva_contract::Entry;
use viva_contract::observed::{Speaker, Verdict, compare};
use viva_localstack::Config;
use viva_localstack::interviewer::InterviewerConfig;
use viva_localstack::observations::{observed_record, observed_windows};
use viva_localstack::proxy::{HostedUpstream, Upstream, UpstreamCall, UpstreamError};
use viva_proxy::observe::{Heard, WindowEnd};

const TURN: Duration = Duration::from_secs(30);
/// Where the candidate's client placed the call on the interview's timeline (from the offer).
const CLIENT_OFFSET_MS: i64 = 1_500;
/// How long the call is kept open: a window long enough to hold an invented line with the
/// comparison's Realtime margins (5 s before, 10 s after) well inside it.
const CALL_AT_LEAST: Duration = Duration::from_secs(26);

/// Calls stream real media and run Whisper: they take turns.
static ONE_CALL_TEST_AT_A_TIME: tokio::sync::Mutex<()> = tokio::sync::Mutex::const_new(());

/// When each of the candidate's events arrived (polled every 10 ms), as the client's clock.
fn stamp_events(candidate: &Candidate) -> Arc<Mutex<Vec<Instant>>> {
    let stamps = Arc::new(Mutex::new(Vec::new()));
    let (events, out) = (candidate.events.clone(), stamps.clone());
    tokio::spawn(async move {
        loop {
            let count = events.lock().unwrap().len();
            {
                let mut out = out.lock().unwrap();
                while out.len() < count {
                    out.push(Instant::now());
                }
            }
            tokio::time::sleep(Duration::from_millis(10)).await;
        }
    });
    stamps
}

/// The lines an honest Realtime client uploads: one per item (its id is the line's), the
/// candidate's from their final transcript (from when they started to when they stopped
/// speaking), the interviewer's from its transcript's `done` (ending when it came).
fn honest_lines(events: &[Value], stamps: &[Instant], t0: Instant) -> Vec<Entry> {
    let at = |i: usize| {
        i64::try_from(stamps[i].duration_since(t0).as_millis()).unwrap() + CLIENT_OFFSET_MS
    };
    let find = |kind: &str, item: &str| {
        events
            .iter()
            .position(|e| e["type"] == kind && e["item_id"] == item)
    };
    let mut lines = Vec::new();
    for (i, event) in events.iter().enumerate() {
        let item = event["item_id"].as_str().unwrap_or_default();
        let (speaker, text, started, ended) = match event["type"].as_str().unwrap_or_default() {
            "conversation.item.input_audio_transcription.completed" => {
                let started = find("input_audio_buffer.speech_started", item).unwrap();
                let stopped = find("input_audio_buffer.speech_stopped", item).unwrap();
                ("candidate", &event["transcript"], at(started), at(stopped))
            }
            "response.output_audio_transcript.done" => {
                ("interviewer", &event["transcript"], at(i) - 1_000, at(i))
            }
            _ => continue,
        };
        lines.push(Entry {
            item_id: item.to_owned(),
            seq: i32::try_from(lines.len() + 1).unwrap(),
            speaker: speaker.to_owned(),
            text: text.as_str().unwrap().trim().to_owned(),
            started_ms: started,
            ended_ms: Some(ended.max(started)),
        });
    }
    lines
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_proxys_record_of_a_realtime_call_flags_an_invented_and_an_altered_line_but_not_the_honest_ones()
 {
    let _one_at_a_time = ONE_CALL_TEST_AT_A_TIME.lock().await;
    let s = Stack::start(Config {
        signaling: viva_localstack::Signaling::WebSocket,
        interviewer: InterviewerConfig {
            model_path: Some(model_path()),
            ..InterviewerConfig::default()
        },
        ..Config::default()
    })
    .await;
    let tenant = s.stack.add_tenant("Acme").await.unwrap();
    let who = s
        .account("observed-rt@example.com", &tenant, "candidate")
        .await;
    // Practice speaks Realtime unless asked otherwise.
    let started = s
        .interview_start(&who.access_token, json!({"mode": "practice"}))
        .await;
    assert_eq!(started["realtime"]["api"], "realtime", "{started}");
    let session = started["session"]["id"].as_str().unwrap().to_owned();
    let url = started["realtime"]["url"].as_str().unwrap().to_owned();
    let mut socket = open_proxy(&url, &who.access_token, &session).await;
    let offerer = Offerer::new().await;
    let t0 = Instant::now();
    say(&mut socket, json!({"type": "offer", "sdp": offerer.sdp})).await;
    let answer = next(&mut socket).await.unwrap();
    assert_eq!(answer["type"], "answer", "{answer}");
    let candidate = offerer
        .connect(answer["sdp"].as_str().unwrap().to_owned(), 200)
        .await;
    let stamps = stamp_events(&candidate);

    // The interviewer asks its first question; the candidate answers aloud; it asks the next.
    answering_pings(
        &mut socket,
        candidate.send(json!({"type": "response.create"})),
    )
    .await;
    answering_pings(
        &mut socket,
        candidate.wait_for(0, "response.done", TURN, |_| true),
    )
    .await;
    let from = candidate.event_count();
    answering_pings(&mut socket, async {
        candidate
            .say(&speech("I led the payments migration last year."))
            .await;
        candidate.say(&vec![0.0; 48_000]).await;
        candidate
            .wait_for(
                from,
                "conversation.item.input_audio_transcription.completed",
                TURN,
                |_| true,
            )
            .await;
        candidate
            .wait_for(from, "response.done", TURN, |_| true)
            .await;
        let left = CALL_AT_LEAST.saturating_sub(t0.elapsed());
        tokio::time::sleep(left).await;
    })
    .await;
    say(&mut socket, json!({"type": "bye"})).await;
    assert_eq!(next(&mut socket).await, Ok(json!({"type": "bye"})));
    candidate.hang_up().await;
    // Let the stamper catch up with the last events.
    tokio::time::sleep(Duration::from_millis(50)).await;
    let events = candidate.events.lock().unwrap().clone();
    let stamps = stamps.lock().unwrap().clone();

    // The call ended: so did the proxy's one window, which opened with the call.
    let deadline = Instant::now() + Duration::from_secs(10);
    let windows = loop {
        let windows = observed_windows(&s.stack.state.db, &session).await.unwrap();
        if !windows.is_empty() && windows.iter().all(|w| w.end.is_some()) {
            break windows;
        }
        assert!(Instant::now() < deadline, "{windows:?}");
        tokio::time::sleep(Duration::from_millis(50)).await;
    };
    assert_eq!(windows.len(), 1, "{windows:?}");
    let window = &windows[0];
    assert_eq!(window.start.api, "realtime");
    assert!(
        window.start.provider_session.starts_with("rtc_"),
        "{window:?}"
    );
    assert_eq!(window.end, Some(WindowEnd::Closed));
    assert_eq!(window.start.from_ms, 0);
    assert!(
        window.to_ms >= u64::try_from(CALL_AT_LEAST.as_millis()).unwrap() - 2_000,
        "{window:?}"
    );

    // The proxy heard each item's final transcript as the client received it, with its id.
    let received: Vec<(String, Speaker, String)> = events
        .iter()
        .filter_map(|e| {
            let speaker = match e["type"].as_str()? {
                "conversation.item.input_audio_transcription.completed" => Speaker::Candidate,
                "response.output_audio_transcript.done" => Speaker::Interviewer,
                _ => return None,
            };
            let text = e["transcript"].as_str()?.to_owned();
            Some((e["item_id"].as_str()?.to_owned(), speaker, text))
        })
        .collect();
    let (fragments, observed) = observed_record(&s.stack.state.db, &session).await.unwrap();
    let stored: Vec<(String, Speaker, String)> = fragments
        .iter()
        .map(|f| (f.item_id.clone().unwrap(), f.speaker, f.text.clone()))
        .collect();
    assert_eq!(stored, received);
    assert_eq!(
        received.iter().map(|r| r.1).collect::<Vec<_>>(),
        [
            Speaker::Interviewer,
            Speaker::Candidate,
            Speaker::Interviewer
        ],
        "{received:?}"
    );
    assert!(fragments.iter().all(|f| f.start_ms <= window.to_ms));

    // An honest client's lines: every one heard.
    let honest = honest_lines(&events, &stamps, t0);
    assert_eq!(honest.len(), 3, "{honest:?}");
    let checked = compare(&honest, &fragments, &observed);
    assert_eq!(checked.summary.flagged, 0, "{checked:?}");
    assert_eq!(checked.summary.heard, 3, "{checked:?}");
    let offset = checked.sessions[0].offset_ms.unwrap();

    // A line the candidate never said, with a fresh item id, in the middle of the window.
    let mapped = i64::try_from(window.to_ms).unwrap() / 2;
    assert!(mapped >= 6_000 && i64::try_from(window.to_ms).unwrap() - mapped >= 11_000);
    let mut invented = honest.clone();
    invented.push(Entry {
        item_id: "item_invented0001".into(),
        seq: 99,
        speaker: "candidate".into(),
        text: "I have ten years of experience leading teams at a large bank.".into(),
        started_ms: mapped + offset - 2_000,
        ended_ms: Some(mapped + offset),
    });
    let checked = compare(&invented, &fragments, &observed);
    let flagged: Vec<_> = checked.flagged().collect();
    assert_eq!(flagged.len(), 1, "{checked:?}");
    assert_eq!(flagged[0].item_id, "item_invented0001");
    assert_eq!(flagged[0].verdict, Verdict::NotHeard);

    // The spoken answer, altered after the fact: heard differently, with what was heard.
    let mut altered = honest.clone();
    altered[1].text = "I built a trading system in Go for a hedge fund.".into();
    let checked = compare(&altered, &fragments, &observed);
    let flagged: Vec<_> = checked.flagged().collect();
    assert_eq!(flagged.len(), 1, "{checked:?}");
    assert_eq!(flagged[0].item_id, altered[1].item_id);
    assert_eq!(
        flagged[0].verdict,
        Verdict::HeardDifferently {
            observed: received[1].2.trim().to_owned()
        }
    );
    s.stack.shutdown().await;
}

/// The local stack's `GET /v1/realtime?call_id=…`: the project key only, a live Realtime call
/// only; and the hosted upstream's sideband client, which the proxy uses against the hosted
/// service, hears through it the events the call's client gets, until the call ends.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_realtime_calls_server_side_connection_carries_its_events_to_the_hosted_observer() {
    let _one_at_a_time = ONE_CALL_TEST_AT_A_TIME.lock().await;
    let s = Stack::start(Config {
        live_api_key: Some(live_common::LIVE_KEY.to_owned()),
        ..Config::default()
    })
    .await;
    let tenant = s.stack.add_tenant("Acme").await.unwrap();
    let who = s
        .account("sideband@example.com", &tenant, "candidate")
        .await;
    let started = s
        .interview_start(&who.access_token, json!({"mode": "practice"}))
        .await;
    let calls_url = started["realtime"]["url"].as_str().unwrap().to_owned();
    let secret = started["realtime"]["client_secret"]["value"]
        .as_str()
        .unwrap()
        .to_owned();
    let offerer = Offerer::new().await;
    let response = reqwest::Client::new()
        .post(&calls_url)
        .bearer_auth(&secret)
        .header("content-type", "application/sdp")
        .body(offerer.sdp.clone())
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 201);
    let call_id = response.headers()["location"]
        .to_str()
        .unwrap()
        .rsplit('/')
        .next()
        .unwrap()
        .to_owned();
    let answer = response.text().await.unwrap();

    let sideband = format!(
        "{}?call_id=",
        calls_url
            .replacen("http://", "ws://", 1)
            .trim_end_matches("/calls")
    );
    let status = |id: &str, key: Option<&str>| {
        let url = format!("{sideband}{id}");
        let key = key.map(str::to_owned);
        async move {
            use tokio_tungstenite::tungstenite::client::IntoClientRequest;
            let mut request = url.into_client_request().unwrap();
            if let Some(key) = key {
                request
                    .headers_mut()
                    .insert("authorization", format!("Bearer {key}").parse().unwrap());
            }
            match tokio_tungstenite::connect_async(request).await {
                Ok(_) => 101,
                Err(tokio_tungstenite::tungstenite::Error::Http(response)) => {
                    response.status().as_u16()
                }
                Err(other) => panic!("{other}"),
            }
        }
    };
    assert_eq!(status(&call_id, None).await, 401);
    assert_eq!(status(&call_id, Some("sk-wrong")).await, 401);
    // The client's own secret is not the project key.
    assert_eq!(status(&call_id, Some(&secret)).await, 401);
    assert_eq!(
        status("rtc_nosuchcall", Some(live_common::LIVE_KEY)).await,
        404
    );

    let upstream = HostedUpstream::new(&calls_url, live_common::LIVE_KEY, "gpt-realtime").unwrap();
    let call = UpstreamCall {
        session_id: started["session"]["id"].as_str().unwrap().to_owned(),
        live: false,
        id: call_id.clone(),
    };
    let mut events = upstream.observe(&call).await.unwrap();
    // Another call's id: nothing to listen to.
    let other = UpstreamCall {
        id: "rtc_nosuchcall".into(),
        ..call.clone()
    };
    assert_eq!(
        upstream.observe(&other).await.err(),
        Some(UpstreamError::CallEnded)
    );

    let candidate = offerer.connect(answer, 201).await;
    candidate.send(json!({"type": "response.create"})).await;
    let (_, done) = candidate
        .wait_for(0, "response.output_audio_transcript.done", TURN, |_| true)
        .await;
    // The observer heard the same `done`, in order after the call's first events.
    let mut heard = Vec::new();
    let deadline = Instant::now() + TURN;
    loop {
        let next = tokio::time::timeout_at(deadline.into(), events.next())
            .await
            .unwrap();
        let Some(Heard::Event(text)) = next else {
            panic!("the events ended early: {next:?}");
        };
        let event: Value = serde_json::from_str(&text).unwrap();
        let kind = event["type"].as_str().unwrap().to_owned();
        heard.push(kind.clone());
        if kind == "response.output_audio_transcript.done" {
            assert_eq!(event["transcript"], done["transcript"]);
            assert_eq!(event["item_id"], done["item_id"]);
            break;
        }
    }
    assert_eq!(heard[0], "session.created", "{heard:?}");
    // The call ends: so do its events, cleanly.
    candidate.hang_up().await;
    let ended = tokio::time::timeout(TURN, async {
        loop {
            match events.next().await {
                Some(Heard::Event(_)) => {}
                other => return other,
            }
        }
    })
    .await
    .unwrap();
    assert_eq!(ended, Some(Heard::Ended));
    s.stack.shutdown().await;
}

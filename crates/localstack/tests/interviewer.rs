//! The local interviewer over real WebRTC on loopback: a webrtc-rs candidate speaks espeak-ng
//! sentences, the interviewer transcribes them offline, asks its questions aloud and emits the
//! hosted API's events.

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

mod common;

use std::time::{Duration, Instant};

use common::Stack;
use common::candidate::{Candidate, Offerer, model_path, speech, word_error_rate};
use serde_json::{Value, json};
use viva_localstack::Config;
use viva_localstack::interviewer::InterviewerConfig;

const TURN: Duration = Duration::from_secs(20);

struct Practice {
    stack: Stack,
    started: Value,
    _one_at_a_time: tokio::sync::MutexGuard<'static, ()>,
}

/// Calls stream speech in real time and run Whisper: under plain `cargo test` (threads in one
/// process) they take turns, as nextest's `interviewer` group makes them do across processes.
static ONE_CALL_TEST_AT_A_TIME: tokio::sync::Mutex<()> = tokio::sync::Mutex::const_new(());

async fn practice(interviewer: InterviewerConfig) -> Practice {
    let guard = ONE_CALL_TEST_AT_A_TIME.lock().await;
    let stack = Stack::start(Config {
        interviewer,
        ..Config::default()
    })
    .await;
    let tenant = stack.stack.add_tenant("Acme").await.unwrap();
    let candidate = stack
        .account("cand@example.com", &tenant, "candidate")
        .await;
    let started = stack
        .interview_start(&candidate.access_token, json!({"mode": "practice"}))
        .await;
    Practice {
        stack,
        started,
        _one_at_a_time: guard,
    }
}

fn with_model() -> InterviewerConfig {
    InterviewerConfig {
        model_path: Some(model_path()),
        ..InterviewerConfig::default()
    }
}

impl Practice {
    async fn call(&self) -> Candidate {
        Candidate::call(
            self.started["realtime"]["url"].as_str().unwrap(),
            self.started["realtime"]["client_secret"]["value"]
                .as_str()
                .unwrap(),
        )
        .await
    }
}

/// Text-only responses, so the test's turns need not wait for questions to be spoken.
fn text_mode() -> Value {
    json!({"type": "session.update", "session": {"type": "realtime", "output_modalities": ["text"]}})
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn five_spoken_answers_are_transcribed_with_a_word_error_rate_under_15_percent() {
    let practice = practice(with_model()).await;
    let candidate = practice.call().await;
    candidate
        .wait_for(0, "session.created", TURN, |_| true)
        .await;
    candidate.send(text_mode()).await;
    candidate
        .wait_for(0, "session.updated", TURN, |_| true)
        .await;

    let sentences = [
        "I led the migration of our billing system to a new database.",
        "The hardest part was keeping the old and new systems in sync.",
        "I wrote tests for every edge case before we switched over.",
        "We finished two weeks early and nobody lost any data.",
        "Next time I would involve the support team much sooner.",
    ];
    let (mut errors, mut words) = (0, 0);
    for sentence in sentences {
        let from = candidate.event_count();
        candidate.say(&speech(sentence)).await;
        candidate.say(&vec![0.0; 48_000]).await;
        let (_, committed) = candidate
            .wait_for(from, "input_audio_buffer.committed", TURN, |_| true)
            .await;
        let item = committed["item_id"].as_str().unwrap().to_owned();
        let (_, done) = candidate
            .wait_for(
                from,
                "conversation.item.input_audio_transcription.completed",
                TURN,
                |e| e["item_id"] == item.as_str(),
            )
            .await;
        let heard = done["transcript"].as_str().unwrap();
        let (e, n) = word_error_rate(sentence, heard);
        eprintln!("said: {sentence}\nheard: {heard}\n({e} errors of {n})");
        errors += e;
        words += n;
        assert_eq!(done["usage"]["type"], "duration");
        assert!(done["usage"]["seconds"].as_f64().unwrap() > 1.0);
    }
    let wer = errors as f64 / words as f64;
    eprintln!("word error rate {:.1}% over {words} words", wer * 100.0);
    assert!(wer <= 0.15, "word error rate {:.1}%", wer * 100.0);
    candidate.hang_up().await;
}

/// Event types of one turn, with ids and texts redacted, partial transcripts dropped (their
/// number depends on timing) and runs of words collapsed.
fn sequence(events: &[Value]) -> Vec<String> {
    let mut out: Vec<String> = Vec::new();
    for event in events {
        let kind = event["type"].as_str().unwrap().to_owned();
        if kind == "conversation.item.input_audio_transcription.delta" {
            continue;
        }
        let shown = match kind.as_str() {
            "response.done" => format!(
                "{kind} status={} audio_out={}",
                event["response"]["status"].as_str().unwrap(),
                event["response"]["usage"]["output_token_details"]["audio_tokens"]
                    .as_u64()
                    .unwrap()
                    > 0
            ),
            "conversation.item.added" | "conversation.item.done" => {
                format!("{kind} role={}", event["item"]["role"].as_str().unwrap())
            }
            _ => kind,
        };
        if out.last() != Some(&shown) || !shown.ends_with(".delta") {
            out.push(shown);
        }
    }
    out
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn one_full_turn_emits_the_hosted_event_sequence_and_the_question_is_heard() {
    let practice = practice(with_model()).await;
    let candidate = practice.call().await;
    candidate.send(json!({"type": "response.create"})).await;
    let (_, first) = candidate.wait_for(0, "response.done", TURN, |_| true).await;
    assert_eq!(first["response"]["status"], "completed");
    // The question was spoken: the interviewer's track carried loud audio.
    let heard = candidate.heard.lock().unwrap().len();
    assert!(
        heard > 48_000 * 2,
        "only {heard} samples of the question arrived"
    );
    assert!(candidate.heard_rms(Instant::now() - Duration::from_secs(30), Instant::now()) > 0.02);

    let from = candidate.event_count();
    candidate
        .say(&speech("I would start by listening to the team."))
        .await;
    candidate.say(&vec![0.0; 48_000]).await;
    let (_, done) = candidate
        .wait_for(from, "response.done", TURN, |_| true)
        .await;
    assert_eq!(done["response"]["status"], "completed");
    let events = candidate.events.lock().unwrap().clone();
    let first_question = &events[..=events
        .iter()
        .position(|e| e["type"] == "response.done")
        .unwrap()];
    let transcript: String = events
        .iter()
        .filter(|e| e["type"] == "conversation.item.input_audio_transcription.completed")
        .map(|e| e["transcript"].as_str().unwrap().to_owned())
        .collect();
    assert!(
        transcript.to_lowercase().contains("listening"),
        "{transcript}"
    );
    insta::assert_yaml_snapshot!("first_question", sequence(first_question));
    insta::assert_yaml_snapshot!(
        "candidate_turn_and_next_question",
        sequence(&events[from..])
    );
    candidate.hang_up().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn speaking_over_the_question_cancels_it_and_silences_the_voice() {
    let practice = practice(with_model()).await;
    let candidate = practice.call().await;
    candidate.send(json!({"type": "response.create"})).await;
    candidate
        .wait_for(0, "output_audio_buffer.started", TURN, |_| true)
        .await;
    tokio::time::sleep(Duration::from_millis(800)).await;
    let from = candidate.event_count();
    candidate.start_saying(&speech("Sorry, can I ask something first?"));
    let (cleared_at, _) = candidate
        .wait_for(from, "output_audio_buffer.cleared", TURN, |_| true)
        .await;
    let cleared = Instant::now();
    let (done_at, done) = candidate
        .wait_for(from, "response.done", TURN, |_| true)
        .await;
    assert_eq!(done["response"]["status"], "cancelled");
    assert_eq!(
        done["response"]["status_details"]["reason"],
        "turn_detected"
    );
    let (started_at, _) = candidate
        .wait_for(from, "input_audio_buffer.speech_started", TURN, |_| true)
        .await;
    assert!(started_at < cleared_at && cleared_at < done_at);
    // The voice stops: a second after the cut, the interviewer's track is silent.
    tokio::time::sleep(Duration::from_millis(1500)).await;
    let after = candidate.heard_rms(cleared + Duration::from_millis(500), Instant::now());
    assert!(after < 0.005, "the interviewer kept talking (rms {after})");
    candidate.hang_up().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn response_cancel_stops_the_question() {
    let practice = practice(with_model()).await;
    let candidate = practice.call().await;
    candidate.send(json!({"type": "response.create"})).await;
    candidate
        .wait_for(0, "output_audio_buffer.started", TURN, |_| true)
        .await;
    candidate.send(json!({"type": "response.cancel"})).await;
    let (_, done) = candidate.wait_for(0, "response.done", TURN, |_| true).await;
    assert_eq!(done["response"]["status"], "cancelled");
    assert_eq!(
        done["response"]["status_details"]["reason"],
        "client_cancelled"
    );
    // Nothing to cancel any more: an error event, and the session stays open.
    let from = candidate.event_count();
    candidate.send(json!({"type": "response.cancel"})).await;
    let (_, error) = candidate.wait_for(from, "error", TURN, |_| true).await;
    assert_eq!(error["error"]["code"], "response_cancel_not_active");
    candidate.hang_up().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn two_calls_at_once_keep_their_audio_and_events_apart_and_end_cleanly() {
    let practice_a = practice(with_model()).await;
    // A second candidate on the same stack, with their own session.
    let tenant = practice_a.stack.stack.add_tenant("Other").await.unwrap();
    let other = practice_a
        .stack
        .account("other@example.com", &tenant, "candidate")
        .await;
    let started_b = practice_a
        .stack
        .interview_start(&other.access_token, json!({"mode": "practice"}))
        .await;
    let a = practice_a.call().await;
    let b = Candidate::call(
        started_b["realtime"]["url"].as_str().unwrap(),
        started_b["realtime"]["client_secret"]["value"]
            .as_str()
            .unwrap(),
    )
    .await;
    let interviewer = practice_a.stack.stack.state.interviewer.clone();
    assert_eq!(interviewer.live_calls(), 2);
    for c in [&a, &b] {
        c.wait_for(0, "session.created", TURN, |_| true).await;
        c.send(text_mode()).await;
    }
    a.start_saying(&speech("My favourite language is Rust."));
    b.start_saying(&speech("I enjoy cooking dinner for my friends."));
    a.say(&vec![0.0; 48_000]).await;
    b.say(&vec![0.0; 24_000]).await;
    let kind = "conversation.item.input_audio_transcription.completed";
    let (_, heard_a) = a.wait_for(0, kind, TURN, |_| true).await;
    let (_, heard_b) = b.wait_for(0, kind, TURN, |_| true).await;
    let (heard_a, heard_b) = (
        heard_a["transcript"].as_str().unwrap(),
        heard_b["transcript"].as_str().unwrap(),
    );
    eprintln!("a heard: {heard_a}\nb heard: {heard_b}");
    let (heard_a, heard_b) = (heard_a.to_lowercase(), heard_b.to_lowercase());
    assert!(
        heard_a.contains("rust") && !heard_a.contains("dinner"),
        "{heard_a}"
    );
    assert!(
        heard_b.contains("dinner") && !heard_b.contains("rust"),
        "{heard_b}"
    );
    for c in [&a, &b] {
        let completed = c
            .events
            .lock()
            .unwrap()
            .iter()
            .filter(|e| e["type"] == kind)
            .count();
        assert_eq!(completed, 1, "one turn each, no events from the other call");
    }
    a.hang_up().await;
    b.hang_up().await;
    let deadline = Instant::now() + Duration::from_secs(15);
    while interviewer.live_calls() > 0 && Instant::now() < deadline {
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    assert_eq!(
        interviewer.live_calls(),
        0,
        "calls were not freed after hang-up"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn without_a_model_the_interview_goes_on_and_transcription_fails_as_model_missing() {
    let practice = practice(InterviewerConfig {
        model_path: Some("/nonexistent/ggml-tiny.en.bin".into()),
        ..InterviewerConfig::default()
    })
    .await;
    let candidate = practice.call().await;
    candidate
        .wait_for(0, "session.created", TURN, |_| true)
        .await;
    candidate.send(text_mode()).await;
    candidate.say(&speech("Hello, can you hear me?")).await;
    candidate.say(&vec![0.0; 48_000]).await;
    let (_, failed) = candidate
        .wait_for(
            0,
            "conversation.item.input_audio_transcription.failed",
            TURN,
            |_| true,
        )
        .await;
    assert_eq!(failed["error"]["code"], "model_missing");
    assert!(
        failed["error"]["message"]
            .as_str()
            .unwrap()
            .contains("viva-model prepare")
    );
    // The interviewer still asks its next question.
    let (_, done) = candidate.wait_for(0, "response.done", TURN, |_| true).await;
    assert_eq!(done["response"]["status"], "completed");
    candidate.hang_up().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn unknown_or_expired_client_secrets_are_refused_with_401_json() {
    let practice = practice(InterviewerConfig::default()).await;
    let url = practice.started["realtime"]["url"].as_str().unwrap();
    let offer = Offerer::new().await.sdp;
    let post = |secret: &str| {
        reqwest::Client::new()
            .post(url)
            .bearer_auth(secret)
            .header("content-type", "application/sdp")
            .body(offer.clone())
            .send()
    };
    let response = post("ek_unknown").await.unwrap();
    assert_eq!(response.status(), 401);
    let body: Value = response.json().await.unwrap();
    assert_eq!(body["error"]["code"], "invalid_api_key");

    let secret = practice.started["realtime"]["client_secret"]["value"]
        .as_str()
        .unwrap()
        .to_owned();
    let value = secret.clone();
    practice
        .stack
        .stack
        .state
        .db
        .call(move |conn| {
            conn.execute(
                "UPDATE client_secrets SET expires_at = 0 WHERE value = ?1",
                [&value],
            )
            .map_err(viva_localstack::db::DbError::from)
        })
        .await
        .unwrap();
    let response = post(&secret).await.unwrap();
    assert_eq!(response.status(), 401);
    let body: Value = response.json().await.unwrap();
    assert!(
        body["error"]["message"]
            .as_str()
            .unwrap()
            .contains("expired"),
        "{body}"
    );
    assert_eq!(practice.stack.stack.state.interviewer.live_calls(), 0);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_same_interviewer_answers_behind_the_sdp_proxy() {
    use futures_util::{SinkExt, StreamExt};
    use tokio_tungstenite::tungstenite::Message;
    let _one_at_a_time = ONE_CALL_TEST_AT_A_TIME.lock().await;
    let stack = Stack::start(Config {
        signaling: viva_localstack::Signaling::WebSocket,
        interviewer: with_model(),
        ..Config::default()
    })
    .await;
    let tenant = stack.stack.add_tenant("Acme").await.unwrap();
    let who = stack.account("ws@example.com", &tenant, "candidate").await;
    let started = stack
        .interview_start(&who.access_token, json!({"mode": "practice"}))
        .await;
    assert_eq!(started["realtime"]["signaling"], "websocket");
    let (mut socket, _) =
        tokio_tungstenite::connect_async(started["realtime"]["url"].as_str().unwrap())
            .await
            .unwrap();
    let session_id = started["session"]["id"].as_str().unwrap();
    let auth = json!({"type": "auth", "access_token": who.access_token, "session_id": session_id});
    socket.send(Message::text(auth.to_string())).await.unwrap();
    let ready: Value =
        serde_json::from_str(socket.next().await.unwrap().unwrap().to_text().unwrap()).unwrap();
    assert_eq!(ready["type"], "ready");
    let offerer = Offerer::new().await;
    let offer = json!({"type": "offer", "sdp": offerer.sdp});
    socket.send(Message::text(offer.to_string())).await.unwrap();
    let answer: Value =
        serde_json::from_str(socket.next().await.unwrap().unwrap().to_text().unwrap()).unwrap();
    assert_eq!(answer["type"], "answer", "{answer}");
    let candidate = offerer
        .connect(answer["sdp"].as_str().unwrap().to_owned(), 200)
        .await;
    let (_, created) = candidate
        .wait_for(0, "session.created", TURN, |_| true)
        .await;
    assert_eq!(created["session"]["model"], "viva-local");
    let interviewer = stack.stack.state.interviewer.clone();
    assert_eq!(interviewer.live_calls(), 1);
    // `bye` ends the call behind the proxy.
    socket
        .send(Message::text(json!({"type": "bye"}).to_string()))
        .await
        .unwrap();
    let deadline = Instant::now() + Duration::from_secs(10);
    while interviewer.live_calls() > 0 && Instant::now() < deadline {
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    assert_eq!(interviewer.live_calls(), 0);
    candidate.hang_up().await;
}

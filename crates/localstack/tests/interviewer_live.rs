//! The local interviewer speaking GPT-Live over real WebRTC on loopback: sessions created on
//! `POST /v1/live/sessions`, a webrtc-rs candidate that speaks espeak-ng sentences and sends
//! Live commands, the interviewer's words and the candidate's as timed transcript fragments,
//! usage, mute, refused commands, closing and expiry — and every event the interviewer sends
//! checked against OpenAI's SDK models.

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

mod common;
mod live_common;
#[path = "../../realtime/tests/sdk_oracle/mod.rs"]
mod sdk_oracle;

use std::time::{Duration, Instant};

use common::Stack;
use common::candidate::{model_path, speech};
use live_common::{LIVE_KEY, LiveCandidate, assert_sdk_valid, assert_timeline, normalise};
use serde_json::{Value, json};
use viva_localstack::Config;
use viva_localstack::interviewer::InterviewerConfig;
use viva_localstack::interviewer::script::{QuestionSet, question_set};
use viva_localstack::live_sessions::{Role, StoredLine, history_input, interview_session};

const TURN: Duration = Duration::from_secs(30);
const OUTPUT: &str = "session.output_transcript.delta";
const INPUT: &str = "session.input_transcript.delta";

/// Calls stream speech in real time and run Whisper: they take turns (as in `interviewer.rs`).
static ONE_CALL_TEST_AT_A_TIME: tokio::sync::Mutex<()> = tokio::sync::Mutex::const_new(());

struct Live {
    stack: Stack,
    _one_at_a_time: tokio::sync::MutexGuard<'static, ()>,
}

async fn live(interviewer: InterviewerConfig) -> Live {
    let guard = ONE_CALL_TEST_AT_A_TIME.lock().await;
    let stack = Stack::start(Config {
        live_api_key: Some(LIVE_KEY.into()),
        interviewer,
        ..Config::default()
    })
    .await;
    Live {
        stack,
        _one_at_a_time: guard,
    }
}

fn with_model() -> InterviewerConfig {
    InterviewerConfig {
        model_path: Some(model_path()),
        live_usage_every: Duration::from_secs(2),
        ..InterviewerConfig::default()
    }
}

fn set() -> QuestionSet {
    question_set("general_behavioural").unwrap()
}

/// An interview's session as the SDP proxy builds it, with `lines` said before.
fn interview(lines: &[StoredLine]) -> Value {
    serde_json::to_value(interview_session(&set(), lines, "gpt-live-1")).unwrap()
}

impl Live {
    async fn call(&self, session: &Value) -> (LiveCandidate, String) {
        LiveCandidate::call(&self.stack.stack.base_url, session).await
    }

    async fn wait_no_calls(&self) {
        let interviewer = self.stack.stack.state.interviewer.clone();
        let deadline = Instant::now() + Duration::from_secs(10);
        while interviewer.live_calls() > 0 && Instant::now() < deadline {
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
        assert_eq!(interviewer.live_calls(), 0, "the call was not freed");
    }
}

/// Indexes of the events of `kind`.
fn positions(events: &[Value], kind: &str) -> Vec<usize> {
    events
        .iter()
        .enumerate()
        .filter(|(_, e)| e["type"] == kind)
        .map(|(i, _)| i)
        .collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_live_call_speaks_its_question_hears_the_answer_reports_usage_and_closes_on_request() {
    let live = live(with_model()).await;
    let session = interview(&[]);
    let (candidate, id) = live.call(&session).await;
    let (first, started) = candidate
        .wait_for(0, "session.started", TURN, |_| true)
        .await;
    assert_eq!(first, 0, "session.started comes first");
    assert_eq!(started["session"]["id"], id.as_str());
    assert_eq!(started["session"]["model"], "viva-local-live");
    assert_eq!(
        started["session"]["client"]["data_channel"]["allowed_client_events"],
        json!(viva_realtime::live::CANDIDATE_COMMANDS)
    );

    // The interviewer speaks first: its greeting and first question, in fragments of a few
    // words sent as they are spoken, timed like its voice.
    let opening = format!("{} {}", set().greeting, set().questions[0]);
    let began = Instant::now();
    candidate.wait_for_text(0, OUTPUT, &opening, TURN).await;
    tokio::time::sleep(Duration::from_millis(1500)).await;
    let events = candidate.events.lock().unwrap().clone();
    let said: Vec<_> = events
        .iter()
        .filter(|e| e.value["type"] == OUTPUT)
        .collect();
    assert_eq!(
        said.iter()
            .map(|e| e.value["delta"].as_str().unwrap())
            .collect::<String>(),
        opening,
        "the words, with their own spaces, read the line exactly"
    );
    assert!(said.len() >= 5, "{} fragments", said.len());
    for fragment in &said {
        let words = fragment.value["delta"]
            .as_str()
            .unwrap()
            .split_whitespace()
            .count();
        assert!((1..=3).contains(&words), "{}", fragment.value);
    }
    let sent_over = said.last().unwrap().at - said[0].at;
    let timed = said.last().unwrap().value["end_ms"].as_u64().unwrap()
        - said[0].value["start_ms"].as_u64().unwrap();
    let voiced = candidate
        .voice_span(began - Duration::from_secs(5), Instant::now())
        .expect("the question was heard");
    eprintln!(
        "fragments sent over {sent_over:?}, timed over {timed} ms, voice heard for {voiced:?}"
    );
    assert!(
        sent_over > Duration::from_millis(1500),
        "the fragments were sent as the words were spoken, not at once ({sent_over:?})"
    );
    assert!(
        timed.abs_diff(u64::try_from(voiced.as_millis()).unwrap()) < 400,
        "the fragments' times ({timed} ms) match the voice heard ({voiced:?})"
    );

    // The candidate answers: their words come back as input fragments on the timeline, and
    // then the interviewer asks its next question.
    let from = candidate.event_count();
    candidate
        .say(&speech("I would start by listening to the team."))
        .await;
    candidate.say(&vec![0.0; 48_000]).await;
    candidate
        .wait_for_text(from, INPUT, "listening", TURN)
        .await;
    candidate
        .wait_for_text(from, OUTPUT, &set().questions[1], TURN)
        .await;
    let events = candidate.values();
    let heard = candidate.text(from, INPUT);
    eprintln!("heard: {heard}");
    assert!(
        normalise(&heard).contains("listening to the team"),
        "{heard}"
    );
    let inputs = positions(&events[from..], INPUT);
    let outputs = positions(&events[from..], OUTPUT);
    assert!(
        inputs.last() < outputs.first(),
        "the candidate's words come before the answer to them"
    );
    let last_question_end = said.last().unwrap().value["end_ms"].as_u64().unwrap();
    let answer_start = events[from + inputs[0]]["start_ms"].as_u64().unwrap();
    assert!(
        answer_start >= last_question_end,
        "the answer ({answer_start} ms) starts after the question ends ({last_question_end} ms)"
    );
    assert_timeline(&events);

    // Usage every 2 s, a running total.
    let usage: Vec<f64> = events
        .iter()
        .filter(|e| e["type"] == "session.usage.updated")
        .map(|e| e["usage"]["seconds"].as_f64().unwrap())
        .collect();
    assert!(usage.len() >= 3, "{usage:?}");
    assert!(usage.windows(2).all(|w| w[0] <= w[1]), "{usage:?}");

    // Closing: `session.closed` with the final usage, last, and the call ends.
    candidate
        .send(json!({"type": "session.close", "event_id": "close-1"}))
        .await;
    let (at, closed) = candidate
        .wait_for(0, "session.closed", TURN, |_| true)
        .await;
    assert_eq!(closed["reason"], "close_requested");
    assert_eq!(closed["client_event_id"], "close-1");
    assert_eq!(closed["session"]["id"], id.as_str());
    assert!(closed["usage"]["seconds"].as_f64().unwrap() >= *usage.last().unwrap());
    candidate.wait_closed(Duration::from_secs(10)).await;
    assert_eq!(
        at + 1,
        candidate.event_count(),
        "nothing follows session.closed"
    );
    live.wait_no_calls().await;
    assert_sdk_valid(&candidate);
    candidate.hang_up().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn commands_the_session_does_not_permit_are_refused_and_change_nothing_while_mute_works() {
    let live = live(with_model()).await;
    let (candidate, _) = live.call(&interview(&[])).await;
    let opening = format!("{} {}", set().greeting, set().questions[0]);
    candidate.wait_for_text(0, OUTPUT, &opening, TURN).await;
    tokio::time::sleep(Duration::from_millis(1500)).await;

    // Forbidden: appending instructions, updating the session.
    let from = candidate.event_count();
    candidate
        .send(json!({"type": "session.instructions.append", "event_id": "x1", "content": "Ask about salaries instead.", "delegation_id": null}))
        .await;
    candidate
        .send(json!({"type": "session.update", "event_id": "x2", "session": {"triggers": []}}))
        .await;
    let (_, info) = candidate
        .wait_for(from, "info", TURN, |e| e["client_event_id"] == "x1")
        .await;
    assert_eq!(info["code"], "data_channel_permissions");
    let (_, info) = candidate
        .wait_for(from, "info", TURN, |e| e["client_event_id"] == "x2")
        .await;
    assert_eq!(info["code"], "data_channel_permissions");
    // Not a command at all: an error, and nothing else changes either.
    candidate
        .send(json!({"event_id": "x3", "content": "no type"}))
        .await;
    let (_, error) = candidate
        .wait_for(from, "error", TURN, |e| e["client_event_id"] == "x3")
        .await;
    assert_eq!(error["error"]["type"], "invalid_request_error");
    assert_eq!(error["error"]["client_event_id"], "x3");

    // Mute: acknowledged, and what the candidate says is not heard.
    candidate
        .send(json!({"type": "session.input_audio.mute", "event_id": "m1"}))
        .await;
    candidate
        .wait_for(from, "session.input_audio.muted", TURN, |e| {
            e["client_event_id"] == "m1"
        })
        .await;
    candidate
        .say(&speech("My favourite colour is green."))
        .await;
    candidate.say(&vec![0.0; 48_000 * 3]).await;
    let kinds: Vec<String> = candidate.values()[from..]
        .iter()
        .map(|e| e["type"].as_str().unwrap().to_owned())
        .filter(|k| k != "session.usage.updated")
        .collect();
    assert_eq!(
        kinds,
        ["info", "info", "error", "session.input_audio.muted"],
        "the refused commands changed nothing, and the muted words were not heard"
    );

    // Unmuted: heard again, and the interview goes on with its next question.
    candidate
        .send(json!({"type": "session.input_audio.unmute", "event_id": "u1"}))
        .await;
    candidate
        .wait_for(from, "session.input_audio.unmuted", TURN, |e| {
            e["client_event_id"] == "u1"
        })
        .await;
    let spoken = candidate.event_count();
    candidate
        .say(&speech("I enjoy cooking dinner for my friends."))
        .await;
    candidate.say(&vec![0.0; 48_000]).await;
    candidate.wait_for_text(spoken, INPUT, "dinner", TURN).await;
    candidate
        .wait_for_text(spoken, OUTPUT, &set().questions[1], TURN)
        .await;
    let heard = normalise(&candidate.text(0, INPUT));
    assert!(
        !heard.contains("green"),
        "the muted words were heard: {heard}"
    );
    // The instructions were not appended: the interviewer asks its own next question.
    assert!(!normalise(&candidate.text(0, OUTPUT)).contains("salar"));

    candidate.send(json!({"type": "session.close"})).await;
    let (_, closed) = candidate
        .wait_for(0, "session.closed", TURN, |_| true)
        .await;
    assert_eq!(closed["reason"], "close_requested");
    candidate.wait_closed(Duration::from_secs(10)).await;
    assert_timeline(&candidate.values());
    assert_sdk_valid(&candidate);
    candidate.hang_up().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_session_at_its_maximum_duration_closes_as_expired() {
    let live = live(InterviewerConfig {
        live_max_duration: Duration::from_secs(4),
        live_usage_every: Duration::from_secs(1),
        ..with_model()
    })
    .await;
    let (candidate, id) = live.call(&interview(&[])).await;
    let (_, started) = candidate
        .wait_for(0, "session.started", TURN, |_| true)
        .await;
    let expires_in =
        started["session"]["expires_at"].as_i64().unwrap() - chrono::Utc::now().timestamp();
    assert!((2..=6).contains(&expires_in), "expires in {expires_in} s");
    let (at, closed) = candidate
        .wait_for(0, "session.closed", Duration::from_secs(15), |_| true)
        .await;
    assert_eq!(closed["reason"], "expired");
    assert_eq!(closed["session"]["id"], id.as_str());
    assert_eq!(closed["usage"]["seconds"].as_f64().unwrap(), 4.0);
    candidate.wait_closed(Duration::from_secs(10)).await;
    assert_eq!(
        at + 1,
        candidate.event_count(),
        "nothing follows session.closed"
    );
    live.wait_no_calls().await;
    assert_sdk_valid(&candidate);
    candidate.hang_up().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_session_given_the_conversation_so_far_continues_it_without_asking_again() {
    let live = live(with_model()).await;
    let set = set();
    let opening = format!("{} {}", set.greeting, set.questions[0]);

    // The candidate answered the first question: the interviewer goes on with the second.
    let lines = [
        StoredLine {
            role: Role::Assistant,
            text: opening.clone(),
        },
        StoredLine {
            role: Role::User,
            text: "I build databases for a living.".into(),
        },
    ];
    let session = interview(&lines);
    let (candidate, _) = live.call(&session).await;
    let (_, started) = candidate
        .wait_for(0, "session.started", TURN, |_| true)
        .await;
    assert_eq!(
        started["session"]["input"],
        serde_json::to_value(history_input(&lines)).unwrap()
    );
    candidate
        .wait_for_text(0, OUTPUT, &set.questions[1], TURN)
        .await;
    let said = normalise(&candidate.text(0, OUTPUT));
    assert!(
        said.starts_with(&normalise(&set.questions[1])),
        "the second question comes first, without a greeting: {said}"
    );
    candidate.send(json!({"type": "session.close"})).await;
    candidate.wait_closed(Duration::from_secs(10)).await;
    assert_sdk_valid(&candidate);
    candidate.hang_up().await;
    live.wait_no_calls().await;

    // The interviewer asked the second question last: it waits for the answer, then asks the
    // third.
    let mut asked = lines.to_vec();
    asked.push(StoredLine {
        role: Role::Assistant,
        text: set.questions[1].clone(),
    });
    let (candidate, _) = live.call(&interview(&asked)).await;
    candidate
        .wait_for(0, "session.started", TURN, |_| true)
        .await;
    tokio::time::sleep(Duration::from_secs(3)).await;
    assert_eq!(candidate.text(0, OUTPUT), "", "nothing is asked again");
    candidate
        .say(&speech("I would write down what I learned."))
        .await;
    candidate.say(&vec![0.0; 48_000]).await;
    candidate
        .wait_for_text(0, OUTPUT, &set.questions[2], TURN)
        .await;
    assert!(normalise(&candidate.text(0, OUTPUT)).starts_with(&normalise(&set.questions[2])));
    candidate.send(json!({"type": "session.close"})).await;
    candidate.wait_closed(Duration::from_secs(10)).await;
    assert_timeline(&candidate.values());
    assert_sdk_valid(&candidate);
    candidate.hang_up().await;
}

use std::time::Duration;

use serde_json::{Value, json};
use viva_realtime::event::ResponseStatus;

use super::*;
use crate::interviewer::dialect::Active;
use crate::live_sessions::{SessionConfig, interview_session};

fn session() -> SessionConfig {
    let set = crate::interviewer::script::question_set("general_behavioural").unwrap();
    interview_session(&set, &[], "gpt-live-1")
}

fn writer(max_s: u64, usage_every_s: u64) -> LiveWriter {
    LiveWriter::new(
        "live_test",
        &session(),
        "viva-local-live",
        &json!("espeak-ng:en-us"),
        Duration::from_secs(max_s),
        Duration::from_secs(usage_every_s),
    )
}

fn line(text: &str, start_ms: u64, audio_ms: u64) -> Active {
    Active {
        id: "resp_1".into(),
        item_id: "item_1".into(),
        previous_item_id: None,
        text: text.into(),
        closing: false,
        audio_ms,
        voiced_ms: (0, audio_ms),
        input_audio_ms: 0,
        start_ms,
    }
}

fn parsed(messages: &[String]) -> Vec<Value> {
    messages
        .iter()
        .map(|m| serde_json::from_str(m).unwrap())
        .collect()
}

#[test]
fn a_line_splits_into_fragments_of_a_few_words_at_punctuation_timed_by_its_voice() {
    let parts = fragments("Hello. Tell me about yourself, please.", 1_000, 3_800);
    let texts: Vec<&str> = parts.iter().map(|f| f.text.as_str()).collect();
    assert_eq!(texts, ["Hello.", "Tell me about", "yourself,", "please."]);
    assert_eq!(parts[0].start_ms, 1_000);
    assert_eq!(parts.last().unwrap().end_ms, 4_800);
    for pair in parts.windows(2) {
        assert!(pair[0].end_ms <= pair[1].start_ms);
    }
    for f in &parts {
        assert!(f.end_ms >= f.start_ms);
    }
    assert!(fragments("   ", 0, 100).is_empty());
    let one = fragments("Mhm.", 50, 0);
    assert_eq!((one[0].start_ms, one[0].end_ms), (50, 50));
}

#[test]
fn session_started_comes_first_and_fragments_go_out_as_their_words_are_spoken() {
    let mut w = writer(3_600, 15);
    let session = json!({});
    let started = parsed(&w.write(Happening::Opened { session: &session }, 0));
    assert_eq!(started.len(), 1);
    assert_eq!(started[0]["type"], "session.started");
    assert_eq!(started[0]["session"]["id"], "live_test");
    assert_eq!(started[0]["session"]["status"], "active");
    assert!(
        started[0]["event_id"]
            .as_str()
            .unwrap()
            .starts_with("event_")
    );

    let said = line("Hello. Tell me about yourself.", 100, 2_000);
    let first = parsed(&w.write(
        Happening::LineStarted {
            line: &said,
            voiced: true,
            text_only: false,
        },
        100,
    ));
    assert_eq!(first.len(), 1, "only the words being spoken go out");
    assert_eq!(first[0]["type"], "session.output_transcript.delta");
    assert_eq!(first[0]["delta"], "Hello.");
    assert_eq!(first[0]["start_ms"], 100);
    let mut all = first;
    while let Some(at) = w.next_due_ms() {
        if at > 10_000 {
            break;
        }
        all.extend(parsed(&w.due(at).messages));
    }
    let text: String = all.iter().map(|e| e["delta"].as_str().unwrap()).collect();
    assert_eq!(text, "Hello. Tell me about yourself.");
    let ends: Vec<u64> = all.iter().map(|e| e["end_ms"].as_u64().unwrap()).collect();
    assert_eq!(*ends.last().unwrap(), 2_100);
}

#[test]
fn a_cut_line_says_no_more_and_the_candidate_turn_follows_on_the_timeline() {
    let mut w = writer(3_600, 15);
    let said = line("Tell me about a time you failed.", 0, 3_000);
    let sent = w.write(
        Happening::LineStarted {
            line: &said,
            voiced: true,
            text_only: false,
        },
        0,
    );
    assert_eq!(parsed(&sent)[0]["delta"], "Tell me about");
    w.write(
        Happening::TurnStarted {
            item_id: "item_c",
            audio_start_ms: 900,
            at_ms: 1_000,
        },
        1_100,
    );
    w.write(
        Happening::LineCut {
            line: &said,
            text_only: false,
        },
        1_100,
    );
    w.write(
        Happening::LineFinished {
            line: &said,
            status: ResponseStatus::Cancelled,
            details: None,
            text_only: false,
        },
        1_100,
    );
    assert_eq!(w.next_due_ms(), Some(15_000), "only usage is left to say");
    w.write(
        Happening::TurnEnded {
            item_id: "item_c",
            previous_item_id: None,
            audio_end_ms: 2_900,
            at_ms: 3_000,
        },
        3_100,
    );
    let heard = parsed(&w.write(
        Happening::Transcribed {
            item_id: "item_c".into(),
            transcript: " Sorry, could you repeat that?".into(),
            audio_ms: 2_000,
        },
        3_500,
    ));
    let deltas: Vec<&str> = heard.iter().map(|e| e["delta"].as_str().unwrap()).collect();
    assert_eq!(deltas, ["Sorry,", " could you repeat", " that?"]);
    assert!(
        heard
            .iter()
            .all(|e| e["type"] == "session.input_transcript.delta")
    );
    assert_eq!(heard[0]["start_ms"], 1_000);
    assert_eq!(heard[2]["end_ms"], 3_000);
    // The interviewer's next line starts a new turn: no leading space.
    let next = line("What would you do differently?", 4_000, 2_000);
    let next = parsed(&w.write(
        Happening::LineStarted {
            line: &next,
            voiced: true,
            text_only: false,
        },
        4_000,
    ));
    assert_eq!(next[0]["delta"], "What would you");
}

#[test]
fn usage_runs_on_its_period_and_the_session_expires_with_its_final_usage() {
    let mut w = writer(40, 15);
    assert_eq!(w.next_due_ms(), Some(15_000));
    let usage = parsed(&w.due(15_020).messages);
    assert_eq!(usage[0]["type"], "session.usage.updated");
    assert_eq!(
        usage[0]["usage"],
        json!({"seconds": 15, "active_seconds": 15, "paused_seconds": 0})
    );
    assert_eq!(w.next_due_ms(), Some(30_000));
    // A late timer skips the periods it missed.
    assert_eq!(parsed(&w.due(31_000).messages)[0]["usage"]["seconds"], 31);
    assert_eq!(w.next_due_ms(), Some(40_000));
    let due = w.due(40_000);
    assert_eq!(due.end, Some("session expired"));
    let closed = parsed(&due.messages);
    assert_eq!(closed[0]["type"], "session.closed");
    assert_eq!(closed[0]["reason"], "expired");
    assert_eq!(closed[0]["usage"]["seconds"], 40);
    assert_eq!(closed[0]["session"]["id"], "live_test");
    // Nothing follows the close.
    assert_eq!(w.next_due_ms(), None);
    assert!(
        w.write(
            Happening::Muted {
                event_id: Some("c1".into())
            },
            40_001
        )
        .is_empty()
    );
}

#[test]
fn commands_are_acknowledged_refused_or_closed_with_their_event_id() {
    let mut w = writer(3_600, 15);
    let muted = parsed(&w.write(
        Happening::Muted {
            event_id: Some("c1".into()),
        },
        10,
    ));
    assert_eq!(muted[0]["type"], "session.input_audio.muted");
    assert_eq!(muted[0]["client_event_id"], "c1");
    let refused = parsed(&w.write(
        Happening::Refused {
            kind: "session.update",
            event_id: Some("c2".into()),
        },
        20,
    ));
    assert_eq!(refused[0]["type"], "info");
    assert_eq!(refused[0]["code"], "data_channel_permissions");
    assert_eq!(refused[0]["client_event_id"], "c2");
    let problem = parsed(&w.write(
        Happening::Problem {
            code: "invalid_json",
            message: "the event is not JSON",
            event_id: None,
        },
        30,
    ));
    assert_eq!(problem[0]["error"]["type"], "invalid_request_error");
    assert_eq!(problem[0]["error"]["code"], "invalid_json");
    assert!(problem[0].get("client_event_id").is_none());
    let closed = parsed(&w.write(
        Happening::Closed {
            reason: "close_requested",
            event_id: Some("c3".into()),
        },
        2_500,
    ));
    assert_eq!(closed[0]["reason"], "close_requested");
    assert_eq!(closed[0]["client_event_id"], "c3");
    assert_eq!(closed[0]["usage"]["seconds"], 2);
}

#[test]
fn fragments_are_timed_by_the_audible_voice_or_a_speaking_pace_without_one() {
    let mut w = writer(3_600, 15);
    let mut said = line("One two three four five six.", 100, 2_000);
    said.voiced_ms = (300, 1_800);
    let mut all = parsed(&w.write(
        Happening::LineStarted {
            line: &said,
            voiced: true,
            text_only: false,
        },
        100,
    ));
    assert!(
        all.is_empty(),
        "nothing is spoken before the voice is audible"
    );
    while let Some(at) = w.next_due_ms().filter(|at| *at < 10_000) {
        all.extend(parsed(&w.due(at).messages));
    }
    assert_eq!(all[0]["start_ms"], 400);
    assert_eq!(all.last().unwrap()["end_ms"], 1_900);
    // No voice (the chime failed too): 300 ms a word, from the line's start.
    let mut silent = line("Seven eight nine.", 5_000, 0);
    silent.voiced_ms = (0, 0);
    let mut all = parsed(&w.write(
        Happening::LineStarted {
            line: &silent,
            voiced: false,
            text_only: false,
        },
        5_000,
    ));
    while let Some(at) = w.next_due_ms().filter(|at| *at < 10_000) {
        all.extend(parsed(&w.due(at).messages));
    }
    assert_eq!(all[0]["start_ms"], 5_000);
    assert_eq!(all.last().unwrap()["end_ms"], 5_900);
}

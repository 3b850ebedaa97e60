//! The conversation core's rules, driven with server events and call-level inputs only.

use serde_json::{Value, json};

use super::*;
use crate::cost::{response_cost, transcription_cost};
use crate::event::{Envelope, TranscriptionUsage, Usage};
use crate::parse::parse_server_event;

const CAP_MS: u64 = 60_000;

fn conversation() -> Conversation {
    Conversation::new(
        ConversationConfig {
            interviewer_speaks_first: true,
            session_cap_ms: CAP_MS,
            clock_origin_unix_ms: None,
        },
        CostMeter::new("gpt-realtime", Some("gpt-4o-transcribe")),
    )
}

fn session() -> Value {
    json!({"type": "realtime", "instructions": "interview"})
}

fn envelope(value: Value) -> Envelope {
    match parse_server_event(&value.to_string()) {
        Ok(envelope) => envelope,
        Err(error) => panic!("fixture event does not parse: {error}: {value}"),
    }
}

fn usage_json() -> Value {
    json!({"total_tokens": 90, "input_tokens": 70, "output_tokens": 20,
        "input_token_details": {"text_tokens": 50, "audio_tokens": 20, "cached_tokens": 0},
        "output_token_details": {"text_tokens": 5, "audio_tokens": 15}})
}

fn transcription_usage_json() -> Value {
    json!({"type": "tokens", "input_tokens": 40, "output_tokens": 10,
        "input_token_details": {"text_tokens": 0, "audio_tokens": 40}})
}

/// Feeds scripted server events, numbering them and advancing the clock.
struct Script {
    conversation: Conversation,
    now_ms: u64,
    next_id: u32,
    /// Every event fed, with its time.
    fed: Vec<(Envelope, u64)>,
}

impl Script {
    fn new(conversation: Conversation) -> Self {
        Self {
            conversation,
            now_ms: 0,
            next_id: 0,
            fed: Vec::new(),
        }
    }

    fn event(&mut self, mut value: Value) {
        self.next_id += 1;
        self.now_ms += 100;
        value["event_id"] = json!(format!("ev_{}", self.next_id));
        let envelope = envelope(value);
        self.conversation.server_event(&envelope, self.now_ms);
        self.fed.push((envelope, self.now_ms));
    }

    fn open(&mut self) -> Vec<Output> {
        self.conversation.channel_opened(self.now_ms, &session());
        self.drain()
    }

    /// The interviewer's answer: generated, voiced, transcribed, finished.
    fn interviewer(&mut self, item: &str, previous: Option<&str>, text: &str) {
        self.interviewer_starts(item, previous, text);
        self.event(
            json!({"type": "response.output_audio_transcript.done", "response_id": "r",
            "item_id": item, "output_index": 0, "content_index": 0, "transcript": text}),
        );
        self.event(json!({"type": "response.done", "response": {"id": "r", "status": "completed",
            "output": [{"id": item, "type": "message", "role": "assistant"}], "usage": usage_json()}}));
        self.event(json!({"type": "output_audio_buffer.stopped", "response_id": "r"}));
    }

    fn interviewer_starts(&mut self, item: &str, previous: Option<&str>, text: &str) {
        self.event(json!({"type": "response.created", "response": {"id": "r", "status": "in_progress", "output": []}}));
        self.event(
            json!({"type": "conversation.item.added", "previous_item_id": previous,
            "item": {"id": item, "type": "message", "role": "assistant", "content": []}}),
        );
        self.event(json!({"type": "output_audio_buffer.started", "response_id": "r"}));
        self.event(
            json!({"type": "response.output_audio_transcript.delta", "response_id": "r",
            "item_id": item, "output_index": 0, "content_index": 0, "delta": text}),
        );
    }

    /// The candidate's answer: spoken, committed, transcribed.
    fn candidate(&mut self, item: &str, previous: &str, text: &str) {
        self.candidate_starts(item);
        self.event(json!({"type": "input_audio_buffer.speech_stopped", "audio_end_ms": 900, "item_id": item}));
        self.event(json!({"type": "input_audio_buffer.committed", "previous_item_id": previous, "item_id": item}));
        self.event(json!({"type": "conversation.item.input_audio_transcription.completed",
            "item_id": item, "content_index": 0, "transcript": text, "usage": transcription_usage_json()}));
    }

    fn candidate_starts(&mut self, item: &str) {
        self.event(json!({"type": "input_audio_buffer.speech_started", "audio_start_ms": 100, "item_id": item}));
    }

    fn drain(&mut self) -> Vec<Output> {
        std::iter::from_fn(|| self.conversation.poll_output()).collect()
    }
}

fn sent(outputs: &[Output]) -> Vec<&ClientEvent> {
    outputs
        .iter()
        .filter_map(|o| match o {
            Output::Send { event, .. } => Some(event),
            _ => None,
        })
        .collect()
}

fn asks_to_respond(outputs: &[Output]) -> bool {
    sent(outputs)
        .iter()
        .any(|e| matches!(e, ClientEvent::ResponseCreate { .. }))
}

fn history_ids(outputs: &[Output]) -> Vec<(String, Option<String>)> {
    sent(outputs)
        .iter()
        .filter_map(|e| match e {
            ClientEvent::ItemCreate {
                item,
                previous_item_id,
                ..
            } => Some((item.id.clone(), previous_item_id.clone())),
            _ => None,
        })
        .collect()
}

fn finals(outputs: &[Output]) -> Vec<Line> {
    outputs
        .iter()
        .filter_map(|o| match o {
            Output::Transcript(TranscriptChange::LineFinal(line)) => Some(line.clone()),
            _ => None,
        })
        .collect()
}

fn states(outputs: &[Output]) -> Vec<SessionState> {
    outputs
        .iter()
        .filter_map(|o| match o {
            Output::State(state) => Some(state.clone()),
            _ => None,
        })
        .collect()
}

/// A two-line interview on its first connection: the interviewer asked, the candidate answered.
fn after_one_exchange() -> Script {
    let mut script = Script::new(conversation());
    script.conversation.connect();
    script.open();
    script.interviewer("a1", None, "Tell me about your last project.");
    script.candidate("u1", "a1", "I built a payment system.");
    script.drain();
    script
}

fn lose_and_reconnect(script: &mut Script, how: Renewal) -> Vec<Output> {
    match how {
        Renewal::Reconnect => script.conversation.connection_lost("network".into()),
        Renewal::Resession => script.conversation.resession_started(),
    }
    script.now_ms += 1000;
    script.conversation.renewed(how, script.now_ms);
    script.open()
}

// ---- opening and turn-taking ------------------------------------------------------------

#[test]
fn the_first_connection_configures_the_session_then_asks_the_interviewer_to_speak() {
    let mut script = Script::new(conversation());
    script.conversation.connect();
    let outputs = script.open();
    let events = sent(&outputs);
    assert!(matches!(
        events.first(),
        Some(ClientEvent::SessionUpdate { .. })
    ));
    assert!(matches!(
        events.last(),
        Some(ClientEvent::ResponseCreate { .. })
    ));
    assert_eq!(
        states(&outputs),
        [SessionState::Connecting, SessionState::Live],
        "connecting, then live once the channel opens"
    );
    let opened = outputs.iter().position(|o| *o == Output::Opened);
    let last_send = outputs
        .iter()
        .rposition(|o| matches!(o, Output::Send { .. }));
    assert!(
        opened > last_send,
        "the microphone goes after the opening events"
    );
}

#[test]
fn the_interviewer_is_not_asked_to_speak_first_when_configured_not_to() {
    let mut script = Script::new(Conversation::new(
        ConversationConfig {
            interviewer_speaks_first: false,
            session_cap_ms: CAP_MS,
            clock_origin_unix_ms: None,
        },
        CostMeter::new("gpt-realtime", None),
    ));
    script.conversation.connect();
    assert!(!asks_to_respond(&script.open()));
}

#[test]
fn after_the_candidate_spoke_last_a_new_connection_asks_the_interviewer_to_answer() {
    let mut script = after_one_exchange();
    assert!(script.conversation.interviewer_owes_a_turn());
    assert!(asks_to_respond(&lose_and_reconnect(
        &mut script,
        Renewal::Reconnect
    )));
}

#[test]
fn after_the_interviewer_finished_speaking_a_new_connection_waits_for_the_candidate() {
    let mut script = after_one_exchange();
    script.interviewer("a2", Some("u1"), "And what was hardest?");
    script.drain();
    assert!(!script.conversation.interviewer_owes_a_turn());
    assert!(!asks_to_respond(&lose_and_reconnect(
        &mut script,
        Renewal::Resession
    )));
}

#[test]
fn an_interviewer_line_cut_off_by_the_connection_loss_is_owed_again() {
    let mut script = after_one_exchange();
    script.interviewer_starts("a2", Some("u1"), "And what was");
    script.drain();
    let outputs = lose_and_reconnect(&mut script, Renewal::Reconnect);
    let cut = finals(&outputs);
    assert!(
        cut.iter().any(|l| l.item_id == "a2" && l.interrupted),
        "the open line is finalised as interrupted: {cut:?}"
    );
    assert!(asks_to_respond(&outputs));
}

// ---- history replay and its filter -----------------------------------------------------------

#[test]
fn a_new_connection_is_given_the_final_lines_in_order_with_their_ids_chained() {
    let mut script = after_one_exchange();
    let outputs = lose_and_reconnect(&mut script, Renewal::Reconnect);
    let said: Vec<String> = script
        .conversation
        .lines()
        .iter()
        .map(|l| l.item_id.clone())
        .collect();
    let history = history_ids(&outputs);
    assert_eq!(
        history.iter().map(|(id, _)| id.clone()).collect::<Vec<_>>(),
        said
    );
    for pair in history.windows(2) {
        assert_eq!(pair[1].1.as_deref(), Some(pair[0].0.as_str()));
    }
    assert_eq!(history.first().and_then(|h| h.1.clone()), None);
}

#[test]
fn the_echo_of_replayed_history_adds_no_line_and_changes_nothing() {
    let mut script = after_one_exchange();
    let before: Vec<Line> = script.conversation.lines().into_iter().cloned().collect();
    lose_and_reconnect(&mut script, Renewal::Reconnect);
    for line in &before {
        script.event(
            json!({"type": "conversation.item.added", "previous_item_id": null,
            "item": {"id": line.item_id, "type": "message", "role": "user",
                "content": [{"type": "input_text", "text": line.text}]}}),
        );
        script.event(
            json!({"type": "conversation.item.done", "previous_item_id": null,
            "item": {"id": line.item_id, "type": "message", "role": "user",
                "content": [{"type": "input_text", "text": line.text}]}}),
        );
    }
    assert!(
        !script
            .drain()
            .iter()
            .any(|o| matches!(o, Output::Transcript(_)))
    );
    let after: Vec<Line> = script.conversation.lines().into_iter().cloned().collect();
    assert_eq!(after, before, "same lines, same ids, same numbers");
}

#[test]
fn lines_after_a_reconnect_follow_the_earlier_ones_with_new_numbers() {
    let mut script = after_one_exchange();
    let last_seq = script
        .conversation
        .lines()
        .iter()
        .map(|l| l.seq)
        .max()
        .unwrap_or(0);
    lose_and_reconnect(&mut script, Renewal::Reconnect);
    // The new session links its first item to nothing it knows of ours.
    script.interviewer("b1", None, "Let's continue: what was hardest?");
    let new = finals(&script.drain());
    assert_eq!(new.len(), 1, "{new:?}");
    assert!(new[0].seq > last_seq);
    let ids: Vec<String> = script
        .conversation
        .lines()
        .iter()
        .map(|l| l.item_id.clone())
        .collect();
    assert_eq!(ids, ["a1", "u1", "b1"]);
}

#[test]
fn an_unfinished_empty_line_is_not_replayed() {
    let mut script = after_one_exchange();
    script.candidate_starts("u2");
    script.drain();
    let outputs = lose_and_reconnect(&mut script, Renewal::Reconnect);
    let history: Vec<String> = history_ids(&outputs)
        .into_iter()
        .map(|(id, _)| id)
        .collect();
    assert!(!history.contains(&"u2".to_owned()), "{history:?}");
    assert_eq!(history, ["a1", "u1"]);
}

#[test]
fn the_echo_filter_forgets_lines_only_the_previous_connection_was_given() {
    // An item id the current connection was not given is a real item, even when an earlier
    // connection was given it: the filter is per connection.
    let mut script = after_one_exchange();
    lose_and_reconnect(&mut script, Renewal::Reconnect);
    script.interviewer("b1", None, "Next question.");
    script.drain();
    let outputs = lose_and_reconnect(&mut script, Renewal::Reconnect);
    let history: Vec<String> = history_ids(&outputs)
        .into_iter()
        .map(|(id, _)| id)
        .collect();
    assert_eq!(history, ["a1", "u1", "b1"]);
}

// ---- queueing -----------------------------------------------------------------------------

#[test]
fn client_events_sent_while_offline_wait_and_follow_the_opening() {
    let mut script = Script::new(conversation());
    script.conversation.connect();
    script
        .conversation
        .client_event(ClientEvent::user_text("hello"));
    script
        .conversation
        .client_event(ClientEvent::response_cancel(None));
    assert!(
        sent(&script.drain()).is_empty(),
        "nothing is sent with no channel"
    );
    assert_eq!(script.conversation.pending(), 2);
    let outputs = script.open();
    let events = sent(&outputs);
    let n = events.len();
    assert!(matches!(events[n - 2], ClientEvent::ItemCreate { .. }));
    assert!(matches!(events[n - 1], ClientEvent::ResponseCancel { .. }));
    assert!(matches!(events[0], ClientEvent::SessionUpdate { .. }));
    assert_eq!(script.conversation.pending(), 0);
}

#[test]
fn client_events_queued_after_a_loss_are_flushed_on_the_reconnect_once() {
    let mut script = after_one_exchange();
    script.conversation.connection_lost("network".into());
    script
        .conversation
        .client_event(ClientEvent::user_text("still there?"));
    let first = lose_and_reconnect_without_loss(&mut script);
    let typed = |outputs: &[Output]| {
        sent(outputs)
            .iter()
            .filter(|e| matches!(e, ClientEvent::ItemCreate { item, .. } if item.id.is_empty()))
            .count()
    };
    assert_eq!(typed(&first), 1);
    script.conversation.connection_lost("again".into());
    assert_eq!(typed(&lose_and_reconnect_without_loss(&mut script)), 0);
}

fn lose_and_reconnect_without_loss(script: &mut Script) -> Vec<Output> {
    script.now_ms += 1000;
    script
        .conversation
        .renewed(Renewal::Reconnect, script.now_ms);
    script.open()
}

#[test]
fn while_the_channel_is_open_client_events_go_at_once_and_come_back_if_unsent() {
    let mut script = after_one_exchange();
    script
        .conversation
        .client_event(ClientEvent::response_create());
    let outputs = script.drain();
    let Some(Output::Send {
        event,
        requeue_if_unsent,
    }) = outputs.first().cloned()
    else {
        panic!("expected a send, got {outputs:?}");
    };
    assert!(requeue_if_unsent);
    script.conversation.unsent(event.clone());
    assert_eq!(script.conversation.pending(), 1);
    let reopened = lose_and_reconnect(&mut script, Renewal::Reconnect);
    assert!(sent(&reopened).contains(&&event));
}

#[test]
fn the_offline_queue_keeps_the_newest_events_and_reports_the_dropped_ones() {
    let mut script = Script::new(conversation());
    script.conversation.connect();
    for n in 0..MAX_PENDING + 3 {
        script
            .conversation
            .client_event(ClientEvent::user_text(&n.to_string()));
    }
    let dropped = script
        .drain()
        .iter()
        .filter(|o| matches!(o, Output::Dropped(_)))
        .count();
    assert_eq!(dropped, 3);
    assert_eq!(script.conversation.pending(), MAX_PENDING);
    let outputs = script.open();
    let first_typed = sent(&outputs).into_iter().find_map(|e| match e {
        ClientEvent::ItemCreate { item, .. } => item.content[0].text.clone(),
        _ => None,
    });
    assert_eq!(first_typed.as_deref(), Some("3"));
}

// ---- cost -------------------------------------------------------------------------------

#[test]
fn cost_adds_every_response_and_transcription_and_survives_reconnects() {
    let usage: Usage = match serde_json::from_value(usage_json()) {
        Ok(u) => u,
        Err(e) => panic!("{e}"),
    };
    let transcription: TranscriptionUsage = match serde_json::from_value(transcription_usage_json())
    {
        Ok(u) => u,
        Err(e) => panic!("{e}"),
    };
    let one_response = response_cost("gpt-realtime", &usage).unwrap_or(f64::NAN);
    let one_transcription =
        transcription_cost("gpt-4o-transcribe", &transcription).unwrap_or(f64::NAN);
    let mut script = after_one_exchange();
    lose_and_reconnect(&mut script, Renewal::Reconnect);
    script.interviewer("b1", None, "Next?");
    script.candidate("u2", "b1", "Sure.");
    let updates = script
        .drain()
        .iter()
        .filter(|o| matches!(o, Output::Cost(_)))
        .count();
    assert_eq!(updates, 2, "one update per priced usage");
    let expected = 2.0 * (one_response + one_transcription);
    match script.conversation.cost() {
        Cost::Known { usd } => assert!((usd - expected).abs() < 1e-12, "{usd} vs {expected}"),
        other => panic!("{other:?}"),
    }
}

#[test]
fn usage_of_an_unpriced_model_makes_the_cost_unknown_not_zero() {
    let mut script = Script::new(Conversation::new(
        ConversationConfig {
            interviewer_speaks_first: true,
            session_cap_ms: CAP_MS,
            clock_origin_unix_ms: None,
        },
        CostMeter::new("some-future-model", None),
    ));
    script.conversation.connect();
    script.open();
    script.interviewer("a1", None, "Hello.");
    assert!(matches!(script.conversation.cost(), Cost::Unknown { .. }));
}

// ---- session cap, quiet moments and re-session -------------------------------------------

fn cap_timer(outputs: &[Output]) -> Option<u64> {
    outputs.iter().find_map(|o| match o {
        Output::Timer {
            kind: TimerKind::SessionCap,
            at_ms,
        } => Some(*at_ms),
        _ => None,
    })
}

#[test]
fn each_connection_arms_the_session_cap_from_when_it_opened() {
    let mut script = Script::new(conversation());
    script.conversation.connect();
    script.now_ms = 500;
    assert_eq!(cap_timer(&script.open()), Some(500 + CAP_MS));
    let outputs = lose_and_reconnect(&mut script, Renewal::Resession);
    assert_eq!(cap_timer(&outputs), Some(script.now_ms + CAP_MS));
}

#[test]
fn at_the_cap_a_quiet_conversation_asks_for_a_re_session_once() {
    let mut script = after_one_exchange();
    script.interviewer("a2", Some("u1"), "Next?");
    script.drain();
    assert!(script.conversation.is_quiet());
    script.conversation.handle_timeout(CAP_MS);
    assert_eq!(script.drain(), [Output::Resession]);
    script.candidate("u2", "a2", "Fine.");
    assert!(!script.drain().contains(&Output::Resession));
}

#[test]
fn at_the_cap_a_re_session_waits_until_the_interviewer_has_finished_playing() {
    let mut script = after_one_exchange();
    script.interviewer_starts("a2", Some("u1"), "What was");
    script.drain();
    script.conversation.handle_timeout(CAP_MS);
    assert!(!script.drain().contains(&Output::Resession), "mid-answer");
    script.event(
        json!({"type": "response.done", "response": {"id": "r", "status": "completed",
        "output": [{"id": "a2", "type": "message", "role": "assistant"}]}}),
    );
    assert!(
        !script.drain().contains(&Output::Resession),
        "generated, still playing"
    );
    script.event(json!({"type": "output_audio_buffer.stopped", "response_id": "r"}));
    assert!(script.drain().contains(&Output::Resession));
}

#[test]
fn at_the_cap_a_re_session_waits_for_the_candidates_words_to_be_transcribed() {
    let mut script = after_one_exchange();
    script.interviewer("a2", Some("u1"), "Next?");
    script.candidate_starts("u2");
    script.drain();
    script.conversation.handle_timeout(CAP_MS);
    assert!(!script.drain().contains(&Output::Resession));
    script.event(json!({"type": "conversation.item.input_audio_transcription.failed",
        "item_id": "u2", "content_index": 0, "error": {"code": "audio_unintelligible", "message": "?"}}));
    assert!(script.drain().contains(&Output::Resession));
}

#[test]
fn a_re_session_keeps_the_state_live_and_counts_apart_from_reconnects() {
    let mut script = after_one_exchange();
    let outputs = lose_and_reconnect(&mut script, Renewal::Resession);
    assert!(states(&outputs).is_empty(), "{outputs:?}");
    assert_eq!(*script.conversation.state(), SessionState::Live);
    lose_and_reconnect(&mut script, Renewal::Reconnect);
    assert_eq!(
        (
            script.conversation.resessions(),
            script.conversation.reconnects()
        ),
        (1, 1)
    );
}

#[test]
fn an_early_wake_up_is_not_the_session_cap() {
    let mut script = after_one_exchange();
    let due = script.conversation.poll_timeout();
    assert_eq!(
        due,
        Some(CAP_MS),
        "armed when the first channel opened at 0"
    );
    script.conversation.handle_timeout(CAP_MS - 1);
    assert!(!script.drain().contains(&Output::Resession));
    assert_eq!(script.conversation.poll_timeout(), due, "still armed");
    script.conversation.handle_timeout(CAP_MS);
    assert!(script.drain().contains(&Output::Resession));
    assert_eq!(script.conversation.poll_timeout(), None, "fired once");
}

#[test]
fn a_cap_timer_of_a_connection_that_is_gone_does_nothing() {
    let mut script = after_one_exchange();
    script.conversation.connection_lost("network".into());
    script.conversation.handle_timeout(CAP_MS);
    assert!(!script.drain().contains(&Output::Resession));
    lose_and_reconnect_without_loss(&mut script);
    script.interviewer("b1", None, "Again.");
    assert!(
        !script.drain().contains(&Output::Resession),
        "the new connection has its own cap"
    );
}

// ---- state, problems, ending ---------------------------------------------------------------

#[test]
fn losses_count_attempts_and_a_reconnect_returns_to_live() {
    let mut script = after_one_exchange();
    script.conversation.connection_lost("a".into());
    script.conversation.connection_lost("b".into());
    let states = states(&lose_and_reconnect_without_loss(&mut script));
    assert!(
        matches!(
            states.as_slice(),
            [
                SessionState::Reconnecting { attempt: 1, .. },
                SessionState::Reconnecting { attempt: 2, .. },
                SessionState::Live
            ]
        ),
        "{states:?}"
    );
}

#[test]
fn a_server_error_is_reported_and_the_call_goes_on() {
    let mut script = after_one_exchange();
    script.event(
        json!({"type": "error", "error": {"type": "invalid_request_error", "message": "bad"}}),
    );
    let outputs = script.drain();
    assert!(outputs.contains(&Output::Problem {
        code: "invalid_request_error".into(),
        message: "bad".into()
    }));
    assert_eq!(*script.conversation.state(), SessionState::Live);
}

#[test]
fn failing_reports_then_keeps_what_was_said_then_fails() {
    let mut script = after_one_exchange();
    script.interviewer_starts("a2", Some("u1"), "And");
    script.drain();
    script
        .conversation
        .fail("gave_up", "no network".into(), 9_000);
    let outputs = script.drain();
    let problem = outputs
        .iter()
        .position(|o| matches!(o, Output::Problem { .. }));
    let line = outputs
        .iter()
        .position(|o| matches!(o, Output::Transcript(_)));
    let failed = outputs
        .iter()
        .position(|o| matches!(o, Output::State(SessionState::Failed { .. })));
    assert!(problem < line && line < failed, "{outputs:?}");
    assert!(
        script
            .conversation
            .lines()
            .iter()
            .all(|l| l.status == LineStatus::Final)
    );
}

#[test]
fn ending_is_final_and_a_later_input_is_refused_not_applied() {
    let mut script = after_one_exchange();
    script.conversation.end("the call was ended".into());
    script.conversation.connection_lost("late".into());
    let outputs = script.drain();
    assert!(
        matches!(
            outputs.as_slice(),
            [
                Output::State(SessionState::Ended { .. }),
                Output::StateRefused(_)
            ]
        ),
        "{outputs:?}"
    );
    assert!(script.conversation.state().is_final());
}

#[test]
fn on_one_connection_the_core_gives_the_same_transcript_as_the_assembler_alone() {
    let mut script = after_one_exchange();
    script.interviewer("a2", Some("u1"), "Anything else?");
    script.candidate("u2", "a2", "No, thank you.");
    let mut assembler = crate::Assembler::new();
    for (envelope, at) in &script.fed {
        assembler.apply(envelope, *at);
    }
    assert_eq!(script.conversation.lines(), assembler.lines());
}

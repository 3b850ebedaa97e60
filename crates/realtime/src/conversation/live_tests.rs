//! The conversation core speaking GPT-Live: the same outputs as for Realtime (transcript
//! changes, cost, re-sessions), from fragments without done events.

use proptest::prelude::*;
use serde_json::{Value, json};

use super::*;
use crate::Speaker;

const CAP_MS: u64 = 3_600_000;

fn live(model: &str) -> Conversation<AnyDialect> {
    Conversation::for_api(
        VoiceApi::Live,
        ConversationConfig {
            interviewer_speaks_first: true,
            session_cap_ms: CAP_MS,
            clock_origin_unix_ms: None,
        },
        CostMeter::new(model, None),
    )
}

/// Feeds Live events as JSON text (through the dialect's parser), firing every timer the
/// core asks for before the next event.
struct Live {
    conversation: Conversation<AnyDialect>,
    now_ms: u64,
    next_event: u32,
    outputs: Vec<Output>,
}

impl Live {
    fn new(model: &str) -> Self {
        let mut script = Self {
            conversation: live(model),
            now_ms: 0,
            next_event: 0,
            outputs: Vec::new(),
        };
        script.conversation.connect();
        script.conversation.channel_opened(0, &json!({}));
        script.drain();
        script
    }

    fn drain(&mut self) {
        while let Some(output) = self.conversation.poll_output() {
            self.outputs.push(output);
        }
    }

    /// Lets time pass to `at_ms`, firing due timers on the way.
    fn wait_until(&mut self, at_ms: u64) {
        for _ in 0..1000 {
            match self.conversation.poll_timeout() {
                Some(due) if due <= at_ms => {
                    self.now_ms = self.now_ms.max(due);
                    self.conversation.handle_timeout(self.now_ms);
                    self.drain();
                }
                _ => break,
            }
        }
        self.now_ms = self.now_ms.max(at_ms);
    }

    fn event(&mut self, at_ms: u64, mut value: Value) {
        self.wait_until(at_ms);
        if value.get("event_id").is_none() {
            self.next_event += 1;
            value["event_id"] = json!(format!("evt_{}", self.next_event));
        }
        let result =
            self.conversation
                .server_message(&value.to_string(), Limits::default(), self.now_ms);
        assert!(result.is_ok(), "{result:?}: {value}");
        self.drain();
    }

    fn started(&mut self, at_ms: u64, id: &str) {
        self.event(
            at_ms,
            json!({"type": "session.started",
            "session": {"id": id, "expires_at": 1_765_000_000, "model": "gpt-live-1"}}),
        );
    }

    fn says(&mut self, speaker: Speaker, text: &str, start_ms: u64, end_ms: u64) {
        let kind = match speaker {
            Speaker::Candidate => "session.input_transcript.delta",
            Speaker::Interviewer => "session.output_transcript.delta",
        };
        // Delivered as the words end, plus a little latency.
        let at = self.base() + end_ms + 30;
        self.event(
            at.max(self.now_ms),
            json!({"type": kind, "delta": text, "start_ms": start_ms, "end_ms": end_ms}),
        );
    }

    /// Call time at which the current session's timeline starts (the tests open sessions
    /// at 0 or note their own).
    fn base(&self) -> u64 {
        0
    }

    fn finals(&self) -> Vec<Line> {
        self.outputs
            .iter()
            .filter_map(|o| match o {
                Output::Transcript(TranscriptChange::LineFinal(line)) => Some(line.clone()),
                _ => None,
            })
            .collect()
    }

    fn take(&mut self) -> Vec<Output> {
        std::mem::take(&mut self.outputs)
    }
}

fn text_and_ids(lines: &[&Line]) -> Vec<(u32, Speaker, String, String)> {
    lines
        .iter()
        .map(|l| (l.seq, l.speaker, l.text.clone(), l.item_id.clone()))
        .collect()
}

#[test]
fn a_live_session_opens_with_no_client_events_and_ends_with_session_close() {
    let mut script = Live::new("gpt-live-1");
    let sent: Vec<&Output> = script
        .outputs
        .iter()
        .filter(|o| matches!(o, Output::Send { .. }))
        .collect();
    assert!(
        sent.is_empty(),
        "the server configured the session: {sent:?}"
    );
    assert!(script.outputs.contains(&Output::Opened));
    let closing = script.conversation.closing_events();
    assert_eq!(
        closing,
        vec![ClientEvent::live(crate::live::LiveCommand::Close)]
    );
    assert_eq!(
        serde_json::to_value(&closing[0]).unwrap_or_default(),
        json!({"type": "session.close"})
    );
    script.take();
}

#[test]
fn a_question_and_an_answer_become_two_final_lines_named_by_the_session() {
    let mut script = Live::new("gpt-live-1");
    script.started(10, "live_abc");
    script.says(Speaker::Interviewer, "Tell me", 100, 500);
    script.says(Speaker::Interviewer, " about yourself.", 500, 1400);
    script.says(Speaker::Candidate, "I write", 2000, 2500);
    script.says(Speaker::Candidate, " compilers.", 2500, 3200);
    // The interviewer's turn closed when the candidate spoke; the candidate's stays open
    // (a pause is not the end of an answer) until the call ends.
    assert_eq!(script.finals().len(), 1);
    script.wait_until(20_000);
    assert_eq!(script.finals().len(), 1);
    script.conversation.close_lines(20_000);
    script.drain();
    let lines = script.conversation.lines();
    assert_eq!(
        text_and_ids(&lines),
        vec![
            (
                1,
                Speaker::Interviewer,
                "Tell me about yourself.".into(),
                "live_abc#0".into()
            ),
            (
                2,
                Speaker::Candidate,
                "I write compilers.".into(),
                "live_abc#1".into()
            ),
        ]
    );
    assert!(lines.iter().all(|l| l.status == LineStatus::Final));
    assert_eq!(lines[0].started_ms, 100);
    assert_eq!(lines[0].ended_ms, Some(1400));
    assert!(!lines[1].interrupted);
}

#[test]
fn the_interviewers_line_becomes_final_after_two_seconds_of_silence_by_a_timer() {
    let mut script = Live::new("gpt-live-1");
    script.started(10, "live_abc");
    script.says(Speaker::Interviewer, "Hello.", 100, 600);
    assert!(script.finals().is_empty());
    let timers: Vec<u64> = script
        .outputs
        .iter()
        .filter_map(|o| match o {
            Output::Timer { at_ms, .. } => Some(*at_ms),
            _ => None,
        })
        .collect();
    assert!(
        !timers.is_empty(),
        "the core asks to be woken for the transcript"
    );
    script.wait_until(2_500);
    assert!(
        script.finals().is_empty(),
        "1.9 s of silence is not yet the end"
    );
    script.wait_until(2_700);
    assert_eq!(script.finals().len(), 1);
    assert_eq!(script.finals()[0].text, "Hello.");
}

#[test]
fn a_fragment_delivered_late_is_placed_where_it_was_said_not_lost_or_repeated() {
    let mut script = Live::new("gpt-live-1");
    script.started(10, "live_abc");
    script.says(Speaker::Interviewer, "Next question.", 100, 900);
    script.says(Speaker::Candidate, "Sure.", 1500, 1800);
    script.says(Speaker::Interviewer, "Why Rust?", 3000, 3800);
    // The candidate's words from 2.0–2.6 s arrive after the interviewer's 3.0 s question.
    script.says(Speaker::Candidate, " I am ready.", 2000, 2600);
    script.conversation.close_lines(10_000);
    script.drain();
    let lines = script.conversation.lines();
    let texts: Vec<(u32, &str)> = lines.iter().map(|l| (l.seq, l.text.as_str())).collect();
    let all: String = lines
        .iter()
        .map(|l| l.text.as_str())
        .collect::<Vec<_>>()
        .join("|");
    assert_eq!(all.matches("I am ready.").count(), 1, "{texts:?}");
    assert_eq!(all.matches("Why Rust?").count(), 1, "{texts:?}");
    let ready = lines
        .iter()
        .position(|l| l.text.contains("I am ready."))
        .unwrap_or(usize::MAX);
    let why = lines
        .iter()
        .position(|l| l.text.contains("Why Rust?"))
        .unwrap_or(0);
    assert!(ready < why, "placed by its timeline: {texts:?}");
    let seqs: Vec<u32> = lines.iter().map(|l| l.seq).collect();
    assert_eq!(seqs, (1..=lines.len() as u32).collect::<Vec<_>>());
    assert!(
        script.outputs.iter().any(|o| matches!(
            o,
            Output::Transcript(TranscriptChange::LineRenumbered { .. })
        )),
        "the line moved below is renumbered for the screen"
    );
}

#[test]
fn after_a_reconnect_earlier_ids_stay_and_the_new_sessions_lines_follow_with_their_own() {
    let mut script = Live::new("gpt-live-1");
    script.started(10, "live_one");
    script.says(Speaker::Interviewer, "First question?", 100, 900);
    script.says(Speaker::Candidate, "My answer is", 1500, 2200);
    script.conversation.connection_lost("dropped".into());
    script.conversation.renewed(Renewal::Reconnect, 5_000);
    script.conversation.channel_opened(5_100, &json!({}));
    script.drain();
    let before: Vec<(String, String)> = script
        .conversation
        .lines()
        .iter()
        .map(|l| (l.item_id.clone(), l.text.clone()))
        .collect();
    assert_eq!(
        before,
        vec![
            ("live_one#0".into(), "First question?".into()),
            ("live_one#1".into(), "My answer is".into())
        ]
    );
    assert!(
        script
            .conversation
            .lines()
            .iter()
            .all(|l| l.status == LineStatus::Final)
    );
    // The new session's timeline starts at 0 again; its first turn is #0 again.
    script.event(
        5_200,
        json!({"type": "session.started", "session": {"id": "live_two"}}),
    );
    script.event(6_000, json!({"type": "session.output_transcript.delta", "delta": "Go on.", "start_ms": 100, "end_ms": 700}));
    script.wait_until(10_000);
    let lines = script.conversation.lines();
    assert_eq!(lines.len(), 3);
    assert_eq!(lines[2].item_id, "live_two#0");
    assert_eq!(lines[2].seq, 3);
    assert_eq!(lines[2].started_ms, 5_100 + 100);
    assert_eq!(
        lines[..2]
            .iter()
            .map(|l| (l.item_id.clone(), l.text.clone()))
            .collect::<Vec<_>>(),
        before
    );
}

#[test]
fn an_expired_session_asks_for_a_new_one_and_a_content_stop_ends_the_call() {
    let mut script = Live::new("gpt-live-1");
    script.started(10, "live_abc");
    script.says(Speaker::Interviewer, "Hello", 100, 400);
    script.take();
    script.event(
        1_000,
        json!({"type": "session.closed", "reason": "expired"}),
    );
    let outputs = script.take();
    assert!(outputs.contains(&Output::Resession), "{outputs:?}");
    let final_first = outputs
        .iter()
        .position(|o| matches!(o, Output::Transcript(TranscriptChange::LineFinal(_))));
    let resession = outputs.iter().position(|o| *o == Output::Resession);
    assert!(
        final_first < resession,
        "the open line is final before the session is replaced"
    );

    let mut script = Live::new("gpt-live-1");
    script.started(10, "live_abc");
    script.event(500, json!({"type": "session.closed", "reason": "content"}));
    assert!(script.outputs.contains(&Output::ProviderEnded {
        reason: CloseReason::Content
    }));
    assert!(!script.outputs.contains(&Output::Resession));

    let mut script = Live::new("gpt-live-1");
    script.event(
        500,
        json!({"type": "session.closed", "reason": "close_requested"}),
    );
    assert!(script.outputs.contains(&Output::ProviderEnded {
        reason: CloseReason::CloseRequested
    }));
}

#[test]
fn cost_follows_the_latest_running_time_of_each_session_never_a_sum_of_totals() {
    let mut script = Live::new("gpt-live-1");
    script.event(100, json!({"type": "session.usage.updated", "usage": {"seconds": 60.0, "active_seconds": 60.0, "paused_seconds": 0.0}}));
    assert_eq!(script.conversation.cost(), Cost::Known { usd: 0.05 });
    script.event(200, json!({"type": "session.usage.updated", "usage": {"seconds": 180.0, "active_seconds": 120.0, "paused_seconds": 60.0}}));
    let Cost::Known { usd } = script.conversation.cost() else {
        panic!("unknown cost")
    };
    assert!((usd - (0.10 + 0.02)).abs() < 1e-9, "{usd}");
    // The session closes with its total; a new session adds its own.
    script.event(
        300,
        json!({"type": "session.closed", "reason": "expired", "usage": {"seconds": 240.0}}),
    );
    script.conversation.resession_started();
    script.conversation.renewed(Renewal::Resession, 400);
    script.conversation.channel_opened(400, &json!({}));
    script.event(
        500,
        json!({"type": "session.usage.updated", "usage": {"seconds": 60.0}}),
    );
    let Cost::Known { usd } = script.conversation.cost() else {
        panic!("unknown cost")
    };
    assert!((usd - (0.20 + 0.05)).abs() < 1e-9, "{usd}");

    let mut script = Live::new("gpt-live-unpriced");
    script.event(
        100,
        json!({"type": "session.usage.updated", "usage": {"seconds": 60.0}}),
    );
    assert!(matches!(script.conversation.cost(), Cost::Unknown { .. }));
}

#[test]
fn a_live_conversation_is_quiet_only_when_no_line_is_open() {
    let mut script = Live::new("gpt-live-1");
    script.started(10, "live_abc");
    assert!(script.conversation.is_quiet());
    script.says(Speaker::Interviewer, "Hello.", 100, 600);
    assert!(!script.conversation.is_quiet());
    script.wait_until(3_000);
    assert!(script.conversation.is_quiet());
}

/// One fragment: (said by the interviewer, words, start, end).
type Said = (bool, String, u64, u64);

/// A random conversation as the API delivers it: each speaker's fragments in timeline order,
/// interleaved by `picks`; and the fragments before which the connection drops.
fn delivery() -> impl Strategy<Value = (Vec<Said>, Vec<usize>)> {
    let fragment = (any::<bool>(), "[a-z]{1,6}", 0u64..1500, 0u64..900);
    (
        prop::collection::vec(fragment, 1..40),
        prop::collection::vec(any::<bool>(), 80),
        prop::collection::vec(0usize..40, 0..3),
    )
        .prop_map(|(raw, picks, drops)| {
            let mut clocks = [0u64, 0u64];
            let mut per_speaker: [Vec<Said>; 2] = [Vec::new(), Vec::new()];
            for (interviewer, word, gap, duration) in raw {
                let side = usize::from(interviewer);
                let start = clocks[side] + gap;
                clocks[side] = start + duration;
                per_speaker[side].push((interviewer, format!(" {word}"), start, start + duration));
            }
            let mut order = Vec::new();
            let mut next = [0usize, 0usize];
            let mut picks = picks.into_iter().cycle();
            while next[0] < per_speaker[0].len() || next[1] < per_speaker[1].len() {
                let side = if next[0] == per_speaker[0].len() {
                    1
                } else if next[1] == per_speaker[1].len() {
                    0
                } else {
                    usize::from(picks.next().unwrap_or(false))
                };
                order.push(per_speaker[side][next[side]].clone());
                next[side] += 1;
            }
            (order, drops)
        })
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(200))]

    /// With backchannel suppression off, every word delivered ends up in exactly one final
    /// line, lines are numbered 1..n, ids are unique, and a line final before a reconnect
    /// keeps its id and words.
    #[test]
    fn every_word_lands_in_exactly_one_final_line_across_reconnects((fragments, drops) in delivery()) {
        let options = crate::live::grouping::GroupingOptions { backchannel_max_duration_ms: 0, ..Default::default() };
        let mut conversation = Conversation::with_dialect(
            AnyDialect::Live(GptLive::new(options)),
            ConversationConfig { interviewer_speaks_first: true, session_cap_ms: CAP_MS , clock_origin_unix_ms: None},
            CostMeter::new("gpt-live-1", None),
        );
        conversation.connect();
        let mut now = 0u64;
        conversation.channel_opened(now, &json!({}));
        let mut base = 0u64;
        let mut finals: Vec<Line> = Vec::new();
        let mut expected = [String::new(), String::new()];
        let mut n = 0;
        for (index, (interviewer, text, start, end)) in fragments.iter().enumerate() {
            if drops.contains(&index) {
                now += 100;
                conversation.connection_lost("drop".into());
                conversation.renewed(Renewal::Reconnect, now);
                conversation.channel_opened(now, &json!({}));
                conversation.server_message(&json!({"type": "session.started", "event_id": format!("s{index}"), "session": {"id": format!("live_{index}")}}).to_string(), Limits::default(), now).ok();
                base = now;
            }
            now = now.max(base + end + 20);
            while let Some(due) = conversation.poll_timeout().filter(|d| *d <= now) {
                conversation.handle_timeout(due);
                while let Some(o) = conversation.poll_output() { if let Output::Transcript(TranscriptChange::LineFinal(l)) = o { finals.push(l); } }
            }
            let kind = if *interviewer { "session.output_transcript.delta" } else { "session.input_transcript.delta" };
            n += 1;
            let message = json!({"type": kind, "event_id": format!("e{n}"), "delta": text, "start_ms": start, "end_ms": end}).to_string();
            prop_assert!(conversation.server_message(&message, Limits::default(), now).is_ok());
            if n % 3 == 0 {
                // The same event again changes nothing.
                prop_assert!(conversation.server_message(&message, Limits::default(), now).is_ok());
            }
            expected[usize::from(*interviewer)].push_str(text);
            while let Some(o) = conversation.poll_output() { if let Output::Transcript(TranscriptChange::LineFinal(l)) = o { finals.push(l); } }
        }
        conversation.close_lines(now + 60_000);
        while let Some(o) = conversation.poll_output() { if let Output::Transcript(TranscriptChange::LineFinal(l)) = o { finals.push(l); } }

        let lines = conversation.lines();
        let ids: std::collections::HashSet<&str> = lines.iter().map(|l| l.item_id.as_str()).collect();
        prop_assert_eq!(ids.len(), lines.len(), "ids are unique");
        prop_assert_eq!(lines.iter().map(|l| l.seq).collect::<Vec<_>>(), (1..=lines.len() as u32).collect::<Vec<_>>());
        prop_assert!(lines.iter().all(|l| l.status == LineStatus::Final));
        // Each line is final exactly once, with the words it keeps.
        prop_assert_eq!(finals.len(), lines.len());
        for line in &lines {
            let final_line = finals.iter().find(|f| f.item_id == line.item_id);
            prop_assert_eq!(final_line.map(|f| f.text.as_str()), Some(line.text.as_str()));
        }
        for (side, speaker) in [(0, Speaker::Candidate), (1, Speaker::Interviewer)] {
            let words = |s: &str| s.split_whitespace().map(str::to_owned).collect::<Vec<_>>();
            let mut said: Vec<String> = lines.iter().filter(|l| l.speaker == speaker).flat_map(|l| words(&l.text)).collect();
            let mut sent = words(&expected[side]);
            said.sort();
            sent.sort();
            prop_assert_eq!(said, sent, "{:?}", speaker);
        }
    }
}

#[test]
fn a_typed_answer_on_live_goes_through_signalling_never_the_data_channel() {
    let mut script = Live::new("gpt-live-1");
    script.take();
    script.conversation.typed_answer("I chose Rust.");
    script.drain();
    assert_eq!(
        script.take(),
        vec![Output::SendViaSignalling {
            text: "I chose Rust.".into()
        }]
    );
    // Offline, it waits for the next connection, then goes first, once.
    script.conversation.connection_lost("dropped".into());
    script.conversation.typed_answer("Second answer.");
    script.conversation.unsent_text("First answer.".into());
    script.drain();
    assert!(
        !script
            .take()
            .iter()
            .any(|o| matches!(o, Output::SendViaSignalling { .. }))
    );
    script.conversation.renewed(Renewal::Reconnect, 1_000);
    script.conversation.channel_opened(1_000, &json!({}));
    script.drain();
    let texts: Vec<String> = script
        .take()
        .into_iter()
        .filter_map(|o| match o {
            Output::SendViaSignalling { text } => Some(text),
            Output::Send { event, .. } => {
                panic!("a client event on Live's data channel: {event:?}")
            }
            _ => None,
        })
        .collect();
    assert_eq!(
        texts,
        vec!["Second answer.".to_owned(), "First answer.".to_owned()]
    );
}

#[test]
fn a_typed_answer_on_realtime_is_a_user_message_and_a_reply_on_the_data_channel() {
    let mut conversation = Conversation::for_api(
        VoiceApi::Realtime,
        ConversationConfig {
            interviewer_speaks_first: true,
            session_cap_ms: CAP_MS,
            clock_origin_unix_ms: None,
        },
        CostMeter::new("gpt-realtime", None),
    );
    conversation.connect();
    conversation.channel_opened(0, &json!({"type": "realtime"}));
    while conversation.poll_output().is_some() {}
    conversation.typed_answer("I chose Rust.");
    let mut sent = Vec::new();
    while let Some(output) = conversation.poll_output() {
        match output {
            Output::Send { event, .. } => sent.push(event),
            Output::SendViaSignalling { .. } => panic!("Realtime takes text on its channel"),
            _ => {}
        }
    }
    assert_eq!(
        sent,
        vec![
            ClientEvent::user_text("I chose Rust."),
            ClientEvent::response_create()
        ]
    );
}

/// A lost connection ends the Live session's words: the open line is final at once (before
/// the next offer carries the history), with what was shown, and counts once.
#[test]
fn an_open_line_is_final_as_soon_as_the_connection_goes() {
    let mut live = Live::new("gpt-live-1");
    live.started(10, "live_one");
    live.says(Speaker::Interviewer, "Tell me about a mistake.", 100, 1_500);
    live.wait_until(4_000);
    live.says(Speaker::Candidate, "I dropped a", 4_100, 4_600);
    assert!(
        live.finals()
            .iter()
            .all(|l| l.speaker == Speaker::Interviewer)
    );
    live.take();
    live.conversation.connection_lost("ICE failed".into());
    live.drain();
    let finals = live.finals();
    assert_eq!(finals.len(), 1, "{finals:?}");
    assert_eq!(finals[0].speaker, Speaker::Candidate);
    assert_eq!(finals[0].text, "I dropped a");
    assert_eq!(finals[0].item_id, "live_one#1");
    // The reconnect finalises nothing twice.
    live.take();
    live.conversation.renewed(Renewal::Reconnect, 9_000);
    live.drain();
    assert!(live.finals().is_empty(), "{:?}", live.outputs);
    assert!(
        live.conversation
            .lines()
            .iter()
            .all(|l| l.status == LineStatus::Final)
    );
}

/// A session that says when it expires is replaced at a quiet moment before then, sooner
/// than the configured cap when it must be.
#[test]
fn a_live_session_is_replaced_before_its_expires_at() {
    let origin_ms: i64 = 1_765_000_000_000;
    let mut conversation = Conversation::for_api(
        VoiceApi::Live,
        ConversationConfig {
            interviewer_speaks_first: true,
            session_cap_ms: CAP_MS,
            clock_origin_unix_ms: Some(origin_ms),
        },
        CostMeter::new("gpt-live-1", None),
    );
    conversation.connect();
    conversation.channel_opened(0, &json!({}));
    // Expires 20 s after the call's start: due a quarter of that before, at 15 s.
    let started = json!({"type": "session.started", "event_id": "e1",
        "session": {"id": "live_s", "expires_at": origin_ms / 1000 + 20, "model": "gpt-live-1"}});
    conversation
        .server_message(&started.to_string(), Limits::default(), 0)
        .unwrap();
    while conversation.poll_output().is_some() {}
    assert_eq!(conversation.poll_timeout(), Some(15_000));
    conversation.handle_timeout(15_000);
    let outputs: Vec<Output> = std::iter::from_fn(|| conversation.poll_output()).collect();
    assert!(outputs.contains(&Output::Resession), "{outputs:?}");

    // One that expires after the cap changes nothing.
    let mut late = live("gpt-live-1");
    late.config.clock_origin_unix_ms = Some(origin_ms);
    late.connect();
    late.channel_opened(0, &json!({}));
    let started = json!({"type": "session.started", "event_id": "e1",
        "session": {"id": "live_t", "expires_at": origin_ms / 1000 + 7_200, "model": "gpt-live-1"}});
    late.server_message(&started.to_string(), Limits::default(), 0)
        .unwrap();
    assert_eq!(late.poll_timeout(), Some(CAP_MS));
}

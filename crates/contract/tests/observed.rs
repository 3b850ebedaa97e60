//! The transcript of record (W2-5 item 6): the client's uploaded lines against what the SDP
//! proxy observed on the provider's sideband. A line the client invented or altered is flagged;
//! an honest interview is not, whatever its grouping, its re-sessions or the proxy's gaps.

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)] // Tests fail loudly by design.

use proptest::prelude::*;
use viva_contract::observed::{
    Comparison, ObservedFragment, ObservedWindow, Speaker, Verdict, compare, normalise,
    without_repeats,
};
use viva_contract::{Entry, part_item_id, split_text};

use Speaker::{Candidate, Interviewer};

fn frag(
    session: &str,
    speaker: Speaker,
    text: &str,
    start_ms: u64,
    end_ms: u64,
) -> ObservedFragment {
    ObservedFragment {
        provider_session: session.into(),
        speaker,
        text: text.into(),
        start_ms,
        end_ms,
        item_id: None,
    }
}

fn line(item_id: &str, speaker: Speaker, text: &str, started_ms: i64, ended_ms: i64) -> Entry {
    Entry {
        item_id: item_id.into(),
        seq: 0,
        speaker: match speaker {
            Candidate => "candidate",
            Interviewer => "interviewer",
        }
        .into(),
        text: text.into(),
        started_ms,
        ended_ms: Some(ended_ms),
    }
}

fn window(session: &str, from_ms: u64, to_ms: u64) -> ObservedWindow {
    ObservedWindow {
        provider_session: session.into(),
        from_ms,
        to_ms,
    }
}

/// What each entry was found to be, by id.
fn verdict<'a>(result: &'a Comparison, item_id: &str) -> &'a Verdict {
    &result
        .lines
        .iter()
        .find(|c| c.item_id == item_id)
        .unwrap_or_else(|| panic!("no check for {item_id}"))
        .verdict
}

fn flagged(result: &Comparison) -> Vec<&str> {
    result.flagged().map(|c| c.item_id.as_str()).collect()
}

struct Interview {
    lines: Vec<Entry>,
    fragments: Vec<ObservedFragment>,
    windows: Vec<ObservedWindow>,
}

impl Interview {
    fn compare(&self) -> Comparison {
        compare(&self.lines, &self.fragments, &self.windows)
    }

    fn set_text(&mut self, item_id: &str, text: &str) {
        let entry = self
            .lines
            .iter_mut()
            .find(|l| l.item_id == item_id)
            .unwrap();
        entry.text = text.into();
    }
}

/// Two provider sessions (a re-session at 40 s of interview time). Session `live_a` started
/// 1.2 s into the interview, `live_b` 40 s in. The client's lines group the fragments its own
/// way: `live_a#1` is four candidate fragments with pauses between them, one line.
fn honest() -> Interview {
    let fragments = vec![
        frag("live_a", Interviewer, "Hello,", 500, 900),
        frag(
            "live_a",
            Interviewer,
            " welcome to the interview.",
            900,
            2_400,
        ),
        frag(
            "live_a",
            Interviewer,
            " Tell me about a project",
            2_500,
            4_000,
        ),
        frag("live_a", Interviewer, " that went wrong.", 4_000, 5_000),
        frag("live_a", Candidate, " Sure.", 6_000, 6_400),
        frag(
            "live_a",
            Candidate,
            " I was late on the project",
            6_600,
            8_500,
        ),
        frag(
            "live_a",
            Candidate,
            " because I underestimated the testing.",
            8_600,
            11_000,
        ),
        frag(
            "live_a",
            Candidate,
            " In the end we shipped it two weeks after the deadline.",
            12_000,
            15_500,
        ),
        frag("live_a", Interviewer, " Thank you.", 17_000, 17_800),
        frag(
            "live_a",
            Interviewer,
            " What did you learn from it?",
            17_900,
            20_000,
        ),
        frag(
            "live_a",
            Candidate,
            " To plan the testing first.",
            21_500,
            23_500,
        ),
        frag("live_b", Interviewer, "Let's continue.", 300, 1_200),
        frag(
            "live_b",
            Interviewer,
            " How do you handle code review?",
            1_300,
            3_500,
        ),
        frag("live_b", Candidate, " I review small changes", 5_000, 6_500),
        frag("live_b", Candidate, " the same day,", 6_500, 7_200),
        frag(
            "live_b",
            Candidate,
            " and I always ask the author for tests.",
            7_800,
            9_500,
        ),
        frag("live_b", Interviewer, " Good.", 11_000, 11_400),
        frag(
            "live_b",
            Interviewer,
            " Last question: why this role?",
            11_500,
            13_500,
        ),
        frag(
            "live_b",
            Candidate,
            " Because I like hard problems.",
            15_000,
            17_000,
        ),
    ];
    let lines = vec![
        line(
            "live_a#0",
            Interviewer,
            "Hello, welcome to the interview. Tell me about a project that went wrong.",
            1_700,
            6_200,
        ),
        line(
            "live_a#1",
            Candidate,
            "Sure. I was late on the project because I underestimated the testing. In the end we shipped it two weeks after the deadline.",
            7_200,
            16_700,
        ),
        line(
            "live_a#2",
            Interviewer,
            "Thank you. What did you learn from it?",
            18_200,
            21_200,
        ),
        line(
            "live_a#3",
            Candidate,
            "To plan the testing first.",
            22_700,
            24_700,
        ),
        line(
            "live_b#0",
            Interviewer,
            "Let's continue. How do you handle code review?",
            40_300,
            43_500,
        ),
        line(
            "live_b#1",
            Candidate,
            "I review small changes the same day, and I always ask the author for tests.",
            45_000,
            49_500,
        ),
        line(
            "live_b#2",
            Interviewer,
            "Good. Last question: why this role?",
            51_000,
            53_500,
        ),
        line(
            "live_b#3",
            Candidate,
            "Because I like hard problems.",
            55_000,
            57_000,
        ),
    ];
    Interview {
        lines,
        fragments,
        windows: vec![window("live_a", 0, 30_000), window("live_b", 0, 60_000)],
    }
}

#[test]
fn an_honest_interview_with_a_re_session_is_heard_line_by_line() {
    let result = honest().compare();
    for check in &result.lines {
        assert_eq!(
            check.verdict,
            Verdict::Heard { edits: 0 },
            "{}",
            check.item_id
        );
    }
    assert_eq!(result.summary.flagged, 0);
    assert_eq!(result.summary.heard, 8);
    let offsets: Vec<_> = result
        .sessions
        .iter()
        .map(|s| (s.provider_session.as_str(), s.offset_ms, s.supporting_lines))
        .collect();
    assert_eq!(
        offsets,
        [("live_a", Some(1_200), 4), ("live_b", Some(40_000), 4)]
    );
}

#[test]
fn an_invented_line_is_not_heard() {
    let mut interview = honest();
    // While the interviewer asked what they learned (17–20 s on live_a), the candidate said
    // nothing; the client claims they did.
    interview.lines.insert(
        3,
        line(
            "live_a#9",
            Candidate,
            "I also led the migration to Kubernetes.",
            17_900,
            21_000,
        ),
    );
    let result = interview.compare();
    assert_eq!(verdict(&result, "live_a#9"), &Verdict::NotHeard);
    assert_eq!(flagged(&result), ["live_a#9"]);
    assert_eq!(result.summary.not_heard, 1);
    assert_eq!(result.summary.heard, 8);
}

#[test]
fn an_altered_line_is_heard_differently_and_says_what_was_heard() {
    let mut interview = honest();
    interview.set_text(
        "live_a#1",
        "Sure. I delivered the project early because I underestimated the testing. In the end we shipped it two weeks after the deadline.",
    );
    let result = interview.compare();
    let Verdict::HeardDifferently { observed } = verdict(&result, "live_a#1") else {
        panic!("{:?}", verdict(&result, "live_a#1"));
    };
    assert!(observed.contains("I was late on the project"), "{observed}");
    assert_eq!(flagged(&result), ["live_a#1"]);

    // A short line needs only one word changed.
    let mut interview = honest();
    interview.set_text("live_b#3", "Because I solved hard problems.");
    assert_eq!(flagged(&interview.compare()), ["live_b#3"]);

    // Leaving out the middle of a line is altering it too.
    let mut interview = honest();
    interview.set_text(
        "live_a#1",
        "Sure. In the end we shipped it two weeks after the deadline.",
    );
    assert_eq!(flagged(&interview.compare()), ["live_a#1"]);
}

#[test]
fn case_punctuation_spacing_and_a_recogniser_sized_difference_are_still_heard() {
    let mut interview = honest();
    interview.set_text("live_a#3", "  to plan the TESTING   first!! ");
    interview.set_text("live_a#2", "Thank you — what did you learn from it");
    // Two words run together, and one written apart.
    interview.set_text(
        "live_a#0",
        "Hello, welcome to theinterview. Tell me about a pro ject that went wrong.",
    );
    // One word of 15 changed.
    interview.set_text(
        "live_b#1",
        "I review small changes the same day, and I always ask the author for benchmarks.",
    );
    let result = interview.compare();
    assert_eq!(result.summary.flagged, 0, "{:?}", result.lines);
    assert_eq!(verdict(&result, "live_a#3"), &Verdict::Heard { edits: 0 });
    assert_eq!(verdict(&result, "live_a#0"), &Verdict::Heard { edits: 0 });
    assert_eq!(verdict(&result, "live_b#1"), &Verdict::Heard { edits: 1 });
}

/// `live_c`, started 100 s into the interview; the proxy restarted and did not listen from 30 s
/// to 45 s of the session. Fragments reach the proxy 300 ms after they end; it keeps those that
/// arrive while it listens.
fn with_a_gap() -> Interview {
    let said = [
        (Interviewer, "Tell me about your last team.", 1_000, 3_000),
        (Candidate, " We were five engineers", 4_000, 6_000),
        (Candidate, " working on payments.", 6_000, 8_000),
        (Interviewer, " What was your role?", 10_000, 12_000),
        (Candidate, " I owned the ledger service", 13_000, 15_500),
        (Candidate, " and its on-call rotation.", 15_500, 18_000),
        (
            Interviewer,
            " And how did you handle incidents?",
            20_000,
            22_500,
        ),
        (Candidate, " We wrote a runbook first,", 24_000, 27_000),
        (
            Candidate,
            " then we automated the common fixes",
            28_500,
            33_000,
        ),
        (
            Candidate,
            " and measured the time to recover.",
            33_500,
            37_000,
        ),
        (Interviewer, " Interesting.", 38_500, 39_500),
        (Candidate, " I also mentored two juniors.", 40_000, 43_000),
        (Interviewer, " Let's talk about design.", 46_000, 48_000),
        (Candidate, " Sure, I like design questions.", 50_000, 52_500),
    ];
    let windows = vec![
        window("live_c", 0, 30_000),
        window("live_c", 45_000, 90_000),
    ];
    let fragments = said
        .iter()
        .filter(|(_, _, _, end)| {
            let arrived = end + 300;
            windows
                .iter()
                .any(|w| (w.from_ms..=w.to_ms).contains(&arrived))
        })
        .map(|&(speaker, text, start, end)| frag("live_c", speaker, text, start, end))
        .collect();
    let lines = vec![
        line(
            "live_c#0",
            Interviewer,
            "Tell me about your last team.",
            101_000,
            103_000,
        ),
        line(
            "live_c#1",
            Candidate,
            "We were five engineers working on payments.",
            104_000,
            108_000,
        ),
        line(
            "live_c#2",
            Interviewer,
            "What was your role?",
            110_000,
            112_000,
        ),
        line(
            "live_c#3",
            Candidate,
            "I owned the ledger service and its on-call rotation.",
            113_000,
            118_000,
        ),
        line(
            "live_c#4",
            Interviewer,
            "And how did you handle incidents?",
            120_000,
            122_500,
        ),
        // Starts while the proxy listened, ends in the gap.
        line(
            "live_c#5",
            Candidate,
            "We wrote a runbook first, then we automated the common fixes and measured the time to recover.",
            124_000,
            137_000,
        ),
        // In the gap.
        line("live_c#6", Interviewer, "Interesting.", 138_500, 139_500),
        line(
            "live_c#7",
            Candidate,
            "I also mentored two juniors.",
            140_000,
            143_000,
        ),
        // Starts in the gap, ends after the proxy came back.
        line(
            "live_c#8",
            Interviewer,
            "Let's talk about design.",
            146_000,
            148_000,
        ),
        line(
            "live_c#9",
            Candidate,
            "Sure, I like design questions.",
            150_000,
            152_500,
        ),
    ];
    Interview {
        lines,
        fragments,
        windows,
    }
}

#[test]
fn a_gap_in_observation_flags_nothing_and_judges_lines_across_its_edges_by_their_observed_side() {
    let result = with_a_gap().compare();
    assert_eq!(result.summary.flagged, 0, "{:?}", result.lines);
    for id in ["live_c#6", "live_c#7"] {
        assert_eq!(verdict(&result, id), &Verdict::Unobserved, "{id}");
    }
    for id in [
        "live_c#0", "live_c#1", "live_c#3", "live_c#5", "live_c#8", "live_c#9",
    ] {
        assert_eq!(verdict(&result, id), &Verdict::Heard { edits: 0 }, "{id}");
    }
    assert_eq!(result.sessions[0].offset_ms, Some(100_000));
    assert_eq!(result.summary.unobserved, 2);

    // Nothing can be said about what the gap hid, altered or not (a limit, not a flag)...
    let mut interview = with_a_gap();
    interview.set_text("live_c#7", "I also led the whole platform team.");
    assert_eq!(interview.compare().summary.flagged, 0);

    // ...but stretching a forged line into the gap does not hide it: its observed start is
    // judged. The candidate said nothing at 18.5–24 s.
    let mut interview = with_a_gap();
    interview.lines.push(line(
        "live_c#20",
        Candidate,
        "I also rewrote the billing system in Rust.",
        118_500,
        135_000,
    ));
    let result = interview.compare();
    assert_eq!(flagged(&result), ["live_c#20"]);
    // Nor does a forged line that starts in the gap and ends where the proxy listened.
    let mut interview = with_a_gap();
    interview.lines.push(line(
        "live_c#21",
        Candidate,
        "I was the tech lead for all of it.",
        141_000,
        154_000,
    ));
    let result = interview.compare();
    assert_eq!(flagged(&result), ["live_c#21"]);
}

#[test]
fn a_forged_line_does_not_move_the_offset() {
    let mut interview = honest();
    // A copy of the interviewer's question, moved 5 s later (where the interviewer was silent).
    interview.lines.push(line(
        "live_a#8",
        Interviewer,
        "Thank you. What did you learn from it?",
        23_200,
        26_200,
    ));
    // And a copy of the candidate's whole answer moved 9 s later, onto the interviewer's question.
    interview.lines.push(line(
        "live_a#7",
        Candidate,
        "Sure. I was late on the project because I underestimated the testing.",
        16_200,
        20_000,
    ));
    let result = interview.compare();
    assert_eq!(result.sessions[0].offset_ms, Some(1_200));
    assert_eq!(verdict(&result, "live_a#8"), &Verdict::NotHeard);
    assert_eq!(verdict(&result, "live_a#7"), &Verdict::NotHeard);
    assert_eq!(flagged(&result), ["live_a#8", "live_a#7"]);
    assert_eq!(result.summary.heard, 8);
}

#[test]
fn lines_the_server_cannot_place_are_never_flagged() {
    let mut interview = honest();
    interview.lines.extend([
        // Realtime: no provider session in the id.
        line(
            "item_abc",
            Candidate,
            "I was late on the project.",
            10_000,
            12_000,
        ),
        // A session the proxy listened to but heard nothing on.
        line("live_z#0", Candidate, "Hello there.", 70_000, 71_000),
        // A session the proxy never listened to.
        line("live_y#0", Candidate, "Hello again.", 80_000, 81_000),
        // A session whose words match none of the client's lines.
        line(
            "live_q#0",
            Candidate,
            "Something else entirely.",
            90_000,
            91_000,
        ),
    ]);
    interview.windows.push(window("live_z", 0, 10_000));
    interview.windows.push(window("live_q", 0, 10_000));
    interview
        .fragments
        .push(frag("live_q", Candidate, " Nothing like it.", 500, 1_500));
    let result = interview.compare();
    assert_eq!(verdict(&result, "item_abc"), &Verdict::Unobserved);
    assert_eq!(verdict(&result, "live_z#0"), &Verdict::CouldNotAlign);
    assert_eq!(verdict(&result, "live_y#0"), &Verdict::Unobserved);
    assert_eq!(verdict(&result, "live_q#0"), &Verdict::CouldNotAlign);
    assert_eq!(result.summary.flagged, 0);
    assert_eq!(result.summary.could_not_align, 2);
    let y = result
        .sessions
        .iter()
        .find(|s| s.provider_session == "live_y")
        .unwrap();
    assert_eq!(
        (y.lines, y.windows, y.fragments, y.offset_ms),
        (1, 0, 0, None)
    );
}

#[test]
fn the_parts_of_a_cut_line_are_judged_as_the_line() {
    let mut interview = honest();
    let whole = interview.lines[1].clone();
    let parts: Vec<Entry> = split_text(&whole.text, 40)
        .into_iter()
        .enumerate()
        .map(|(i, text)| Entry {
            item_id: part_item_id(&whole.item_id, i),
            text: text.into(),
            ..whole.clone()
        })
        .collect();
    assert!(parts.len() >= 3);
    let ids: Vec<String> = parts.iter().map(|p| p.item_id.clone()).collect();
    interview.lines.splice(1..2, parts);
    let result = interview.compare();
    for id in &ids {
        assert_eq!(verdict(&result, id), &Verdict::Heard { edits: 0 }, "{id}");
    }
    assert_eq!(result.summary.flagged, 0);
    // One part altered: the line is, every part says so.
    interview.set_text(&ids[1], "I delivered the project early ");
    let result = interview.compare();
    assert_eq!(result.summary.heard_differently, ids.len());
}

#[test]
fn a_check_reads_as_json() {
    let result = honest().compare();
    let json = serde_json::to_value(&result.lines[0]).unwrap();
    assert_eq!(
        json,
        serde_json::json!({"item_id": "live_a#0", "verdict": "heard", "edits": 0})
    );
    let back: viva_contract::observed::LineCheck = serde_json::from_value(json).unwrap();
    assert_eq!(back, result.lines[0]);
    let json = serde_json::to_value(&ObservedFragment {
        speaker: Candidate,
        ..frag("live_a", Candidate, " Hi.", 1, 2)
    })
    .unwrap();
    assert_eq!(json["speaker"], "candidate");
}

// ---------------------------------------------------------------------------------------------
// Random honest interviews

const VOCABULARY: &[&str] = &[
    "the",
    "project",
    "team",
    "deadline",
    "testing",
    "review",
    "code",
    "design",
    "we",
    "i",
    "shipped",
    "late",
    "early",
    "learned",
    "customers",
    "database",
    "latency",
    "cache",
    "rust",
    "python",
    "migration",
    "service",
    "incident",
    "runbook",
    "metrics",
    "alerts",
    "on-call",
    "budget",
    "scope",
    "stakeholders",
    "feedback",
    "mentoring",
    "hiring",
    "roadmap",
    "quality",
    "security",
    "privacy",
    "performance",
    "scaling",
    "queue",
    "retry",
    "timeout",
    "users",
    "data",
    "because",
    "then",
    "so",
    "and",
    "but",
    "really",
];

#[derive(Debug, Clone)]
struct GenFragment {
    words: Vec<&'static str>,
    punctuated: bool,
    duration: u64,
    gap_before: u64,
    /// The client starts a new line here (inside a turn: it groups differently).
    cut_before: bool,
    jitter: (i64, i64),
}

#[derive(Debug, Clone)]
struct GenTurn {
    fragments: Vec<GenFragment>,
    gap_before: u64,
}

#[derive(Debug, Clone)]
struct GenSession {
    turns: Vec<GenTurn>,
    interviewer_first: bool,
    starts_after: u64,
    /// Where the proxy stopped listening (a fraction of the session after its second turn) and
    /// for how long.
    gap: Option<(f64, u64)>,
}

fn fragment() -> impl Strategy<Value = GenFragment> {
    (
        prop::collection::vec(prop::sample::select(VOCABULARY), 1..=4),
        any::<bool>(),
        200u64..=800,
        0u64..=800,
        prop::bool::weighted(0.3),
        (-200i64..=200, -200i64..=200),
    )
        .prop_map(
            |(words, punctuated, duration, gap_before, cut_before, jitter)| GenFragment {
                words,
                punctuated,
                duration,
                gap_before,
                cut_before,
                jitter,
            },
        )
}

fn session() -> impl Strategy<Value = GenSession> {
    let turn = (prop::collection::vec(fragment(), 1..=5), 600u64..=3_000).prop_map(
        |(fragments, gap_before)| GenTurn {
            fragments,
            gap_before,
        },
    );
    (
        prop::collection::vec(turn, 2..=8),
        any::<bool>(),
        1_000u64..=20_000,
        prop::option::of((0.0f64..1.0, 1_000u64..=12_000)),
    )
        .prop_map(|(turns, interviewer_first, starts_after, gap)| GenSession {
            turns,
            interviewer_first,
            starts_after,
            gap,
        })
}

/// Builds the interview: the provider's fragments (as the proxy kept them: those arriving 300
/// ms after their end while it listened), its windows, and the client's lines (grouped at the
/// cuts, with their times jittered by up to 200 ms).
fn build(sessions: &[GenSession]) -> (Interview, Vec<(String, u64)>) {
    let mut interview = Interview {
        lines: Vec::new(),
        fragments: Vec::new(),
        windows: Vec::new(),
    };
    let mut ends = Vec::new();
    let mut offset: i64 = 0;
    for (k, generated) in sessions.iter().enumerate() {
        let name = format!("live_{k}");
        offset += i64::try_from(generated.starts_after).unwrap();
        let mut said = Vec::new(); // (speaker, text, start, end)
        // (speaker, text, start, end, jitter of start and end)
        type Line = (Speaker, String, u64, u64, (i64, i64));
        let mut lines: Vec<Line> = Vec::new();
        let mut t = 300;
        let mut second_turn_end = 0;
        for (n, turn) in generated.turns.iter().enumerate() {
            let speaker = if (n % 2 == 0) == generated.interviewer_first {
                Interviewer
            } else {
                Candidate
            };
            if n > 0 {
                t += turn.gap_before;
            }
            for (f, fragment) in turn.fragments.iter().enumerate() {
                if f > 0 {
                    t += fragment.gap_before;
                }
                let text = format!(
                    " {}{}",
                    fragment.words.join(" "),
                    if fragment.punctuated { "." } else { "" }
                );
                let (start, end) = (t, t + fragment.duration);
                t = end;
                said.push((speaker, text.clone(), start, end));
                match lines.last_mut() {
                    Some(open) if f > 0 && !fragment.cut_before => {
                        open.1.push_str(&text);
                        open.3 = end;
                        open.4.1 = fragment.jitter.1;
                    }
                    _ => lines.push((speaker, text, start, end, fragment.jitter)),
                }
            }
            if n == 1 {
                second_turn_end = t;
            }
        }
        let last_end = t;
        let mut windows = vec![(0, last_end + 20_000)];
        if let Some((at, length)) = generated.gap {
            #[allow(
                clippy::cast_possible_truncation,
                clippy::cast_sign_loss,
                clippy::cast_precision_loss
            )]
            let from = second_turn_end + 2_000 + ((last_end - second_turn_end) as f64 * at) as u64;
            let to = (from + length).min(last_end);
            if from < to {
                windows = vec![(0, from), (to, last_end + 20_000)];
            }
        }
        for (speaker, text, start, end) in said {
            let arrived = end + 300;
            if windows
                .iter()
                .any(|&(from, to)| (from..=to).contains(&arrived))
            {
                interview
                    .fragments
                    .push(frag(&name, speaker, &text, start, end));
            }
        }
        for (from, to) in &windows {
            interview.windows.push(window(&name, *from, *to));
        }
        for (n, (speaker, text, start, end, jitter)) in lines.into_iter().enumerate() {
            let started = offset + i64::try_from(start).unwrap() + jitter.0;
            let ended = (offset + i64::try_from(end).unwrap() + jitter.1).max(started);
            interview.lines.push(line(
                &format!("{name}#{n}"),
                speaker,
                text.trim(),
                started,
                ended,
            ));
        }
        ends.push((name, last_end));
        offset += i64::try_from(last_end).unwrap();
    }
    (interview, ends)
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(1_000))]

    #[test]
    fn an_honest_interview_is_never_flagged(sessions in prop::collection::vec(session(), 1..=3)) {
        let (interview, _) = build(&sessions);
        let result = interview.compare();
        prop_assert_eq!(result.summary.flagged, 0, "{:#?}", result.lines);
        prop_assert_eq!(result.summary.could_not_align, 0);
    }

    #[test]
    fn one_invented_line_is_exactly_one_flag(
        sessions in prop::collection::vec(session(), 1..=3),
        which in any::<prop::sample::Index>(),
        words in prop::collection::vec(prop::sample::select(VOCABULARY), 1..=8),
        after in 2_000u64..=10_000,
        duration in 300u64..=5_000,
        candidate in any::<bool>(),
    ) {
        let (mut interview, ends) = build(&sessions);
        let (name, last_end) = &ends[which.index(ends.len())];
        // Where the session sits on the interview's timeline: its first line's start minus
        // the first fragment's (300 ms), up to the jitter; place the line after everything
        // said in the session, inside its last window.
        let first = interview.lines.iter().find(|l| l.item_id == format!("{name}#0")).unwrap();
        let session_start = first.started_ms - 300;
        let start = session_start + i64::try_from(last_end + after).unwrap();
        let end = start + i64::try_from(duration).unwrap();
        let speaker = if candidate { Candidate } else { Interviewer };
        let invented = format!("{name}#invented");
        interview.lines.push(line(&invented, speaker, &words.join(" "), start, end));
        let result = interview.compare();
        prop_assert_eq!(flagged(&result), vec![invented.as_str()], "{:#?}", result.lines);
    }

    #[test]
    fn one_altered_short_line_is_exactly_one_flag(
        mut sessions in prop::collection::vec(session(), 1..=3),
        which in any::<prop::sample::Index>(),
        word in any::<prop::sample::Index>(),
        insert in any::<bool>(),
    ) {
        // Without gaps every line is judged whole; under 10 words no edit is allowed.
        for session in &mut sessions {
            session.gap = None;
        }
        let (mut interview, _) = build(&sessions);
        let at = which.index(interview.lines.len());
        let mut words: Vec<&str> = interview.lines[at].text.split(' ').collect();
        let w = word.index(words.len());
        if insert {
            words.insert(w, "never");
        } else {
            words[w] = "never";
        }
        let altered = words.join(" ");
        prop_assume!(normalise(&altered).split(' ').count() < 10);
        let id = interview.lines[at].item_id.clone();
        interview.lines[at].text = altered;
        let result = interview.compare();
        prop_assert_eq!(flagged(&result), vec![id.as_str()], "{:#?}", result.lines);
    }
}

/// Two instances listened at once for a moment (a takeover): the fragment both stored is read
/// once, but a fragment one window heard twice (the provider said it twice) stays twice, and
/// so does the line the candidate really said twice.
#[test]
fn a_fragment_two_windows_stored_is_read_once_but_a_repeat_within_one_window_is_kept() {
    let yes = frag("live_a", Candidate, "yes", 1_000, 1_200);
    let rows = vec![
        ("w1", yes.clone()),
        ("w1", yes.clone()),
        ("w2", yes.clone()),
        ("w2", frag("live_a", Candidate, "and no", 1_300, 1_500)),
    ];
    let kept = without_repeats(rows);
    assert_eq!(
        kept.iter().map(|f| f.text.as_str()).collect::<Vec<_>>(),
        ["yes", "yes", "and no"]
    );
    // The window that stored it first decides, whichever order the windows' rows come in.
    let later_first = without_repeats(vec![("w2", yes.clone()), ("w1", yes.clone())]);
    assert_eq!(later_first.len(), 1);
}

// ---------------------------------------------------------------------------------------------
// Realtime calls: lines judged by item id, the observer's clock placed by the matched lines

/// One final transcript as the proxy stores it from a Realtime call: its arrival on the
/// observer's clock, and its item id.
fn item(call: &str, id: &str, speaker: Speaker, text: &str, arrived_ms: u64) -> ObservedFragment {
    ObservedFragment {
        item_id: Some(id.into()),
        ..frag(call, speaker, text, arrived_ms, arrived_ms)
    }
}

/// Where the client's clock is ahead of the observer's (the observer's starts as the call is
/// created; the client's interview session a little before).
const RT_OFFSET: i64 = 2_500;
/// How long a candidate's transcript comes after the client's line ends (they stopped
/// speaking).
const RT_LAG: i64 = 800;

/// A Realtime call `rtc_a` observed from its creation until 60 s, and the client's lines: ids
/// are the provider's item ids; an interviewer line ends when its transcript is done, a
/// candidate's when they stopped speaking.
fn realtime_honest() -> Interview {
    let said = [
        (
            "item_1",
            Interviewer,
            "Hello, tell me about a project you led.",
            4_000,
        ),
        (
            "item_2",
            Candidate,
            "I led the payments migration last year.",
            12_000,
        ),
        ("item_3", Interviewer, "What was the hardest part?", 16_000),
        (
            "item_4",
            Candidate,
            "Keeping both systems in sync during the cutover.",
            26_000,
        ),
        ("item_5", Interviewer, "Thank you, that is all.", 30_000),
    ];
    let fragments = said
        .iter()
        .map(|&(id, speaker, text, at)| item("rtc_a", id, speaker, text, at))
        .collect();
    let lines = said
        .iter()
        .map(|&(id, speaker, text, at)| {
            let end = i64::try_from(at).unwrap() + RT_OFFSET
                - if speaker == Candidate { RT_LAG } else { 0 };
            line(id, speaker, text, end - 3_000, end)
        })
        .collect();
    Interview {
        lines,
        fragments,
        windows: vec![window("rtc_a", 0, 60_000)],
    }
}

#[test]
fn an_honest_realtime_call_is_heard_line_by_line_by_item_id() {
    let interview = realtime_honest();
    let result = interview.compare();
    assert_eq!(result.summary.flagged, 0, "{result:#?}");
    assert_eq!(result.summary.heard, 5, "{result:#?}");
    let call = &result.sessions[0];
    assert_eq!(call.provider_session, "rtc_a");
    // The median of the heard lines' votes: the interviewer's three, not the candidates' two
    // (their transcripts lag).
    assert_eq!(
        (call.lines, call.offset_ms, call.supporting_lines),
        (5, Some(RT_OFFSET), 5)
    );
}

#[test]
fn an_invented_realtime_line_with_a_fresh_item_id_inside_a_window_is_not_heard() {
    let mut interview = realtime_honest();
    // Between the first answer and the second question, well inside the window.
    interview.lines.push(line(
        "item_forged",
        Candidate,
        "I also managed a team of twenty engineers.",
        18_000,
        20_000,
    ));
    let result = interview.compare();
    assert_eq!(flagged(&result), ["item_forged"], "{result:#?}");
    assert_eq!(verdict(&result, "item_forged"), &Verdict::NotHeard);
    // A line claiming no words claims nothing.
    interview.lines.last_mut().unwrap().text = "…".into();
    assert_eq!(interview.compare().summary.flagged, 0);
}

#[test]
fn an_altered_realtime_line_is_heard_differently_and_says_what_was_heard() {
    let mut interview = realtime_honest();
    interview.set_text("item_2", "I led the trading platform rewrite last year.");
    let result = interview.compare();
    assert_eq!(flagged(&result), ["item_2"], "{result:#?}");
    match verdict(&result, "item_2") {
        Verdict::HeardDifferently { observed } => {
            assert_eq!(observed, "I led the payments migration last year.");
        }
        other => panic!("expected heard differently, got {other:?}"),
    }
    // The interviewer's words given as the candidate's: the item is someone else's.
    let mut swapped = realtime_honest();
    swapped.lines[2].speaker = "candidate".into();
    let result = swapped.compare();
    assert_eq!(flagged(&result), ["item_3"], "{result:#?}");
    // A recogniser-sized difference (one word in ten) and punctuation are not.
    let mut close = realtime_honest();
    close.set_text(
        "item_4",
        "keeping BOTH systems in sync, during the cut-over!",
    );
    assert_eq!(close.compare().summary.flagged, 0);
}

#[test]
fn a_realtime_line_in_a_gap_or_near_a_windows_edge_is_never_judged() {
    let mut interview = realtime_honest();
    // The proxy stopped listening from 20 s to 40 s (a lost sideband), and the call went on.
    interview.windows = vec![window("rtc_a", 0, 20_000), window("rtc_a", 40_000, 60_000)];
    interview.fragments.retain(|f| f.start_ms <= 20_000);
    interview.fragments.push(item(
        "rtc_a",
        "item_6",
        Interviewer,
        "One more question.",
        45_000,
    ));
    interview.lines.push(line(
        "item_6",
        Interviewer,
        "One more question.",
        45_000,
        45_000 + RT_OFFSET,
    ));
    // Honest lines said in the gap: the record lacks their items, and they are not judged.
    let result = interview.compare();
    assert_eq!(result.summary.flagged, 0, "{result:#?}");
    assert_eq!(verdict(&result, "item_4"), &Verdict::Unobserved);
    assert_eq!(verdict(&result, "item_5"), &Verdict::Unobserved);
    // An invented line whose transcript would have come in the gap is not either...
    interview.lines.push(line(
        "item_gap",
        Candidate,
        "I never missed a deadline.",
        30_000,
        32_500,
    ));
    // ...nor one so close to a window's end that its transcript could have come after it...
    interview.lines.push(line(
        "item_edge",
        Candidate,
        "I mentor juniors.",
        15_000,
        16_000 + RT_OFFSET,
    ));
    // ...but one well inside the first window is.
    interview.lines.push(line(
        "item_early",
        Candidate,
        "I speak five languages.",
        6_000,
        8_000,
    ));
    let result = interview.compare();
    assert_eq!(verdict(&result, "item_gap"), &Verdict::Unobserved);
    assert_eq!(verdict(&result, "item_edge"), &Verdict::Unobserved);
    assert_eq!(flagged(&result), ["item_early"], "{result:#?}");
}

#[test]
fn realtime_lines_the_record_cannot_place_are_never_flagged() {
    // The proxy heard the call but none of its items is among the lines: nothing places its
    // clock.
    let mut interview = realtime_honest();
    for (n, line) in interview.lines.iter_mut().enumerate() {
        line.item_id = format!("item_other_{n}");
    }
    let candidates = interview
        .lines
        .iter()
        .filter(|l| l.speaker == "candidate")
        .count();
    let result = interview.compare();
    // The candidate's lines cannot be placed; the interviewer's are never judged missing.
    assert!(candidates > 0);
    assert_eq!(result.summary.could_not_align, candidates, "{result:#?}");
    assert_eq!(
        result.summary.unobserved,
        interview.lines.len() - candidates
    );
    assert_eq!(result.summary.flagged, 0);
    // No Realtime call observed at all (only a GPT-Live session's record): not observed.
    let mut live_only = honest();
    live_only.lines.extend(realtime_honest().lines);
    let result = live_only.compare();
    assert_eq!(verdict(&result, "item_1"), &Verdict::Unobserved);
    assert_eq!(result.summary.flagged, 0);
}

#[test]
fn a_fragments_item_id_reads_as_json_and_is_optional() {
    let heard = item("rtc_a", "item_1", Interviewer, "Hello.", 4_000);
    let json = serde_json::to_value(&heard).unwrap();
    assert_eq!(json["item_id"], "item_1");
    assert_eq!(
        serde_json::from_value::<ObservedFragment>(json).unwrap(),
        heard
    );
    let live = frag("live_a", Candidate, " Hi.", 1, 2);
    let json = serde_json::to_value(&live).unwrap();
    assert!(json.get("item_id").is_none(), "{json}");
    assert_eq!(
        serde_json::from_value::<ObservedFragment>(json)
            .unwrap()
            .item_id,
        None
    );
}

#[derive(Debug, Clone)]
struct GenItem {
    candidate: bool,
    words: Vec<&'static str>,
    /// Since the previous transcript arrived.
    gap: u64,
    /// How long the candidate's transcript lags their speech (or the interviewer's line end
    /// lags its transcript's arrival at the proxy, by the network).
    lag: u64,
}

fn gen_item() -> impl Strategy<Value = GenItem> {
    (
        any::<bool>(),
        prop::collection::vec(prop::sample::select(VOCABULARY), 1..=12),
        1_000u64..=15_000,
        0u64..=3_000,
    )
        .prop_map(|(candidate, words, gap, lag)| GenItem {
            candidate,
            words,
            gap,
            lag,
        })
}

/// A Realtime call: its items' transcripts as the proxy stored them (window from 0 until 30 s
/// after the last), and the client's lines `offset` ahead of the observer's clock.
fn build_realtime(items: &[GenItem], offset: i64) -> Interview {
    let mut interview = Interview {
        lines: Vec::new(),
        fragments: Vec::new(),
        windows: Vec::new(),
    };
    let mut at = 0u64;
    for (n, generated) in items.iter().enumerate() {
        at += generated.gap;
        let id = format!("item_{n}");
        let speaker = if generated.candidate {
            Candidate
        } else {
            Interviewer
        };
        let text = generated.words.join(" ");
        interview
            .fragments
            .push(item("rtc_p", &id, speaker, &text, at));
        let lag = i64::try_from(generated.lag).unwrap();
        let end = i64::try_from(at).unwrap()
            + offset
            + if generated.candidate {
                -lag
            } else {
                lag.min(300)
            };
        interview
            .lines
            .push(line(&id, speaker, &text, end - 2_000, end));
    }
    interview.windows.push(window("rtc_p", 0, at + 30_000));
    interview
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(500))]

    #[test]
    fn an_honest_realtime_call_is_never_flagged(
        items in prop::collection::vec(gen_item(), 1..=12),
        offset in -5_000i64..=60_000,
    ) {
        let result = build_realtime(&items, offset).compare();
        prop_assert_eq!(result.summary.flagged, 0, "{:#?}", result.lines);
        prop_assert_eq!(result.summary.heard, items.len());
    }

    #[test]
    fn one_invented_realtime_line_inside_the_window_is_exactly_one_flag(
        items in prop::collection::vec(gen_item(), 1..=12),
        offset in -5_000i64..=60_000,
        words in prop::collection::vec(prop::sample::select(VOCABULARY), 1..=8),
        place in 0.0f64..=1.0,
        candidate in any::<bool>(),
    ) {
        let mut interview = build_realtime(&items, offset);
        // Its end anywhere the window surely held, whatever the offset's error (at most the
        // largest lag, 3 s): from 5 s + 3 s after the window opens to 10 s + 3 s before it
        // ends.
        let to = i64::try_from(interview.windows[0].to_ms).unwrap();
        let (lo, hi) = (8_000, to - 13_000);
        prop_assume!(hi > lo);
        let mapped = lo + ((hi - lo) as f64 * place) as i64;
        let end = mapped + offset;
        let speaker = if candidate { Candidate } else { Interviewer };
        interview.lines.push(line("item_invented", speaker, &words.join(" "), end - 1_000, end));
        let result = interview.compare();
        if candidate {
            prop_assert_eq!(flagged(&result), vec!["item_invented"], "{:#?}", result.lines);
            prop_assert_eq!(verdict(&result, "item_invented"), &Verdict::NotHeard);
        } else {
            // An interviewer's item may lack a final transcript (cut off by barge-in): never
            // judged missing.
            prop_assert_eq!(flagged(&result), Vec::<&str>::new(), "{:#?}", result.lines);
            prop_assert_eq!(verdict(&result, "item_invented"), &Verdict::Unobserved);
        }
    }
}

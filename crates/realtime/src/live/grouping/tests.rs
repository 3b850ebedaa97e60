use super::*;

const C: Speaker = Speaker::Candidate;
const I: Speaker = Speaker::Interviewer;

/// Delivers `(speaker, text, start, end)` fragments one by one, each arriving at its end on the
/// timeline, firing the grouper's timers in between, then closes the session 10 s later.
fn run(fragments: &[(Speaker, &str, u64, u64)]) -> Vec<SegmentUpdate> {
    let mut grouper = Grouper::new(&GroupingOptions::default(), 0);
    let mut out = Vec::new();
    let mut now = 0i64;
    let mut due: Option<i64> = None;
    let drain = |grouper: &mut Grouper,
                 out: &mut Vec<SegmentUpdate>,
                 now: &mut i64,
                 due: &mut Option<i64>,
                 until: i64| {
        while let Some(at) = due.filter(|at| *at <= until) {
            *now = at;
            out.extend(grouper.tick(at));
            *due = grouper.delay(at).map(|d| at + d as i64);
        }
    };
    for (n, (speaker, text, start, end)) in fragments.iter().enumerate() {
        let at = (*end as i64).max(now);
        drain(&mut grouper, &mut out, &mut now, &mut due, at);
        now = at;
        out.extend(grouper.push(&format!("e{n}"), *speaker, text, *start, *end, now));
        due = grouper.delay(now).map(|d| now + d as i64);
    }
    let end = now + 10_000;
    drain(&mut grouper, &mut out, &mut now, &mut due, end);
    out.extend(grouper.finish(CloseReason::SessionClosed, end));
    out
}

fn closed(updates: &[SegmentUpdate]) -> Vec<(Speaker, String, CloseReason)> {
    updates
        .iter()
        .filter_map(|u| match u {
            SegmentUpdate::Closed { segment, reason } => {
                Some((segment.speaker, segment.text.clone(), *reason))
            }
            SegmentUpdate::Updated(_) => None,
        })
        .collect()
}

#[test]
fn a_question_and_an_answer_become_two_turns_with_their_words_joined() {
    let updates = run(&[
        (I, "Tell me", 0, 400),
        (I, " about yourself.", 400, 1200),
        (C, "I build", 1500, 1900),
        (C, " compilers.", 1900, 2500),
    ]);
    assert_eq!(
        closed(&updates),
        vec![
            (
                I,
                "Tell me about yourself.".into(),
                CloseReason::SpeakerChange
            ),
            (C, "I build compilers.".into(), CloseReason::SessionClosed),
        ]
    );
}

#[test]
fn the_interviewers_turn_closes_after_two_seconds_of_silence_the_candidates_never_does() {
    let updates = run(&[(I, "Hello.", 0, 500)]);
    assert_eq!(
        closed(&updates),
        vec![(I, "Hello.".into(), CloseReason::Inactivity)]
    );
    let updates = run(&[(C, "Let me think", 0, 500)]);
    assert_eq!(
        closed(&updates),
        vec![(C, "Let me think".into(), CloseReason::SessionClosed)]
    );
}

#[test]
fn an_interviewer_mhm_inside_the_candidates_answer_does_not_split_it() {
    let updates = run(&[
        (C, "I worked", 0, 600),
        (I, "Mhm.", 700, 900),
        (C, " on storage", 800, 1800),
        (C, " engines.", 1800, 2600),
    ]);
    assert_eq!(
        closed(&updates),
        vec![(
            C,
            "I worked on storage engines.".into(),
            CloseReason::SessionClosed
        )]
    );
}

#[test]
fn the_candidate_speaking_closes_the_interviewers_turn_at_once() {
    let updates = run(&[
        (I, "So", 0, 300),
        (C, "Sorry,", 350, 700),
        (I, " anyway", 800, 1200),
    ]);
    let reasons = closed(&updates);
    assert_eq!(reasons[0], (I, "So".into(), CloseReason::SpeakerChange));
    assert_eq!(reasons[1].0, C);
}

#[test]
fn an_interviewer_reply_within_half_a_second_waits_then_becomes_its_own_turn() {
    let updates = run(&[
        (C, "That is all.", 0, 1000),
        (I, "Thank you, next question:", 1200, 2400),
    ]);
    assert_eq!(
        closed(&updates),
        vec![
            (C, "That is all.".into(), CloseReason::SpeakerChange),
            (
                I,
                "Thank you, next question:".into(),
                CloseReason::Inactivity
            ),
        ]
    );
}

#[test]
fn a_repeated_event_id_or_an_empty_fragment_changes_nothing() {
    let mut grouper = Grouper::new(&GroupingOptions::default(), 0);
    assert!(
        grouper.push("e1", C, "Hi", 0, 100, 0).is_empty(),
        "the first fragment waits for its batch"
    );
    assert_eq!(grouper.tick(50).len(), 1);
    assert!(grouper.push("e1", C, "Hi", 0, 100, 60).is_empty());
    assert!(grouper.push("e2", C, "", 100, 200, 20).is_empty());
    let closed = grouper.finish(CloseReason::Manual, 30);
    assert_eq!(
        closed,
        vec![SegmentUpdate::Closed {
            segment: Segment {
                id: 0,
                previous_id: None,
                speaker: C,
                text: "Hi".into(),
                start_ms: 0,
                end_ms: 100
            },
            reason: CloseReason::Manual
        }]
    );
    assert!(grouper.push("e3", C, "late", 200, 300, 40).is_empty());
}

#[test]
fn ids_count_from_the_first_id_given_and_link_to_the_turn_before() {
    let mut grouper = Grouper::new(&GroupingOptions::default(), 7);
    assert!(grouper.push("a", I, "Hello.", 0, 500, 500).is_empty());
    // The candidate's fragment is at another place: the interviewer's batch is decided, and
    // the candidate's waits for its own.
    let mut updates = grouper.push("b", C, "Hi.", 600, 900, 950);
    assert_eq!(updates.len(), 1);
    updates.extend(grouper.tick(1000));
    let ids: Vec<(u64, Option<u64>)> = updates
        .iter()
        .map(|u| match u {
            SegmentUpdate::Updated(s) | SegmentUpdate::Closed { segment: s, .. } => {
                (s.id, s.previous_id)
            }
        })
        .collect();
    assert_eq!(ids, vec![(7, None), (7, None), (8, Some(7))]);
    assert_eq!(grouper.next_id(), 9);
}

#[test]
fn acknowledgements_are_normalised_like_the_sdk() {
    assert_eq!(normalise_acknowledgement("  Uh-huh!! "), "uh huh");
    assert_eq!(normalise_acknowledgement("(Mm   hmm.)"), "mm hmm");
    assert_eq!(normalise_acknowledgement("OK"), "ok");
    assert_eq!(normalise_acknowledgement("..."), "");
}

#[test]
fn setting_the_backchannel_duration_to_zero_keeps_every_word() {
    let options = GroupingOptions {
        backchannel_max_duration_ms: 0,
        ..GroupingOptions::default()
    };
    let mut grouper = Grouper::new(&options, 0);
    let mut updates = grouper.push("1", C, "I worked", 0, 600, 600);
    updates.extend(grouper.push("2", I, "Mhm.", 700, 900, 900));
    updates.extend(grouper.push("3", C, " there", 950, 1800, 1800));
    updates.extend(grouper.finish(CloseReason::SessionClosed, 5000));
    let texts: Vec<String> = closed(&updates).into_iter().map(|(_, t, _)| t).collect();
    assert!(texts.iter().any(|t| t.contains("Mhm.")), "{texts:?}");
}

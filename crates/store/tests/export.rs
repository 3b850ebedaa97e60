//! Exports read back by independent parsers: SubRip and WebVTT through `subtp`, JSON through
//! serde, and the text formats by what a reader sees.

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use std::time::Duration;

use viva_realtime::Speaker;
use viva_store::{Format, SessionStatus, StoredLine, StoredSession, SyncState, export};

fn session() -> StoredSession {
    StoredSession {
        id: "s1".into(),
        remote: None,
        user_id: None,
        title: "Senior <Rust> engineer --> round 2".into(),
        mode: "interview".into(),
        status: SessionStatus::Completed,
        started_at_ms: 1_767_225_600_000,
        ended_at_ms: Some(1_767_225_600_000 + 7_300_000),
        duration_ms: Some(7_300_000),
        cost_usd: None,
        lines: 5,
        sync: SyncState::LocalOnly,
        refused_lines: 0,
        consent: None,
    }
}

fn line(
    seq: u32,
    speaker: Speaker,
    text: &str,
    started_ms: u64,
    ended_ms: Option<u64>,
) -> StoredLine {
    StoredLine {
        item_id: format!("item{seq}"),
        seq,
        speaker,
        text: text.into(),
        started_ms,
        ended_ms,
        is_final: true,
        inaudible: None,
        interrupted: false,
        refused: None,
        late: false,
    }
}

fn lines() -> Vec<StoredLine> {
    let mut out = vec![
        line(
            1,
            Speaker::Interviewer,
            "Welcome! Tell me about <generics> & traits.",
            0,
            Some(2_500),
        ),
        // Blank lines inside a cue would end it early in both formats.
        line(
            2,
            Speaker::Candidate,
            "First,\n\nthe arrow --> in my code",
            3_000,
            None,
        ),
        line(4, Speaker::Candidate, "", 9_000, Some(9_900)),
        line(3, Speaker::Interviewer, "Go on", 7_000, None),
        // Two hours in: hours must not wrap.
        line(
            5,
            Speaker::Interviewer,
            "Thanks, that is all",
            7_265_432,
            Some(7_270_001),
        ),
    ];
    out[2].inaudible = Some("transcription_failed".into());
    out[3].interrupted = true;
    // A partial line is never exported.
    let mut partial = line(6, Speaker::Candidate, "half a thought", 7_280_000, None);
    partial.is_final = false;
    out.push(partial);
    out
}

fn ms(duration: Duration) -> u64 {
    u64::try_from(duration.as_millis()).unwrap()
}

/// (start, end, speaker label, words) per line, in order, as a reader would expect.
fn expected() -> Vec<(u64, &'static str, &'static str)> {
    vec![
        (
            0,
            "Interviewer",
            "Welcome! Tell me about <generics> & traits.",
        ),
        (3_000, "Candidate", "First, the arrow --> in my code"),
        (7_000, "Interviewer", "Go on [cut off]"),
        (9_000, "Candidate", "[inaudible]"),
        (7_265_432, "Interviewer", "Thanks, that is all"),
    ]
}

#[test]
fn subrip_parses_back_with_every_line_its_time_and_its_speaker() {
    let text = export(&session(), &lines(), Format::Srt);
    let parsed = subtp::srt::SubRip::parse(&text).expect("valid SubRip");
    let expected = expected();
    assert_eq!(parsed.subtitles.len(), expected.len(), "{text}");
    for ((cue, (start, speaker, words)), index) in parsed.subtitles.iter().zip(&expected).zip(1..) {
        assert_eq!(cue.sequence, index);
        let (cue_start, cue_end): (Duration, Duration) = (cue.start.into(), cue.end.into());
        assert_eq!(ms(cue_start), *start);
        assert!(cue_end > cue_start);
        // SubRip cannot escape an arrow; it becomes one that reads the same.
        assert_eq!(
            cue.text,
            vec![format!("{speaker}: {}", words.replace("-->", "→"))]
        );
    }
    // A line with its own end keeps it; one without ends before the next starts.
    assert_eq!(ms(parsed.subtitles[0].end.into()), 2_500);
    assert_eq!(ms(parsed.subtitles[1].end.into()), 5_800);
    assert_eq!(ms(parsed.subtitles[2].end.into()), 8_500);
    assert_eq!(ms(parsed.subtitles[4].end.into()), 7_270_001);
}

#[test]
fn webvtt_parses_back_with_voice_tags_and_escaped_text() {
    let text = export(&session(), &lines(), Format::Vtt);
    let parsed = subtp::vtt::WebVtt::parse(&text).expect("valid WebVTT");
    let cues: Vec<&subtp::vtt::VttCue> = parsed
        .blocks
        .iter()
        .filter_map(|b| match b {
            subtp::vtt::VttBlock::Que(cue) => Some(cue),
            _ => None,
        })
        .collect();
    let expected = expected();
    assert_eq!(cues.len(), expected.len(), "{text}");
    for (cue, (start, speaker, words)) in cues.iter().zip(&expected) {
        let t = &cue.timings.start;
        let cue_start = u64::from(t.hours) * 3_600_000
            + u64::from(t.minutes) * 60_000
            + u64::from(t.seconds) * 1000
            + u64::from(t.milliseconds);
        assert_eq!(cue_start, *start);
        assert_eq!(cue.payload.len(), 1);
        let payload = &cue.payload[0];
        let voice = format!("<v {speaker}>");
        let body = payload
            .strip_prefix(&voice)
            .unwrap_or_else(|| panic!("{payload}"));
        assert!(!body.contains('<') && !body.contains("-->"), "{body}");
        let unescaped = body
            .replace("&lt;", "<")
            .replace("&gt;", ">")
            .replace("&amp;", "&");
        assert_eq!(unescaped, *words);
    }
}

#[test]
fn json_holds_every_final_line_with_its_fields() {
    let value: serde_json::Value =
        serde_json::from_str(&export(&session(), &lines(), Format::Json)).unwrap();
    assert_eq!(
        value["session"]["title"],
        "Senior <Rust> engineer --> round 2"
    );
    assert_eq!(value["session"]["started_at"], "2026-01-01T00:00:00+00:00");
    let exported = value["lines"].as_array().unwrap();
    assert_eq!(exported.len(), 5);
    assert_eq!(exported[1]["text"], "First,\n\nthe arrow --> in my code");
    assert_eq!(exported[3]["inaudible"], "transcription_failed");
    let seqs: Vec<u64> = exported
        .iter()
        .map(|l| l["seq"].as_u64().unwrap())
        .collect();
    assert_eq!(seqs, vec![1, 2, 3, 4, 5]);
}

#[test]
fn markdown_and_text_read_as_a_labelled_transcript() {
    let markdown = export(&session(), &lines(), Format::Markdown);
    assert!(
        markdown.starts_with("# Senior \\<Rust\\> engineer --\\> round 2\n"),
        "{markdown}"
    );
    assert!(markdown.contains("2026-01-01 00:00 UTC · interview · 2:01:40 · completed"));
    assert!(markdown.contains("**Candidate** (00:03): First, the arrow --\\> in my code\n"));
    assert!(markdown.contains("**Interviewer** (2:01:05): Thanks, that is all\n"));
    assert!(!markdown.contains("half a thought"));

    let text = export(&session(), &lines(), Format::Text);
    let body: Vec<&str> = text.lines().skip(3).collect();
    assert_eq!(
        body,
        vec![
            "[00:00] Interviewer: Welcome! Tell me about <generics> & traits.",
            "[00:03] Candidate: First, the arrow --> in my code",
            "[00:07] Interviewer: Go on [cut off]",
            "[00:09] Candidate: [inaudible]",
            "[2:01:05] Interviewer: Thanks, that is all",
        ]
    );
}

#[test]
fn an_empty_session_exports_valid_empty_files() {
    for format in [Format::Srt, Format::Vtt] {
        let text = export(&session(), &[], format);
        match format {
            Format::Srt => assert!(subtp::srt::SubRip::parse(&text).is_ok() || text.is_empty()),
            _ => assert!(subtp::vtt::WebVtt::parse(&text).is_ok(), "{text}"),
        }
    }
    assert_eq!(Format::parse("WebVTT"), Some(Format::Vtt));
    assert_eq!(Format::parse("pdf"), None);
}

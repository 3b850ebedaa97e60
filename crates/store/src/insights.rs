//! What an interview's lines say about how it went, computed on this computer: who talked how
//! much, the candidate's pace, how long answers took to start, the longest silence, filler words
//! and a breakdown per question. Pure: lines in, numbers out.

use serde::Serialize;
use viva_realtime::Speaker;

use crate::export::cue_end;
use crate::model::StoredLine;

/// Words and phrases counted as fillers (lower case, as whole words).
pub const FILLERS: &[&str] = &[
    "um",
    "umm",
    "uh",
    "uhm",
    "er",
    "erm",
    "hmm",
    "you know",
    "i mean",
    "sort of",
    "kind of",
    "basically",
];

/// One filler and how often the candidate said it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[cfg_attr(feature = "specta", derive(specta::Type))]
pub struct FillerCount {
    pub filler: String,
    pub count: u32,
}

/// One interviewer question and the candidate's answer to it.
#[derive(Debug, Clone, PartialEq, Serialize)]
#[cfg_attr(feature = "specta", derive(specta::Type))]
#[serde(rename_all = "camelCase")]
pub struct QuestionInsight {
    pub question: String,
    /// When the question started, from the session's start.
    pub asked_ms: u64,
    /// From the end of the question to the start of the answer; `None` when unanswered.
    pub latency_ms: Option<u64>,
    /// How long the candidate spoke in answer.
    pub answer_ms: u64,
    pub answer_words: u32,
}

/// An interview in numbers, as the review screen shows it (times in milliseconds).
#[derive(Debug, Clone, PartialEq, Serialize)]
#[cfg_attr(feature = "specta", derive(specta::Type))]
#[serde(rename_all = "camelCase")]
pub struct Insights {
    pub candidate_talk_ms: u64,
    pub interviewer_talk_ms: u64,
    /// The candidate's share of all talk, 0–1; `None` when nobody spoke.
    pub candidate_share: Option<f64>,
    /// The candidate's words per minute of their own talk; `None` without timed talk.
    pub words_per_minute: Option<f64>,
    /// Mean time from the end of a question to the start of its answer.
    pub average_latency_ms: Option<u64>,
    /// The longest silence between two lines, and when it began.
    pub longest_pause_ms: u64,
    pub longest_pause_at_ms: Option<u64>,
    /// The candidate's fillers, most frequent first.
    pub fillers: Vec<FillerCount>,
    pub filler_total: u32,
    pub questions: Vec<QuestionInsight>,
}

/// Insights from a session's lines (final lines only; their order is the conversation's).
pub fn insights(lines: &[StoredLine]) -> Insights {
    let mut finals: Vec<&StoredLine> = lines.iter().filter(|l| l.is_final).collect();
    finals.sort_by_key(|l| (l.seq, l.started_ms));
    let spans: Vec<(u64, u64)> = (0..finals.len())
        .map(|i| (finals[i].started_ms, cue_end(&finals, i)))
        .collect();

    let (mut candidate_talk_ms, mut interviewer_talk_ms, mut candidate_words) = (0, 0, 0u64);
    for (line, (start, end)) in finals.iter().zip(&spans) {
        let spoken = end.saturating_sub(*start);
        match line.speaker {
            Speaker::Candidate => {
                candidate_talk_ms += spoken;
                candidate_words += word_count(&line.text) as u64;
            }
            Speaker::Interviewer => interviewer_talk_ms += spoken,
        }
    }
    let total = candidate_talk_ms + interviewer_talk_ms;
    let candidate_share = (total > 0).then(|| candidate_talk_ms as f64 / total as f64);
    let words_per_minute = (candidate_talk_ms > 0)
        .then(|| candidate_words as f64 / (candidate_talk_ms as f64 / 60_000.0));

    let (mut longest_pause_ms, mut longest_pause_at_ms) = (0, None);
    for pair in spans.windows(2) {
        let (_, end) = pair[0];
        let (next_start, _) = pair[1];
        let gap = next_start.saturating_sub(end);
        if gap > longest_pause_ms {
            longest_pause_ms = gap;
            longest_pause_at_ms = Some(end);
        }
    }

    let questions = per_question(&finals, &spans);
    let latencies: Vec<u64> = questions.iter().filter_map(|q| q.latency_ms).collect();
    let average_latency_ms =
        (!latencies.is_empty()).then(|| latencies.iter().sum::<u64>() / latencies.len() as u64);

    // Each candidate line is split into words once, then every filler is counted in them
    // (splitting once per filler made a two-hour interview's insights 10× slower).
    let mut counts = [0_u32; FILLERS.len()];
    let wanted: Vec<Vec<&str>> = FILLERS
        .iter()
        .map(|filler| filler.split_whitespace().collect())
        .collect();
    for line in finals.iter().filter(|l| l.speaker == Speaker::Candidate) {
        let words = words_of(&line.text);
        for (count, phrase) in counts.iter_mut().zip(&wanted) {
            *count = count.saturating_add(occurrences(&words, phrase));
        }
    }
    let mut fillers: Vec<FillerCount> = FILLERS
        .iter()
        .zip(counts)
        .filter(|(_, count)| *count > 0)
        .map(|(filler, count)| FillerCount {
            filler: (*filler).to_owned(),
            count,
        })
        .collect();
    fillers.sort_by(|a, b| b.count.cmp(&a.count).then_with(|| a.filler.cmp(&b.filler)));
    let filler_total = fillers.iter().map(|f| f.count).sum();

    Insights {
        candidate_talk_ms,
        interviewer_talk_ms,
        candidate_share,
        words_per_minute,
        average_latency_ms,
        longest_pause_ms,
        longest_pause_at_ms,
        fillers,
        filler_total,
        questions,
    }
}

/// Each run of interviewer lines is one question; the candidate lines after it, its answer.
fn per_question(lines: &[&StoredLine], spans: &[(u64, u64)]) -> Vec<QuestionInsight> {
    let mut questions: Vec<QuestionInsight> = Vec::new();
    let mut question_end = 0;
    let mut in_question = false;
    for (line, (start, end)) in lines.iter().zip(spans) {
        match line.speaker {
            Speaker::Interviewer => {
                let text = line.text.trim();
                if in_question && let Some(current) = questions.last_mut() {
                    // The interviewer went on: one question in several lines.
                    if !text.is_empty() {
                        current.question = format!("{} {text}", current.question).trim().to_owned();
                    }
                } else {
                    questions.push(QuestionInsight {
                        question: text.to_owned(),
                        asked_ms: *start,
                        latency_ms: None,
                        answer_ms: 0,
                        answer_words: 0,
                    });
                }
                in_question = true;
                question_end = *end;
            }
            Speaker::Candidate => {
                in_question = false;
                let Some(current) = questions.last_mut() else {
                    continue; // spoke before any question
                };
                if current.latency_ms.is_none() {
                    current.latency_ms = Some(start.saturating_sub(question_end));
                }
                current.answer_ms += end.saturating_sub(*start);
                current.answer_words += word_count(&line.text);
            }
        }
    }
    questions
}

fn word_count(text: &str) -> u32 {
    u32::try_from(text.split_whitespace().count()).unwrap_or(u32::MAX)
}

/// `text`'s words in lower case, without the punctuation around them.
fn words_of(text: &str) -> Vec<String> {
    text.split_whitespace()
        .map(|w| {
            w.trim_matches(|c: char| !c.is_alphanumeric() && c != '\'')
                .to_lowercase()
        })
        .filter(|w| !w.is_empty())
        .collect()
}

/// Whole-word occurrences of `phrase` (one or more lower-case words) in `words`.
fn occurrences(words: &[String], phrase: &[&str]) -> u32 {
    if phrase.is_empty() || words.len() < phrase.len() {
        return 0;
    }
    let found = words
        .windows(phrase.len())
        .filter(|window| window.iter().zip(phrase).all(|(w, p)| w == p))
        .count();
    u32::try_from(found).unwrap_or(u32::MAX)
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;

    fn line(seq: u32, speaker: Speaker, text: &str, start: u64, end: u64) -> StoredLine {
        StoredLine {
            item_id: format!("item_{seq}"),
            seq,
            speaker,
            text: text.into(),
            started_ms: start,
            ended_ms: Some(end),
            is_final: true,
            inaudible: None,
            interrupted: false,
            refused: None,
            late: false,
        }
    }

    fn interview() -> Vec<StoredLine> {
        use Speaker::{Candidate, Interviewer};
        vec![
            line(1, Interviewer, "Tell me about yourself.", 0, 2_000),
            line(
                2,
                Candidate,
                "Um, I build, you know, payment systems.",
                3_000,
                9_000,
            ),
            line(
                3,
                Interviewer,
                "Which one are you proudest of?",
                10_000,
                12_000,
            ),
            line(4, Interviewer, "And why?", 12_000, 13_000),
            line(
                5,
                Candidate,
                "The ledger, um, because it never lost a cent.",
                18_000,
                24_000,
            ),
            line(6, Interviewer, "Thank you, that is all.", 25_000, 27_000),
        ]
    }

    #[test]
    fn talk_time_pace_and_latency_come_from_the_lines() {
        let found = insights(&interview());
        assert_eq!(found.candidate_talk_ms, 12_000);
        assert_eq!(found.interviewer_talk_ms, 7_000);
        let share = found.candidate_share.unwrap();
        assert!((share - 12.0 / 19.0).abs() < 1e-9, "{share}");
        // 7 + 9 words in 12 s of talk.
        let pace = found.words_per_minute.unwrap();
        assert!((pace - 80.0).abs() < 1e-9, "{pace}");
        // 1 s after the first question, 5 s after the second (which ended at 13 s).
        assert_eq!(found.average_latency_ms, Some(3_000));
        assert_eq!(found.longest_pause_ms, 5_000);
        assert_eq!(found.longest_pause_at_ms, Some(13_000));
    }

    #[test]
    fn fillers_are_whole_words_and_phrases_of_the_candidate_only() {
        let found = insights(&interview());
        assert_eq!(
            found.fillers,
            vec![
                FillerCount {
                    filler: "um".into(),
                    count: 2
                },
                FillerCount {
                    filler: "you know".into(),
                    count: 1
                },
            ]
        );
        assert_eq!(found.filler_total, 3);
        assert_eq!(occurrences(&words_of("Umbrella, drum, UM."), &["um"]), 1);
        assert_eq!(
            occurrences(&words_of("I mean it, I mean"), &["i", "mean"]),
            2
        );
    }

    #[test]
    fn a_question_in_several_lines_is_one_question_and_an_unanswered_one_shows() {
        let found = insights(&interview());
        let asked: Vec<_> = found
            .questions
            .iter()
            .map(|q| q.question.as_str())
            .collect();
        assert_eq!(
            asked,
            [
                "Tell me about yourself.",
                "Which one are you proudest of? And why?",
                "Thank you, that is all."
            ]
        );
        assert_eq!(found.questions[1].latency_ms, Some(5_000));
        assert_eq!(found.questions[1].answer_words, 9);
        assert_eq!(found.questions[1].answer_ms, 6_000);
        assert_eq!(found.questions[2].latency_ms, None);
    }

    #[test]
    fn an_empty_session_has_no_ratios_and_no_panic() {
        let found = insights(&[]);
        assert_eq!(found.candidate_share, None);
        assert_eq!(found.words_per_minute, None);
        assert_eq!(found.average_latency_ms, None);
        assert!(found.questions.is_empty());
    }
}

//! The transcript of record: the lines a candidate's computer uploaded, compared with what the
//! SDP proxy observed on each GPT-Live session's sideband (W2-5 item 6). Pure: the caller reads
//! both from storage and shows the result in review.
//!
//! The two sides group words differently (the client into lines by OpenAI's policy, the proxy
//! not at all: it keeps the provider's fragments), so lines are matched by provider session,
//! time and normalised words, never by line id. A line is flagged only where the proxy was
//! listening: [`Verdict::NotHeard`] (the server heard nothing from that speaker then) or
//! [`Verdict::HeardDifferently`] (it heard other words). Everything else is never a flag.
//!
//! How it works:
//! - **Which session.** A GPT-Live line id is `<provider session>#<n>` (parts of a cut line add
//!   `#pNNNN`, and are put back together first). A line of a session the proxy has no window
//!   for is [`Verdict::Unobserved`]. A line id without `#` is a Realtime line: see below.
//! - **Where on the session's timeline.** Line times count from the interview session's start,
//!   fragments from the provider session's; each provider session started at an offset the
//!   client only estimated. The offset is found again from the lines: each line votes
//!   `started_ms − t` for every place `t` where the same speaker's observed words begin with the
//!   line's first words (up to [`ANCHOR_WORDS`]); a vote weighs how many of the line's words
//!   match on from there (at most 16), shared between the places it could be. The offset is
//!   the weighted median of the heaviest [`CompareOptions::offset_window_ms`] of votes: a
//!   forged line is one vote among many. With no vote at all a session's lines are
//!   [`Verdict::CouldNotAlign`].
//! - **Judged or not.** The proxy is taken to have every fragment that starts inside a window
//!   and at least [`CompareOptions::tolerance_ms`] before its end (delivery takes time), and a
//!   line's words to sit within [`CompareOptions::slack_ms`] of its mapped times. A line is
//!   judged whole when one window holds it from `slack` before its start (or the window opens
//!   with the session) to `tolerance + slack` after its end. A line that runs into a gap is
//!   judged on its observed side only: if its start is so held, what the server heard from
//!   there until the window closes must begin the line; if its end is, what it heard from the
//!   window's opening must end the line (so stretching a forged line into a gap does not hide
//!   it). A line with neither end observed is [`Verdict::Unobserved`], whatever its text.
//! - **Same words.** The speaker's observed words whose fragment starts within the line's time
//!   (± the tolerance) are aligned with the line's words, word by word: a word changed, missing
//!   or added costs one edit; two words written as one (or one as two) cost nothing. Observed
//!   words may be left out for free only at the edges (within
//!   [`CompareOptions::slack_ms`] of the line's ends, where the neighbouring lines' words sit)
//!   and where the provider delivered a fragment out of order; a stretch left out of the
//!   middle of the line counts. The line is [`Verdict::Heard`] within
//!   [`CompareOptions::max_edit_percent`] of its words (at most
//!   [`CompareOptions::max_edits`]).
//!
//! Realtime lines (an id without `#`): on a Realtime call the client's line ids are the
//! provider's item ids, and the proxy stores each transcript with its item id, so a line is
//! judged by item id, not by time:
//! - **An item the record has** (fragments with the line's id, joined in the order received):
//!   the same speaker's words are aligned with the line's as above, without free words at the
//!   edges (an item is exactly one line): [`Verdict::Heard`] within the edit budget, else
//!   [`Verdict::HeardDifferently`]. An item the record has from the other speaker only is
//!   heard differently.
//! - **Where the observer's clock sits.** Realtime fragments carry the observer's own clock (the
//!   arrival of the item's final transcript), so each observed Realtime call's offset is the
//!   median of `ended_ms − arrival` over its heard lines (a line's end is when the client had
//!   its final transcript, or when the candidate stopped speaking).
//! - **A candidate's item the record lacks** (an interviewer's is never judged missing: a
//!   response cut off by barge-in may have no final transcript) is [`Verdict::NotHeard`] only
//!   when a window of an observed
//!   Realtime call holds its mapped end from [`CompareOptions::realtime_before_ms`] before to
//!   [`CompareOptions::realtime_after_ms`] after (a window from 0 opened before the answer went
//!   out, so nothing is missing before it); else [`Verdict::Unobserved`]. With no heard line to
//!   place any observed Realtime call it is [`Verdict::CouldNotAlign`]; with no Realtime call
//!   observed (windows of sessions no GPT-Live line names, whose fragments all carry item ids)
//!   it is [`Verdict::Unobserved`].
//!
//! Normalisation ([`normalise`]): lowercase; letters and digits make words, everything else
//! separates them; characters of scripts written without spaces (Han, kana, Thai, Lao, Khmer,
//! Myanmar) are a word each. The observed text is each speaker's fragments joined in the order
//! the proxy received them (they carry their own spaces), as the client joins them.
//!
//! Bounded work: the offset uses at most [`CompareOptions::max_voting_lines`] lines per session
//! and skips anchors found in more than [`CompareOptions::max_anchor_places`] places; a line's
//! observed words are found by binary search; the alignment keeps only cells within the edit
//! budget (a band around the matching diagonal); and a line whose time holds far more observed
//! words than it has (more than 2 × its words + 200) is heard differently without aligning:
//! an honest line holds every word its speaker said in its time.

use std::collections::HashMap;

use serde::{Deserialize, Serialize};

use crate::{Entry, MAX_LINE_CHARS};

/// How many of a line's first words anchor its vote for the session's offset.
pub const ANCHOR_WORDS: usize = 4;
/// A vote weighs as many of the line's words as match on from its anchor, up to this many.
const MAX_RUN_WORDS: usize = 16;

/// Who spoke, as the provider's events say (`session.input_transcript.delta` is the candidate,
/// `session.output_transcript.delta` the interviewer).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Speaker {
    Candidate,
    Interviewer,
}

impl Speaker {
    /// The speaker an [`Entry`] names (`candidate` or `interviewer`).
    #[must_use]
    pub fn parse(name: &str) -> Option<Self> {
        match name {
            "candidate" => Some(Self::Candidate),
            "interviewer" => Some(Self::Interviewer),
            _ => None,
        }
    }
}

/// One transcript fragment as the proxy received it on a provider session's sideband. Times
/// are on that session's own timeline (milliseconds from its start); on a Realtime call, whose
/// events carry no times for the interviewer's words, they are the observer's own clock (when
/// the fragment arrived, in milliseconds since it asked for the call's events).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ObservedFragment {
    /// The provider's session id (`live_…`, or a Realtime call's `rtc_…`).
    pub provider_session: String,
    pub speaker: Speaker,
    pub text: String,
    pub start_ms: u64,
    pub end_ms: u64,
    /// The provider's conversation item the words belong to (Realtime: the item id the
    /// client's line carries as its own id); `None` on GPT-Live, whose lines are matched by
    /// time and words.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub item_id: Option<String>,
}

/// A stretch of a provider session's timeline during which the proxy was attached and
/// listening. A session may have several, with gaps between them (a restart, a drain).
///
/// The comparison assumes that the proxy has every fragment whose `start_ms` lies in
/// `[from_ms, to_ms − tolerance_ms]` ([`CompareOptions::tolerance_ms`]): `from_ms` no earlier
/// than the moment it began listening, `to_ms` no later than its last, on the session's
/// timeline. A window from 0 means it listened from the session's creation.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ObservedWindow {
    pub provider_session: String,
    pub from_ms: u64,
    pub to_ms: u64,
}

/// What review says about one uploaded line.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "verdict", rename_all = "snake_case")]
pub enum Verdict {
    /// The server heard these words from this speaker then; `edits` words differ (within the
    /// budget). A line without words claims nothing and is heard when judged.
    Heard { edits: u32 },
    /// Flag: the server was listening and heard this speaker say something else then.
    HeardDifferently {
        /// What it heard from that speaker in the line's time (at most [`MAX_LINE_CHARS`]
        /// characters).
        observed: String,
    },
    /// Flag: the server was listening and heard nothing from this speaker then.
    NotHeard,
    /// The server was not listening then (a gap, before or after its windows, a session it has
    /// no window for, a Realtime line whose item it lacks outside its windows): nothing can be
    /// said.
    Unobserved,
    /// The server listened to this session but none of its lines could be placed on its
    /// timeline: nothing can be said line by line (see the session's [`SessionAlignment`]).
    CouldNotAlign,
}

impl Verdict {
    /// Whether review should flag the line.
    #[must_use]
    pub fn is_flag(&self) -> bool {
        matches!(self, Self::NotHeard | Self::HeardDifferently { .. })
    }
}

/// The verdict on one uploaded entry. Parts of a cut line share their line's verdict.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct LineCheck {
    pub item_id: String,
    #[serde(flatten)]
    pub verdict: Verdict,
}

/// How a provider session lined up.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct SessionAlignment {
    pub provider_session: String,
    /// Uploaded entries naming it.
    pub lines: usize,
    /// Observed windows (after joining overlapping ones) and fragments. A session the client
    /// names but the proxy never listened to has 0 windows; one the proxy listened to but the
    /// client uploaded nothing for has 0 lines.
    pub windows: usize,
    pub fragments: usize,
    /// Where the session's timeline starts on the interview's (interview ms = session ms +
    /// offset), if the lines could place it.
    pub offset_ms: Option<i64>,
    /// How many lines voted for that offset.
    pub supporting_lines: usize,
}

/// Counts of entries by verdict.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Summary {
    pub lines: usize,
    pub heard: usize,
    pub heard_differently: usize,
    pub not_heard: usize,
    pub unobserved: usize,
    pub could_not_align: usize,
    /// `heard_differently + not_heard`.
    pub flagged: usize,
}

/// The whole comparison: one check per entry, in input order.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Comparison {
    pub lines: Vec<LineCheck>,
    /// Every provider session named by a line or observed, lines' first.
    pub sessions: Vec<SessionAlignment>,
    pub summary: Summary,
}

impl Comparison {
    /// The flagged entries, in input order.
    pub fn flagged(&self) -> impl Iterator<Item = &LineCheck> {
        self.lines.iter().filter(|c| c.verdict.is_flag())
    }
}

/// The comparison's tolerances.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default)]
pub struct CompareOptions {
    /// How long a fragment may take to reach the proxy after its start (so the end of a window
    /// is trusted only up to this before it), and the margin around a line's time within which
    /// observed words are gathered.
    pub tolerance_ms: u64,
    /// How far a line's ends may sit from where its words are (the offset's estimate, the
    /// client's rounding): observed words this close outside the line may belong to its
    /// neighbours, and are left out for free.
    pub slack_ms: u64,
    /// Word edits allowed, in percent of the line's words (rounded down)...
    pub max_edit_percent: u32,
    /// ...and at most this many.
    pub max_edits: u32,
    /// Width of the band of offsets whose votes count together.
    pub offset_window_ms: u64,
    /// The most lines per session that vote for its offset (the first ones given).
    pub max_voting_lines: usize,
    /// An anchor found in more places than this is too common to vote.
    pub max_anchor_places: usize,
    /// Realtime: a line the record has no item for is judged only when one window holds its
    /// mapped end from this long before it (the offset's error: it is estimated from the
    /// arrival of transcripts, which lag their speech by a varying amount)...
    pub realtime_before_ms: u64,
    /// ...to this long after it (a Realtime transcript arrives after its speech: a candidate's
    /// once transcribed, which can take seconds for a long turn).
    pub realtime_after_ms: u64,
}

impl Default for CompareOptions {
    fn default() -> Self {
        Self {
            tolerance_ms: 1_500,
            slack_ms: 500,
            max_edit_percent: 10,
            max_edits: 16,
            offset_window_ms: 500,
            max_voting_lines: 1_000,
            max_anchor_places: 64,
            realtime_before_ms: 5_000,
            realtime_after_ms: 10_000,
        }
    }
}

/// `text` as compared: its words, lowercase, joined by single spaces.
#[must_use]
pub fn normalise(text: &str) -> String {
    tokens(text)
        .into_iter()
        .map(|t| t.word)
        .collect::<Vec<_>>()
        .join(" ")
}

/// A session's stored fragments (each with its window's id, in the order stored) as the
/// comparison takes them: a fragment stored again by another window (two windows overlapped:
/// an instance took over while the other still listened) is kept once.
pub fn without_repeats<W: AsRef<str>>(
    rows: impl IntoIterator<Item = (W, ObservedFragment)>,
) -> Vec<ObservedFragment> {
    let mut first_window: HashMap<(String, Speaker, u64, u64, String), String> = HashMap::new();
    let mut kept = Vec::new();
    for (window, fragment) in rows {
        let window = window.as_ref();
        let key = (
            fragment.provider_session.clone(),
            fragment.speaker,
            fragment.start_ms,
            fragment.end_ms,
            fragment.text.clone(),
        );
        match first_window.get(&key) {
            // The same words at the same time from another window: the overlap's copy.
            Some(first) if first != window => continue,
            // The same window said it twice: the provider did, and so did the client.
            Some(_) => {}
            None => {
                first_window.insert(key, window.to_owned());
            }
        }
        kept.push(fragment);
    }
    kept
}

/// Compares the uploaded lines with what the proxy observed, with the default options.
#[must_use]
pub fn compare(
    lines: &[Entry],
    fragments: &[ObservedFragment],
    windows: &[ObservedWindow],
) -> Comparison {
    compare_with(lines, fragments, windows, &CompareOptions::default())
}

/// Compares the uploaded lines with what the proxy observed. `fragments` must be in the order
/// the proxy received them (per session; sessions may interleave).
#[must_use]
pub fn compare_with(
    lines: &[Entry],
    fragments: &[ObservedFragment],
    windows: &[ObservedWindow],
    options: &CompareOptions,
) -> Comparison {
    let logical = logical_lines(lines);

    // Every session, lines' first, then observed ones in order of appearance.
    let mut order: Vec<&str> = Vec::new();
    let mut index: HashMap<&str, usize> = HashMap::new();
    let names = logical
        .iter()
        .filter_map(|l| l.session)
        .chain(windows.iter().map(|w| w.provider_session.as_str()))
        .chain(fragments.iter().map(|f| f.provider_session.as_str()));
    for name in names {
        index.entry(name).or_insert_with(|| {
            order.push(name);
            order.len() - 1
        });
    }
    let mut sessions: Vec<Session> = order.iter().map(|_| Session::default()).collect();
    for window in windows {
        if let (Some(&at), true) = (
            index.get(window.provider_session.as_str()),
            window.from_ms <= window.to_ms,
        ) {
            sessions[at]
                .windows
                .push((ms(window.from_ms), ms(window.to_ms)));
        }
    }
    let mut by_speaker: Vec<[Vec<&ObservedFragment>; 2]> =
        order.iter().map(|_| [Vec::new(), Vec::new()]).collect();
    for fragment in fragments {
        if let Some(&at) = index.get(fragment.provider_session.as_str()) {
            sessions[at].fragments += 1;
            sessions[at].itemless += usize::from(fragment.item_id.is_none());
            by_speaker[at][slot(fragment.speaker)].push(fragment);
        }
    }
    for (session, [candidate, interviewer]) in sessions.iter_mut().zip(by_speaker) {
        session.windows = merge_windows(std::mem::take(&mut session.windows));
        session.streams = [Stream::new(&candidate), Stream::new(&interviewer)];
    }
    let mut members: Vec<Vec<usize>> = order.iter().map(|_| Vec::new()).collect();
    for (at, line) in logical.iter().enumerate() {
        if let Some(&s) = line.session.and_then(|name| index.get(name)) {
            members[s].push(at);
        }
    }
    for (session, members) in sessions.iter_mut().zip(&members) {
        if !session.windows.is_empty() {
            session.offset = estimate_offset(&logical, members, &session.streams, options);
        }
    }

    let mut verdicts: Vec<Option<Verdict>> = vec![None; lines.len()];
    let realtime_lines = judge_realtime(
        &logical,
        fragments,
        &mut sessions,
        &members,
        &index,
        options,
        &mut verdicts,
    );
    for line in logical.iter().filter(|l| l.item.is_none()) {
        let session = line
            .session
            .and_then(|name| index.get(name))
            .map(|&at| &sessions[at]);
        let verdict = judge(line, session, options);
        for &entry in &line.entries {
            verdicts[entry] = Some(verdict.clone());
        }
    }
    let checks: Vec<LineCheck> = lines
        .iter()
        .zip(verdicts)
        .map(|(entry, verdict)| LineCheck {
            item_id: entry.item_id.clone(),
            verdict: verdict.unwrap_or(Verdict::Unobserved),
        })
        .collect();

    let mut alignments: Vec<SessionAlignment> = order
        .iter()
        .zip(&sessions)
        .map(|(name, session)| SessionAlignment {
            provider_session: (*name).to_owned(),
            lines: 0,
            windows: session.windows.len(),
            fragments: session.fragments,
            offset_ms: session.offset.map(|o| o.offset),
            supporting_lines: session.offset.map_or(0, |o| o.supporting_lines),
        })
        .collect();
    for line in &logical {
        if let Some(&at) = line.session.and_then(|name| index.get(name)) {
            alignments[at].lines += line.entries.len();
        }
    }
    for (alignment, lines) in alignments.iter_mut().zip(realtime_lines) {
        alignment.lines += lines;
    }
    let summary = summarise(&checks);
    Comparison {
        lines: checks,
        sessions: alignments,
        summary,
    }
}

fn summarise(checks: &[LineCheck]) -> Summary {
    let mut summary = Summary {
        lines: checks.len(),
        ..Summary::default()
    };
    for check in checks {
        match check.verdict {
            Verdict::Heard { .. } => summary.heard += 1,
            Verdict::HeardDifferently { .. } => summary.heard_differently += 1,
            Verdict::NotHeard => summary.not_heard += 1,
            Verdict::Unobserved => summary.unobserved += 1,
            Verdict::CouldNotAlign => summary.could_not_align += 1,
        }
    }
    summary.flagged = summary.heard_differently + summary.not_heard;
    summary
}

fn ms(value: u64) -> i64 {
    i64::try_from(value).unwrap_or(i64::MAX)
}

fn slot(speaker: Speaker) -> usize {
    match speaker {
        Speaker::Candidate => 0,
        Speaker::Interviewer => 1,
    }
}

// ---------------------------------------------------------------------------------------------
// Words

#[derive(Debug, Clone, PartialEq, Eq)]
struct Token {
    word: String,
    /// Byte range in the text it came from.
    start: usize,
    end: usize,
}

/// Scripts written without spaces between words: each character is a word.
fn stands_alone(c: char) -> bool {
    matches!(u32::from(c),
        0x0E00..=0x0EFF // Thai, Lao
        | 0x1000..=0x109F // Myanmar
        | 0x1780..=0x17FF // Khmer
        | 0x3040..=0x30FF // Hiragana, Katakana
        | 0x3400..=0x4DBF // CJK extension A
        | 0x4E00..=0x9FFF // CJK unified ideographs
        | 0xF900..=0xFAFF // CJK compatibility ideographs
        | 0x20000..=0x2FA1F) // CJK extensions B–F, compatibility supplement
}

fn tokens(text: &str) -> Vec<Token> {
    let mut out = Vec::new();
    let mut current: Option<Token> = None;
    for (at, c) in text.char_indices() {
        let end = at + c.len_utf8();
        if stands_alone(c) {
            out.extend(current.take());
            out.push(Token {
                word: c.to_lowercase().collect(),
                start: at,
                end,
            });
        } else if c.is_alphanumeric() {
            let token = current.get_or_insert_with(|| Token {
                word: String::new(),
                start: at,
                end,
            });
            token.word.extend(c.to_lowercase());
            token.end = end;
        } else {
            out.extend(current.take());
        }
    }
    out.extend(current);
    out
}

// ---------------------------------------------------------------------------------------------
// The client's lines

/// An uploaded line, its parts put back together.
#[derive(Debug)]
struct Logical<'a> {
    session: Option<&'a str>,
    /// A Realtime line's item id (its id has no `#`).
    item: Option<&'a str>,
    speaker: Option<Speaker>,
    words: Vec<String>,
    start: i64,
    end: i64,
    /// Indices of its entries in the input.
    entries: Vec<usize>,
}

/// `(line id, part number)`: parts after the first end in `#p` and at least four digits
/// ([`crate::part_item_id`]); the first part is the line's own id.
fn split_part(item_id: &str) -> (&str, u32) {
    if let Some((base, number)) = item_id.rsplit_once("#p")
        && number.len() >= 4
        && number.bytes().all(|b| b.is_ascii_digit())
        && let Ok(number) = number.parse::<u32>()
        && number >= 2
    {
        return (base, number);
    }
    (item_id, 1)
}

fn logical_lines(lines: &[Entry]) -> Vec<Logical<'_>> {
    let mut groups: Vec<Vec<(u32, usize)>> = Vec::new();
    let mut by_base: HashMap<&str, usize> = HashMap::new();
    for (at, entry) in lines.iter().enumerate() {
        let (base, part) = split_part(&entry.item_id);
        let group = *by_base.entry(base).or_insert_with(|| {
            groups.push(Vec::new());
            groups.len() - 1
        });
        groups[group].push((part, at));
    }
    groups
        .into_iter()
        .map(|mut parts| {
            parts.sort_by_key(|&(part, at)| (part, at));
            let first = &lines[parts[0].1];
            let (base, _) = split_part(&first.item_id);
            let session = base
                .split_once('#')
                .map(|(session, _)| session)
                .filter(|s| !s.is_empty());
            let mut text = String::new();
            let mut previous = None;
            let mut start = i64::MAX;
            let mut end = i64::MIN;
            for &(part, at) in &parts {
                let entry = &lines[at];
                start = start.min(entry.started_ms);
                end = end.max(entry.ended_ms.unwrap_or(entry.started_ms));
                // The same part twice (a repeated upload) is read once.
                if previous != Some(part) {
                    text.push_str(&entry.text);
                }
                previous = Some(part);
            }
            Logical {
                session,
                item: (!base.is_empty() && !base.contains('#')).then_some(base),
                speaker: Speaker::parse(&first.speaker),
                words: tokens(&text).into_iter().map(|t| t.word).collect(),
                start,
                end: end.max(start),
                entries: parts.iter().map(|&(_, at)| at).collect(),
            }
        })
        .collect()
}

// ---------------------------------------------------------------------------------------------
// What the proxy observed

#[derive(Debug, Clone)]
struct Word {
    word: String,
    /// Start of the fragment the word begins in.
    time: i64,
    /// Its fragment arrived after a later one of the same speaker: the client put it in a line
    /// of its own, so it may sit in another line's time.
    late: bool,
    /// Byte range in the stream's text.
    start: usize,
    end: usize,
}

/// One speaker's observed words in one provider session, in the order received.
#[derive(Debug, Default)]
struct Stream {
    text: String,
    words: Vec<Word>,
    /// Word indices by time (then order received).
    by_time: Vec<usize>,
    /// Where each word occurs.
    places: HashMap<String, Vec<usize>>,
}

impl Stream {
    fn new(fragments: &[&ObservedFragment]) -> Self {
        let mut text = String::new();
        // (byte offset where the fragment starts, its start, late)
        let mut marks: Vec<(usize, i64, bool)> = Vec::with_capacity(fragments.len());
        let mut latest = i64::MIN;
        for fragment in fragments {
            let start = ms(fragment.start_ms);
            marks.push((text.len(), start, start < latest));
            latest = latest.max(start);
            text.push_str(&fragment.text);
        }
        let words: Vec<Word> = tokens(&text)
            .into_iter()
            .map(|token| {
                let mark = marks
                    .partition_point(|&(offset, _, _)| offset <= token.start)
                    .saturating_sub(1);
                let (_, time, late) = marks.get(mark).copied().unwrap_or((0, 0, false));
                Word {
                    word: token.word,
                    time,
                    late,
                    start: token.start,
                    end: token.end,
                }
            })
            .collect();
        let mut by_time: Vec<usize> = (0..words.len()).collect();
        by_time.sort_by_key(|&at| (words[at].time, at));
        let mut places: HashMap<String, Vec<usize>> = HashMap::new();
        for (at, word) in words.iter().enumerate() {
            places.entry(word.word.clone()).or_default().push(at);
        }
        Self {
            text,
            words,
            by_time,
            places,
        }
    }

    /// Positions in `by_time` of the words whose time is in `[from, to]`.
    fn range(&self, from: i64, to: i64) -> std::ops::Range<usize> {
        let lo = self
            .by_time
            .partition_point(|&at| self.words[at].time < from);
        let hi = self
            .by_time
            .partition_point(|&at| self.words[at].time <= to);
        lo..hi.max(lo)
    }

    /// The received text from the first to the last of these words (indices in order received),
    /// cut to [`MAX_LINE_CHARS`] characters.
    fn excerpt(&self, first: usize, last: usize) -> String {
        let (Some(first), Some(last)) = (self.words.get(first), self.words.get(last)) else {
            return String::new();
        };
        let text = self
            .text
            .get(first.start..last.end.max(first.start))
            .unwrap_or("");
        let mut out: String = text.chars().take(MAX_LINE_CHARS).collect();
        if out.len() < text.len() {
            out.push('…');
        }
        out
    }
}

#[derive(Debug, Default)]
struct Session {
    /// Sorted, overlapping and touching ones joined.
    windows: Vec<(i64, i64)>,
    fragments: usize,
    /// Fragments without an item id (a GPT-Live session's: it is not a Realtime call).
    itemless: usize,
    streams: [Stream; 2],
    offset: Option<Offset>,
}

#[derive(Debug, Clone, Copy)]
struct Offset {
    offset: i64,
    supporting_lines: usize,
}

fn merge_windows(mut windows: Vec<(i64, i64)>) -> Vec<(i64, i64)> {
    windows.sort_unstable();
    let mut merged: Vec<(i64, i64)> = Vec::with_capacity(windows.len());
    for (from, to) in windows {
        match merged.last_mut() {
            Some(last) if from <= last.1 => last.1 = last.1.max(to),
            _ => merged.push((from, to)),
        }
    }
    merged
}

/// The window holding all of `[from, to]`, if any.
fn window_holding(windows: &[(i64, i64)], from: i64, to: i64) -> Option<(i64, i64)> {
    let at = windows.partition_point(|w| w.0 <= from).checked_sub(1)?;
    windows.get(at).copied().filter(|w| to <= w.1)
}

// ---------------------------------------------------------------------------------------------
// Realtime lines

/// Judges the Realtime lines (see the module's doc) into `verdicts`, and sets each observed
/// Realtime call's offset; how many entries each session's items matched.
fn judge_realtime(
    logical: &[Logical<'_>],
    fragments: &[ObservedFragment],
    sessions: &mut [Session],
    members: &[Vec<usize>],
    index: &HashMap<&str, usize>,
    options: &CompareOptions,
    verdicts: &mut [Option<Verdict>],
) -> Vec<usize> {
    let mut matched = vec![0usize; sessions.len()];
    if logical.iter().all(|l| l.item.is_none()) {
        return matched;
    }
    let mut by_item: HashMap<&str, Vec<&ObservedFragment>> = HashMap::new();
    for fragment in fragments {
        if let Some(item) = fragment.item_id.as_deref() {
            by_item.entry(item).or_default().push(fragment);
        }
    }
    let mut set = |line: &Logical<'_>, verdict: Verdict| {
        for &entry in &line.entries {
            verdicts[entry] = Some(verdict.clone());
        }
    };
    // `ended_ms − arrival` of each heard line, by the session that heard it.
    let mut votes: Vec<Vec<i64>> = vec![Vec::new(); sessions.len()];
    let mut unmatched = Vec::new();
    for line in logical.iter().filter(|l| l.item.is_some()) {
        let Some(heard) = line.item.and_then(|item| by_item.get(item)) else {
            unmatched.push(line);
            continue;
        };
        let verdict = judge_item(line, heard, options);
        let first = heard.iter().find(|f| Some(f.speaker) == line.speaker);
        if let Some(&at) = first.and_then(|f| index.get(f.provider_session.as_str())) {
            matched[at] += line.entries.len();
            if let (Verdict::Heard { .. }, Some(first)) = (&verdict, first) {
                votes[at].push(line.end.saturating_sub(ms(first.start_ms)));
            }
        }
        set(line, verdict);
    }
    // The observed Realtime calls: listened to, named by no GPT-Live line, and every fragment
    // with an item id.
    let realtime: Vec<usize> = (0..sessions.len())
        .filter(|&at| {
            !sessions[at].windows.is_empty() && members[at].is_empty() && sessions[at].itemless == 0
        })
        .collect();
    for &at in &realtime {
        let votes = &mut votes[at];
        if votes.is_empty() {
            continue;
        }
        votes.sort_unstable();
        // The median: a forged line's times are one vote among the heard lines'.
        sessions[at].offset = Some(Offset {
            offset: votes[(votes.len() - 1) / 2],
            supporting_lines: votes.len(),
        });
    }
    for line in unmatched {
        let verdict = judge_missing_item(line, sessions, &realtime, options);
        set(line, verdict);
    }
    matched
}

/// A Realtime line whose item the record has (`heard`, in the order received).
fn judge_item(
    line: &Logical<'_>,
    heard: &[&ObservedFragment],
    options: &CompareOptions,
) -> Verdict {
    let Some(speaker) = line.speaker else {
        return Verdict::Unobserved;
    };
    let same: String = heard
        .iter()
        .filter(|f| f.speaker == speaker)
        .map(|f| f.text.as_str())
        .collect();
    let differently = |text: &str| Verdict::HeardDifferently {
        observed: capped(text.trim()),
    };
    if !heard.iter().any(|f| f.speaker == speaker) {
        // The provider says the other speaker said this item.
        let other: String = heard.iter().map(|f| f.text.as_str()).collect();
        return differently(&other);
    }
    if line.words.is_empty() {
        return Verdict::Heard { edits: 0 }; // It claims no words.
    }
    let observed: Vec<Word> = tokens(&same)
        .into_iter()
        .map(|t| Word {
            word: t.word,
            time: 0,
            late: false,
            start: t.start,
            end: t.end,
        })
        .collect();
    let observed: Vec<&Word> = observed.iter().collect();
    // An item is exactly one line: no observed word is left out for free.
    let plan = Plan {
        from: 0,
        to: 0,
        prefix_until: 0,
        suffix_after: 0,
        line_prefix_free: false,
        line_suffix_free: false,
        core: (0, 0),
    };
    let budget = u32::try_from(line.words.len())
        .unwrap_or(u32::MAX)
        .saturating_mul(options.max_edit_percent)
        / 100;
    match align(&line.words, &observed, &plan, budget.min(options.max_edits)) {
        Some(edits) => Verdict::Heard { edits },
        None => differently(&same),
    }
}

/// A Realtime line whose item the record lacks: not heard only if an observed Realtime call
/// was surely listening when its transcript would have come.
fn judge_missing_item(
    line: &Logical<'_>,
    sessions: &[Session],
    realtime: &[usize],
    options: &CompareOptions,
) -> Verdict {
    // Only the candidate's missing items are judged: whether the provider sends a final
    // transcript for an interviewer response cut off by barge-in is not documented, and an
    // honest cut-off question must never be flagged. A forged interviewer line with a fresh
    // item id goes unjudged; an altered one (a real item id) is still compared above.
    if realtime.is_empty() || line.speaker != Some(Speaker::Candidate) {
        return Verdict::Unobserved;
    }
    // Far beyond any interview, and no sum below can overflow.
    const FAR: i64 = 1 << 50;
    let before = ms(options.realtime_before_ms).min(FAR);
    let after = ms(options.realtime_after_ms).min(FAR);
    let mut placed = false;
    for session in realtime.iter().map(|&at| &sessions[at]) {
        let Some(offset) = session.offset else {
            continue;
        };
        placed = true;
        let end = line.end.saturating_sub(offset.offset).clamp(-FAR, FAR);
        // Nothing is missing before a window that opened with the call.
        if window_holding(&session.windows, (end - before).max(0), end + after).is_some() {
            return if line.words.is_empty() {
                Verdict::Heard { edits: 0 } // It claims no words.
            } else {
                Verdict::NotHeard
            };
        }
    }
    if placed {
        Verdict::Unobserved
    } else {
        Verdict::CouldNotAlign
    }
}

/// `text` cut to [`MAX_LINE_CHARS`] characters.
fn capped(text: &str) -> String {
    let mut out: String = text.chars().take(MAX_LINE_CHARS).collect();
    if out.len() < text.len() {
        out.push('…');
    }
    out
}

// ---------------------------------------------------------------------------------------------
// The session's offset

fn estimate_offset(
    lines: &[Logical<'_>],
    members: &[usize],
    streams: &[Stream; 2],
    options: &CompareOptions,
) -> Option<Offset> {
    // (offset, weight, line)
    let mut votes: Vec<(i64, f64, usize)> = Vec::new();
    let mut voters = 0;
    for &at in members {
        let line = &lines[at];
        let (Some(speaker), Some(first)) = (line.speaker, line.words.first()) else {
            continue;
        };
        if voters == options.max_voting_lines {
            break;
        }
        voters += 1;
        let stream = &streams[slot(speaker)];
        let anchor = &line.words[..line.words.len().min(ANCHOR_WORDS)];
        let Some(candidates) = stream.places.get(first) else {
            continue;
        };
        let places: Vec<usize> = candidates
            .iter()
            .copied()
            .filter(|&p| {
                stream
                    .words
                    .get(p..p + anchor.len())
                    .is_some_and(|run| run.iter().zip(anchor).all(|(w, a)| &w.word == a))
            })
            .take(options.max_anchor_places + 1)
            .collect();
        if places.is_empty() || places.len() > options.max_anchor_places {
            continue;
        }
        let share = places.len() as f64;
        for p in places {
            // How far the line goes on matching from there: a forged copy of a short phrase
            // weighs less than a whole line found where it was said.
            let run = line
                .words
                .iter()
                .zip(&stream.words[p..])
                .take(MAX_RUN_WORDS)
                .take_while(|(a, w)| **a == w.word)
                .count();
            votes.push((
                line.start.saturating_sub(stream.words[p].time),
                run as f64 / share,
                at,
            ));
        }
    }
    if votes.is_empty() {
        return None;
    }
    votes.sort_by(|a, b| a.0.cmp(&b.0).then(a.2.cmp(&b.2)));
    let width = ms(options.offset_window_ms);
    // The band [votes[i].0, votes[i].0 + width] with the most weight (the first on a tie).
    let (mut best, mut best_weight) = ((0, 0), f64::MIN);
    let (mut hi, mut weight) = (0, 0.0);
    for lo in 0..votes.len() {
        while hi < votes.len() && votes[hi].0 <= votes[lo].0.saturating_add(width) {
            weight += votes[hi].1;
            hi += 1;
        }
        if weight > best_weight + 1e-9 {
            best = (lo, hi);
            best_weight = weight;
        }
        weight -= votes[lo].1;
    }
    let band = &votes[best.0..best.1];
    // Its weighted median.
    let total: f64 = band.iter().map(|v| v.1).sum();
    let mut running = 0.0;
    let mut offset = band.first().map_or(0, |v| v.0);
    for vote in band {
        running += vote.1;
        offset = vote.0;
        if running * 2.0 >= total - 1e-9 {
            break;
        }
    }
    let mut supporting: Vec<usize> = band.iter().map(|v| v.2).collect();
    supporting.sort_unstable();
    supporting.dedup();
    Some(Offset {
        offset,
        supporting_lines: supporting.len(),
    })
}

// ---------------------------------------------------------------------------------------------
// Judging a line

/// How a line is aligned with the words observed in its time.
#[derive(Debug, Clone, Copy)]
struct Plan {
    /// Observed words with a time in `[from, to]` are compared.
    from: i64,
    to: i64,
    /// Leading observed words before this time may be left out for free...
    prefix_until: i64,
    /// ...and trailing ones after this one.
    suffix_after: i64,
    /// The line's start (end) was not observed: its first (last) words may be left out.
    line_prefix_free: bool,
    line_suffix_free: bool,
    /// The line's own observed time: no word of its speaker there means it was not heard.
    core: (i64, i64),
}

fn judge(line: &Logical<'_>, session: Option<&Session>, options: &CompareOptions) -> Verdict {
    let (Some(session), Some(speaker)) = (session, line.speaker) else {
        return Verdict::Unobserved;
    };
    if session.windows.is_empty() {
        return Verdict::Unobserved;
    }
    let Some(offset) = session.offset else {
        return Verdict::CouldNotAlign;
    };
    // Far beyond any interview, and no sum below can overflow.
    const FAR: i64 = 1 << 50;
    let tol = ms(options.tolerance_ms).min(FAR);
    let slack = ms(options.slack_ms).min(FAR);
    let s = line.start.saturating_sub(offset.offset).clamp(-FAR, FAR);
    let e = line.end.saturating_sub(offset.offset).clamp(-FAR, FAR);
    let windows = &session.windows;
    // A word of this window whose fragment starts by `window.1 - tol` surely reached the
    // proxy while it listened; a later one may have arrived after a gap, in the next window.
    // And the line's words may sit `slack` from where its times say.
    let far = tol + slack;
    // Nothing is missing before a window that starts with the session.
    let seen_from = |at: i64| at.max(0);
    let plan = if let Some(window) = window_holding(windows, seen_from(s - slack), e + far) {
        Plan {
            from: s - tol,
            to: (e + tol).min(window.1 - tol),
            prefix_until: s + slack,
            suffix_after: e - slack,
            line_prefix_free: false,
            line_suffix_free: false,
            core: (s - slack, e + slack),
        }
    } else if let Some(window) = window_holding(windows, seen_from(s - slack), s + far) {
        Plan {
            from: s - tol,
            to: (e + tol).min(window.1 - tol),
            prefix_until: s + slack,
            suffix_after: e - slack,
            line_prefix_free: false,
            line_suffix_free: true,
            core: (s - slack, (e + slack).min(window.1 - tol)),
        }
    } else if let Some(window) = window_holding(windows, seen_from(e - slack), e + far) {
        Plan {
            from: s - tol,
            to: (e + tol).min(window.1 - tol),
            // Before the window's start, words may be missing.
            prefix_until: (s + slack).max(window.0),
            suffix_after: e - slack,
            line_prefix_free: true,
            line_suffix_free: false,
            core: (s - slack, e + slack),
        }
    } else {
        return Verdict::Unobserved;
    };
    if line.words.is_empty() {
        return Verdict::Heard { edits: 0 }; // It claims no words.
    }
    let stream = &session.streams[slot(speaker)];
    let core = stream.range(plan.core.0, plan.core.1);
    if core.is_empty() {
        return Verdict::NotHeard;
    }
    let differently = || {
        let (first, last) = stream.by_time[core.clone()]
            .iter()
            .fold((usize::MAX, 0), |(lo, hi), &at| (lo.min(at), hi.max(at)));
        Verdict::HeardDifferently {
            observed: stream.excerpt(first, last),
        }
    };
    let range = stream.range(plan.from, plan.to);
    if range.len() > line.words.len().saturating_mul(2).saturating_add(200) {
        return differently();
    }
    let mut observed: Vec<usize> = stream.by_time[range].to_vec();
    observed.sort_unstable();
    let observed: Vec<&Word> = observed.iter().map(|&at| &stream.words[at]).collect();
    let judged_words = if plan.line_prefix_free || plan.line_suffix_free {
        line.words.len().min(core.len())
    } else {
        line.words.len()
    };
    let budget = u32::try_from(judged_words)
        .unwrap_or(u32::MAX)
        .saturating_mul(options.max_edit_percent)
        / 100;
    match align(&line.words, &observed, &plan, budget.min(options.max_edits)) {
        Some(edits) => Verdict::Heard { edits },
        None => differently(),
    }
}

// ---------------------------------------------------------------------------------------------
// The alignment

const OVER: u32 = u32::MAX;

/// One row of the alignment: cells `start..start + cells.len()`, all others over budget.
#[derive(Debug, Default)]
struct Row {
    start: usize,
    cells: Vec<u32>,
}

impl Row {
    fn get(&self, j: usize) -> u32 {
        j.checked_sub(self.start)
            .and_then(|k| self.cells.get(k))
            .copied()
            .unwrap_or(OVER)
    }

    fn end(&self) -> usize {
        self.start + self.cells.len()
    }
}

fn joins(whole: &str, a: &str, b: &str) -> bool {
    whole.len() == a.len() + b.len() && whole.starts_with(a) && whole.ends_with(b)
}

/// The fewest word edits between the line and the observed words (see [`Plan`]), if at most
/// `budget`. Only cells within the budget are kept, so the work is about
/// `line × (free observed words + 2 × budget)`.
fn align(line: &[String], observed: &[&Word], plan: &Plan, budget: u32) -> Option<u32> {
    let n = line.len();
    let m = observed.len();
    // Observed words that may be left out before the first match, and from where on the rest.
    let free_prefix = observed
        .iter()
        .take_while(|w| w.late || w.time < plan.prefix_until)
        .count();
    let free_suffix_from = m - observed
        .iter()
        .rev()
        .take_while(|w| w.late || w.time > plan.suffix_after)
        .count();
    let drop_cost = |j: usize| u32::from(!observed[j].late);
    let keep = |cost: u32| if cost <= budget { cost } else { OVER };

    // Row 0: the observed words before the first match.
    let mut row0 = Vec::with_capacity(m + 1);
    let mut cost = 0u32;
    row0.push(0);
    for j in 0..m {
        if j >= free_prefix {
            cost = cost.saturating_add(drop_cost(j));
        }
        if cost > budget {
            break;
        }
        row0.push(cost);
    }
    let mut before = Row::default(); // row i - 2
    let mut prev = Row {
        start: 0,
        cells: row0,
    }; // row i - 1
    let mut spare: Vec<u32> = Vec::new();
    let mut best = OVER;
    let ends_here = |row: &Row, i: usize, best: &mut u32| {
        if i == n || (plan.line_suffix_free && i >= 1) {
            for j in free_suffix_from.max(row.start)..row.end() {
                *best = (*best).min(row.get(j));
            }
        }
    };
    ends_here(&prev, 0, &mut best);
    for i in 1..=n {
        let restart = plan.line_prefix_free && i < n;
        // Where cells within the budget can be: from the rows above (a change, a word added,
        // two words as one either way), from the left (an observed word left out), or fresh
        // (the line's start was not observed).
        let mut from = usize::MAX;
        let mut reach = 0;
        if !prev.cells.is_empty() {
            from = prev.start;
            reach = prev.end() + 1;
        }
        if !before.cells.is_empty() {
            from = from.min(before.start + 1);
            reach = reach.max(before.end());
        }
        if restart {
            from = 0;
            reach = reach.max(free_prefix);
        }
        if from > m {
            if !plan.line_prefix_free {
                break; // Two rows over budget: so is every row below.
            }
            before = std::mem::take(&mut prev);
            continue;
        }
        let mut cells = std::mem::take(&mut spare);
        cells.clear();
        let word = &line[i - 1];
        for j in from..=m {
            let mut cost = OVER;
            if restart && j <= free_prefix {
                cost = 0;
            }
            cost = cost.min(prev.get(j).saturating_add(1));
            if j >= 1 {
                let left = if j > from { cells[j - from - 1] } else { OVER };
                cost = cost.min(left.saturating_add(drop_cost(j - 1)));
                let o = &observed[j - 1].word;
                cost = cost.min(prev.get(j - 1).saturating_add(u32::from(word != o)));
                if i >= 2 && joins(o, &line[i - 2], word) {
                    cost = cost.min(before.get(j - 1));
                }
                if j >= 2 && joins(word, &observed[j - 2].word, o) {
                    cost = cost.min(prev.get(j - 2));
                }
            }
            let cost = keep(cost);
            cells.push(cost);
            if j >= reach && cost == OVER {
                break;
            }
        }
        // Trim the cells over budget at both ends.
        let lead = cells.iter().take_while(|&&c| c == OVER).count();
        let row = if lead == cells.len() {
            cells.clear();
            Row { start: 0, cells }
        } else {
            let tail = cells.iter().rev().take_while(|&&c| c == OVER).count();
            cells.truncate(cells.len() - tail);
            cells.drain(..lead);
            Row {
                start: from + lead,
                cells,
            }
        };
        ends_here(&row, i, &mut best);
        let old = std::mem::replace(&mut before, std::mem::replace(&mut prev, row));
        spare = old.cells;
    }
    (best <= budget).then_some(best)
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;

    #[test]
    fn normalising_keeps_words_and_drops_the_rest() {
        assert_eq!(
            normalise("  Hello,   WORLD!  It's 9:30 — déjà vu. "),
            "hello world it s 9 30 déjà vu"
        );
        assert_eq!(normalise("我喜欢Rust"), "我 喜 欢 rust");
        assert_eq!(normalise("...?"), "");
        assert_eq!(split_part("live_a#3#p0002"), ("live_a#3", 2));
        assert_eq!(split_part("live_a#3"), ("live_a#3", 1));
        assert_eq!(split_part("live_a#p12"), ("live_a#p12", 1));
    }

    fn observed(text: &str, start: i64, step: i64) -> Vec<Word> {
        tokens(text)
            .into_iter()
            .zip(0..)
            .map(|(t, k)| Word {
                word: t.word,
                time: start + k * step,
                late: false,
                start: 0,
                end: 0,
            })
            .collect()
    }

    fn words(text: &str) -> Vec<String> {
        tokens(text).into_iter().map(|t| t.word).collect()
    }

    fn whole(s: i64, e: i64) -> Plan {
        Plan {
            from: s - 1500,
            to: e + 1500,
            prefix_until: s + 500,
            suffix_after: e - 500,
            line_prefix_free: false,
            line_suffix_free: false,
            core: (s - 500, e + 500),
        }
    }

    #[test]
    fn the_alignment_counts_edits_and_frees_only_the_edges() {
        // Words 1 s apart from 0 s: "before" at 0, the line's words from 1 s to 5 s, "after" at
        // 6 s.
        let o = observed("before i was late on the after", 0, 1000);
        let o: Vec<&Word> = o.iter().collect();
        let plan = whole(1000, 5000);
        assert_eq!(align(&words("I was late on the"), &o, &plan, 0), Some(0));
        // Spacing differences are not edits.
        assert_eq!(align(&words("I waslate on the"), &o, &plan, 0), Some(0));
        // One word changed, one missing from the middle.
        assert_eq!(align(&words("I was early on the"), &o, &plan, 1), Some(1));
        assert_eq!(align(&words("I was on the"), &o, &plan, 1), Some(1));
        assert_eq!(align(&words("I was on the"), &o, &plan, 0), None);
        // Leaving out the line's own words away from its edges counts.
        assert_eq!(align(&words("I the"), &o, &plan, 2), None);
        // Unobserved end: the observed words must begin the line, whatever follows.
        let tail = Plan {
            line_suffix_free: true,
            suffix_after: i64::MAX,
            ..plan
        };
        let head: Vec<&Word> = o[..4].to_vec(); // "before i was late"
        assert_eq!(
            align(&words("I was late on the project"), &head, &tail, 0),
            Some(0)
        );
        assert_eq!(align(&words("I did it"), &head, &tail, 0), None);
        // Unobserved start: the observed words must end the line.
        let start = Plan {
            line_prefix_free: true,
            prefix_until: 3500,
            ..plan
        };
        let rest: Vec<&Word> = o[3..].to_vec(); // "late on the after"
        assert_eq!(
            align(&words("I was late on the"), &rest, &start, 0),
            Some(0)
        );
        assert_eq!(align(&words("I was early on a"), &rest, &start, 0), None);
    }

    #[test]
    fn a_late_fragment_may_sit_inside_a_line() {
        let mut o = observed("i was late on the project", 1000, 500);
        o.push(Word {
            word: "sorry".into(),
            time: 2000,
            late: true,
            start: 0,
            end: 0,
        });
        let o: Vec<&Word> = o.iter().collect();
        let plan = whole(1000, 4000);
        assert_eq!(
            align(&words("I was late on the project"), &o, &plan, 0),
            Some(0)
        );
    }
}

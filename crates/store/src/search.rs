//! Full-text search over final lines: the user's words become a safe FTS5 query, narrowed by
//! speaker, session title and date, ranked by BM25, with the matched words marked.

use rusqlite::named_params;
use serde::{Deserialize, Serialize};
use unicode_normalization::UnicodeNormalization;
use viva_realtime::Speaker;

use crate::error::StoreError;
use crate::model::{parse_speaker, speaker_str};
use crate::store::{Store, count_at};

/// What to look for. Every field but `text` narrows the results.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct SearchQuery {
    /// Words (all must appear, in any order), `"quoted phrases"`, and `prefix*`.
    pub text: String,
    pub speaker: Option<Speaker>,
    /// Part of the session's title (case-insensitive).
    pub title_contains: Option<String>,
    /// Sessions started at or after this time (unix ms).
    pub from_ms: Option<i64>,
    /// Sessions started before this time (unix ms).
    pub until_ms: Option<i64>,
    /// At most this many hits (1 to 500; 0 means 50).
    pub limit: u32,
}

/// A piece of a snippet; `hit` pieces are the words that matched.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Fragment {
    pub text: String,
    pub hit: bool,
}

/// One matching line.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Hit {
    pub session_id: String,
    pub session_title: String,
    pub session_started_at_ms: i64,
    pub item_id: String,
    pub seq: u32,
    pub speaker: Speaker,
    /// Milliseconds since the session started.
    pub started_ms: u64,
    /// The line around the matched words (long lines are cut with `…`).
    pub snippet: Vec<Fragment>,
}

/// At most this many matches (the newest) are ranked; see [`Store::search`]. A query that
/// matches more is broad ("the", a topic every interview touches): the newest are the ones a
/// user most likely wants, and more words or a filter reach older ones.
const RANKED: i64 = 5_000;

/// One thing the user asked for: a word or a phrase (folded like the index folds), maybe a
/// prefix.
#[derive(Debug, Clone, PartialEq, Eq)]
struct Term {
    words: Vec<String>,
    prefix: bool,
}

/// Lowercase with diacritics removed, as the index's `unicode61 remove_diacritics 2` sees it.
fn fold(word: &str) -> String {
    word.nfd()
        .filter(|c| !unicode_normalization::char::is_combining_mark(*c))
        .flat_map(char::to_lowercase)
        .collect()
}

/// Splits what the user typed into words, `"quoted phrases"` and `prefix*`; everything else
/// (operators, column filters, stray punctuation) is only a separator.
fn terms(text: &str) -> Vec<Term> {
    let mut terms = Vec::new();
    let mut rest = text;
    while let Some(start) = rest.find(|c: char| !c.is_whitespace()) {
        rest = &rest[start..];
        let (term, after) = if let Some(inner) = rest.strip_prefix('"') {
            match inner.find('"') {
                Some(end) => (&inner[..end], &inner[end + 1..]),
                None => (inner, ""),
            }
        } else {
            let end = rest.find(char::is_whitespace).unwrap_or(rest.len());
            (&rest[..end], &rest[end..])
        };
        rest = after;
        let words: Vec<String> = term
            .split(|c: char| !c.is_alphanumeric())
            .filter(|w| !w.is_empty())
            .map(fold)
            .collect();
        if !words.is_empty() {
            terms.push(Term {
                words,
                prefix: term.ends_with('*'),
            });
        }
    }
    terms
}

/// The FTS5 query for what the user typed, in which nothing is syntax except phrases and a
/// trailing `*`. `None` when nothing searchable is left.
pub fn fts_query(text: &str) -> Option<String> {
    let terms: Vec<String> = terms(text)
        .into_iter()
        .map(|term| {
            let phrase = format!("\"{}\"", term.words.join(" "));
            if term.prefix {
                format!("{phrase}*")
            } else {
                phrase
            }
        })
        .collect();
    (!terms.is_empty()).then(|| terms.join(" "))
}

/// Longest snippet, in words; longer lines are cut around the first match.
const SNIPPET_WORDS: usize = 40;

/// The line with the words that match marked, cut with `…` when long.
fn highlight(text: &str, terms: &[Term]) -> Vec<Fragment> {
    let matches = |word: &str| {
        let word = fold(word);
        terms.iter().any(|term| {
            let last = term.words.len().saturating_sub(1);
            term.words.iter().enumerate().any(|(i, w)| {
                if term.prefix && i == last {
                    word.starts_with(w.as_str())
                } else {
                    word == *w
                }
            })
        })
    };
    // Words with their byte ranges; the text between them is kept as it was.
    let mut words: Vec<(usize, usize, bool)> = Vec::new();
    let mut start = None;
    for (at, c) in text
        .char_indices()
        .chain(std::iter::once((text.len(), ' ')))
    {
        match (start, c.is_alphanumeric()) {
            (None, true) => start = Some(at),
            (Some(from), false) => {
                words.push((from, at, matches(&text[from..at])));
                start = None;
            }
            _ => {}
        }
    }
    let (mut from, mut to) = (0, text.len());
    let (mut before, mut after) = (false, false);
    if words.len() > SNIPPET_WORDS {
        let first = words.iter().position(|w| w.2).unwrap_or(0);
        let begin = first.saturating_sub(SNIPPET_WORDS / 4);
        let end = (begin + SNIPPET_WORDS).min(words.len());
        if let (Some(b), Some(e)) = (words.get(begin), words.get(end - 1)) {
            from = b.0;
            to = e.1;
            before = begin > 0;
            after = end < words.len();
        }
    }
    let mut out: Vec<Fragment> = Vec::new();
    let mut push = |piece: &str, hit: bool| {
        if piece.is_empty() {
            return;
        }
        match out.last_mut() {
            Some(last) if last.hit == hit => last.text.push_str(piece),
            _ => out.push(Fragment {
                text: piece.to_string(),
                hit,
            }),
        }
    };
    if before {
        push("…", false);
    }
    let mut at = from;
    for &(start, end, hit) in words.iter().filter(|w| w.0 >= from && w.1 <= to) {
        push(&text[at..start], false);
        push(&text[start..end], hit);
        at = end;
    }
    push(&text[at..to], false);
    if after {
        push("…", false);
    }
    out
}

fn like_pattern(part: &str) -> String {
    let escaped = part
        .replace('\\', "\\\\")
        .replace('%', "\\%")
        .replace('_', "\\_");
    format!("%{escaped}%")
}

/// Whether a line id lies in a session the title and date filters let through.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Verdict {
    Outside = 0,
    Inside = 1,
    /// Another session's lines share these ids (two sessions recorded at once): the line
    /// itself must be checked.
    Unsure = 2,
}

/// The line ids of the sessions the title and date filters let through, as sorted,
/// disjoint ranges. A session's lines are written together, so a few hundred ranges stand
/// for a million lines, and checking one is a binary search instead of reading the line and
/// its session.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
struct Spans(Vec<(i64, i64, Verdict)>);

/// Sorted, merged copies of inclusive ranges.
fn merged(mut ranges: Vec<(i64, i64)>) -> Vec<(i64, i64)> {
    ranges.sort_unstable();
    let mut out: Vec<(i64, i64)> = Vec::with_capacity(ranges.len());
    for (lo, hi) in ranges {
        match out.last_mut() {
            Some(last) if lo <= last.1.saturating_add(1) => last.1 = last.1.max(hi),
            _ => out.push((lo, hi)),
        }
    }
    out
}

impl Spans {
    /// From every session's `(first line id, last line id, passes the filters)`.
    fn new(sessions: impl IntoIterator<Item = (i64, i64, bool)>) -> Self {
        let (mut kept, mut left) = (Vec::new(), Vec::new());
        for (lo, hi, pass) in sessions {
            if lo <= hi {
                if pass { &mut kept } else { &mut left }.push((lo, hi));
            }
        }
        let (kept, left) = (merged(kept), merged(left));
        let mut spans = Vec::with_capacity(kept.len());
        let mut next_left = 0;
        for (lo, hi) in kept {
            let mut at = lo;
            while left.get(next_left).is_some_and(|l| l.1 < at) {
                next_left += 1;
            }
            let mut overlap = next_left;
            while let Some(&(l_lo, l_hi)) = left.get(overlap).filter(|l| l.0 <= hi) {
                if l_lo > at {
                    spans.push((at, l_lo - 1, Verdict::Inside));
                }
                let end = l_hi.min(hi);
                spans.push((at.max(l_lo), end, Verdict::Unsure));
                at = end.saturating_add(1);
                if l_hi > hi {
                    break;
                }
                overlap += 1;
            }
            next_left = overlap;
            if at <= hi {
                spans.push((at, hi, Verdict::Inside));
            }
        }
        Self(spans)
    }

    fn verdict(&self, id: i64) -> Verdict {
        let after = self.0.partition_point(|span| span.1 < id);
        match self.0.get(after) {
            Some(&(lo, _, verdict)) if lo <= id => verdict,
            _ => Verdict::Outside,
        }
    }

    /// As an SQL blob: little-endian `lo, hi, verdict` triples.
    fn encode(&self) -> Vec<u8> {
        let mut out = Vec::with_capacity(self.0.len() * 24);
        for &(lo, hi, verdict) in &self.0 {
            out.extend_from_slice(&lo.to_le_bytes());
            out.extend_from_slice(&hi.to_le_bytes());
            out.extend_from_slice(&(verdict as i64).to_le_bytes());
        }
        out
    }

    fn decode(blob: &[u8]) -> Option<Self> {
        let mut spans = Vec::with_capacity(blob.len() / 24);
        let mut chunks = blob.chunks_exact(24);
        for chunk in &mut chunks {
            let number = |at: usize| -> Option<i64> {
                Some(i64::from_le_bytes(chunk.get(at..at + 8)?.try_into().ok()?))
            };
            let verdict = match number(16)? {
                1 => Verdict::Inside,
                2 => Verdict::Unsure,
                _ => Verdict::Outside,
            };
            spans.push((number(0)?, number(8)?, verdict));
        }
        chunks.remainder().is_empty().then_some(Self(spans))
    }
}

/// SQL functions the search needs, on every connection.
pub(crate) fn register_functions(conn: &rusqlite::Connection) -> rusqlite::Result<()> {
    use rusqlite::functions::FunctionFlags;
    // viva_span(line id, spans blob): 0 outside the spans, 1 inside, 2 unsure. The blob is
    // decoded once per statement (SQLite keeps it as auxiliary data while the argument stays
    // the same).
    conn.create_scalar_function(
        "viva_span",
        2,
        FunctionFlags::SQLITE_UTF8 | FunctionFlags::SQLITE_DETERMINISTIC,
        |ctx| {
            let spans = ctx.get_or_create_aux(1, |blob| {
                blob.as_blob()
                    .ok()
                    .and_then(Spans::decode)
                    .ok_or("viva_span: malformed spans")
            })?;
            Ok(spans.verdict(ctx.get::<i64>(0)?) as i64)
        },
    )
}

/// The title and date filters, on a session `s`.
macro_rules! session_filter {
    () => {
        "(:title IS NULL OR s.title LIKE :title ESCAPE '\\')
         AND (:from IS NULL OR s.started_at_ms >= :from)
         AND (:until IS NULL OR s.started_at_ms < :until)"
    };
}

impl Store {
    /// Lines matching `query`, best first.
    pub fn search(&self, query: &SearchQuery) -> Result<Vec<Hit>, StoreError> {
        let Some(matcher) = fts_query(&query.text) else {
            return Ok(Vec::new());
        };
        let terms = terms(&query.text);
        let limit = match query.limit {
            0 => 50,
            n => n.min(500),
        };
        let title = query.title_contains.as_deref().map(like_pattern);
        self.read(|conn| {
            // Title and date filters choose sessions; they become line-id ranges so that
            // each match is checked without reading its line.
            let spans = if title.is_some() || query.from_ms.is_some() || query.until_ms.is_some()
            {
                let mut sessions = conn.prepare_cached(concat!(
                    "SELECT first_line_id, last_line_id, ",
                    session_filter!(),
                    " FROM sessions s WHERE first_line_id IS NOT NULL"
                ))?;
                let spans = sessions
                    .query_map(
                        named_params! {":title": title, ":from": query.from_ms, ":until": query.until_ms},
                        |row| Ok((row.get(0)?, row.get(1)?, row.get(2)?)),
                    )?
                    .collect::<rusqlite::Result<Vec<_>>>()?;
                let spans = Spans::new(spans);
                if spans.0.is_empty() {
                    return Ok(Vec::new());
                }
                Some(spans.encode())
            } else {
                None
            };
            // BM25 costs about 1.5 µs per matching line (plus one pass over each word's
            // postings for its weight), and a broad query ("the") can match most of a million
            // lines: only the newest RANKED matches that pass the filters are ranked; narrower
            // queries rank every match. The index yields matches newest first, so the filters
            // only look at the ones it reaches, through the spans and a small speaker index.
            let mut select = conn.prepare_cached(concat!(
                "WITH matches AS (
                    SELECT rowid AS id, rank FROM lines_fts
                    WHERE lines_fts MATCH :match
                      AND (:spans IS NULL OR CASE viva_span(rowid, :spans)
                        WHEN 1 THEN 1
                        WHEN 2 THEN EXISTS (
                            SELECT 1 FROM lines l JOIN sessions s ON s.id = l.session_id
                            WHERE l.id = lines_fts.rowid AND ",
                session_filter!(),
                ")
                        ELSE 0 END)
                      AND (:speaker IS NULL OR EXISTS (
                        SELECT 1 FROM lines l INDEXED BY lines_speaker
                        WHERE l.id = lines_fts.rowid AND l.speaker = :speaker))
                    ORDER BY rowid DESC LIMIT :ranked
                 ), best AS (SELECT id, rank FROM matches ORDER BY rank LIMIT :limit)
                 SELECT l.session_id, s.title, s.started_at_ms, l.item_id, l.seq, l.speaker,
                    l.started_ms, l.text
                 FROM best JOIN lines l ON l.id = best.id JOIN sessions s ON s.id = l.session_id
                 ORDER BY best.rank"
            ))?;
            select
                .query_map(
                    named_params! {
                        ":match": matcher,
                        ":spans": spans,
                        ":title": title,
                        ":from": query.from_ms,
                        ":until": query.until_ms,
                        ":speaker": query.speaker.map(speaker_str),
                        ":ranked": RANKED,
                        ":limit": limit,
                    },
                    |row| {
                        Ok(Hit {
                            session_id: row.get(0)?,
                            session_title: row.get(1)?,
                            session_started_at_ms: row.get(2)?,
                            item_id: row.get(3)?,
                            seq: row.get(4)?,
                            speaker: parse_speaker(&row.get::<_, String>(5)?),
                            started_ms: count_at(row, 6)?,
                            snippet: highlight(&row.get::<_, String>(7)?, &terms),
                        })
                    },
                )?
                .collect()
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn user_text_never_becomes_fts_syntax() {
        assert_eq!(
            fts_query("rust async").as_deref(),
            Some("\"rust\" \"async\"")
        );
        assert_eq!(
            fts_query("  \"error handling\" tok*").as_deref(),
            Some("\"error handling\" \"tok\"*")
        );
        // Operators, column filters and stray quotes are just words or separators.
        assert_eq!(
            fts_query("NEAR(a b) OR text:x \"unclosed").as_deref(),
            Some("\"near a\" \"b\" \"or\" \"text x\" \"unclosed\"")
        );
        assert_eq!(fts_query("  *** ()  "), None);
        assert_eq!(fts_query(""), None);
    }

    #[test]
    fn spans_say_what_a_line_by_line_check_would() {
        let mut rng = fastrand::Rng::with_seed(7);
        for _ in 0..2_000 {
            let sessions: Vec<(i64, i64, bool)> = (0..rng.usize(0..6))
                .map(|_| {
                    let lo = rng.i64(0..40);
                    (lo, lo + rng.i64(-2..12), rng.bool())
                })
                .collect();
            let spans = Spans::new(sessions.clone());
            assert_eq!(Spans::decode(&spans.encode()).as_ref(), Some(&spans));
            for id in -1..55 {
                let covers = |pass: bool| {
                    sessions
                        .iter()
                        .any(|&(lo, hi, p)| p == pass && lo <= id && id <= hi)
                };
                let expected = match (covers(true), covers(false)) {
                    (true, true) => Verdict::Unsure,
                    (true, false) => Verdict::Inside,
                    (false, _) => Verdict::Outside,
                };
                assert_eq!(spans.verdict(id), expected, "id {id} in {sessions:?}");
            }
        }
        assert_eq!(Spans::decode(&[0; 23]), None);
    }

    fn marked(fragments: &[Fragment]) -> String {
        fragments
            .iter()
            .map(|f| {
                if f.hit {
                    format!("[{}]", f.text)
                } else {
                    f.text.clone()
                }
            })
            .collect()
    }

    #[test]
    fn the_matching_words_are_marked_as_the_index_matched_them() {
        let t = terms("Tokio ÉRROR* \"borrow checker\"");
        assert_eq!(
            marked(&highlight(
                "We used tokio; errors from the Borrow-Checker, not borrowing.",
                &t
            )),
            "We used [tokio]; [errors] from the [Borrow]-[Checker], not borrowing."
        );
        assert_eq!(
            marked(&highlight("Café société", &terms("cafe"))),
            "[Café] société"
        );
        assert_eq!(marked(&highlight("", &t)), "");
    }

    #[test]
    fn long_lines_are_cut_around_the_first_match() {
        let text: Vec<String> = (0..100).map(|i| format!("w{i}")).collect();
        let text = text.join(" ");
        let snippet = marked(&highlight(&text, &terms("w60")));
        assert!(snippet.starts_with("…w50 "), "{snippet}");
        assert!(snippet.contains("[w60]"));
        assert!(snippet.ends_with("w89…"), "{snippet}");
    }
}

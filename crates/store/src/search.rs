//! Full-text search over final lines: the user's words become a safe FTS5 query, narrowed by
//! speaker, session title and date, ranked by BM25, with the matched words marked.

use rusqlite::params;
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

/// At most this many matches (the newest) are ranked; see [`Store::search`].
const RANKED: i64 = 10_000;

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
        self.read(|conn| {
            // BM25 costs about a microsecond per matching line, and a broad query ("the")
            // can match most of a million lines: only the newest RANKED matches that pass the
            // filters are ranked; narrower queries rank every match. Without filters the
            // index alone finds them, several times faster than joining each match.
            let filtered = query.speaker.is_some()
                || query.title_contains.is_some()
                || query.from_ms.is_some()
                || query.until_ms.is_some();
            let mut select = conn.prepare_cached(if filtered {
                "WITH matches AS (
                    SELECT lines_fts.rowid AS id, lines_fts.rank AS rank
                    FROM lines_fts
                    JOIN lines l ON l.id = lines_fts.rowid
                    JOIN sessions s ON s.id = l.session_id
                    WHERE lines_fts MATCH ?1
                      AND (?2 IS NULL OR l.speaker = ?2)
                      AND (?3 IS NULL OR s.title LIKE ?3 ESCAPE '\\')
                      AND (?4 IS NULL OR s.started_at_ms >= ?4)
                      AND (?5 IS NULL OR s.started_at_ms < ?5)
                    ORDER BY lines_fts.rowid DESC
                    LIMIT ?7
                 ), best AS (SELECT id, rank FROM matches ORDER BY rank LIMIT ?6)
                 SELECT l.session_id, s.title, s.started_at_ms, l.item_id, l.seq, l.speaker,
                    l.started_ms, l.text
                 FROM best JOIN lines l ON l.id = best.id JOIN sessions s ON s.id = l.session_id
                 ORDER BY best.rank"
            } else {
                "WITH matches AS (
                    SELECT rowid AS id, rank FROM lines_fts
                    WHERE lines_fts MATCH ?1 AND coalesce(?2, ?3, ?4, ?5) IS NULL
                    ORDER BY rowid DESC LIMIT ?7
                 ), best AS (SELECT id, rank FROM matches ORDER BY rank LIMIT ?6)
                 SELECT l.session_id, s.title, s.started_at_ms, l.item_id, l.seq, l.speaker,
                    l.started_ms, l.text
                 FROM best JOIN lines l ON l.id = best.id JOIN sessions s ON s.id = l.session_id
                 ORDER BY best.rank"
            })?;

            select
                .query_map(
                    params![
                        matcher,
                        query.speaker.map(speaker_str),
                        query.title_contains.as_deref().map(like_pattern),
                        query.from_ms,
                        query.until_ms,
                        limit,
                        RANKED
                    ],
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

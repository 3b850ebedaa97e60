//! Full-text search over final lines: the user's words become a safe FTS5 query, narrowed by
//! speaker, session title and date, ranked by BM25, with the matched words marked.

use rusqlite::params;
use serde::{Deserialize, Serialize};
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

/// Private-use characters mark the matched words inside SQLite's snippet; they cannot
/// come from speech-to-text, so splitting on them is safe.
const OPEN: char = '\u{E000}';
const CLOSE: char = '\u{E001}';

/// Turns what the user typed into an FTS5 query in which nothing is syntax except phrases
/// in double quotes and a trailing `*`. `None` when nothing searchable is left.
pub fn fts_query(text: &str) -> Option<String> {
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
        let prefix = term.ends_with('*');
        // Keep only what the tokenizer would index; everything else is a separator anyway.
        let words: Vec<&str> = term
            .split(|c: char| !c.is_alphanumeric())
            .filter(|w| !w.is_empty())
            .collect();
        if words.is_empty() {
            continue;
        }
        let phrase = format!("\"{}\"", words.join(" "));
        terms.push(if prefix { format!("{phrase}*") } else { phrase });
    }
    (!terms.is_empty()).then(|| terms.join(" "))
}

fn fragments(snippet: &str) -> Vec<Fragment> {
    let mut out = Vec::new();
    let mut hit = false;
    let mut current = String::new();
    for c in snippet.chars() {
        if c == OPEN || c == CLOSE {
            if !current.is_empty() {
                out.push(Fragment {
                    text: std::mem::take(&mut current),
                    hit,
                });
            }
            hit = c == OPEN;
        } else {
            current.push(c);
        }
    }
    if !current.is_empty() {
        out.push(Fragment { text: current, hit });
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
        let limit = match query.limit {
            0 => 50,
            n => n.min(500),
        };
        self.read(|conn| {
            let mut select = conn.prepare_cached(
                "SELECT l.session_id, s.title, s.started_at_ms, l.item_id, l.seq, l.speaker,
                    l.started_ms, snippet(lines_fts, 0, char(57344), char(57345), '…', 24)
                 FROM lines_fts
                 JOIN lines l ON l.id = lines_fts.rowid
                 JOIN sessions s ON s.id = l.session_id
                 WHERE lines_fts MATCH ?1
                   AND (?2 IS NULL OR l.speaker = ?2)
                   AND (?3 IS NULL OR s.title LIKE ?3 ESCAPE '\\')
                   AND (?4 IS NULL OR s.started_at_ms >= ?4)
                   AND (?5 IS NULL OR s.started_at_ms < ?5)
                 ORDER BY lines_fts.rank
                 LIMIT ?6",
            )?;
            select
                .query_map(
                    params![
                        matcher,
                        query.speaker.map(speaker_str),
                        query.title_contains.as_deref().map(like_pattern),
                        query.from_ms,
                        query.until_ms,
                        limit
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
                            snippet: fragments(&row.get::<_, String>(7)?),
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
            Some("\"NEAR a\" \"b\" \"OR\" \"text x\" \"unclosed\"")
        );
        assert_eq!(fts_query("  *** ()  "), None);
        assert_eq!(fts_query(""), None);
    }

    #[test]
    fn snippets_split_into_marked_fragments() {
        let text = format!("we used {OPEN}tokio{CLOSE} for {OPEN}async{CLOSE}");
        assert_eq!(
            fragments(&text),
            vec![
                Fragment {
                    text: "we used ".into(),
                    hit: false
                },
                Fragment {
                    text: "tokio".into(),
                    hit: true
                },
                Fragment {
                    text: " for ".into(),
                    hit: false
                },
                Fragment {
                    text: "async".into(),
                    hit: true
                },
            ]
        );
    }
}

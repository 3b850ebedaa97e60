//! Taking credentials, e-mail addresses and transcript words out of text before it leaves the
//! computer. Three nets, each catching what the others might miss: fields of a JSON log line
//! whose names say what they hold, the exact strings this computer knows to be secret or
//! spoken (its tokens, its transcript lines), and patterns (tokens, `Bearer …`, `key=value`
//! credentials in URLs, e-mail addresses) wherever they appear.

use regex::{Regex, RegexBuilder};
use serde::Serialize;
use serde_json::Value;

/// What replaced a credential.
pub const TOKEN: &str = "[token removed]";
/// What replaced an e-mail address.
pub const EMAIL: &str = "[e-mail removed]";
/// What replaced words someone said or wrote.
pub const WORDS: &str = "[transcript removed]";

/// Fields of a log line that hold words someone said or wrote, whatever their value.
const WORD_FIELDS: &[&str] = &[
    "text",
    "words",
    "transcript",
    "answer",
    "question",
    "instructions",
    "greeting",
    "closing",
    "heard",
    "delta",
];
/// Fields that hold credentials.
const SECRET_FIELDS: &[&str] = &[
    "token",
    "access_token",
    "refresh_token",
    "client_secret",
    "secret",
    "password",
    "apikey",
    "api_key",
    "anon_key",
    "authorization",
];
/// Fields that hold an e-mail address.
const EMAIL_FIELDS: &[&str] = &["email", "candidate_email"];

/// Known strings shorter than this are left alone: a three-letter line ("Yes") would otherwise
/// take every "Yes" out of the logs, and a secret is never that short.
const MIN_KNOWN_CHARS: usize = 4;

/// How many of each kind a redaction took out.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize)]
pub struct Removed {
    pub tokens: u64,
    pub emails: u64,
    pub words: u64,
}

impl Removed {
    pub fn add(&mut self, other: Self) {
        self.tokens += other.tokens;
        self.emails += other.emails;
        self.words += other.words;
    }

    fn count(&mut self, kind: Kind, n: usize) {
        let n = n as u64;
        match kind {
            Kind::Token => self.tokens += n,
            Kind::Email => self.emails += n,
            Kind::Words => self.words += n,
        }
    }
}

/// Text with what was taken out of it counted.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Redacted {
    pub text: String,
    pub removed: Removed,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Kind {
    Token,
    Email,
    Words,
}

impl Kind {
    fn replacement(self) -> &'static str {
        match self {
            Self::Token => TOKEN,
            Self::Email => EMAIL,
            Self::Words => WORDS,
        }
    }
}

/// Takes credentials, e-mail addresses and transcript words out of text and log lines.
#[derive(Debug, Clone)]
pub struct Redactor {
    /// Patterns in the order they run: the longer forms first (`Bearer <jwt>` before the JWT).
    patterns: Vec<(Regex, Kind, &'static str)>,
    known_secrets: Vec<String>,
    known_words: Vec<String>,
    /// Built from the known strings, longest first (so a line is removed whole before a
    /// shorter line inside it).
    known: Option<(Regex, Vec<Kind>)>,
}

impl Redactor {
    /// A redactor with the patterns only; add what this computer knows with
    /// [`Redactor::secret`] and [`Redactor::words`].
    pub fn new() -> Result<Self, regex::Error> {
        let rules: [(&str, Kind, &'static str); 6] = [
            // `Authorization: Bearer …` and friends, whatever the token looks like.
            (
                r"(?i)\bbearer\s+[A-Za-z0-9._~+/=-]+",
                Kind::Token,
                "Bearer [token removed]",
            ),
            // Credentials in a query string or a `key=value` message.
            (
                r"(?i)\b(access_token|refresh_token|apikey|api_key|token|password|secret|client_secret)=[^&\s'\x22]+",
                Kind::Token,
                "${1}=[token removed]",
            ),
            // JSON Web Tokens: access tokens, the anon and service keys.
            (
                r"\beyJ[A-Za-z0-9_-]{4,}\.[A-Za-z0-9_-]{4,}\.[A-Za-z0-9_-]*",
                Kind::Token,
                TOKEN,
            ),
            // OpenAI's ephemeral client secrets and project keys.
            (r"\b(ek|sk)_[A-Za-z0-9_-]{8,}", Kind::Token, TOKEN),
            // Supabase's newer API keys.
            (
                r"\bsb_(publishable|secret)_[A-Za-z0-9_-]{8,}",
                Kind::Token,
                TOKEN,
            ),
            (
                r"[A-Za-z0-9._%+-]+@[A-Za-z0-9-]+(\.[A-Za-z0-9-]+)*\.[A-Za-z]{2,}",
                Kind::Email,
                EMAIL,
            ),
        ];
        let patterns = rules
            .into_iter()
            .map(|(pattern, kind, with)| Ok((Regex::new(pattern)?, kind, with)))
            .collect::<Result<_, regex::Error>>()?;
        Ok(Self {
            patterns,
            known_secrets: Vec::new(),
            known_words: Vec::new(),
            known: None,
        })
    }

    /// A string known to be secret on this computer (a token it holds): removed wherever it
    /// appears, whatever it looks like.
    pub fn secret(&mut self, secret: &str) -> Result<(), regex::Error> {
        if secret.chars().count() >= MIN_KNOWN_CHARS {
            self.known_secrets.push(secret.to_owned());
            self.rebuild()?;
        }
        Ok(())
    }

    /// Words known to have been said in an interview on this computer (transcript lines).
    pub fn words<'a>(
        &mut self,
        lines: impl IntoIterator<Item = &'a str>,
    ) -> Result<(), regex::Error> {
        let before = self.known_words.len();
        self.known_words.extend(
            lines
                .into_iter()
                .map(str::trim)
                .filter(|line| line.chars().count() >= MIN_KNOWN_CHARS)
                .map(str::to_owned),
        );
        if self.known_words.len() != before {
            self.rebuild()?;
        }
        Ok(())
    }

    fn rebuild(&mut self) -> Result<(), regex::Error> {
        let mut known: Vec<(&str, Kind)> = self
            .known_secrets
            .iter()
            .map(|s| (s.as_str(), Kind::Token))
            .chain(self.known_words.iter().map(|s| (s.as_str(), Kind::Words)))
            .collect();
        known.sort_by(|a, b| b.0.len().cmp(&a.0.len()).then(a.0.cmp(b.0)));
        known.dedup_by(|a, b| a.0 == b.0);
        if known.is_empty() {
            self.known = None;
            return Ok(());
        }
        let alternation = known
            .iter()
            .map(|(s, _)| format!("({})", regex::escape(s)))
            .collect::<Vec<_>>()
            .join("|");
        let regex = RegexBuilder::new(&alternation)
            .size_limit(256 * 1024 * 1024)
            .build()?;
        self.known = Some((regex, known.into_iter().map(|(_, kind)| kind).collect()));
        Ok(())
    }

    /// `text` with everything this redactor knows of taken out.
    #[must_use]
    pub fn text(&self, text: &str) -> Redacted {
        let mut removed = Removed::default();
        let mut out = match &self.known {
            Some((regex, kinds)) => regex
                .replace_all(text, |caps: &regex::Captures<'_>| {
                    // The group that matched says which known string (and so its kind).
                    let kind = (1..caps.len())
                        .find(|&i| caps.get(i).is_some())
                        .and_then(|i| kinds.get(i - 1).copied())
                        .unwrap_or(Kind::Token);
                    removed.count(kind, 1);
                    kind.replacement()
                })
                .into_owned(),
            None => text.to_owned(),
        };
        for (regex, kind, with) in &self.patterns {
            let found = regex.find_iter(&out).count();
            if found > 0 {
                removed.count(*kind, found);
                out = regex.replace_all(&out, *with).into_owned();
            }
        }
        Redacted { text: out, removed }
    }

    /// A JSON value with every string redacted, and the values of fields named for words,
    /// credentials or addresses replaced whole.
    #[must_use]
    pub fn value(&self, value: &Value) -> (Value, Removed) {
        let mut removed = Removed::default();
        let clean = self.walk(value, None, &mut removed);
        (clean, removed)
    }

    fn walk(&self, value: &Value, field: Option<&str>, removed: &mut Removed) -> Value {
        self.walk_under(value, field, None, removed)
    }

    /// `inherited`: a field above this value named what it holds, so everything under it goes.
    fn walk_under(
        &self,
        value: &Value,
        field: Option<&str>,
        inherited: Option<Kind>,
        removed: &mut Removed,
    ) -> Value {
        let named = field.map(str::to_ascii_lowercase);
        let kind = inherited.or_else(|| {
            named.as_deref().and_then(|name| {
                if WORD_FIELDS.contains(&name) {
                    Some(Kind::Words)
                } else if SECRET_FIELDS.contains(&name) {
                    Some(Kind::Token)
                } else if EMAIL_FIELDS.contains(&name) {
                    Some(Kind::Email)
                } else {
                    None
                }
            })
        });
        match (value, kind) {
            (Value::Null | Value::Bool(_) | Value::Number(_), _) => value.clone(),
            (Value::String(s), Some(kind)) if !s.is_empty() => {
                removed.count(kind, 1);
                Value::String(kind.replacement().to_owned())
            }
            (Value::String(s), _) => {
                let clean = self.text(s);
                removed.add(clean.removed);
                Value::String(clean.text)
            }
            (Value::Array(items), _) => Value::Array(
                items
                    .iter()
                    .map(|item| self.walk_under(item, field, kind, removed))
                    .collect(),
            ),
            (Value::Object(map), _) => Value::Object(
                map.iter()
                    .map(|(key, item)| {
                        (key.clone(), self.walk_under(item, Some(key), kind, removed))
                    })
                    .collect(),
            ),
        }
    }

    /// One log line: a JSON line has its fields judged by name, then every string redacted;
    /// any other line is redacted as text.
    #[must_use]
    pub fn log_line(&self, line: &str) -> Redacted {
        match serde_json::from_str::<Value>(line) {
            Ok(value @ Value::Object(_)) => {
                let (clean, removed) = self.value(&value);
                Redacted {
                    text: clean.to_string(),
                    removed,
                }
            }
            _ => self.text(line),
        }
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;
    use proptest::prelude::*;

    const JWT: &str = "eyJhbGciOiJFUzI1NiIsImtpZCI6ImsxIn0.eyJzdWIiOiJhYmMiLCJlbWFpbCI6ImdAYS50ZXN0In0.c2lnbmF0dXJlLXNpZ25hdHVyZQ";

    fn redactor() -> Redactor {
        Redactor::new().unwrap()
    }

    #[test]
    fn tokens_in_headers_urls_and_messages_are_removed() {
        let r = redactor();
        for (input, gone) in [
            (format!("Authorization: Bearer {JWT}"), JWT),
            ("bearer abc.DEF-123_x".to_owned(), "abc.DEF-123_x"),
            ("GET /auth?refresh_token=r3fr35h&x=1".to_owned(), "r3fr35h"),
            (format!("token={JWT} ok"), JWT),
            (
                "secret ek_9f8e7d6c5b4a3928 minted".to_owned(),
                "ek_9f8e7d6c5b4a3928",
            ),
            (
                "key sb_secret_abcdefgh1234 set".to_owned(),
                "sb_secret_abcdefgh1234",
            ),
            (format!("{{\"note\":\"{JWT}\"}}"), JWT),
        ] {
            let out = r.text(&input);
            assert!(!out.text.contains(gone), "{input} -> {}", out.text);
            assert!(out.removed.tokens >= 1, "{input}");
        }
        // The rest of the line stays readable.
        let out = r.text("GET /auth?refresh_token=r3fr35h&x=1");
        assert_eq!(out.text, "GET /auth?refresh_token=[token removed]&x=1");
    }

    #[test]
    fn e_mail_addresses_are_removed_and_counted() {
        let out =
            redactor().text("signed in as Grace.Hopper+viva@acme-robotics.co.uk, then pat@x.io");
        assert_eq!(
            out.text,
            "signed in as [e-mail removed], then [e-mail removed]"
        );
        assert_eq!(out.removed.emails, 2);
    }

    #[test]
    fn known_secrets_and_transcript_lines_are_removed_whatever_they_look_like() {
        let mut r = redactor();
        r.secret("v1.opaque-refresh").unwrap();
        r.words([
            "I led the migration of our billing service.",
            "Yes",
            "billing",
        ])
        .unwrap();
        let out = r.text("refresh v1.opaque-refresh; said: I led the migration of our billing service. Yes, billing");
        assert!(!out.text.contains("opaque"), "{}", out.text);
        assert!(!out.text.contains("migration"), "{}", out.text);
        // The longer line went whole; a shorter known line inside other text went too; a
        // three-letter line is too short to take out everywhere.
        assert_eq!(
            out.text,
            "refresh [token removed]; said: [transcript removed] Yes, [transcript removed]"
        );
        assert_eq!((out.removed.tokens, out.removed.words), (1, 2));
    }

    #[test]
    fn a_json_log_line_loses_its_words_and_secrets_by_field_name() {
        let r = redactor();
        let line = r#"{"timestamp":"2026-12-08T10:00:00Z","level":"DEBUG","fields":{"event":"line_final","text":"We shipped it on a Friday","session":"5a15","email":"g@acme.test","refresh_token":"opaque","question":{"nested":"Tell me about yourself"}}}"#;
        let out = r.log_line(line);
        let value: Value = serde_json::from_str(&out.text).unwrap();
        let fields = &value["fields"];
        assert_eq!(fields["text"], WORDS);
        assert_eq!(fields["email"], EMAIL);
        assert_eq!(fields["refresh_token"], TOKEN);
        assert_eq!(fields["question"]["nested"], WORDS);
        assert_eq!(fields["session"], "5a15");
        assert_eq!(fields["event"], "line_final");
        assert!(!out.text.contains("Friday") && !out.text.contains("yourself"));
        // A line that is not JSON is redacted as text.
        assert_eq!(
            redactor().log_line("x g@acme.test").text,
            "x [e-mail removed]"
        );
    }

    proptest! {
        /// Whatever surrounds them, a planted token, address or known line never survives,
        /// in plain text or inside a JSON log line.
        #[test]
        fn planted_secrets_never_survive(
            before in "[ -~]{0,40}",
            after in "[ -~]{0,40}",
            user in "[a-z][a-z0-9.]{0,10}[a-z]",
            words in "[A-Za-z][A-Za-z ,']{8,60}[a-z]",
        ) {
            let mut r = redactor();
            r.words([words.as_str()]).unwrap();
            let email = format!("{user}@example.org");
            let text = format!("{before} {JWT} {after} {email} {words} {before}");
            let out = r.text(&text);
            prop_assert!(!out.text.contains(JWT));
            prop_assert!(!out.text.contains(&email));
            prop_assert!(!out.text.contains(words.trim()));
            let line = serde_json::json!({"fields": {"message": text}}).to_string();
            let out = r.log_line(&line);
            prop_assert!(!out.text.contains(JWT));
            prop_assert!(!out.text.contains(&email));
            prop_assert!(!out.text.contains(words.trim()));
        }
    }
}

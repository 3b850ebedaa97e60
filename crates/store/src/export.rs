//! Exports a session's final lines as Markdown, JSON, plain text, SubRip (SRT) or WebVTT.
//! Times are relative to the session's start and every line names its speaker. Pure: the
//! caller reads the session and its lines.

use serde::{Deserialize, Serialize};
use serde_json::json;
use viva_realtime::Speaker;

use crate::model::{StoredLine, StoredSession};

/// The formats a session can be exported in.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Format {
    Markdown,
    Json,
    Text,
    Srt,
    Vtt,
}

impl Format {
    /// The usual file extension.
    pub fn extension(self) -> &'static str {
        match self {
            Self::Markdown => "md",
            Self::Json => "json",
            Self::Text => "txt",
            Self::Srt => "srt",
            Self::Vtt => "vtt",
        }
    }

    /// Reads a format name or extension (`md`, `markdown`, `json`, `txt`, `text`, `srt`,
    /// `vtt`, `webvtt`).
    pub fn parse(name: &str) -> Option<Self> {
        match name.to_ascii_lowercase().as_str() {
            "md" | "markdown" => Some(Self::Markdown),
            "json" => Some(Self::Json),
            "txt" | "text" => Some(Self::Text),
            "srt" | "subrip" => Some(Self::Srt),
            "vtt" | "webvtt" => Some(Self::Vtt),
            _ => None,
        }
    }
}

fn label(speaker: Speaker) -> &'static str {
    match speaker {
        Speaker::Candidate => "Candidate",
        Speaker::Interviewer => "Interviewer",
    }
}

/// What a line says, with inaudible answers marked instead of left blank.
fn words(line: &StoredLine) -> String {
    let text = line.text.split_whitespace().collect::<Vec<_>>().join(" ");
    let text = match (&line.inaudible, text.is_empty()) {
        (Some(_), true) => "[inaudible]".to_string(),
        (Some(_), false) => format!("{text} [inaudible]"),
        (None, _) => text,
    };
    if line.interrupted {
        format!("{text} [cut off]")
    } else {
        text
    }
}

/// A cue's end: the line's own end, else just before the next line starts, else a reading
/// time from the number of words; always after the start.
pub(crate) fn cue_end(lines: &[&StoredLine], index: usize) -> u64 {
    let Some(line) = lines.get(index) else {
        return 0;
    };
    let words = u64::try_from(line.text.split_whitespace().count()).unwrap_or(0);
    let reading = line.started_ms + (words * 400).clamp(1500, 10_000);
    let end = line.ended_ms.unwrap_or_else(|| {
        lines
            .get(index + 1)
            .map(|next| next.started_ms)
            .filter(|next| *next > line.started_ms)
            .map_or(reading, |next| next.min(reading))
    });
    end.max(line.started_ms + 1)
}

fn clock(ms: u64, separator: char) -> String {
    let (h, rest) = (ms / 3_600_000, ms % 3_600_000);
    let (m, rest) = (rest / 60_000, rest % 60_000);
    let (s, ms) = (rest / 1000, rest % 1000);
    format!("{h:02}:{m:02}:{s:02}{separator}{ms:03}")
}

fn short_clock(ms: u64) -> String {
    let seconds = ms / 1000;
    if seconds >= 3600 {
        format!(
            "{}:{:02}:{:02}",
            seconds / 3600,
            seconds % 3600 / 60,
            seconds % 60
        )
    } else {
        format!("{:02}:{:02}", seconds / 60, seconds % 60)
    }
}

fn date(ms: i64) -> String {
    chrono::DateTime::from_timestamp_millis(ms)
        .map(|t| t.format("%Y-%m-%d %H:%M UTC").to_string())
        .unwrap_or_default()
}

/// Escapes what Markdown would otherwise read as formatting.
fn markdown_text(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    for c in text.chars() {
        if matches!(
            c,
            '\\' | '`' | '*' | '_' | '[' | ']' | '<' | '>' | '#' | '|' | '~'
        ) {
            out.push('\\');
        }
        out.push(c);
    }
    out
}

/// The session rendered in `format`. Only final lines are exported, in conversation order.
pub fn export(session: &StoredSession, lines: &[StoredLine], format: Format) -> String {
    let mut finals: Vec<&StoredLine> = lines.iter().filter(|l| l.is_final).collect();
    finals.sort_by_key(|l| (l.seq, l.started_ms));
    match format {
        Format::Markdown => markdown(session, &finals),
        Format::Json => json_export(session, &finals),
        Format::Text => text(session, &finals),
        Format::Srt => srt(&finals),
        Format::Vtt => vtt(session, &finals),
    }
}

fn heading(session: &StoredSession) -> String {
    let mut parts = vec![date(session.started_at_ms), session.mode.clone()];
    if let Some(duration) = session.duration_ms {
        parts.push(short_clock(u64::try_from(duration).unwrap_or(0)));
    }
    parts.push(session.status.as_str().to_string());
    parts.join(" · ")
}

fn markdown(session: &StoredSession, lines: &[&StoredLine]) -> String {
    let mut out = format!(
        "# {}\n\n{}\n\n",
        markdown_text(&session.title),
        heading(session)
    );
    for line in lines {
        out.push_str(&format!(
            "**{}** ({}): {}\n\n",
            label(line.speaker),
            short_clock(line.started_ms),
            markdown_text(&words(line))
        ));
    }
    out
}

fn json_export(session: &StoredSession, lines: &[&StoredLine]) -> String {
    let value = json!({
        "session": {
            "id": session.id,
            "title": session.title,
            "mode": session.mode,
            "status": session.status,
            "started_at": chrono::DateTime::from_timestamp_millis(session.started_at_ms)
                .map(|t| t.to_rfc3339()),
            "duration_ms": session.duration_ms,
        },
        "lines": lines.iter().map(|l| json!({
            "item_id": l.item_id,
            "seq": l.seq,
            "speaker": l.speaker,
            "text": l.text,
            "started_ms": l.started_ms,
            "ended_ms": l.ended_ms,
            "inaudible": l.inaudible,
            "interrupted": l.interrupted,
        })).collect::<Vec<_>>(),
    });
    let mut out = serde_json::to_string_pretty(&value).unwrap_or_default();
    out.push('\n');
    out
}

fn text(session: &StoredSession, lines: &[&StoredLine]) -> String {
    let mut out = format!("{}\n{}\n\n", session.title, heading(session));
    for line in lines {
        out.push_str(&format!(
            "[{}] {}: {}\n",
            short_clock(line.started_ms),
            label(line.speaker),
            words(line)
        ));
    }
    out
}

fn srt(lines: &[&StoredLine]) -> String {
    let mut out = String::new();
    for (index, line) in lines.iter().enumerate() {
        // SubRip has no escaping: an arrow in the words would read as a timing line.
        let text = words(line).replace("-->", "→");
        out.push_str(&format!(
            "{}\n{} --> {}\n{}: {}\n\n",
            index + 1,
            clock(line.started_ms, ','),
            clock(cue_end(lines, index), ','),
            label(line.speaker),
            text
        ));
    }
    out
}

fn vtt_escape(text: &str) -> String {
    text.replace('&', "&amp;")
        .replace('<', "&lt;")
        .replace('>', "&gt;")
}

fn vtt(session: &StoredSession, lines: &[&StoredLine]) -> String {
    // The header's text may not contain "-->"; a NOTE block may not either.
    let title = session.title.replace("-->", "→").replace('\n', " ");
    let mut out = format!("WEBVTT - {title}\n\n");
    for (index, line) in lines.iter().enumerate() {
        out.push_str(&format!(
            "{}\n{} --> {}\n<v {}>{}\n\n",
            index + 1,
            clock(line.started_ms, '.'),
            clock(cue_end(lines, index), '.'),
            label(line.speaker),
            vtt_escape(&words(line))
        ));
    }
    out
}

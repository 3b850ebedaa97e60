//! Export: a transcript's text in a chosen format, and the file name to suggest for it.

use serde::Deserialize;
use viva_store::{Format, StoredSession};

use crate::open::Opened;

/// The export formats, as the UI names them.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
#[cfg_attr(feature = "specta", derive(specta::Type))]
#[serde(rename_all = "snake_case")]
pub enum ExportFormat {
    Markdown,
    Json,
    Text,
    Srt,
    Vtt,
}

impl From<ExportFormat> for Format {
    fn from(format: ExportFormat) -> Self {
        match format {
            ExportFormat::Markdown => Self::Markdown,
            ExportFormat::Json => Self::Json,
            ExportFormat::Text => Self::Text,
            ExportFormat::Srt => Self::Srt,
            ExportFormat::Vtt => Self::Vtt,
        }
    }
}

/// A transcript ready to be saved.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Exported {
    pub text: String,
    /// `Practice 2026-11-23.md`: the title and the day, with nothing a file system refuses.
    pub file_name: String,
    /// The format's name for a save dialog's filter, e.g. `WebVTT subtitles`.
    pub format_name: &'static str,
    /// Without the dot, e.g. `vtt`.
    pub extension: &'static str,
}

/// `opened` in `format`, with the name to suggest for its file.
pub fn export(opened: &Opened, format: ExportFormat) -> Exported {
    let format = Format::from(format);
    Exported {
        text: viva_store::export(&opened.session, &opened.lines, format),
        file_name: suggested_name(&opened.session, format),
        format_name: match format {
            Format::Markdown => "Markdown",
            Format::Json => "JSON",
            Format::Text => "Plain text",
            Format::Srt => "SubRip subtitles",
            Format::Vtt => "WebVTT subtitles",
        },
        extension: format.extension(),
    }
}

fn suggested_name(session: &StoredSession, format: Format) -> String {
    let day = chrono::DateTime::from_timestamp_millis(session.started_at_ms)
        .map(|t| t.format("%Y-%m-%d").to_string())
        .unwrap_or_default();
    let title: String = session
        .title
        .chars()
        .map(|c| {
            if "/\\:*?\"<>|".contains(c) || c.is_control() {
                '-'
            } else {
                c
            }
        })
        .collect();
    format!("{} {day}.{}", title.trim(), format.extension())
        .trim()
        .to_owned()
}

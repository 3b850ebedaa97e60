//! The diagnostics archive: one zip file whose every part went through the [`Redactor`].

use std::io::Write;
use std::path::Path;

use serde::Serialize;
use serde_json::Value;
use zip::write::SimpleFileOptions;

use crate::redact::{Redactor, Removed};

/// What goes into the archive, before redaction.
#[derive(Debug, Clone, Default)]
pub struct Contents {
    /// The app's and the system's versions.
    pub about: Value,
    /// The audio devices as the app sees them.
    pub devices: Value,
    /// The last call's health timeline and problems, if there was a call in this run.
    pub last_call: Option<Value>,
    /// Recent log files: name and text, oldest first.
    pub logs: Vec<(String, String)>,
}

/// What was written.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct ArchiveSummary {
    /// The archive's parts, in order.
    pub parts: Vec<String>,
    /// What was taken out of them.
    pub removed: Removed,
}

#[derive(Debug, thiserror::Error)]
pub enum DiagnosticsError {
    #[error("the diagnostics could not be written: {0}")]
    Io(#[from] std::io::Error),
    #[error("the diagnostics archive could not be made: {0}")]
    Zip(#[from] zip::result::ZipError),
    #[error("the diagnostics could not be put in words: {0}")]
    Json(#[from] serde_json::Error),
    #[error("the redaction rules could not be built: {0}")]
    Rules(#[from] regex::Error),
}

const README: &str = "Viva diagnostics, for support.

about.json      the app's and the system's versions
devices.json    the microphones and speakers Viva could see
last-call.json  the last call in this run: its states, health once a second, problems
logs/           Viva's recent logs
removed.json    how many tokens, e-mail addresses and transcript lines were taken out

Before this archive was written, every access token, key and password, every e-mail address
and the words of every interview were removed from all of it. No audio is ever included.
";

/// Writes `contents` to `path` as a zip, every part redacted. The archive appears whole or not
/// at all: it is written beside `path` and renamed into place.
pub fn write_archive(
    path: &Path,
    contents: &Contents,
    redactor: &Redactor,
) -> Result<ArchiveSummary, DiagnosticsError> {
    let mut removed = Removed::default();
    let mut parts: Vec<(String, String)> = vec![("README.txt".into(), README.into())];
    let mut json_part = |name: &str, value: &Value| -> Result<(String, String), DiagnosticsError> {
        let (clean, found) = redactor.value(value);
        removed.add(found);
        Ok((name.to_owned(), serde_json::to_string_pretty(&clean)?))
    };
    parts.push(json_part("about.json", &contents.about)?);
    parts.push(json_part("devices.json", &contents.devices)?);
    if let Some(call) = &contents.last_call {
        parts.push(json_part("last-call.json", call)?);
    }
    for (name, text) in &contents.logs {
        let mut clean = String::with_capacity(text.len());
        for line in text.lines() {
            let line = redactor.log_line(line);
            removed.add(line.removed);
            clean.push_str(&line.text);
            clean.push('\n');
        }
        parts.push((format!("logs/{}", file_name(name)), clean));
    }
    parts.push((
        "removed.json".into(),
        serde_json::to_string_pretty(&removed)?,
    ));

    let partial = path.with_extension("zip.partial");
    let written = write_zip(&partial, &parts);
    if let Err(error) = written.and_then(|()| std::fs::rename(&partial, path).map_err(Into::into)) {
        let _ = std::fs::remove_file(&partial);
        return Err(error);
    }
    Ok(ArchiveSummary {
        parts: parts.into_iter().map(|(name, _)| name).collect(),
        removed,
    })
}

fn write_zip(path: &Path, parts: &[(String, String)]) -> Result<(), DiagnosticsError> {
    let file = std::fs::File::create(path)?;
    let mut zip = zip::ZipWriter::new(file);
    let options = SimpleFileOptions::default()
        .compression_method(zip::CompressionMethod::Deflated)
        .unix_permissions(0o600);
    for (name, text) in parts {
        zip.start_file(name.as_str(), options)?;
        zip.write_all(text.as_bytes())?;
    }
    let file = zip.finish()?;
    file.sync_all()?;
    Ok(())
}

/// Every part of an archive at `path`, by name, in order: what support reads back.
pub fn read_archive(path: &Path) -> Result<Vec<(String, String)>, DiagnosticsError> {
    use std::io::Read;
    let mut zip = zip::ZipArchive::new(std::fs::File::open(path)?)?;
    (0..zip.len())
        .map(|i| {
            let mut part = zip.by_index(i)?;
            let mut text = String::new();
            part.read_to_string(&mut text)?;
            Ok((part.name().to_owned(), text))
        })
        .collect()
}

/// A log file's own name only: no folders, nothing that could climb out of `logs/`.
fn file_name(name: &str) -> String {
    let base = name.rsplit(['/', '\\']).next().unwrap_or(name);
    let clean: String = base
        .chars()
        .map(|c| {
            if c.is_ascii_alphanumeric() || matches!(c, '.' | '-' | '_') {
                c
            } else {
                '_'
            }
        })
        .collect();
    match clean.trim_start_matches('.') {
        "" => "log".into(),
        rest => rest.to_owned(),
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;

    #[test]
    fn log_names_stay_inside_the_logs_folder() {
        assert_eq!(file_name("viva.2026-12-08.log"), "viva.2026-12-08.log");
        assert_eq!(file_name("../../etc/passwd"), "passwd");
        assert_eq!(file_name("..\\x y.log"), "x_y.log");
        assert_eq!(file_name(".."), "log");
    }
}

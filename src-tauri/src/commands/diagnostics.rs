//! Help → Save diagnostics…: one archive for support, written where the user picks, with
//! tokens, e-mail addresses and transcript words removed first (`viva-diagnostics`).

use std::path::{Path, PathBuf};

use serde_json::{Value, json};
use tauri::{AppHandle, Manager, State};
use viva_diagnostics::{Contents, Redactor, write_archive};

use crate::commands::save_dialog::ask_where_to_save;
use crate::error::{AppError, ErrorCode};
use crate::live::LiveState;
use crate::transcripts::TranscriptState;

/// Log files included, newest first, and how much of the end of each.
const LOG_FILES: usize = 3;
const LOG_TAIL_BYTES: u64 = 2 * 1024 * 1024;
/// Sessions whose lines are taken out of the logs by their exact words.
const SESSIONS_SCANNED: u32 = 50;

/// Asks where to save the diagnostics (the system's save dialog) and writes them there. Returns
/// the path written, or `None` when the user cancelled.
#[tauri::command]
#[specta::specta]
pub async fn save_diagnostics(
    app: AppHandle,
    live: State<'_, LiveState>,
    transcripts: State<'_, TranscriptState>,
) -> Result<Option<String>, AppError> {
    let name = format!(
        "viva-diagnostics-{}.zip",
        chrono::Local::now().format("%Y%m%d-%H%M")
    );
    let Some(path) =
        ask_where_to_save(&app, "Save diagnostics", &name, ("Zip archive", "zip")).await?
    else {
        return Ok(None);
    };
    let last_call = live
        .last_call
        .lock()
        .ok()
        .and_then(|call| call.as_ref().and_then(|c| serde_json::to_value(c).ok()));
    let log_dir = app.path().app_log_dir().ok();
    let words = spoken_lines(&transcripts);
    let about = about(&app);
    let written = path.clone();
    let summary = tokio::task::spawn_blocking(move || {
        let mut redactor = Redactor::new()?;
        redactor.words(words.iter().map(String::as_str))?;
        let contents = Contents {
            about,
            devices: devices(),
            last_call,
            logs: log_dir.as_deref().map(recent_logs).unwrap_or_default(),
        };
        write_archive(&written, &contents, &redactor)
    })
    .await
    .map_err(|error| AppError::new(ErrorCode::Unavailable, error.to_string()))?
    .map_err(|error| {
        let shown = path.display();
        AppError::new(
            ErrorCode::Unavailable,
            format!("The diagnostics could not be saved to {shown}: {error}"),
        )
    })?;
    tracing::info!(
        event = "diagnostics_saved",
        parts = summary.parts.len(),
        tokens_removed = summary.removed.tokens,
        emails_removed = summary.removed.emails,
        lines_removed = summary.removed.words,
    );
    Ok(Some(path.display().to_string()))
}

/// The final lines of the recent sessions on this computer: their words are taken out of the
/// logs wherever they appear, whatever field holds them.
fn spoken_lines(transcripts: &TranscriptState) -> Vec<String> {
    let Some(store) = transcripts.store() else {
        return Vec::new();
    };
    let sessions = store.sessions(SESSIONS_SCANNED, 0).unwrap_or_default();
    sessions
        .iter()
        .flat_map(|session| store.lines(&session.id, false).unwrap_or_default())
        .map(|line| line.text)
        .collect()
}

fn about(app: &AppHandle) -> Value {
    json!({
        "app_version": app.package_info().version.to_string(),
        "build": env!("VIVA_BUILD_ID"),
        "profile": if cfg!(debug_assertions) { "debug" } else { "release" },
        "os": os_name(),
        "kernel": std::fs::read_to_string("/proc/sys/kernel/osrelease").ok().map(|k| k.trim().to_owned()),
        "arch": std::env::consts::ARCH,
        "family": std::env::consts::OS,
        "desktop": std::env::var("XDG_CURRENT_DESKTOP").ok(),
        "session_type": std::env::var("XDG_SESSION_TYPE").ok(),
        "saved_at": chrono::Utc::now().to_rfc3339(),
    })
}

/// The system's name and version (`PRETTY_NAME` of os-release on Linux).
fn os_name() -> String {
    ["/etc/os-release", "/usr/lib/os-release"]
        .iter()
        .find_map(|path| std::fs::read_to_string(path).ok())
        .and_then(|release| {
            release.lines().find_map(|line| {
                line.strip_prefix("PRETTY_NAME=")
                    .map(|name| name.trim_matches('"').to_owned())
            })
        })
        .unwrap_or_else(|| std::env::consts::OS.to_owned())
}

fn devices() -> Value {
    json!({
        "inputs": viva_audio::input_devices(),
        "outputs": viva_audio::output_devices(),
        "sound_problem": viva_audio::sound_system_trouble(),
    })
}

/// The newest log files (oldest of them first), each cut to its last [`LOG_TAIL_BYTES`] at a
/// line boundary.
fn recent_logs(dir: &Path) -> Vec<(String, String)> {
    let Ok(entries) = std::fs::read_dir(dir) else {
        return Vec::new();
    };
    let mut files: Vec<PathBuf> = entries
        .flatten()
        .map(|entry| entry.path())
        .filter(|path| {
            path.file_name()
                .and_then(|n| n.to_str())
                .is_some_and(|n| n.starts_with("viva") && n.ends_with(".log"))
        })
        .collect();
    // Daily files are named by date: the name's order is their age.
    files.sort();
    let newest = files.len().saturating_sub(LOG_FILES);
    files[newest..]
        .iter()
        .filter_map(|path| {
            let text = tail(path, LOG_TAIL_BYTES)?;
            let name = path.file_name()?.to_string_lossy().into_owned();
            Some((name, text))
        })
        .collect()
}

fn tail(path: &Path, bytes: u64) -> Option<String> {
    use std::io::{Read, Seek, SeekFrom};
    let mut file = std::fs::File::open(path).ok()?;
    let length = file.metadata().ok()?.len();
    let start = length.saturating_sub(bytes);
    file.seek(SeekFrom::Start(start)).ok()?;
    let mut raw = Vec::new();
    file.read_to_end(&mut raw).ok()?;
    let text = String::from_utf8_lossy(&raw).into_owned();
    // A cut in the middle of a line leaves half a line: drop it.
    Some(if start > 0 {
        text.split_once('\n')
            .map_or_else(String::new, |(_, rest)| rest.to_owned())
    } else {
        text
    })
}

//! `viva transcripts`: the transcripts kept on this computer — list them with their sync
//! state, search them, export one, or import lines printed by `viva practice`.

use std::io::{BufRead, Write};
use std::path::{Path, PathBuf};
use std::process::ExitCode;

use serde::Deserialize;
use serde_json::json;
use viva_realtime::{Line, LineStatus, Speaker};
use viva_store::{Ending, Format, NewSession, OpenReport, SearchQuery, SessionStatus, Store};

/// The desktop app's identifier: its data folder's name.
const APP_IDENTIFIER: &str = "app.viva.desktop";

/// The app's transcript database (`$XDG_DATA_HOME/app.viva.desktop/transcripts.sqlite3` on
/// Linux), so sessions taken on the command line show in the app.
pub fn default_path() -> Option<PathBuf> {
    Some(
        dirs::data_dir()?
            .join(APP_IDENTIFIER)
            .join(viva_store::FILE_NAME),
    )
}

/// Opens the store and prints what opening found (a damaged file moved aside, sessions a
/// crash left live).
pub fn open(path: Option<&Path>) -> Result<Store, String> {
    let path = match path {
        Some(path) => path.to_path_buf(),
        None => default_path().ok_or("no data folder for the transcripts; pass --db")?,
    };
    let (store, report) = Store::open(&path).map_err(|e| e.to_string())?;
    print_report(&store, &report);
    Ok(store)
}

fn print_report(store: &Store, report: &OpenReport) {
    if let Some(aside) = &report.moved_aside {
        eprintln!("viva: {}", aside.message());
    }
    if !report.interrupted.is_empty() || report.moved_aside.is_some() {
        println!(
            "{}",
            json!({"type": "store", "path": store.path(), "interrupted": report.interrupted,
                "moved_aside": report.moved_aside.as_ref().map(viva_store::MovedAside::message)})
        );
    }
}

/// `viva transcripts list`.
pub fn list(store: &Store, limit: u32) -> ExitCode {
    match store.sessions(limit, 0) {
        Ok(sessions) => {
            for session in sessions {
                // Lines the backend refused stay here; say which and why.
                let refused: Vec<_> = if session.refused_lines > 0 {
                    store
                        .refused_lines(&session.id)
                        .unwrap_or_default()
                        .into_iter()
                        .map(|r| json!({"item_id": r.item_id, "reason": r.reason}))
                        .collect()
                } else {
                    Vec::new()
                };
                println!(
                    "{}",
                    json!({"type": "session", "session": session, "refused": refused})
                );
            }
            ExitCode::SUCCESS
        }
        Err(error) => fail(&error.to_string()),
    }
}

/// `viva transcripts export`.
pub fn export(store: &Store, session_id: &str, format: &str, out: Option<&Path>) -> ExitCode {
    let Some(format) = Format::parse(format) else {
        eprintln!("viva: unknown format {format:?}: use md, json, txt, srt or vtt");
        return ExitCode::from(2);
    };
    let rendered = store.session(session_id).and_then(|session| {
        let lines = store.lines(session_id, true)?;
        Ok(viva_store::export(&session, &lines, format))
    });
    let text = match rendered {
        Ok(text) => text,
        Err(error) => return fail(&error.to_string()),
    };
    let written = match out {
        Some(path) => std::fs::write(path, text),
        None => std::io::stdout().write_all(text.as_bytes()),
    };
    match written {
        Ok(()) => ExitCode::SUCCESS,
        Err(error) => fail(&format!("cannot write the export: {error}")),
    }
}

/// Reads `YYYY-MM-DD` (UTC midnight) or RFC 3339 as unix milliseconds.
pub fn parse_date(text: &str) -> Result<i64, String> {
    if let Ok(date) = chrono::NaiveDate::parse_from_str(text, "%Y-%m-%d") {
        return Ok(date
            .and_time(chrono::NaiveTime::MIN)
            .and_utc()
            .timestamp_millis());
    }
    chrono::DateTime::parse_from_rfc3339(text)
        .map(|t| t.timestamp_millis())
        .map_err(|_| format!("{text:?} is not a date (YYYY-MM-DD or RFC 3339)"))
}

/// `viva transcripts search`.
pub fn search(store: &Store, query: &SearchQuery) -> ExitCode {
    match store.search(query) {
        Ok(hits) => {
            for hit in hits {
                println!("{}", json!({"type": "hit", "hit": hit}));
            }
            ExitCode::SUCCESS
        }
        Err(error) => fail(&error.to_string()),
    }
}

fn fail(message: &str) -> ExitCode {
    eprintln!("viva: {message}");
    ExitCode::FAILURE
}

/// A `line` as `viva practice` prints it.
#[derive(Debug, Deserialize)]
struct PrintedLine {
    #[serde(rename = "type")]
    kind: String,
    #[serde(default)]
    item_id: String,
    #[serde(default)]
    seq: u32,
    #[serde(default)]
    speaker: Option<Speaker>,
    #[serde(default)]
    text: String,
    #[serde(default)]
    started_ms: u64,
    #[serde(default)]
    ended_ms: Option<u64>,
    #[serde(default)]
    interrupted: bool,
    #[serde(default)]
    inaudible: Option<String>,
}

/// `viva transcripts import`: each final line read is committed before its
/// `{"type":"committed"}` is printed, so whoever reads that knows the line is safe.
pub fn import(store: &Store, session_id: Option<String>, title: &str) -> ExitCode {
    let now = chrono::Utc::now().timestamp_millis();
    let session_id = session_id.unwrap_or_else(|| uuid::Uuid::new_v4().to_string());
    let session = NewSession {
        id: session_id.clone(),
        remote: None,
        user_id: None,
        title: title.to_string(),
        mode: "practice".into(),
        started_at_ms: now,
        consent: None,
    };
    if let Err(error) = store.begin_session(&session) {
        return fail(&error.to_string());
    }
    println!("{}", json!({"type": "session", "session_id": session_id}));
    let mut bad = 0_u32;
    let mut last_ms = 0_u64;
    let stdout = std::io::stdout();
    for (number, read) in std::io::stdin().lock().lines().enumerate() {
        let text = match read {
            Ok(text) => text,
            Err(error) => return fail(&format!("cannot read the input: {error}")),
        };
        if text.trim().is_empty() {
            continue;
        }
        let printed: PrintedLine = match serde_json::from_str(&text) {
            Ok(printed) => printed,
            Err(error) => {
                eprintln!("viva: input line {} skipped: {error}", number + 1);
                bad += 1;
                continue;
            }
        };
        if printed.kind != "line" {
            continue;
        }
        let (Some(speaker), false) = (printed.speaker, printed.item_id.trim().is_empty()) else {
            eprintln!(
                "viva: input line {} skipped: a line needs an item_id and a speaker",
                number + 1
            );
            bad += 1;
            continue;
        };
        last_ms = last_ms.max(printed.ended_ms.unwrap_or(printed.started_ms));
        let line = Line {
            item_id: printed.item_id,
            seq: printed.seq,
            speaker,
            text: printed.text,
            started_ms: printed.started_ms,
            ended_ms: printed.ended_ms,
            status: LineStatus::Final,
            inaudible: printed.inaudible,
            interrupted: printed.interrupted,
        };
        if let Err(error) = store.record(&session_id, &line) {
            // Nothing after this line is committed either: stop and say so.
            return fail(&format!(
                "line {} was not saved, so the import stopped: {error}",
                number + 1
            ));
        }
        let mut out = stdout.lock();
        let acked = writeln!(
            out,
            "{}",
            json!({"type": "committed", "item_id": line.item_id})
        )
        .and_then(|()| out.flush());
        if acked.is_err() {
            // Nobody is reading any more; what was committed stays.
            break;
        }
    }
    let duration = i64::try_from(last_ms).unwrap_or(i64::MAX);
    let ending = Ending {
        status: SessionStatus::Completed,
        ended_at_ms: now.saturating_add(duration),
        duration_ms: duration,
        cost_usd: None,
    };
    if let Err(error) = store.end_session(&session_id, &ending) {
        return fail(&error.to_string());
    }
    if bad > 0 {
        eprintln!("viva: {bad} input lines were not transcript lines and were skipped");
        return ExitCode::from(2);
    }
    ExitCode::SUCCESS
}

//! Facts about this installation of Viva: version, build and where it keeps its files.

use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Instant;

use serde::Serialize;
use tauri::{AppHandle, Manager, State};

use crate::error::{AppError, ErrorCode};
use crate::transcripts::TranscriptState;
use viva_session::TranscriptsInfo;

/// What the first screen and bug reports show about this copy of Viva.
#[derive(Debug, Clone, Serialize, specta::Type)]
#[serde(rename_all = "camelCase")]
pub struct AppInfo {
    /// The release version, e.g. `0.1.0`.
    pub version: String,
    /// The commit the binary was built from, or `unknown`.
    pub build: String,
    /// `debug` or `release`.
    pub profile: String,
    /// Where Viva keeps its database and settings.
    pub data_dir: String,
    /// Where Viva writes its rotating JSON logs.
    pub log_dir: String,
    pub transcripts: TranscriptsInfo,
}

#[tauri::command]
#[specta::specta]
pub fn app_info(
    app: AppHandle,
    transcripts: State<'_, TranscriptState>,
) -> Result<AppInfo, AppError> {
    let paths = app.path();
    let unavailable = |what: &str, error: tauri::Error| {
        AppError::new(
            ErrorCode::PathUnavailable,
            format!("Viva cannot find its {what} directory: {error}"),
        )
    };
    let data_dir = paths.app_data_dir().map_err(|e| unavailable("data", e))?;
    let log_dir = paths.app_log_dir().map_err(|e| unavailable("log", e))?;
    Ok(AppInfo {
        version: app.package_info().version.to_string(),
        build: env!("VIVA_BUILD_ID").to_owned(),
        profile: if cfg!(debug_assertions) {
            "debug"
        } else {
            "release"
        }
        .to_owned(),
        data_dir: data_dir.display().to_string(),
        log_dir: log_dir.display().to_string(),
        transcripts: transcripts.info(),
    })
}

/// When this process started Viva, for the start-up time the first screen reports.
#[derive(Debug)]
pub struct StartupClock {
    started: Instant,
    reported: AtomicBool,
}

impl StartupClock {
    /// Starts counting now: call it first thing in `run`.
    #[must_use]
    pub fn start() -> Self {
        Self {
            started: Instant::now(),
            reported: AtomicBool::new(false),
        }
    }
}

/// The first screen is drawn and answers input: logs how long start-up took, once per launch
/// (the start-up benchmark and support's logs read it).
#[tauri::command]
#[specta::specta]
pub fn startup_finished(clock: State<'_, StartupClock>) {
    if !clock.reported.swap(true, Ordering::Relaxed) {
        let millis = u64::try_from(clock.started.elapsed().as_millis()).unwrap_or(u64::MAX);
        tracing::info!(event = "startup_finished", millis, "first screen ready");
    }
}

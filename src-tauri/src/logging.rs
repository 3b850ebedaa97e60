//! Structured logs: JSON lines into a daily-rotated file in the app's log dir, plus readable
//! stderr in development builds. Transcript text and tokens never go above `debug`.

use std::path::Path;

use tracing_appender::non_blocking::WorkerGuard;
use tracing_appender::rolling::{RollingFileAppender, Rotation};
use tracing_subscriber::layer::SubscriberExt;
use tracing_subscriber::util::SubscriberInitExt;
use tracing_subscriber::{EnvFilter, Layer, fmt};

/// How many daily log files are kept before the oldest is deleted.
const KEPT_LOG_FILES: usize = 7;

/// Keeps the background log writer alive; dropping it flushes and stops file logging.
#[derive(Debug)]
pub struct LogGuard {
    _file_writer: Option<WorkerGuard>,
}

/// Installs the global subscriber. When the log file cannot be opened Viva still runs and says
/// why on stderr, because losing logs must never stop an interview.
pub fn init(log_dir: Option<&Path>) -> LogGuard {
    let filter = || EnvFilter::try_from_env("VIVA_LOG").unwrap_or_else(|_| EnvFilter::new("info"));
    let stderr_wanted = cfg!(debug_assertions) || std::env::var_os("VIVA_LOG_STDERR").is_some();
    let stderr_layer = stderr_wanted.then(|| {
        fmt::layer()
            .with_writer(std::io::stderr)
            .with_filter(filter())
    });

    let mut problem = None;
    let file = log_dir.and_then(|dir| match open_log_file(dir) {
        Ok(appender) => Some(tracing_appender::non_blocking(appender)),
        Err(error) => {
            problem = Some(format!("cannot write logs to {}: {error}", dir.display()));
            None
        }
    });
    let (file_layer, guard) = match file {
        Some((writer, guard)) => {
            let layer = fmt::layer()
                .json()
                .with_current_span(false)
                .with_writer(writer)
                .with_filter(filter());
            (Some(layer), Some(guard))
        }
        None => (None, None),
    };

    if tracing_subscriber::registry()
        .with(stderr_layer)
        .with(file_layer)
        .try_init()
        .is_err()
    {
        eprintln!("viva: a logger was already installed; keeping it");
    }
    if let Some(problem) = problem {
        eprintln!("viva: {problem}");
        tracing::warn!(event = "log_file_unavailable", %problem);
    }
    LogGuard {
        _file_writer: guard,
    }
}

/// Opens today's log file. The folder is owner-only (0700) and so is every log file in it
/// (0600): logs name sessions and, at `debug`, hold transcript text. A file the appender opens
/// at a later rotation is created in that private folder.
fn open_log_file(dir: &Path) -> Result<RollingFileAppender, Box<dyn std::error::Error>> {
    viva_store::private_folder(dir)?;
    let appender = RollingFileAppender::builder()
        .rotation(Rotation::DAILY)
        .filename_prefix("viva")
        .filename_suffix("log")
        .max_log_files(KEPT_LOG_FILES)
        .build(dir)?;
    for entry in std::fs::read_dir(dir)?.flatten() {
        let name = entry.file_name();
        let name = name.to_string_lossy();
        if name.starts_with("viva") && name.ends_with(".log") {
            viva_store::private_file(&entry.path())?;
        }
    }
    Ok(appender)
}

#[cfg(all(test, unix))]
mod tests {
    #![allow(clippy::unwrap_used)]
    use std::os::unix::fs::PermissionsExt;

    use super::*;

    #[test]
    fn the_log_folder_and_its_files_are_the_owners_only() {
        let home = tempfile::tempdir().unwrap();
        let dir = home.path().join("logs");
        // An older Viva left a world-readable folder and file behind.
        std::fs::create_dir(&dir).unwrap();
        std::fs::set_permissions(&dir, std::fs::Permissions::from_mode(0o755)).unwrap();
        let old = dir.join("viva.2026-11-30.log");
        std::fs::write(&old, "{}").unwrap();
        std::fs::set_permissions(&old, std::fs::Permissions::from_mode(0o644)).unwrap();
        let _appender = open_log_file(&dir).unwrap();
        let mode = |path: &Path| std::fs::metadata(path).unwrap().permissions().mode() & 0o777;
        assert_eq!(mode(&dir), 0o700);
        let logs: Vec<_> = std::fs::read_dir(&dir)
            .unwrap()
            .flatten()
            .map(|e| e.path())
            .collect();
        assert!(logs.len() >= 2, "today's file was created: {logs:?}");
        for log in logs {
            assert_eq!(mode(&log), 0o600, "{}", log.display());
        }
    }
}

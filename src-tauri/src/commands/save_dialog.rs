//! The system's save dialog, as every "Save…" of the app asks it.

use std::path::PathBuf;

use tauri::AppHandle;
use tauri_plugin_dialog::DialogExt;

use crate::error::{AppError, ErrorCode};

/// Asks where to save a file (`title`, a suggested `file_name`, one filter); `None` when the
/// user cancelled.
pub async fn ask_where_to_save(
    app: &AppHandle,
    title: &str,
    file_name: &str,
    filter: (&str, &str),
) -> Result<Option<PathBuf>, AppError> {
    let (chosen, answer) = tokio::sync::oneshot::channel();
    app.dialog()
        .file()
        .set_title(title)
        .set_file_name(file_name)
        .add_filter(filter.0, &[filter.1])
        .save_file(move |path| {
            let _ = chosen.send(path);
        });
    let Some(path) = answer.await.ok().flatten() else {
        return Ok(None);
    };
    path.into_path().map(Some).map_err(|error| {
        AppError::new(
            ErrorCode::InvalidInput,
            format!("That place cannot be saved to: {error}"),
        )
    })
}

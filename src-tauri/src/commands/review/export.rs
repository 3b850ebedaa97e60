//! Exporting a transcript to a file the user picks in the system's save dialog.

use tauri::{AppHandle, State};
use viva_review::ExportFormat;

use crate::account::AccountState;
use crate::commands::save_dialog::ask_where_to_save;
use crate::error::{AppError, ErrorCode};
use crate::transcripts::TranscriptState;

/// Asks where to save the transcript in `format` (the system's save dialog) and writes it
/// there. Returns the path written, or `None` when the user cancelled.
#[tauri::command]
#[specta::specta]
pub async fn export_transcript(
    app: AppHandle,
    accounts: State<'_, AccountState>,
    transcripts: State<'_, TranscriptState>,
    session_id: String,
    format: ExportFormat,
) -> Result<Option<String>, AppError> {
    let opened = viva_review::open(transcripts.store(), accounts.signed_in(), &session_id).await?;
    let exported = viva_review::export(&opened, format);
    let filter = (exported.format_name, exported.extension);
    let Some(path) =
        ask_where_to_save(&app, "Export transcript", &exported.file_name, filter).await?
    else {
        return Ok(None);
    };
    tokio::fs::write(&path, exported.text)
        .await
        .map_err(|error| {
            let path = path.display();
            let message = format!("The transcript could not be saved to {path}: {error}");
            AppError::new(ErrorCode::Unavailable, message)
        })?;
    tracing::info!(event = "transcript_exported", session = %session_id, format = exported.extension);
    Ok(Some(path.display().to_string()))
}

//! Searching the transcripts kept on this computer.

use tauri::State;
use viva_review::{SearchHitView, SearchRequest};

use crate::error::AppError;
use crate::transcripts::TranscriptState;

/// Full-text search over every transcript kept on this computer, at most 100 hits.
#[tauri::command]
#[specta::specta]
pub async fn search_transcripts(
    transcripts: State<'_, TranscriptState>,
    request: SearchRequest,
) -> Result<Vec<SearchHitView>, AppError> {
    Ok(viva_review::search(transcripts.store(), request).await?)
}

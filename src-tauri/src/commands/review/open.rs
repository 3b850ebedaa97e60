//! Opening a transcript for review.

use tauri::State;
use viva_review::TranscriptView;

use crate::account::AccountState;
use crate::error::AppError;
use crate::transcripts::TranscriptState;

/// A transcript: the one kept on this computer, else the backend's (an interviewer reading a
/// candidate's interview), else the copy kept from an earlier read ([`viva_review::open`]).
#[tauri::command]
#[specta::specta]
pub async fn open_transcript(
    accounts: State<'_, AccountState>,
    transcripts: State<'_, TranscriptState>,
    session_id: String,
) -> Result<TranscriptView, AppError> {
    let opened = viva_review::open(transcripts.store(), accounts.signed_in(), &session_id).await?;
    Ok(opened.view())
}

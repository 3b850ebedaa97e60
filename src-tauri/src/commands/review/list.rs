//! The sessions list.

use tauri::State;
use viva_review::{SessionListRequest, SessionListView};

use crate::account::AccountState;
use crate::error::AppError;
use crate::transcripts::TranscriptState;

/// Sessions for review: the backend's when signed in, else — or when the backend cannot be
/// reached — those kept on this computer ([`viva_review::list`]).
#[tauri::command]
#[specta::specta]
pub async fn list_sessions(
    accounts: State<'_, AccountState>,
    transcripts: State<'_, TranscriptState>,
    request: SessionListRequest,
) -> Result<SessionListView, AppError> {
    let account = accounts.signed_in().await;
    Ok(viva_review::list(transcripts.store(), account.as_deref(), &request).await?)
}

//! Scheduling and cancelling interviews (interviewers).

use tauri::State;
use viva_review::ScheduleRequest;

use crate::account::AccountState;
use crate::error::AppError;

/// Schedules an interview for a candidate of the interviewer's organisation; returns its id.
#[tauri::command]
#[specta::specta]
pub async fn schedule_interview(
    accounts: State<'_, AccountState>,
    request: ScheduleRequest,
) -> Result<String, AppError> {
    let account = accounts.signed_in().await;
    Ok(viva_review::schedule(account.as_deref(), request).await?)
}

/// Cancels a scheduled interview; `false` when it had already started (or was not visible).
#[tauri::command]
#[specta::specta]
pub async fn cancel_interview(
    accounts: State<'_, AccountState>,
    session_id: String,
) -> Result<bool, AppError> {
    let account = accounts.signed_in().await;
    Ok(viva_review::cancel(account.as_deref(), &session_id).await?)
}

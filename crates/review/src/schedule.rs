//! Scheduling interviews (interviewers): the form is checked before the backend is asked.

use serde::Deserialize;
use viva_backend::{Account, NewInterview};

use crate::ReviewError;

/// A new interview, as the scheduling form sends it.
#[derive(Debug, Clone, Default, PartialEq, Eq, Deserialize)]
#[cfg_attr(feature = "specta", derive(specta::Type))]
#[serde(rename_all = "camelCase")]
pub struct ScheduleRequest {
    pub candidate_email: String,
    pub title: String,
    /// The interviewer's question set (role), e.g. `software_engineer`.
    pub question_set: String,
    /// RFC 3339, with the user's offset.
    pub scheduled_at: String,
}

fn signed_in(account: Option<&Account>) -> Result<&Account, ReviewError> {
    account.ok_or_else(|| {
        ReviewError::SignedOut("Sign in to your organisation to schedule interviews.".into())
    })
}

/// Schedules an interview for a candidate of the interviewer's organisation; returns its id.
pub async fn schedule(
    account: Option<&Account>,
    request: ScheduleRequest,
) -> Result<String, ReviewError> {
    let email = request.candidate_email.trim();
    if !email.contains('@') || request.title.trim().is_empty() {
        return Err(ReviewError::InvalidInput(
            "Give the candidate's email address and a title.".into(),
        ));
    }
    if chrono::DateTime::parse_from_rfc3339(&request.scheduled_at).is_err() {
        return Err(ReviewError::InvalidInput("Choose a date and time.".into()));
    }
    let account = signed_in(account)?;
    let interview = NewInterview {
        title: request.title.trim().to_owned(),
        question_set: request.question_set,
        scheduled_at: request.scheduled_at,
        candidate_email: email.to_owned(),
    };
    let interview = &interview;
    let row = account
        .with_backend(|backend, token| async move { backend.schedule(&token, interview).await })
        .await?;
    tracing::info!(event = "interview_scheduled", session = %row.id);
    Ok(row.id)
}

/// Cancels a scheduled interview; `false` when it had already started (or was not visible).
pub async fn cancel(account: Option<&Account>, session_id: &str) -> Result<bool, ReviewError> {
    let account = signed_in(account)?;
    Ok(account
        .with_backend(
            |backend, token| async move { backend.cancel_interview(&token, session_id).await },
        )
        .await?)
}

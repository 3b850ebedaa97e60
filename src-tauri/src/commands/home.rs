//! The candidate's home: the interviews scheduled for them, with who scheduled them and when.

use serde::Serialize;
use tauri::State;
use viva_backend::SessionQuery;

use crate::account::AccountState;
use crate::error::AppError;

/// An interview scheduled for the signed-in candidate.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, specta::Type)]
#[serde(rename_all = "camelCase")]
pub struct UpcomingView {
    /// What `start_interview` joins.
    pub id: String,
    pub title: String,
    /// The interviewer's organisation, when the backend names it.
    pub organisation: Option<String>,
    /// RFC 3339; `None` for "any time".
    pub scheduled_at: Option<String>,
}

/// The next interviews scheduled for the signed-in user, soonest first; none when practising
/// offline or signed out.
#[tauri::command]
#[specta::specta]
pub async fn upcoming_interviews(
    accounts: State<'_, AccountState>,
) -> Result<Vec<UpcomingView>, AppError> {
    if accounts.is_offline().await {
        return Ok(Vec::new());
    }
    let Some(account) = accounts.account().await? else {
        return Ok(Vec::new());
    };
    if !matches!(account.state(), viva_backend::AuthState::SignedIn { .. }) {
        return Ok(Vec::new());
    }
    let query = SessionQuery {
        statuses: vec!["scheduled".into()],
        by_schedule: true,
        oldest_first: true,
        limit: 20,
        ..SessionQuery::default()
    };
    let query = &query;
    let page = account
        .with_backend(|backend, token| async move { backend.sessions(&token, query).await })
        .await?;
    // A backend without the organisations table still lists the interviews.
    let tenants = account
        .with_backend(|backend, token| async move { backend.tenants(&token).await })
        .await
        .unwrap_or_default();
    Ok(page
        .rows
        .into_iter()
        .map(|row| UpcomingView {
            organisation: row
                .tenant_id
                .as_ref()
                .and_then(|id| tenants.iter().find(|t| &t.id == id).map(|t| t.name.clone())),
            id: row.id,
            title: row.title.unwrap_or_else(|| "Interview".into()),
            scheduled_at: row.scheduled_at,
        })
        .collect())
}

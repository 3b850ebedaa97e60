//! Signing in and out, and which backend to use. Tokens never cross IPC: the UI learns who is
//! signed in, never with what.

use serde::Serialize;
use serde_json::json;
use tauri::State;
use viva_backend::{AuthState, KeyringStatus, SignUp};

use crate::account::AccountState;
use crate::error::{AppError, ErrorCode};
use crate::transcripts::TranscriptState;

/// Starts sending the outbox of whoever is signed in to a real backend (offline practice's
/// sessions stay on this computer).
async fn sync_signed_in(accounts: &AccountState, transcripts: &TranscriptState) {
    if accounts.is_offline().await {
        return;
    }
    if let Ok(Some(account)) = accounts.account().await
        && let AuthState::SignedIn { user_id, .. } = account.state()
    {
        transcripts.sync_as(&account, account.backend().base_url(), &user_id);
    }
}

/// What sign-up led to.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, specta::Type)]
#[serde(tag = "outcome", rename_all = "snake_case")]
pub enum SignUpView {
    SignedIn {
        auth: AuthState,
    },
    /// The account exists; a confirmation email went to `email`.
    ConfirmEmail {
        email: String,
    },
}

/// Which backend is configured and whether sign-ins survive quitting.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, specta::Type)]
#[serde(rename_all = "camelCase")]
pub struct BackendStatus {
    pub configured: bool,
    /// Practising offline on the embedded local stack (no account).
    pub offline: bool,
    pub url: Option<String>,
    pub anon_key: Option<String>,
    /// `None` when no backend is configured (nothing to keep).
    pub keyring: Option<KeyringView>,
}

/// Whether the OS keyring keeps the sign-in.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, specta::Type)]
#[serde(rename_all = "camelCase")]
pub struct KeyringView {
    pub available: bool,
    /// For the user, when it is not available.
    pub message: Option<String>,
}

fn not_configured() -> AppError {
    AppError::new(
        ErrorCode::NotConfigured,
        "Set up your organisation's backend in Settings first.",
    )
}

#[tauri::command]
#[specta::specta]
pub async fn backend_status(accounts: State<'_, AccountState>) -> Result<BackendStatus, AppError> {
    let settings = accounts.settings().await;
    let offline = accounts.is_offline().await;
    let account = accounts.account().await?;
    Ok(BackendStatus {
        configured: account.is_some() && !offline,
        offline,
        url: settings.backend_url,
        anon_key: settings.anon_key,
        keyring: account
            .filter(|_| !offline)
            .map(|account| match account.keyring_status() {
                KeyringStatus::Available => KeyringView {
                    available: true,
                    message: None,
                },
                KeyringStatus::Unavailable { message, .. } => KeyringView {
                    available: false,
                    message: Some(message),
                },
            }),
    })
}

/// Saves the organisation's backend (address and anon key), after checking them.
#[tauri::command]
#[specta::specta]
pub async fn set_backend(
    accounts: State<'_, AccountState>,
    url: String,
    anon_key: String,
) -> Result<BackendStatus, AppError> {
    accounts.set_backend(&url, &anon_key).await?;
    backend_status(accounts).await
}

#[tauri::command]
#[specta::specta]
pub async fn current_user(
    accounts: State<'_, AccountState>,
    transcripts: State<'_, TranscriptState>,
) -> Result<AuthState, AppError> {
    sync_signed_in(&accounts, &transcripts).await;
    Ok(match accounts.account().await? {
        Some(account) => account.state(),
        None => AuthState::SignedOut { reason: None },
    })
}

#[tauri::command]
#[specta::specta]
pub async fn sign_in(
    accounts: State<'_, AccountState>,
    transcripts: State<'_, TranscriptState>,
    email: String,
    password: String,
) -> Result<AuthState, AppError> {
    let account = accounts.account().await?.ok_or_else(not_configured)?;
    let state = account.sign_in(&email, &password).await?;
    account.spawn_refresher();
    tracing::info!(event = "signed_in");
    sync_signed_in(&accounts, &transcripts).await;
    Ok(state)
}

#[tauri::command]
#[specta::specta]
pub async fn sign_up(
    accounts: State<'_, AccountState>,
    name: String,
    email: String,
    password: String,
) -> Result<SignUpView, AppError> {
    let account = accounts.account().await?.ok_or_else(not_configured)?;
    let data = json!({"name": name.trim()});
    Ok(match account.sign_up(&email, &password, data).await? {
        SignUp::SignedIn(_) => {
            account.spawn_refresher();
            tracing::info!(event = "signed_up");
            SignUpView::SignedIn {
                auth: account.state(),
            }
        }
        SignUp::ConfirmEmail { email } => SignUpView::ConfirmEmail { email },
    })
}

/// Practice with no account: the embedded local stack signs a local candidate in by itself.
#[tauri::command]
#[specta::specta]
pub async fn practice_offline(accounts: State<'_, AccountState>) -> Result<AuthState, AppError> {
    let account = accounts.practice_offline().await?;
    tracing::info!(event = "practice_offline_started");
    Ok(account.state())
}

#[tauri::command]
#[specta::specta]
pub async fn sign_out(
    accounts: State<'_, AccountState>,
    transcripts: State<'_, TranscriptState>,
) -> Result<AuthState, AppError> {
    transcripts.stop_sync();
    transcripts.forget_copies();
    if accounts.leave_offline().await {
        tracing::info!(event = "practice_offline_left");
    } else if let Some(account) = accounts.account().await? {
        account.sign_out().await;
        tracing::info!(event = "signed_out");
    }
    Ok(AuthState::SignedOut { reason: None })
}

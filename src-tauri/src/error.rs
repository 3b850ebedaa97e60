//! The one error type that crosses IPC: a stable machine-readable `code` and a human `message`.

use serde::Serialize;

/// Stable error codes the UI can branch on. Add variants; never rename one the UI already uses.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, specta::Type)]
#[serde(rename_all = "snake_case")]
pub enum ErrorCode {
    /// A directory Viva needs (data, logs) could not be found or created.
    PathUnavailable,
    /// The UI could not reach the core at all (the UI reports this one itself).
    IpcFailed,
    /// No organisation backend is set up in Settings.
    NotConfigured,
    /// The backend address or anon key in Settings cannot be used.
    InvalidSettings,
    /// Sign-in refused: wrong email or password.
    InvalidCredentials,
    /// Sign-in refused until the email address is confirmed.
    EmailNotConfirmed,
    /// Sign-up refused: the email already has an account.
    UserExists,
    /// Sign-up refused: the password is too weak.
    WeakPassword,
    /// Not signed in (any more): sign in again.
    SignedOut,
    /// Signed in, but not allowed to do this.
    Forbidden,
    /// The backend asked us to slow down.
    RateLimited,
    /// The secure connection to the backend failed.
    Tls,
    /// The backend could not be reached or failed.
    Unavailable,
    /// The backend said something else went wrong.
    Backend,
    /// No microphone can be opened; text mode still works.
    NoMicrophone,
    /// No speakers or headphones can be opened.
    NoSpeakers,
    /// An interview is already under way.
    Busy,
    /// The transcript store cannot be used, so nothing that needs it can start.
    StoreUnavailable,
    /// No interview is under way.
    NotLive,
    /// What the user entered cannot be used (an empty answer).
    InvalidInput,
    /// The offline transcription model could not be set up (no pip, no network, a bad download).
    ModelSetupFailed,
    /// What was asked for does not exist (a transcript deleted meanwhile, say).
    NotFound,
    /// The update server could not be asked, or answered with something unusable.
    UpdateUnavailable,
    /// The downloaded update is not signed with Viva's release key: it was thrown away.
    UpdateRefused,
    /// The candidate has not agreed to the recording notice, so the interview cannot start.
    ConsentRequired,
}

/// An error as the UI receives it: `{ code, message }`.
#[derive(Debug, Clone, thiserror::Error, Serialize, specta::Type)]
#[error("{message}")]
pub struct AppError {
    pub code: ErrorCode,
    pub message: String,
}

impl AppError {
    pub fn new(code: ErrorCode, message: impl Into<String>) -> Self {
        Self {
            code,
            message: message.into(),
        }
    }
}

impl From<viva_backend::BackendError> for AppError {
    fn from(error: viva_backend::BackendError) -> Self {
        use viva_backend::BackendError as E;
        let code = match &error {
            E::InvalidCredentials => ErrorCode::InvalidCredentials,
            E::EmailNotConfirmed => ErrorCode::EmailNotConfirmed,
            E::UserExists => ErrorCode::UserExists,
            E::WeakPassword(_) => ErrorCode::WeakPassword,
            E::SignedOut(_) | E::Unauthorized(_) => ErrorCode::SignedOut,
            E::Forbidden(_) => ErrorCode::Forbidden,
            E::RateLimited { .. } => ErrorCode::RateLimited,
            E::InvalidUrl(_) => ErrorCode::InvalidSettings,
            E::Tls(_) => ErrorCode::Tls,
            E::Unavailable(_) => ErrorCode::Unavailable,
            _ => ErrorCode::Backend,
        };
        Self::new(code, error.to_string())
    }
}

impl From<viva_review::ReviewError> for AppError {
    fn from(error: viva_review::ReviewError) -> Self {
        use viva_review::ReviewError as E;
        let code = match error {
            E::Backend(error) => return error.into(),
            E::NotFound(_) => ErrorCode::NotFound,
            E::StoreUnavailable(_) => ErrorCode::StoreUnavailable,
            E::InvalidInput(_) => ErrorCode::InvalidInput,
            E::SignedOut(_) => ErrorCode::SignedOut,
            _ => ErrorCode::Unavailable,
        };
        Self::new(code, error.to_string())
    }
}

impl From<viva_update::UpdateError> for AppError {
    fn from(error: viva_update::UpdateError) -> Self {
        use viva_update::UpdateError as E;
        let code = match error {
            E::Unsigned => ErrorCode::UpdateRefused,
            E::NotChecked | E::NotDownloaded => ErrorCode::NotFound,
            _ => ErrorCode::UpdateUnavailable,
        };
        Self::new(code, error.to_string())
    }
}

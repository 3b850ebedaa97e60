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

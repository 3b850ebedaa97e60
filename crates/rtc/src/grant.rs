//! How a call asks for a fresh grant when its secret expires (the grant itself, what
//! `interview-start` hands the client, is part of the wire contract: `viva_contract::grant`).

pub use viva_contract::grant::{
    AnswerMode, ClientSecret, Grant, GrantParseError, IceServer, RealtimeGrant, SignalingMode,
    VoiceApi,
};

/// Why no fresh grant could be had.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum GrantError {
    /// The user's sign-in is no longer valid (revoked, expired beyond refresh): retrying will
    /// not help.
    #[error("sign in again: {0}")]
    SignInAgain(String),
    /// The backend refused for a reason retrying will not change (403, 409 closed, ...).
    #[error("{message} ({code})")]
    Refused { code: String, message: String },
    /// The backend could not be reached or failed; worth another try later.
    #[error("the backend is unavailable: {0}")]
    Unavailable(String),
}

/// Mints a fresh grant for an existing session (a new client secret, a fresh access token).
/// The app and the CLI implement it over the backend client.
#[async_trait::async_trait]
pub trait GrantSource: Send + Sync + std::fmt::Debug {
    async fn renew(&self, session_id: &str) -> Result<Grant, GrantError>;
}

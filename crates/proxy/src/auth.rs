//! Who is connecting: an access token reduced to what the proxy's rules need.

pub mod jwks;

use std::future::Future;
use std::pin::Pin;

/// A boxed future, for the proxy's object-safe seams.
pub type BoxFuture<'a, T> = Pin<Box<dyn Future<Output = T> + Send + 'a>>;

/// The role a user holds in their organisation (`app_metadata.viva_role`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Role {
    Candidate,
    Interviewer,
}

/// A user whose access token was verified.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct VerifiedUser {
    /// `sub`.
    pub user_id: String,
    pub email: String,
    /// `app_metadata.tenant_id`.
    pub tenant_id: String,
    /// `app_metadata.viva_role`; `None` when unset or unknown (such a user joins nothing).
    pub role: Option<Role>,
    /// The token's `session_id`: one sign-in on one computer (empty when the token has none).
    pub auth_session: String,
    /// The verified claims as sent, for acting as the user against the database.
    pub claims: serde_json::Value,
}

/// Why a token was not accepted.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum TokenRefusal {
    /// Malformed, wrongly signed, an unknown key, a wrong audience or algorithm.
    #[error("invalid token")]
    Invalid,
    #[error("token is expired")]
    Expired,
    /// Fine, but its sign-in was ended (where the verifier can know it).
    #[error("this sign-in has ended")]
    Revoked,
    /// The keys to check it against cannot be fetched now: the server's fault, not the token's.
    #[error("the signing keys cannot be fetched now")]
    CannotVerifyNow,
}

/// Checks an access token.
pub trait TokenVerifier: Send + Sync + std::fmt::Debug {
    fn verify<'a>(&'a self, token: &'a str) -> BoxFuture<'a, Result<VerifiedUser, TokenRefusal>>;
}

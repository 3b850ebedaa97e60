//! GoTrue: password sign-in, sign-up, refresh, the current user, and sign-out.

use reqwest::Method;
use serde::Deserialize;
use serde_json::{Value, json};

use crate::client::Backend;
use crate::error::BackendError;

/// A signed-in user's tokens. `Debug` never shows them.
#[derive(Clone, Deserialize)]
pub struct AuthSession {
    pub access_token: String,
    pub refresh_token: String,
    /// Seconds the access token lives.
    #[serde(default)]
    pub expires_in: i64,
    /// Unix seconds.
    #[serde(default)]
    pub expires_at: i64,
    #[serde(default)]
    pub user: Value,
}

impl std::fmt::Debug for AuthSession {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("AuthSession")
            .field("expires_at", &self.expires_at)
            .field("user_id", &self.user.get("id"))
            .finish_non_exhaustive()
    }
}

impl AuthSession {
    #[must_use]
    pub fn user_id(&self) -> &str {
        self.user.get("id").and_then(Value::as_str).unwrap_or("")
    }
}

/// What sign-up gave.
#[derive(Debug, Clone)]
pub enum SignUp {
    /// The account exists and is signed in (the backend confirms emails at once).
    SignedIn(AuthSession),
    /// The account exists; the user must confirm their email before signing in.
    ConfirmEmail { email: String },
}

/// Which sessions a sign-out ends.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum LogoutScope {
    /// This device only.
    Local,
    /// Every device the user is signed in on.
    Global,
}

fn session_from(reply: Value, what: &str) -> Result<AuthSession, BackendError> {
    serde_json::from_value(reply)
        .map_err(|e| BackendError::BadResponse(format!("the {what} reply: {e}")))
}

impl Backend {
    /// Email and password sign-in.
    pub async fn sign_in(&self, email: &str, password: &str) -> Result<AuthSession, BackendError> {
        let reply = self
            .post(
                "/auth/v1/token?grant_type=password",
                None,
                &json!({"email": email.trim(), "password": password}),
            )
            .await?;
        session_from(reply, "sign-in")
    }

    /// Creates an account; `data` becomes the user's metadata (a display name, say).
    pub async fn sign_up(
        &self,
        email: &str,
        password: &str,
        data: Value,
    ) -> Result<SignUp, BackendError> {
        let reply = self
            .post(
                "/auth/v1/signup",
                None,
                &json!({"email": email.trim(), "password": password, "data": data}),
            )
            .await?;
        if reply.get("access_token").is_some() {
            return session_from(reply, "sign-up").map(SignUp::SignedIn);
        }
        Ok(SignUp::ConfirmEmail {
            email: email.trim().to_owned(),
        })
    }

    /// Trades a refresh token (single use) for new tokens.
    pub async fn refresh(&self, refresh_token: &str) -> Result<AuthSession, BackendError> {
        let reply = self
            .post(
                "/auth/v1/token?grant_type=refresh_token",
                None,
                &json!({"refresh_token": refresh_token}),
            )
            .await?;
        session_from(reply, "refresh")
    }

    /// The signed-in user, as the backend knows them now.
    pub async fn user(&self, access_token: &str) -> Result<Value, BackendError> {
        self.send(Method::GET, "/auth/v1/user", Some(access_token), None, &[])
            .await?
            .json()
    }

    /// Ends the sign-in on the backend.
    pub async fn logout(&self, access_token: &str, scope: LogoutScope) -> Result<(), BackendError> {
        let scope = match scope {
            LogoutScope::Local => "local",
            LogoutScope::Global => "global",
        };
        self.send(
            Method::POST,
            &format!("/auth/v1/logout?scope={scope}"),
            Some(access_token),
            None,
            &[],
        )
        .await
        .map(|_| ())
    }
}

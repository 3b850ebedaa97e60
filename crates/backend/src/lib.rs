//! The Supabase-style backend client for Viva: authentication and refresh, edge functions and
//! tables over HTTPS (reqwest), and the token vault over the OS keyring.
//!
//! Refresh tokens live only in the OS keyring and access tokens only in memory; this crate never
//! writes a token to a file. It does not own local storage (`viva-store`).
//!
//! So far: password sign-in and `interview-start`, which a call needs. The token vault,
//! refresh and the tables arrive with W1-7.

use std::time::Duration;

use serde::Deserialize;
use serde_json::{Value, json};

/// Every request gives up after this long.
const REQUEST_TIMEOUT: Duration = Duration::from_secs(20);

/// What went wrong talking to the backend, one variant per thing the caller can act on.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum BackendError {
    /// Wrong email or password.
    #[error("the email or password is wrong")]
    InvalidCredentials,
    /// The access token was refused: sign in again (or refresh).
    #[error("please sign in again: {0}")]
    Unauthorized(String),
    /// Signed in, but not allowed (another tenant's interview, wrong role).
    #[error("not allowed: {0}")]
    Forbidden(String),
    /// The request conflicts with the current state (`already_live`, `interview_closed`, ...).
    #[error("{message} ({code})")]
    Conflict { code: String, message: String },
    #[error("too many requests; try again in a moment")]
    RateLimited,
    /// Network failure, timeout or a 5xx.
    #[error("the backend is unavailable: {0}")]
    Unavailable(String),
    /// A reply we cannot use, or a request the backend called invalid.
    #[error("unexpected reply from the backend: {0}")]
    BadResponse(String),
}

impl BackendError {
    /// A stable name for the UI and logs.
    #[must_use]
    pub fn code(&self) -> &str {
        match self {
            Self::InvalidCredentials => "invalid_credentials",
            Self::Unauthorized(_) => "unauthorized",
            Self::Forbidden(_) => "forbidden",
            Self::Conflict { code, .. } => code,
            Self::RateLimited => "rate_limited",
            Self::Unavailable(_) => "unavailable",
            Self::BadResponse(_) => "bad_response",
        }
    }
}

/// A signed-in user's tokens. `Debug` never shows them.
#[derive(Clone, Deserialize)]
pub struct AuthSession {
    pub access_token: String,
    pub refresh_token: String,
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

/// Which interview to start.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum StartRequest {
    /// A new practice session.
    Practice,
    /// A scheduled interview, or an existing session being resumed (a new client secret for
    /// the same session).
    Session { session_id: String, practice: bool },
}

/// The backend at `base_url`, identified by its anon key.
#[derive(Debug, Clone)]
pub struct Backend {
    base_url: String,
    anon_key: String,
    http: reqwest::Client,
}

fn message_of(body: &str) -> (String, String) {
    let value: Value = serde_json::from_str(body).unwrap_or(Value::Null);
    let text = |keys: &[&str]| {
        keys.iter()
            .find_map(|k| value.get(*k).and_then(Value::as_str))
            .map(str::to_owned)
    };
    let code = text(&["code", "error_code", "error"]).unwrap_or_default();
    let message = text(&["message", "msg", "error_description"]).unwrap_or_else(|| {
        if body.trim_start().starts_with('<') {
            "the server answered with an HTML page".into()
        } else {
            body.chars().take(120).collect()
        }
    });
    (code, message)
}

impl Backend {
    #[must_use]
    pub fn new(base_url: &str, anon_key: &str) -> Self {
        Self {
            base_url: base_url.trim_end_matches('/').to_owned(),
            anon_key: anon_key.to_owned(),
            http: reqwest::Client::new(),
        }
    }

    #[must_use]
    pub fn base_url(&self) -> &str {
        &self.base_url
    }

    async fn post(&self, path: &str, bearer: &str, body: &Value) -> Result<Value, BackendError> {
        let response = self
            .http
            .post(format!("{}{path}", self.base_url))
            .header("apikey", &self.anon_key)
            .bearer_auth(bearer)
            .json(body)
            .timeout(REQUEST_TIMEOUT)
            .send()
            .await
            .map_err(|e| BackendError::Unavailable(without_url(&e)))?;
        let status = response.status().as_u16();
        let text = response
            .text()
            .await
            .map_err(|e| BackendError::Unavailable(without_url(&e)))?;
        if (200..300).contains(&status) {
            return serde_json::from_str(&text).map_err(|_| {
                BackendError::BadResponse(format!("HTTP {status} with a body that is not JSON"))
            });
        }
        let (code, message) = message_of(&text);
        Err(match status {
            400 if code == "invalid_credentials" || code == "invalid_grant" => {
                BackendError::InvalidCredentials
            }
            401 => BackendError::Unauthorized(message),
            403 => BackendError::Forbidden(message),
            409 => BackendError::Conflict { code, message },
            429 => BackendError::RateLimited,
            500..=599 => BackendError::Unavailable(format!("{message} (HTTP {status})")),
            _ => BackendError::BadResponse(format!("{message} (HTTP {status})")),
        })
    }

    /// Email and password sign-in.
    pub async fn sign_in(&self, email: &str, password: &str) -> Result<AuthSession, BackendError> {
        let reply = self
            .post(
                "/auth/v1/token?grant_type=password",
                &self.anon_key,
                &json!({"email": email, "password": password}),
            )
            .await?;
        serde_json::from_value(reply)
            .map_err(|e| BackendError::BadResponse(format!("the sign-in reply: {e}")))
    }

    /// `interview-start`: the session and how to connect to the voice AI (raw JSON; the call
    /// crate reads it).
    pub async fn interview_start(
        &self,
        access_token: &str,
        request: &StartRequest,
        app_version: &str,
    ) -> Result<Value, BackendError> {
        let client = json!({"app_version": app_version, "platform": std::env::consts::OS});
        let body = match request {
            StartRequest::Practice => json!({"mode": "practice", "client": client}),
            StartRequest::Session {
                session_id,
                practice,
            } => json!({
                "mode": if *practice { "practice" } else { "interview" },
                "interview_id": session_id,
                "client": client,
            }),
        };
        self.post("/functions/v1/interview-start", access_token, &body)
            .await
    }
}

fn without_url(error: &reqwest::Error) -> String {
    let mut text = error.to_string();
    if let Some(url) = error.url() {
        text = text.replace(url.as_str(), "the backend");
    }
    if error.is_timeout() {
        text = format!("timed out: {text}");
    }
    text
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn error_bodies_of_both_shapes_are_read() {
        assert_eq!(
            message_of(r#"{"code":"already_live","message":"connected elsewhere"}"#),
            ("already_live".into(), "connected elsewhere".into())
        );
        assert_eq!(
            message_of(
                r#"{"error":"invalid_grant","error_description":"Invalid login credentials"}"#
            ),
            ("invalid_grant".into(), "Invalid login credentials".into())
        );
        assert_eq!(
            message_of("<html>oops</html>").1,
            "the server answered with an HTML page"
        );
    }

    #[test]
    fn tokens_never_show_in_debug_output() {
        let session = AuthSession {
            access_token: "eyJ.secret".into(),
            refresh_token: "r-secret".into(),
            expires_at: 1,
            user: json!({"id": "u1"}),
        };
        let shown = format!("{session:?}");
        assert!(!shown.contains("secret") && shown.contains("u1"), "{shown}");
    }
}

//! One typed error for everything the backend can say — GoTrue's two error shapes, PostgREST's,
//! the edge functions' — and for the network under it, each with a message a person can act on.

use std::time::Duration;

use serde_json::Value;

/// What went wrong talking to the backend, one variant per thing the caller can act on.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum BackendError {
    /// Wrong email or password.
    #[error("The email or password is wrong.")]
    InvalidCredentials,
    #[error("Please confirm your email address first: follow the link in the email we sent.")]
    EmailNotConfirmed,
    #[error("An account with this email already exists. Sign in instead.")]
    UserExists,
    /// The password was refused; the backend's reason (length, characters) is kept.
    #[error("Choose a stronger password: {0}")]
    WeakPassword(String),
    /// The sign-in is over (refresh token revoked, reused or expired): sign in again.
    #[error("You were signed out: {0}. Please sign in again.")]
    SignedOut(String),
    /// The access token was refused (expired or bad); refreshing may fix it.
    #[error("Please sign in again: {0}")]
    Unauthorized(String),
    /// Signed in, but not allowed (another tenant's interview, wrong role).
    #[error("Not allowed: {0}")]
    Forbidden(String),
    /// The request conflicts with the current state (`already_live`, `interview_closed`, ...).
    #[error("{message} ({code})")]
    Conflict { code: String, message: String },
    /// Told to slow down; `retry_after` is the server's `Retry-After`, when it gave one.
    #[error("Too many requests; try again {}.", match retry_after {
        Some(after) => format!("in {} s", after.as_secs().max(1)),
        None => "in a moment".to_owned(),
    })]
    RateLimited { retry_after: Option<Duration> },
    /// The backend URL is not one Viva will use.
    #[error("The backend address is not valid: {0}")]
    InvalidUrl(String),
    /// The TLS connection failed (certificate not trusted, expired, or not TLS at all).
    #[error("A secure connection to the backend failed: {0}")]
    Tls(String),
    /// Network failure, timeout or a 5xx.
    #[error("The backend is unavailable: {0}")]
    Unavailable(String),
    /// A reply we cannot use, or a request the backend called invalid.
    #[error("Unexpected reply from the backend: {0}")]
    BadResponse(String),
    /// The backend answered with a redirect. Viva never follows one with a sign-in attached
    /// (it would re-send a password or token to wherever it points).
    #[error(
        "The backend redirected to {location}; Viva does not follow redirects with your sign-in. Check the backend address."
    )]
    Redirected { location: String },
    /// A reply larger than any the contract allows.
    #[error("The backend's reply was larger than {limit} bytes; it was not read.")]
    TooLarge { limit: usize },
}

impl BackendError {
    /// A stable name for the UI and logs.
    #[must_use]
    pub fn code(&self) -> &str {
        match self {
            Self::InvalidCredentials => "invalid_credentials",
            Self::EmailNotConfirmed => "email_not_confirmed",
            Self::UserExists => "user_already_exists",
            Self::WeakPassword(_) => "weak_password",
            Self::SignedOut(_) => "signed_out",
            Self::Unauthorized(_) => "unauthorized",
            Self::Forbidden(_) => "forbidden",
            Self::Conflict { code, .. } => code,
            Self::RateLimited { .. } => "rate_limited",
            Self::InvalidUrl(_) => "invalid_url",
            Self::Tls(_) => "tls",
            Self::Unavailable(_) => "unavailable",
            Self::BadResponse(_) => "bad_response",
            Self::Redirected { .. } => "redirected",
            Self::TooLarge { .. } => "reply_too_large",
        }
    }

    /// Worth trying again later without the user doing anything.
    #[must_use]
    pub fn is_transient(&self) -> bool {
        matches!(self, Self::RateLimited { .. } | Self::Unavailable(_))
    }
}

/// The error code and message of an error body, whichever shape it has:
/// GoTrue's new `{code, message}`, its legacy `{code: 400, error_code, msg}` and OAuth
/// `{error, error_description}`, PostgREST's `{code, message, details, hint}`, or the edge
/// functions' `{code, message}`. A body that is not JSON is described, not quoted at length.
pub(crate) fn code_and_message(body: &str) -> (String, String) {
    let value: Value = serde_json::from_str(body).unwrap_or(Value::Null);
    let text = |keys: &[&str]| {
        keys.iter()
            .find_map(|k| value.get(*k).and_then(Value::as_str))
            .filter(|s| !s.is_empty())
            .map(str::to_owned)
    };
    let code = text(&["error_code", "code", "error"]).unwrap_or_default();
    let message = text(&["message", "msg", "error_description"]).unwrap_or_else(|| {
        let trimmed = body.trim_start();
        if trimmed.starts_with('<') {
            "the server answered with an HTML page".into()
        } else if trimmed.is_empty() {
            "the server gave no reason".into()
        } else {
            trimmed.chars().take(120).collect()
        }
    });
    (code, message)
}

/// Maps an unsuccessful reply to the error the caller can act on.
pub(crate) fn from_reply(status: u16, retry_after: Option<Duration>, body: &str) -> BackendError {
    let (code, message) = code_and_message(body);
    match (status, code.as_str()) {
        (_, "invalid_credentials") => BackendError::InvalidCredentials,
        (400, "invalid_grant") if message.contains("credentials") => {
            BackendError::InvalidCredentials
        }
        (_, "email_not_confirmed") => BackendError::EmailNotConfirmed,
        (_, "user_already_exists" | "email_exists") => BackendError::UserExists,
        (_, "weak_password") => BackendError::WeakPassword(message),
        (
            _,
            "refresh_token_not_found"
            | "refresh_token_already_used"
            | "session_not_found"
            | "session_expired",
        ) => BackendError::SignedOut(message),
        (400, "invalid_grant") => BackendError::SignedOut(message),
        (401, _) | (403, "bad_jwt" | "no_authorization") => BackendError::Unauthorized(message),
        (403, _) => BackendError::Forbidden(message),
        (409, _) => BackendError::Conflict { code, message },
        (429, _) => BackendError::RateLimited { retry_after },
        (500..=599, _) => BackendError::Unavailable(format!("{message} (HTTP {status})")),
        _ => BackendError::BadResponse(format!("{message} (HTTP {status})")),
    }
}

/// Describes a failed request without its URL (which may carry filters) and names TLS and
/// timeouts as such.
pub(crate) fn from_transport(error: &reqwest::Error) -> BackendError {
    let mut chain = Vec::new();
    let mut source: Option<&dyn std::error::Error> = Some(error);
    while let Some(e) = source {
        chain.push(e.to_string());
        source = e.source();
    }
    let mut text = chain.join(": ");
    if let Some(url) = error.url() {
        text = text.replace(url.as_str(), "the backend");
    }
    let lower = text.to_lowercase();
    if error.is_builder() {
        BackendError::InvalidUrl(text)
    } else if error.is_timeout() {
        BackendError::Unavailable(format!("no answer in time ({text})"))
    } else if [
        "certificate",
        "tls",
        "handshake",
        "invalidcontenttype",
        "corrupt message",
    ]
    .iter()
    .any(|w| lower.contains(w))
    {
        BackendError::Tls(text)
    } else {
        BackendError::Unavailable(text)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_error_shape_is_read() {
        let cases = [
            (
                r#"{"code":"already_live","message":"connected elsewhere"}"#,
                ("already_live", "connected elsewhere"),
            ),
            (
                r#"{"code":400,"error_code":"weak_password","msg":"Password should be at least 6 characters."}"#,
                ("weak_password", "Password should be at least 6 characters."),
            ),
            (
                r#"{"error":"invalid_grant","error_description":"Invalid login credentials"}"#,
                ("invalid_grant", "Invalid login credentials"),
            ),
            (
                r#"{"code":"PGRST303","message":"JWT expired","details":null,"hint":null}"#,
                ("PGRST303", "JWT expired"),
            ),
        ];
        for (body, (code, message)) in cases {
            assert_eq!(
                code_and_message(body),
                (code.into(), message.into()),
                "{body}"
            );
        }
        assert_eq!(
            code_and_message("<html>oops</html>").1,
            "the server answered with an HTML page"
        );
    }

    #[test]
    fn replies_map_to_what_the_user_can_do() {
        let expired = r#"{"code":"PGRST303","message":"JWT expired"}"#;
        assert_eq!(
            from_reply(401, None, expired),
            BackendError::Unauthorized("JWT expired".into())
        );
        assert_eq!(
            from_reply(
                400,
                None,
                r#"{"code":"refresh_token_already_used","message":"Invalid Refresh Token: Already Used"}"#
            )
            .code(),
            "signed_out"
        );
        assert_eq!(
            from_reply(
                422,
                None,
                r#"{"code":422,"error_code":"user_already_exists","msg":"User already registered"}"#
            ),
            BackendError::UserExists
        );
        assert_eq!(
            from_reply(429, Some(Duration::from_secs(3)), "").to_string(),
            "Too many requests; try again in 3 s."
        );
        let page = from_reply(500, None, "<!doctype html><h1>Internal Server Error</h1>");
        assert_eq!(page.code(), "unavailable");
        assert!(page.to_string().contains("HTML page (HTTP 500)"), "{page}");
    }
}

//! Renewing a call's keys through the backend: `interview-start` again for the same session.

use std::sync::Arc;

use viva_backend::{Account, Backend, BackendError, StartRequest, VoiceApi};
use viva_rtc::{AnswerMode, Grant, GrantError, GrantSource};

/// Where the access token for `interview-start` comes from.
#[derive(Clone)]
enum Token {
    /// Held in memory only, for a run shorter than its life.
    Fixed(String),
    /// The signed-in account, which refreshes it before it expires.
    Account(Arc<Account>),
}

/// Asks the backend for a fresh grant for an existing session, as the signed-in user.
#[derive(Clone)]
pub struct BackendGrants {
    pub backend: Backend,
    token: Token,
    practice: bool,
    /// The voice API a new practice session asks for (the backend's default if none).
    practice_api: Option<VoiceApi>,
    /// The recording notice the candidate agreed to, sent with every start and renewal (the
    /// backend keeps the first it records; an interview starts only with one).
    consent: Option<String>,
    app_version: String,
}

impl std::fmt::Debug for BackendGrants {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("BackendGrants")
            .field("backend", &self.backend.base_url())
            .field("practice", &self.practice)
            .finish_non_exhaustive()
    }
}

impl BackendGrants {
    #[must_use]
    pub fn new(backend: Backend, access_token: String, practice: bool) -> Self {
        Self {
            backend,
            token: Token::Fixed(access_token),
            practice,
            practice_api: None,
            consent: None,
            app_version: env!("CARGO_PKG_VERSION").to_owned(),
        }
    }

    /// Grants for `account`'s user, with a fresh access token each time (a renewal an hour
    /// into an interview must not use the token it started with).
    #[must_use]
    pub fn for_account(account: Arc<Account>, practice: bool) -> Self {
        Self {
            backend: account.backend().clone(),
            token: Token::Account(account),
            practice,
            practice_api: None,
            consent: None,
            app_version: env!("CARGO_PKG_VERSION").to_owned(),
        }
    }

    /// A new practice session asks for `api` (an interview's API is its organisation's).
    #[must_use]
    pub fn with_practice_api(mut self, api: Option<VoiceApi>) -> Self {
        self.practice_api = api;
        self
    }

    /// The candidate agreed to the recording notice `notice` (its version).
    #[must_use]
    pub fn with_consent(mut self, notice: Option<String>) -> Self {
        self.consent = notice;
        self
    }

    /// Starts the session: a new practice session, or the scheduled interview `interview_id`.
    pub async fn start(&self, interview_id: Option<&str>) -> Result<Grant, GrantError> {
        let request = match interview_id {
            None => StartRequest::Practice {
                api: self.practice_api,
                consent: self.consent.clone(),
            },
            Some(id) => StartRequest::Session {
                session_id: id.to_owned(),
                practice: false,
                consent: self.consent.clone(),
            },
        };
        self.request(&request).await
    }

    async fn request(&self, request: &StartRequest) -> Result<Grant, GrantError> {
        let access_token = match &self.token {
            Token::Fixed(token) => token.clone(),
            Token::Account(account) => account.access_token().await.map_err(grant_error)?,
        };
        let body = self
            .backend
            .interview_start(&access_token, request, &self.app_version)
            .await
            .map_err(grant_error)?;
        if let Some(mode) = body.get("mode")
            && mode.as_str().and_then(AnswerMode::known).is_none()
        {
            // Read as voice (`AnswerMode`), but a backend saying something else is worth
            // knowing about: it may have meant to turn voice off.
            let shown: String = mode.to_string().chars().take(40).collect();
            tracing::warn!(event = "grant_mode_unknown", mode = %shown, "answering by voice");
        }
        Grant::from_interview_start(&body, Some(access_token))
            .map_err(|e| GrantError::Unavailable(e.to_string()))
    }
}

fn grant_error(error: BackendError) -> GrantError {
    match error {
        BackendError::Unauthorized(message) | BackendError::SignedOut(message) => {
            GrantError::SignInAgain(message)
        }
        BackendError::InvalidCredentials => GrantError::SignInAgain(error.to_string()),
        // The old connection may still be closing on the server: worth another try.
        BackendError::Conflict {
            ref code,
            ref message,
        } if code == "already_live" => GrantError::Unavailable(message.clone()),
        BackendError::RateLimited { .. } | BackendError::Unavailable(_) => {
            GrantError::Unavailable(error.to_string())
        }
        other => GrantError::Refused {
            code: other.code().to_owned(),
            message: other.to_string(),
        },
    }
}

#[async_trait::async_trait]
impl GrantSource for BackendGrants {
    async fn renew(&self, session_id: &str) -> Result<Grant, GrantError> {
        self.request(&StartRequest::Session {
            session_id: session_id.to_owned(),
            practice: self.practice,
            consent: self.consent.clone(),
        })
        .await
    }
}

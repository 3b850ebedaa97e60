//! Renewing a call's keys through the backend: `interview-start` again for the same session.

use viva_backend::{Backend, BackendError, StartRequest};
use viva_rtc::{Grant, GrantError, GrantSource};

/// Asks the backend for a fresh grant for an existing session, as the signed-in user.
#[derive(Clone)]
pub struct BackendGrants {
    pub backend: Backend,
    /// Held in memory only.
    access_token: String,
    practice: bool,
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
            access_token,
            practice,
            app_version: env!("CARGO_PKG_VERSION").to_owned(),
        }
    }

    /// Starts the session: a new practice session, or the scheduled interview `interview_id`.
    pub async fn start(&self, interview_id: Option<&str>) -> Result<Grant, GrantError> {
        let request = match interview_id {
            None => StartRequest::Practice,
            Some(id) => StartRequest::Session {
                session_id: id.to_owned(),
                practice: false,
            },
        };
        self.request(&request).await
    }

    async fn request(&self, request: &StartRequest) -> Result<Grant, GrantError> {
        let body = self
            .backend
            .interview_start(&self.access_token, request, &self.app_version)
            .await
            .map_err(grant_error)?;
        Grant::from_interview_start(&body, Some(self.access_token.clone()))
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
        })
        .await
    }
}

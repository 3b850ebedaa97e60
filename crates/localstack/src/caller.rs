//! Who is calling: the verified access token, reduced to what isolation needs.

use axum::http::HeaderMap;

use crate::jwt::{Claims, TokenError};
use crate::server::AppState;

/// The caller's identity and place, from a verified access token.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Caller {
    pub user_id: String,
    pub email: String,
    pub tenant_id: String,
    pub role: Role,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Role {
    Candidate,
    Interviewer,
}

/// Why there is no caller.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum CallerError {
    /// No `Authorization: Bearer` header.
    Missing,
    Expired,
    Invalid,
    /// The token is fine but its login session was ended (logout or refresh-token reuse).
    Revoked,
}

impl From<TokenError> for CallerError {
    fn from(error: TokenError) -> Self {
        match error {
            TokenError::Expired => Self::Expired,
            TokenError::Invalid | TokenError::BadKey => Self::Invalid,
        }
    }
}

pub fn bearer(headers: &HeaderMap) -> Option<&str> {
    headers
        .get("authorization")
        .and_then(|v| v.to_str().ok())
        .and_then(|v| {
            v.strip_prefix("Bearer ")
                .or_else(|| v.strip_prefix("bearer "))
        })
        .map(str::trim)
        .filter(|t| !t.is_empty())
}

/// Verifies a raw access token and that its session is still alive.
pub async fn from_token(state: &AppState, token: &str) -> Result<(Caller, Claims), CallerError> {
    verify(&state.keys, &state.db, token).await
}

/// Verifies a raw access token against `keys`, and that its sign-in is alive in `db`.
pub async fn verify(
    keys: &crate::jwt::Keys,
    db: &crate::db::Db,
    token: &str,
) -> Result<(Caller, Claims), CallerError> {
    let claims = keys.verify(token)?;
    let session_id = claims.session_id.clone();
    let alive = db
        .call(move |conn| {
            use rusqlite::OptionalExtension;
            conn.query_row(
                "SELECT revoked_at IS NULL FROM auth_sessions WHERE id = ?1",
                [&session_id],
                |r| r.get::<_, bool>(0),
            )
            .optional()
            .map(|alive| alive.unwrap_or(false))
            .map_err(crate::db::DbError::from)
        })
        .await
        .unwrap_or(false);
    if !alive {
        return Err(CallerError::Revoked);
    }
    let role = match claims.app_metadata.viva_role.as_str() {
        "interviewer" => Role::Interviewer,
        _ => Role::Candidate,
    };
    let caller = Caller {
        user_id: claims.sub.clone(),
        email: claims.email.clone(),
        tenant_id: claims.app_metadata.tenant_id.clone(),
        role,
    };
    Ok((caller, claims))
}

/// The caller behind a request's bearer token.
pub async fn from_headers(
    state: &AppState,
    headers: &HeaderMap,
) -> Result<(Caller, Claims), CallerError> {
    let token = bearer(headers).ok_or(CallerError::Missing)?;
    from_token(state, token).await
}

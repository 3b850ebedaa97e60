//! The GoTrue subset: password sign-in, sign-up, refresh with rotation and a short reuse window,
//! the current user and logout (docs/protocols.md §1).

use axum::Json;
use std::net::SocketAddr;

use axum::extract::{ConnectInfo, Query, State};
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use rusqlite::{Connection, OptionalExtension, params};
use serde::Deserialize;
use serde_json::{Value, json};

use crate::error::AuthError;
use crate::jwt::{AppMetadata, Claims, Keys};
use crate::rest::query::format_timestamp;
use crate::server::AppState;

/// By default a refresh token that was already used may be presented again this long (two
/// requests refreshing at once) and gets the current token back; after that, reuse revokes the
/// session.
pub const REUSE_WINDOW_MS: i64 = 10_000;
/// The tenant self-registered candidates join when no organisation has scheduled them.
pub const PRACTICE_TENANT: &str = "00000000-0000-4000-8000-000000000001";
const MIN_PASSWORD_LEN: usize = 6;

type AuthResult<T> = Result<T, AuthError>;

fn now_ms() -> i64 {
    chrono::Utc::now().timestamp_millis()
}

fn db_error(error: impl std::fmt::Display) -> AuthError {
    let (status, message) = crate::error::internal(error);
    AuthError::new(status, "unexpected_failure", message)
}

impl From<crate::db::DbError> for AuthError {
    fn from(error: crate::db::DbError) -> Self {
        db_error(error)
    }
}

/// A user row.
#[derive(Debug, Clone)]
pub struct User {
    pub id: String,
    pub email: String,
    pub tenant_id: String,
    pub viva_role: String,
    pub user_metadata: String,
    pub email_confirmed_at: Option<String>,
    pub created_at: String,
}

pub(crate) const USER_COLUMNS: &str =
    "id, email, tenant_id, viva_role, user_metadata, email_confirmed_at, created_at";

pub(crate) fn read_user(row: &rusqlite::Row<'_>) -> rusqlite::Result<User> {
    Ok(User {
        id: row.get(0)?,
        email: row.get(1)?,
        tenant_id: row.get(2)?,
        viva_role: row.get(3)?,
        user_metadata: row.get(4)?,
        email_confirmed_at: row.get(5)?,
        created_at: row.get(6)?,
    })
}

pub fn user_by_id(conn: &Connection, id: &str) -> rusqlite::Result<Option<User>> {
    conn.query_row(
        &format!("SELECT {USER_COLUMNS} FROM users WHERE id = ?1"),
        [id],
        read_user,
    )
    .optional()
}

/// The user object GoTrue returns.
pub fn user_json(user: &User) -> Value {
    let metadata: Value = serde_json::from_str(&user.user_metadata).unwrap_or_else(|_| json!({}));
    json!({
        "id": user.id,
        "aud": "authenticated",
        "role": "authenticated",
        "email": user.email,
        "email_confirmed_at": user.email_confirmed_at,
        "app_metadata": {"provider": "email", "providers": ["email"], "tenant_id": user.tenant_id, "viva_role": user.viva_role},
        "user_metadata": metadata,
        "created_at": user.created_at,
        "updated_at": user.created_at,
    })
}

/// Creates a user (used by sign-up and by the demo seed).
pub fn create_user(
    conn: &Connection,
    email: &str,
    password: &str,
    tenant_id: &str,
    role: &str,
    metadata: &Value,
) -> AuthResult<User> {
    let hash = hash_password(password)?;
    create_user_hashed(conn, email, &hash, tenant_id, role, metadata)
}

/// Creates a user whose password was hashed already (off the database's lock).
fn create_user_hashed(
    conn: &Connection,
    email: &str,
    hash: &str,
    tenant_id: &str,
    role: &str,
    metadata: &Value,
) -> AuthResult<User> {
    let now = format_timestamp(chrono::Utc::now());
    let user = User {
        id: uuid::Uuid::new_v4().to_string(),
        email: email.trim().to_owned(),
        tenant_id: tenant_id.to_owned(),
        viva_role: role.to_owned(),
        user_metadata: metadata.to_string(),
        // The local stack confirms e-mail addresses at once, like GoTrue with autoconfirm.
        email_confirmed_at: Some(now.clone()),
        created_at: now,
    };
    let inserted = conn.execute(
        "INSERT INTO users (id, email, password_hash, tenant_id, viva_role, user_metadata, email_confirmed_at, created_at)
         VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8)",
        params![user.id, user.email, hash, user.tenant_id, user.viva_role, user.user_metadata, user.email_confirmed_at, user.created_at],
    );
    match inserted {
        Ok(_) => Ok(user),
        Err(rusqlite::Error::SqliteFailure(e, _))
            if e.code == rusqlite::ErrorCode::ConstraintViolation =>
        {
            Err(AuthError::new(
                StatusCode::UNPROCESSABLE_ENTITY,
                "user_already_exists",
                "User already registered",
            ))
        }
        Err(error) => Err(db_error(error)),
    }
}

fn hash_password(password: &str) -> AuthResult<String> {
    use argon2::password_hash::PasswordHasher;
    argon2::Argon2::default()
        .hash_password(password.as_bytes())
        .map(|h| h.to_string())
        .map_err(db_error)
}

fn password_matches(password: &str, stored: &str) -> bool {
    use argon2::password_hash::PasswordVerifier;
    argon2::password_hash::phc::PasswordHash::new(stored).is_ok_and(|hash| {
        argon2::Argon2::default()
            .verify_password(password.as_bytes(), &hash)
            .is_ok()
    })
}

/// A hash of a random password with the same parameters as real ones: an unknown e-mail is
/// checked against it, so it costs as long as a wrong password (no finding accounts by timing).
fn decoy_hash() -> &'static str {
    static DECOY: std::sync::OnceLock<String> = std::sync::OnceLock::new();
    DECOY.get_or_init(|| hash_password(&uuid::Uuid::new_v4().to_string()).unwrap_or_default())
}

/// Runs argon2 on a blocking thread, never while the database is locked: a sign-in must not
/// stall every other request (uploads included) for the length of a hash.
async fn off_the_lock<T: Send + 'static>(
    work: impl FnOnce() -> T + Send + 'static,
) -> AuthResult<T> {
    tokio::task::spawn_blocking(work).await.map_err(db_error)
}

fn rate_limited(wait: std::time::Duration, headers: &HeaderMap) -> Response {
    let mut response = AuthError::new(
        StatusCode::TOO_MANY_REQUESTS,
        "over_request_rate_limit",
        "Request rate limit reached",
    )
    .for_request(headers)
    .into_response();
    if let Ok(value) = axum::http::HeaderValue::from_str(&wait.as_secs().max(1).to_string()) {
        response
            .headers_mut()
            .insert(axum::http::header::RETRY_AFTER, value);
    }
    response
}

/// Starts a login session: a new auth session, its first refresh token, and the token response.
fn start_session(conn: &Connection, keys: &Keys, user: &User) -> AuthResult<Value> {
    let session_id = uuid::Uuid::new_v4().to_string();
    conn.execute(
        "INSERT INTO auth_sessions (id, user_id, created_at) VALUES (?1, ?2, ?3)",
        params![session_id, user.id, format_timestamp(chrono::Utc::now())],
    )
    .map_err(db_error)?;
    let refresh = new_refresh_token(conn, &session_id, None)?;
    token_response(keys, user, &session_id, &refresh)
}

fn new_refresh_token(
    conn: &Connection,
    session_id: &str,
    parent: Option<&str>,
) -> AuthResult<String> {
    let token = format!(
        "{}{}",
        uuid::Uuid::new_v4().simple(),
        uuid::Uuid::new_v4().simple()
    );
    conn.execute(
        "INSERT INTO refresh_tokens (token, session_id, parent, created_at) VALUES (?1, ?2, ?3, ?4)",
        params![token, session_id, parent, format_timestamp(chrono::Utc::now())],
    )
    .map_err(db_error)?;
    Ok(token)
}

fn token_response(
    keys: &Keys,
    user: &User,
    session_id: &str,
    refresh_token: &str,
) -> AuthResult<Value> {
    let iat = chrono::Utc::now().timestamp();
    let exp = iat + keys.lifetime_s;
    let claims = Claims {
        sub: user.id.clone(),
        aud: "authenticated".into(),
        role: "authenticated".into(),
        exp,
        iat,
        email: user.email.clone(),
        session_id: session_id.to_owned(),
        app_metadata: AppMetadata {
            provider: "email".into(),
            tenant_id: user.tenant_id.clone(),
            viva_role: user.viva_role.clone(),
        },
    };
    let access_token = keys.sign(&claims).map_err(db_error)?;
    Ok(json!({
        "access_token": access_token,
        "token_type": "bearer",
        "expires_in": keys.lifetime_s,
        "expires_at": exp,
        "refresh_token": refresh_token,
        "user": user_json(user),
    }))
}

/// The request body as JSON, or GoTrue's `bad_json` error in the shape the request asked for.
fn json_body<T: for<'de> Deserialize<'de>>(body: &[u8], headers: &HeaderMap) -> AuthResult<T> {
    serde_json::from_slice(body).map_err(|_| {
        AuthError::new(
            StatusCode::BAD_REQUEST,
            "bad_json",
            "Could not parse request body as JSON",
        )
        .for_request(headers)
    })
}

#[derive(Debug, Deserialize)]
pub struct GrantQuery {
    grant_type: Option<String>,
}

#[derive(Debug, Default, Deserialize)]
pub struct TokenBody {
    #[serde(default)]
    email: String,
    #[serde(default)]
    password: String,
    #[serde(default)]
    refresh_token: String,
}

/// `POST /auth/v1/token?grant_type=password|refresh_token`
pub async fn token(
    State(state): State<AppState>,
    ConnectInfo(peer): ConnectInfo<SocketAddr>,
    Query(grant): Query<GrantQuery>,
    headers: HeaderMap,
    body: axum::body::Bytes,
) -> Response {
    let body: TokenBody = match json_body(&body, &headers) {
        Ok(body) => body,
        Err(error) => return error.into_response(),
    };
    let keys = state.keys.clone();
    let window = state.refresh_reuse_window_ms;
    let result = match grant.grant_type.as_deref() {
        Some("password") => {
            if let Err(wait) = state.auth_limiter.attempt(peer.ip(), &body.email) {
                return rate_limited(wait, &headers);
            }
            password_grant(&state, &keys, body).await
        }
        Some("refresh_token") => {
            state
                .db
                .call(move |conn| refresh_grant(conn, &keys, &body.refresh_token, window))
                .await
        }
        _ => Err(AuthError::new(
            StatusCode::BAD_REQUEST,
            "validation_failed",
            "unsupported_grant_type",
        )),
    };
    match result {
        Ok(body) => Json(body).into_response(),
        Err(error) => error.for_request(&headers).into_response(),
    }
}

async fn password_grant(state: &AppState, keys: &Keys, body: TokenBody) -> AuthResult<Value> {
    let invalid = || {
        AuthError::new(
            StatusCode::BAD_REQUEST,
            "invalid_credentials",
            "Invalid login credentials",
        )
    };
    let email = body.email.trim().to_owned();
    let row: Option<(String, String)> = state
        .db
        .call(move |conn| {
            conn.query_row(
                "SELECT id, password_hash FROM users WHERE email = ?1",
                [email],
                |r| Ok((r.get(0)?, r.get(1)?)),
            )
            .optional()
            .map_err(db_error)
        })
        .await?;
    let password = body.password;
    let matched = off_the_lock(move || match row {
        Some((id, hash)) => password_matches(&password, &hash).then_some(id),
        None => {
            // The same work as a wrong password: the answer's timing names no account.
            let _ = password_matches(&password, decoy_hash());
            None
        }
    })
    .await?;
    let Some(id) = matched else {
        return Err(invalid());
    };
    let keys = keys.clone();
    state
        .db
        .call(move |conn| {
            let user = user_by_id(conn, &id)
                .map_err(db_error)?
                .ok_or_else(invalid)?;
            if user.email_confirmed_at.is_none() {
                return Err(AuthError::new(
                    StatusCode::BAD_REQUEST,
                    "email_not_confirmed",
                    "Email not confirmed",
                ));
            }
            start_session(conn, &keys, &user)
        })
        .await
}

fn refresh_grant(
    conn: &mut Connection,
    keys: &Keys,
    token: &str,
    reuse_window_ms: i64,
) -> AuthResult<Value> {
    let not_found = || {
        AuthError::new(
            StatusCode::BAD_REQUEST,
            "refresh_token_not_found",
            "Invalid Refresh Token: Refresh Token Not Found",
        )
    };
    let tx = conn.transaction().map_err(db_error)?;
    let row: Option<(String, Option<i64>, Option<String>, String)> = tx
        .query_row(
            "SELECT t.session_id, t.used_at, s.revoked_at, s.user_id FROM refresh_tokens t JOIN auth_sessions s ON s.id = t.session_id WHERE t.token = ?1",
            [token],
            |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?, r.get(3)?)),
        )
        .optional()
        .map_err(db_error)?;
    let Some((session_id, used_at, revoked_at, user_id)) = row else {
        return Err(not_found());
    };
    if revoked_at.is_some() {
        return Err(not_found());
    }
    let user = user_by_id(&tx, &user_id)
        .map_err(db_error)?
        .ok_or_else(not_found)?;
    let now = now_ms();
    let refresh = match used_at {
        None => {
            tx.execute(
                "UPDATE refresh_tokens SET used_at = ?1 WHERE token = ?2",
                params![now, token],
            )
            .map_err(db_error)?;
            new_refresh_token(&tx, &session_id, Some(token))?
        }
        Some(used) if now - used <= reuse_window_ms => {
            // A concurrent refresh: hand back the session's current token instead of failing.
            tx.query_row(
                "SELECT token FROM refresh_tokens WHERE session_id = ?1 AND used_at IS NULL ORDER BY created_at DESC LIMIT 1",
                [&session_id],
                |r| r.get::<_, String>(0),
            )
            .optional()
            .map_err(db_error)?
            .ok_or_else(not_found)?
        }
        Some(_) => {
            tx.execute(
                "UPDATE auth_sessions SET revoked_at = ?1 WHERE id = ?2",
                params![format_timestamp(chrono::Utc::now()), session_id],
            )
            .map_err(db_error)?;
            tx.commit().map_err(db_error)?;
            return Err(AuthError::new(
                StatusCode::BAD_REQUEST,
                "refresh_token_already_used",
                "Invalid Refresh Token: Already Used",
            ));
        }
    };
    let response = token_response(keys, &user, &session_id, &refresh)?;
    tx.commit().map_err(db_error)?;
    Ok(response)
}

#[derive(Debug, Deserialize)]
pub struct SignupBody {
    #[serde(default)]
    email: String,
    #[serde(default)]
    password: String,
    #[serde(default)]
    data: Option<Value>,
}

/// `POST /auth/v1/signup` — always a candidate; in the tenant that scheduled them, if one did.
pub async fn signup(
    State(state): State<AppState>,
    ConnectInfo(peer): ConnectInfo<SocketAddr>,
    headers: HeaderMap,
    body: axum::body::Bytes,
) -> Response {
    let body: SignupBody = match json_body(&body, &headers) {
        Ok(body) => body,
        Err(error) => return error.into_response(),
    };
    if let Err(wait) = state.auth_limiter.attempt(peer.ip(), &body.email) {
        return rate_limited(wait, &headers);
    }
    let keys = state.keys.clone();
    let result = async {
        let email = body.email.trim().to_owned();
        if !email.contains('@') || email.len() < 3 {
            return Err(AuthError::new(StatusCode::BAD_REQUEST, "validation_failed", "Unable to validate email address: invalid format"));
        }
        if body.password.chars().count() < MIN_PASSWORD_LEN {
            return Err(AuthError::new(
                StatusCode::UNPROCESSABLE_ENTITY,
                "weak_password",
                format!("Password should be at least {MIN_PASSWORD_LEN} characters."),
            ));
        }
        let password = body.password.clone();
        let hash = off_the_lock(move || hash_password(&password)).await??;
        state
        .db
        .call(move |conn| {
            let scheduled_tenant: Option<String> = conn
                .query_row(
                    "SELECT tenant_id FROM interview_sessions WHERE candidate_email = ?1 COLLATE NOCASE ORDER BY created_at LIMIT 1",
                    [&email],
                    |r| r.get(0),
                )
                .optional()
                .map_err(db_error)?;
            let tenant = match scheduled_tenant {
                Some(tenant) => tenant,
                None => {
                    conn.execute("INSERT OR IGNORE INTO tenants (id, name) VALUES (?1, 'Practice')", [PRACTICE_TENANT]).map_err(db_error)?;
                    PRACTICE_TENANT.to_owned()
                }
            };
            let metadata = body.data.unwrap_or_else(|| json!({}));
            // Scheduled interviews are not bound to the new account here: a candidate is
            // bound to an interview when they start it.
            let user = create_user_hashed(conn, &email, &hash, &tenant, "candidate", &metadata)?;
            start_session(conn, &keys, &user)
        })
        .await
    }
    .await;
    match result {
        Ok(body) => Json(body).into_response(),
        Err(error) => error.for_request(&headers).into_response(),
    }
}

/// The caller's verified claims, from `Authorization: Bearer <access token>`, with the session
/// still alive. Errors are GoTrue's: 401 without a token, 403 for a bad or revoked one.
pub async fn authenticate(state: &AppState, headers: &HeaderMap) -> AuthResult<Claims> {
    use crate::caller::CallerError;
    crate::caller::from_headers(state, headers)
        .await
        .map(|(_, claims)| claims)
        .map_err(|error| match error {
            CallerError::Missing => AuthError::new(
                StatusCode::UNAUTHORIZED,
                "no_authorization",
                "This endpoint requires a valid Bearer token",
            ),
            CallerError::Expired => AuthError::new(
                StatusCode::FORBIDDEN,
                "bad_jwt",
                "invalid JWT: token has invalid claims: token is expired",
            ),
            CallerError::Invalid => AuthError::new(
                StatusCode::FORBIDDEN,
                "bad_jwt",
                "invalid JWT: unable to parse or verify signature",
            ),
            CallerError::Revoked => AuthError::new(
                StatusCode::FORBIDDEN,
                "session_not_found",
                "Session from session_id claim in JWT does not exist",
            ),
        })
}

/// `GET /auth/v1/user`
pub async fn user(State(state): State<AppState>, headers: HeaderMap) -> Response {
    let result = async {
        let claims = authenticate(&state, &headers).await?;
        let user = state
            .db
            .call(move |conn| user_by_id(conn, &claims.sub).map_err(db_error))
            .await?;
        user.map(|u| user_json(&u)).ok_or_else(|| {
            AuthError::new(StatusCode::NOT_FOUND, "user_not_found", "User not found")
        })
    }
    .await;
    match result {
        Ok(body) => Json(body).into_response(),
        Err(error) => error.for_request(&headers).into_response(),
    }
}

#[derive(Debug, Deserialize)]
pub struct LogoutQuery {
    scope: Option<String>,
}

/// `POST /auth/v1/logout?scope=local|global` → 204.
pub async fn logout(
    State(state): State<AppState>,
    Query(query): Query<LogoutQuery>,
    headers: HeaderMap,
) -> Response {
    let result = async {
        let claims = authenticate(&state, &headers).await?;
        let global = query.scope.as_deref() == Some("global");
        state
            .db
            .call(move |conn| {
                let now = format_timestamp(chrono::Utc::now());
                if global {
                    conn.execute("UPDATE auth_sessions SET revoked_at = ?1 WHERE user_id = ?2 AND revoked_at IS NULL", params![now, claims.sub])
                } else {
                    conn.execute("UPDATE auth_sessions SET revoked_at = ?1 WHERE id = ?2", params![now, claims.session_id])
                }
                .map_err(db_error)
            })
            .await
    }
    .await;
    match result {
        Ok(_) => StatusCode::NO_CONTENT.into_response(),
        Err(error) => error.for_request(&headers).into_response(),
    }
}

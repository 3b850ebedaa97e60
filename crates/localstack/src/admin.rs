//! GoTrue's admin API, the part Viva's operators use: list users, read one, and set a user's
//! `app_metadata` (tenant and Viva role), authorised by the service-role key (`viva admin`
//! drives it; docs/deploying.md). Users can never reach it with their own token.

use axum::Json;
use axum::body::Bytes;
use axum::extract::{Path, Query, State};
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use rusqlite::OptionalExtension;
use serde::Deserialize;
use serde_json::{Value, json};

use crate::auth::{USER_COLUMNS, read_user, user_by_id, user_json};
use crate::error::AuthError;
use crate::server::AppState;

type AdminResult<T> = Result<T, AuthError>;

/// The bearer must be the service-role key, as GoTrue's admin endpoints require.
fn require_service_role(state: &AppState, headers: &HeaderMap) -> AdminResult<()> {
    match crate::caller::bearer(headers) {
        Some(key) if state.keys.is_service_role_key(key) => Ok(()),
        Some(_) => Err(AuthError::new(
            StatusCode::FORBIDDEN,
            "not_admin",
            "User not allowed: the admin API needs the service-role key",
        )),
        None => Err(AuthError::new(
            StatusCode::UNAUTHORIZED,
            "no_authorization",
            "This endpoint requires a Bearer token",
        )),
    }
}

fn internal(error: impl std::fmt::Display) -> AuthError {
    let (status, message) = crate::error::internal(error);
    AuthError::new(status, "unexpected_failure", message)
}

#[derive(Debug, Deserialize)]
pub struct ListQuery {
    page: Option<u32>,
    per_page: Option<u32>,
    /// Part of an e-mail address, matched case-insensitively.
    filter: Option<String>,
}

/// `GET /auth/v1/admin/users?page=&per_page=&filter=` → `{"users": [...], "aud"}`.
pub async fn list_users(
    State(state): State<AppState>,
    headers: HeaderMap,
    Query(query): Query<ListQuery>,
) -> Response {
    let result = async {
        require_service_role(&state, &headers)?;
        let per_page = query.per_page.unwrap_or(50).clamp(1, 1000);
        let offset = query.page.unwrap_or(1).max(1).saturating_sub(1) * per_page;
        let pattern = format!(
            "%{}%",
            query
                .filter
                .unwrap_or_default()
                .replace('\\', "\\\\")
                .replace('%', "\\%")
                .replace('_', "\\_")
        );
        state
            .db
            .call(move |conn| {
                let mut statement = conn
                    .prepare(&format!(
                        "SELECT {USER_COLUMNS} FROM users WHERE lower(email) LIKE lower(?1) ESCAPE '\\'
                         ORDER BY created_at, id LIMIT ?2 OFFSET ?3"
                    ))
                    .map_err(internal)?;
                let users = statement
                    .query_map(rusqlite::params![pattern, per_page, offset], read_user)
                    .and_then(|rows| rows.collect::<Result<Vec<_>, _>>())
                    .map_err(internal)?;
                Ok(json!({"users": users.iter().map(user_json).collect::<Vec<_>>(), "aud": "authenticated"}))
            })
            .await
    }
    .await;
    respond(result, &headers)
}

/// `GET /auth/v1/admin/users/{id}` → the user.
pub async fn get_user(
    State(state): State<AppState>,
    headers: HeaderMap,
    Path(user_id): Path<String>,
) -> Response {
    let result = async {
        require_service_role(&state, &headers)?;
        let user = state
            .db
            .call(move |conn| user_by_id(conn, &user_id).map_err(internal))
            .await?;
        user.map(|u| user_json(&u)).ok_or_else(not_found)
    }
    .await;
    respond(result, &headers)
}

fn not_found() -> AuthError {
    AuthError::new(StatusCode::NOT_FOUND, "user_not_found", "User not found")
}

#[derive(Debug, Deserialize)]
struct UpdateBody {
    app_metadata: Option<serde_json::Map<String, Value>>,
}

/// `PUT /auth/v1/admin/users/{id}` with `{"app_metadata": {...}}`: the keys given replace
/// those stored (GoTrue merges app_metadata). This stack models `tenant_id` (an existing
/// organisation) and `viva_role` (`candidate` | `interviewer`); `provider`/`providers` are
/// GoTrue's own and ignored; anything else is refused rather than silently dropped. The user's
/// current tokens keep their old claims until they are refreshed.
pub async fn update_user(
    State(state): State<AppState>,
    headers: HeaderMap,
    Path(user_id): Path<String>,
    body: Bytes,
) -> Response {
    let result = async {
        require_service_role(&state, &headers)?;
        let body: UpdateBody = serde_json::from_slice(&body).map_err(|error| {
            AuthError::new(
                StatusCode::BAD_REQUEST,
                "validation_failed",
                format!("the request body is not valid: {error}"),
            )
        })?;
        let metadata = body.app_metadata.unwrap_or_default();
        let mut tenant = None;
        let mut role = None;
        for (key, value) in &metadata {
            let text = value.as_str();
            match (key.as_str(), text) {
                ("tenant_id", Some(t)) => tenant = Some(t.to_owned()),
                ("viva_role", Some(r @ ("candidate" | "interviewer"))) => role = Some(r.to_owned()),
                ("provider" | "providers", _) => {}
                ("viva_role", _) => {
                    return Err(AuthError::new(
                        StatusCode::BAD_REQUEST,
                        "validation_failed",
                        "viva_role must be \"candidate\" or \"interviewer\"",
                    ));
                }
                (other, _) => {
                    return Err(AuthError::new(
                        StatusCode::BAD_REQUEST,
                        "validation_failed",
                        format!("app_metadata.{other} is not kept by this local stack (only tenant_id and viva_role)"),
                    ));
                }
            }
        }
        state
            .db
            .call(move |conn| {
                let tx = conn.transaction().map_err(internal)?;
                if user_by_id(&tx, &user_id).map_err(internal)?.is_none() {
                    return Err(not_found());
                }
                if let Some(tenant) = &tenant {
                    let exists = tx
                        .query_row("SELECT 1 FROM tenants WHERE id = ?1", [tenant], |_| Ok(()))
                        .optional()
                        .map_err(internal)?
                        .is_some();
                    if !exists {
                        return Err(AuthError::new(
                            StatusCode::BAD_REQUEST,
                            "validation_failed",
                            "app_metadata.tenant_id names no organisation",
                        ));
                    }
                    tx.execute("UPDATE users SET tenant_id = ?1 WHERE id = ?2", [tenant, &user_id])
                        .map_err(internal)?;
                }
                if let Some(role) = &role {
                    tx.execute("UPDATE users SET viva_role = ?1 WHERE id = ?2", [role, &user_id])
                        .map_err(internal)?;
                }
                let user = user_by_id(&tx, &user_id).map_err(internal)?.ok_or_else(not_found)?;
                tx.commit().map_err(internal)?;
                Ok(user_json(&user))
            })
            .await
    }
    .await;
    respond(result, &headers)
}

fn respond(result: AdminResult<Value>, headers: &HeaderMap) -> Response {
    match result {
        Ok(body) => Json(body).into_response(),
        Err(error) => error.for_request(headers).into_response(),
    }
}

//! Error bodies in the shapes the hosted services use, so the client's error handling is the same
//! against either: GoTrue (new and legacy shape), PostgREST, edge functions.

use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use serde_json::json;

/// A GoTrue (auth) error: status, machine code and message.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AuthError {
    pub status: StatusCode,
    pub code: &'static str,
    pub message: String,
    /// Whether the request asked for the new error shape (`X-Supabase-Api-Version`).
    pub new_shape: bool,
}

impl AuthError {
    pub fn new(status: StatusCode, code: &'static str, message: impl Into<String>) -> Self {
        Self {
            status,
            code,
            message: message.into(),
            new_shape: false,
        }
    }

    /// Picks the shape the request asked for.
    pub fn for_request(mut self, headers: &HeaderMap) -> Self {
        self.new_shape = headers.contains_key("x-supabase-api-version");
        self
    }
}

impl IntoResponse for AuthError {
    fn into_response(self) -> Response {
        let body = if self.new_shape {
            json!({ "code": self.code, "message": self.message })
        } else {
            json!({ "code": self.status.as_u16(), "error_code": self.code, "msg": self.message })
        };
        (self.status, axum::Json(body)).into_response()
    }
}

/// A PostgREST error: `{code, message, details, hint}`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RestError {
    pub status: StatusCode,
    pub code: String,
    pub message: String,
    pub details: Option<String>,
    pub hint: Option<String>,
}

impl RestError {
    pub fn new(status: StatusCode, code: impl Into<String>, message: impl Into<String>) -> Self {
        Self {
            status,
            code: code.into(),
            message: message.into(),
            details: None,
            hint: None,
        }
    }
}

impl IntoResponse for RestError {
    fn into_response(self) -> Response {
        let body = json!({ "code": self.code, "message": self.message, "details": self.details, "hint": self.hint });
        (self.status, axum::Json(body)).into_response()
    }
}

/// An edge-function error: `{code, message}`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FunctionError {
    pub status: StatusCode,
    pub code: &'static str,
    pub message: String,
    /// Seconds to wait before trying again (429), sent as `Retry-After`.
    pub retry_after_s: Option<u64>,
}

impl FunctionError {
    pub fn new(status: StatusCode, code: &'static str, message: impl Into<String>) -> Self {
        Self {
            status,
            code,
            message: message.into(),
            retry_after_s: None,
        }
    }
}

impl IntoResponse for FunctionError {
    fn into_response(self) -> Response {
        let body = axum::Json(json!({ "code": self.code, "message": self.message }));
        match self.retry_after_s {
            Some(seconds) => (
                self.status,
                [(axum::http::header::RETRY_AFTER, seconds.to_string())],
                body,
            )
                .into_response(),
            None => (self.status, body).into_response(),
        }
    }
}

/// Logs an internal failure and turns it into a 500 of the given shape, never leaking details.
pub fn internal(error: impl std::fmt::Display) -> (StatusCode, String) {
    tracing::error!(event = "localstack_internal_error", %error);
    (
        StatusCode::INTERNAL_SERVER_ERROR,
        "internal error in the local stack".to_owned(),
    )
}

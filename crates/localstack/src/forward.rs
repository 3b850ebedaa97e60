//! `/functions/v1/*` handed to a functions server (the Deno edge functions), as hosted
//! Supabase's gateway does: the local stack keeps auth and the tables, the functions run
//! elsewhere and verify this stack's tokens through its JWKS.

use axum::body::Bytes;
use axum::extract::{Path, State};
use axum::http::{HeaderMap, Method, StatusCode};
use axum::response::{IntoResponse, Response};
use serde_json::json;

use crate::server::AppState;

/// Replies larger than this are refused (a function's reply is a few KiB).
const MAX_REPLY_BYTES: usize = 1024 * 1024;

/// The request headers a function may need; everything else stays here.
const PASSED_ON: [&str; 5] = [
    "authorization",
    "apikey",
    "content-type",
    "x-client-info",
    "x-supabase-api-version",
];

fn bad_gateway(message: &str) -> Response {
    (
        StatusCode::BAD_GATEWAY,
        axum::Json(json!({"code": "function_unreachable", "message": message})),
    )
        .into_response()
}

/// Any method on `/functions/v1/{name}`: passed on to `<functions_url>/{name}`, answered with
/// the function's status, body and the headers a client reads.
pub async fn function(
    State(state): State<AppState>,
    Path(name): Path<String>,
    method: Method,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    let Some(base) = state.functions_url.as_deref() else {
        return bad_gateway("no functions server is configured");
    };
    let mut request = state
        .http
        .request(method, format!("{base}/{name}"))
        .timeout(std::time::Duration::from_secs(30))
        .body(body);
    for header in PASSED_ON {
        if let Some(value) = headers.get(header) {
            request = request.header(header, value);
        }
    }
    let reply = match request.send().await {
        Ok(reply) => reply,
        Err(error) => {
            tracing::warn!(event = "function_unreachable", function = %name, error = %error.without_url());
            return bad_gateway("the functions server did not answer");
        }
    };
    let status = reply.status();
    let kept: Vec<(String, String)> = reply
        .headers()
        .iter()
        .filter(|(name, _)| {
            matches!(name.as_str(), "content-type" | "retry-after" | "location")
                || name.as_str().starts_with("access-control-")
        })
        .filter_map(|(name, value)| Some((name.to_string(), value.to_str().ok()?.to_owned())))
        .collect();
    if reply
        .content_length()
        .is_some_and(|length| length > MAX_REPLY_BYTES as u64)
    {
        return bad_gateway("the function's reply is too large");
    }
    let Ok(bytes) = reply.bytes().await else {
        return bad_gateway("the function's reply was cut off");
    };
    if bytes.len() > MAX_REPLY_BYTES {
        return bad_gateway("the function's reply is too large");
    }
    let mut response = (status, bytes).into_response();
    for (name, value) in kept {
        if let (Ok(name), Ok(value)) = (
            axum::http::HeaderName::try_from(name),
            axum::http::HeaderValue::try_from(value),
        ) {
            response.headers_mut().insert(name, value);
        }
    }
    response
}

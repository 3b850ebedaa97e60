//! What the local stack's benchmarks share: a candidate signed in with a practice session.

#![allow(dead_code, clippy::unwrap_used)]

use serde_json::{Value, json};
use viva_localstack::LocalStack;

/// Signs `email` (password `password-1`, created by the caller) in and starts a practice
/// session; the access token and the session id.
pub async fn practice(stack: &LocalStack, email: &str) -> (String, String) {
    let http = reqwest::Client::new();
    let signed_in: Value = http
        .post(format!(
            "{}/auth/v1/token?grant_type=password",
            stack.base_url
        ))
        .header("apikey", &stack.anon_key)
        .json(&json!({"email": email, "password": "password-1"}))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    let token = signed_in["access_token"].as_str().unwrap().to_owned();
    let started: Value = http
        .post(format!("{}/functions/v1/interview-start", stack.base_url))
        .header("apikey", &stack.anon_key)
        .bearer_auth(&token)
        .json(&json!({"mode": "practice"}))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    (token, started["session"]["id"].as_str().unwrap().to_owned())
}

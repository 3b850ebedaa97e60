//! The GoTrue subset over real HTTP on loopback: sign-up, sign-in, refresh rotation and its reuse
//! window, the current user, logout, both error shapes, and the gateway's apikey and size limits.

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)] // Tests fail loudly by design.

use std::time::Duration;

use reqwest::StatusCode;
use serde_json::{Value, json};
use viva_localstack::Config;

mod common;
use common::Stack as Client;

#[tokio::test]
async fn sign_up_then_sign_in_gives_a_session_with_tenant_and_role_in_app_metadata() {
    let client = Client::start(Config::default()).await;
    let (status, session) = client.signup("ada@example.com", "correct horse").await;
    assert_eq!(status, StatusCode::OK, "{session}");
    assert_eq!(session["token_type"], "bearer");
    assert_eq!(session["user"]["app_metadata"]["viva_role"], "candidate");
    assert!(session["expires_at"].as_i64().unwrap() > chrono::Utc::now().timestamp());

    let response = client
        .post("/auth/v1/token?grant_type=password")
        .json(&json!({"email": "ADA@example.com", "password": "correct horse"}))
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), StatusCode::OK);
    let signed_in: Value = response.json().await.unwrap();
    let (status, user) = client
        .current_user(signed_in["access_token"].as_str().unwrap())
        .await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(user["email"], "ada@example.com");
    assert_eq!(user["id"], session["user"]["id"]);
    client.stack.shutdown().await;
}

#[tokio::test]
async fn auth_errors_come_in_the_shape_the_request_asked_for() {
    let client = Client::start(Config::default()).await;
    client.signup("bo@example.com", "secret-1").await;

    let wrong = |new_shape: bool| {
        let mut request = client
            .post("/auth/v1/token?grant_type=password")
            .json(&json!({"email": "bo@example.com", "password": "nope-nope"}));
        if new_shape {
            request = request.header("X-Supabase-Api-Version", "2024-01-01");
        }
        request.send()
    };
    let legacy = wrong(false).await.unwrap();
    assert_eq!(legacy.status(), StatusCode::BAD_REQUEST);
    assert_eq!(
        legacy.json::<Value>().await.unwrap(),
        json!({"code": 400, "error_code": "invalid_credentials", "msg": "Invalid login credentials"})
    );
    let new = wrong(true).await.unwrap();
    assert_eq!(
        new.json::<Value>().await.unwrap(),
        json!({"code": "invalid_credentials", "message": "Invalid login credentials"})
    );

    let (status, body) = client.signup("bo@example.com", "secret-1").await;
    assert_eq!(
        (status, body["error_code"].as_str()),
        (
            StatusCode::UNPROCESSABLE_ENTITY,
            Some("user_already_exists")
        )
    );
    let (status, body) = client.signup("cy@example.com", "abc").await;
    assert_eq!(
        (status, body["error_code"].as_str()),
        (StatusCode::UNPROCESSABLE_ENTITY, Some("weak_password"))
    );
    let (status, body) = client.signup("not-an-email", "long enough").await;
    assert_eq!(
        (status, body["error_code"].as_str()),
        (StatusCode::BAD_REQUEST, Some("validation_failed"))
    );

    let malformed = client
        .post("/auth/v1/token?grant_type=password")
        .body("{nope")
        .send()
        .await
        .unwrap();
    assert_eq!(malformed.status(), StatusCode::BAD_REQUEST);
    client.stack.shutdown().await;
}

#[tokio::test]
async fn refresh_rotates_tolerates_concurrent_use_and_revokes_on_late_reuse() {
    let client = Client::start(Config {
        refresh_reuse_window_ms: 400,
        ..Config::default()
    })
    .await;
    let (_, session) = client.signup("di@example.com", "secret-2").await;
    let first = session["refresh_token"].as_str().unwrap().to_owned();

    // Twenty refreshes of the same token at once (two windows waking together): all succeed and
    // agree on the one new token.
    let mut attempts = tokio::task::JoinSet::new();
    for _ in 0..20 {
        let request = client
            .post("/auth/v1/token?grant_type=refresh_token")
            .json(&json!({"refresh_token": first}));
        attempts.spawn(async move {
            let response = request.send().await.unwrap();
            (response.status(), response.json::<Value>().await.unwrap())
        });
    }
    let results = attempts.join_all().await;
    let mut next = None;
    for (status, body) in &results {
        assert_eq!(*status, StatusCode::OK, "{body}");
        let token = body["refresh_token"].as_str().unwrap().to_owned();
        assert_ne!(token, first, "the token was not rotated");
        assert!(
            next.get_or_insert(token.clone()) == &token,
            "concurrent refreshes disagreed"
        );
    }
    let next = next.unwrap();

    // Presenting the old token after the window revokes the whole session.
    tokio::time::sleep(Duration::from_millis(500)).await;
    let (status, body) = client.refresh(&first).await;
    assert_eq!(
        (status, body["error_code"].as_str()),
        (StatusCode::BAD_REQUEST, Some("refresh_token_already_used"))
    );
    let (status, body) = client.refresh(&next).await;
    assert_eq!(
        (status, body["error_code"].as_str()),
        (StatusCode::BAD_REQUEST, Some("refresh_token_not_found"))
    );
    let (status, _) = client.refresh("made-up-token").await;
    assert_eq!(status, StatusCode::BAD_REQUEST);
    client.stack.shutdown().await;
}

#[tokio::test]
async fn bearer_tokens_are_checked_for_presence_signature_expiry_and_logout() {
    let client = Client::start(Config {
        access_token_lifetime_s: 1,
        ..Config::default()
    })
    .await;
    let (_, session) = client.signup("ed@example.com", "secret-3").await;
    let access = session["access_token"].as_str().unwrap().to_owned();

    let (status, body) = client.current_user(&access).await;
    assert_eq!(status, StatusCode::OK, "{body}");
    let missing = client
        .get_unauthenticated("/auth/v1/user")
        .send()
        .await
        .unwrap();
    assert_eq!(missing.status(), StatusCode::UNAUTHORIZED);
    let (status, body) = client.current_user("not.a.jwt").await;
    assert_eq!(
        (status, body["error_code"].as_str()),
        (StatusCode::FORBIDDEN, Some("bad_jwt"))
    );

    tokio::time::sleep(Duration::from_millis(2100)).await;
    let (status, body) = client.current_user(&access).await;
    assert_eq!(
        (status, body["error_code"].as_str()),
        (StatusCode::FORBIDDEN, Some("bad_jwt"))
    );
    assert!(body["msg"].as_str().unwrap().contains("expired"), "{body}");

    // A fresh token, then logout: the token and the refresh token stop working.
    let (_, refreshed) = client
        .refresh(session["refresh_token"].as_str().unwrap())
        .await;
    let access = refreshed["access_token"].as_str().unwrap();
    let logout = client
        .post("/auth/v1/logout?scope=local")
        .bearer_auth(access)
        .send()
        .await
        .unwrap();
    assert_eq!(logout.status(), StatusCode::NO_CONTENT);
    let (status, body) = client.current_user(access).await;
    assert_eq!(
        (status, body["error_code"].as_str()),
        (StatusCode::FORBIDDEN, Some("session_not_found"))
    );
    let (status, _) = client
        .refresh(refreshed["refresh_token"].as_str().unwrap())
        .await;
    assert_eq!(status, StatusCode::BAD_REQUEST);
    client.stack.shutdown().await;
}

#[tokio::test]
async fn the_gateway_wants_the_anon_key_and_refuses_huge_bodies() {
    let client = Client::start(Config::default()).await;
    let url = format!("{}/auth/v1/signup", client.stack.base_url);
    let no_key = client
        .http
        .post(&url)
        .json(&json!({}))
        .send()
        .await
        .unwrap();
    assert_eq!(no_key.status(), StatusCode::UNAUTHORIZED);
    let wrong_key = client
        .http
        .post(&url)
        .header("apikey", "guess")
        .json(&json!({}))
        .send()
        .await
        .unwrap();
    assert_eq!(wrong_key.status(), StatusCode::UNAUTHORIZED);
    let huge = client
        .post("/auth/v1/signup")
        .body(vec![b' '; 2 * 1024 * 1024])
        .send()
        .await
        .unwrap();
    assert_eq!(huge.status(), StatusCode::PAYLOAD_TOO_LARGE);
    client.stack.shutdown().await;
}

#[tokio::test]
async fn accounts_and_the_signing_secret_survive_a_restart() {
    let dir = tempfile::tempdir().unwrap();
    let config = Config {
        data_dir: Some(dir.path().to_owned()),
        ..Config::default()
    };
    let client = Client::start(config.clone()).await;
    let (_, session) = client.signup("fa@example.com", "secret-4").await;
    client.stack.shutdown().await;

    let client = Client::start(config).await;
    let (status, user) = client
        .current_user(session["access_token"].as_str().unwrap())
        .await;
    assert_eq!(
        status,
        StatusCode::OK,
        "a token from before the restart was refused: {user}"
    );
    client.stack.shutdown().await;
}

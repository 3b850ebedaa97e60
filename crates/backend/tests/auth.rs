//! The client against the local stack over real HTTP: signing in and up, the tables and
//! functions, and every kind of bad input turning into a typed error a person can read.

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

mod common;

use common::{PASSWORD, backend, stack};
use serde_json::json;
use viva_backend::{Backend, BackendError, Closing, Entry, SessionQuery, SignUp, StartRequest};
use viva_localstack::Config;

#[tokio::test]
async fn sign_in_then_start_a_practice_upload_lines_read_them_back_and_close_it() {
    let s = stack(Config::default()).await;
    let api = backend(&s.stack);
    let session = api.sign_in(&s.email, PASSWORD).await.unwrap();
    assert!(!session.user_id().is_empty());
    assert!(session.expires_in > 0);
    let me = api.user(&session.access_token).await.unwrap();
    assert_eq!(me["email"], s.email.as_str());

    let started = api
        .interview_start(&session.access_token, &StartRequest::practice(), "test")
        .await
        .unwrap();
    let session_id = started["session"]["id"].as_str().unwrap().to_owned();
    let lines = vec![
        Entry {
            item_id: "item_1".into(),
            seq: 1,
            speaker: "interviewer".into(),
            text: "Tell me about yourself.".into(),
            started_ms: 0,
            ended_ms: Some(1500),
        },
        Entry {
            item_id: "item_2".into(),
            seq: 2,
            speaker: "candidate".into(),
            text: "I build payment systems.".into(),
            started_ms: 2000,
            ended_ms: Some(3500),
        },
    ];
    let first = api
        .upload_transcript(&session.access_token, &session_id, &lines)
        .await
        .unwrap();
    assert_eq!((first.accepted, first.duplicates), (2, 0));
    let again = api
        .upload_transcript(&session.access_token, &session_id, &lines)
        .await
        .unwrap();
    assert_eq!((again.accepted, again.duplicates), (0, 2), "idempotent");
    let read = api
        .transcript(&session.access_token, &session_id)
        .await
        .unwrap();
    let texts: Vec<&str> = read.iter().map(|e| e.text.as_str()).collect();
    assert_eq!(
        texts,
        ["Tell me about yourself.", "I build payment systems."]
    );

    let page = api
        .sessions(
            &session.access_token,
            &SessionQuery {
                statuses: vec!["active".into()],
                limit: 10,
                ..SessionQuery::default()
            },
        )
        .await
        .unwrap();
    assert_eq!(page.total, Some(1));
    assert_eq!(page.rows[0].id, session_id);
    assert_eq!(page.rows[0].mode, "practice");

    let closing = Closing {
        status: "completed".into(),
        ended_at: "2026-11-22T12:00:00Z".into(),
        duration_ms: 61_000,
        realtime_cost_usd: Some(0.0),
    };
    assert!(
        api.close_session(&session.access_token, &session_id, &closing)
            .await
            .unwrap()
    );
    assert!(
        !api.close_session(&session.access_token, &session_id, &closing)
            .await
            .unwrap(),
        "closing twice changes nothing"
    );
    let closed = api
        .sessions(
            &session.access_token,
            &SessionQuery {
                statuses: vec!["completed".into()],
                limit: 10,
                ..SessionQuery::default()
            },
        )
        .await
        .unwrap();
    assert_eq!(closed.rows[0].duration_ms, Some(61_000));
    s.stack.shutdown().await;
}

#[tokio::test]
async fn sessions_page_through_with_a_total() {
    let s = stack(Config::default()).await;
    let api = backend(&s.stack);
    let token = api.sign_in(&s.email, PASSWORD).await.unwrap().access_token;
    let closing = Closing {
        status: "completed".into(),
        ended_at: "2026-11-22T12:00:00Z".into(),
        duration_ms: 1000,
        realtime_cost_usd: None,
    };
    for _ in 0..5 {
        let started = api
            .interview_start(&token, &StartRequest::practice(), "test")
            .await
            .unwrap();
        let id = started["session"]["id"].as_str().unwrap().to_owned();
        api.close_session(&token, &id, &closing).await.unwrap();
    }
    let mut seen = Vec::new();
    for offset in [0, 2, 4] {
        let page = api
            .sessions(
                &token,
                &SessionQuery {
                    limit: 2,
                    offset,
                    ..SessionQuery::default()
                },
            )
            .await
            .unwrap();
        assert_eq!(page.total, Some(5));
        seen.extend(page.rows.into_iter().map(|r| r.id));
    }
    seen.dedup();
    assert_eq!(seen.len(), 5, "every session once across the pages");
}

#[tokio::test]
async fn sign_up_signs_in_and_refuses_a_taken_email_and_a_weak_password() {
    let s = stack(Config::default()).await;
    let api = backend(&s.stack);
    let outcome = api
        .sign_up(
            "new@acme.test",
            "a long enough passphrase",
            json!({"name": "New"}),
        )
        .await
        .unwrap();
    let SignUp::SignedIn(session) = outcome else {
        panic!("the local stack confirms at once: {outcome:?}");
    };
    assert_eq!(session.user["email"], "new@acme.test");

    let taken = api
        .sign_up(&s.email, "another long passphrase", json!({}))
        .await
        .unwrap_err();
    assert_eq!(taken, BackendError::UserExists);
    assert!(taken.to_string().contains("already exists"));

    let weak = api
        .sign_up("weak@acme.test", "123", json!({}))
        .await
        .unwrap_err();
    assert_eq!(weak.code(), "weak_password", "{weak}");
    assert!(weak.to_string().starts_with("Choose a stronger password"));
}

#[tokio::test]
async fn wrong_passwords_and_unconfirmed_emails_are_told_apart() {
    let s = stack(Config::default()).await;
    let api = backend(&s.stack);
    let wrong = api.sign_in(&s.email, "not it").await.unwrap_err();
    assert_eq!(wrong, BackendError::InvalidCredentials);
    assert_eq!(wrong.to_string(), "The email or password is wrong.");
    let unknown = api.sign_in("nobody@acme.test", PASSWORD).await.unwrap_err();
    assert_eq!(
        unknown,
        BackendError::InvalidCredentials,
        "no account probing"
    );

    let email = s.email.clone();
    s.stack
        .state
        .db
        .call(move |conn| {
            conn.execute(
                "UPDATE users SET email_confirmed_at = NULL WHERE email = ?1",
                [&email],
            )
            .map_err(viva_localstack::db::DbError::from)
        })
        .await
        .unwrap();
    let unconfirmed = api.sign_in(&s.email, PASSWORD).await.unwrap_err();
    assert_eq!(unconfirmed, BackendError::EmailNotConfirmed);
    assert!(unconfirmed.to_string().contains("confirm your email"));
}

/// A server that answers everything with `status` and an HTML page.
async fn html_server(status: u16) -> String {
    let app = axum::Router::new().fallback(move || async move {
        (
            axum::http::StatusCode::from_u16(status).unwrap(),
            [("content-type", "text/html")],
            "<!doctype html><html><body><h1>Internal Server Error</h1></body></html>",
        )
    });
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let address = listener.local_addr().unwrap();
    tokio::spawn(async move { axum::serve(listener, app).await });
    format!("http://{address}")
}

#[tokio::test]
async fn html_error_pages_bad_addresses_and_tls_failures_are_named() {
    let api = Backend::from_settings(&html_server(500).await, "anon").unwrap();
    let page = api.sign_in("a@b.test", "pw").await.unwrap_err();
    assert_eq!(page.code(), "unavailable");
    assert!(page.to_string().contains("HTML page (HTTP 500)"), "{page}");

    let not_json = Backend::from_settings(&html_server(200).await, "anon").unwrap();
    let odd = not_json.sign_in("a@b.test", "pw").await.unwrap_err();
    assert_eq!(odd.code(), "bad_response", "{odd}");

    for (address, says) in [
        ("not a url", "not a URL"),
        ("http://backend.example.com", "use https"),
    ] {
        let error = Backend::from_settings(address, "anon").unwrap_err();
        assert_eq!(error.code(), "invalid_url");
        assert!(error.to_string().contains(says), "{error}");
    }

    // TLS to a server that speaks plain HTTP: the handshake fails, and says so.
    let plain = html_server(200).await.replace("http://", "https://");
    let tls = Backend::from_settings(&plain, "anon")
        .unwrap()
        .sign_in("a@b.test", "pw")
        .await
        .unwrap_err();
    assert_eq!(tls.code(), "tls", "{tls}");
    assert!(tls.to_string().starts_with("A secure connection"), "{tls}");

    // Nobody listening.
    let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let closed = format!("http://{}", listener.local_addr().unwrap());
    drop(listener);
    let down = Backend::from_settings(&closed, "anon")
        .unwrap()
        .sign_in("a@b.test", "pw")
        .await
        .unwrap_err();
    assert_eq!(down.code(), "unavailable", "{down}");
}

#[tokio::test]
async fn a_short_retry_after_is_waited_out_once() {
    use std::sync::Arc;
    use std::sync::atomic::{AtomicU32, Ordering};
    let hits = Arc::new(AtomicU32::new(0));
    let counted = hits.clone();
    let app = axum::Router::new().fallback(move || {
        let counted = counted.clone();
        async move {
            if counted.fetch_add(1, Ordering::SeqCst) == 0 {
                (
                    axum::http::StatusCode::TOO_MANY_REQUESTS,
                    [("retry-after", "1")],
                    r#"{"code":"over_request_rate_limit","message":"slow down"}"#.to_owned(),
                )
            } else {
                (
                    axum::http::StatusCode::OK,
                    [("content-type", "application/json")],
                    r#"{"id":"u1","email":"a@b.test"}"#.to_owned(),
                )
            }
        }
    });
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let address = listener.local_addr().unwrap();
    tokio::spawn(async move { axum::serve(listener, app).await });
    let api = Backend::from_settings(&format!("http://{address}"), "anon").unwrap();
    let started = std::time::Instant::now();
    let user = api.user("token").await.unwrap();
    assert_eq!(user["id"], "u1");
    assert_eq!(hits.load(Ordering::SeqCst), 2);
    assert!(started.elapsed() >= std::time::Duration::from_millis(950));
}

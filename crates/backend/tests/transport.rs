//! What the client will and will not do on the wire: read a long transcript whole despite a
//! server's row cap, never follow a redirect with a sign-in attached, and never read an
//! oversized reply into memory.

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

mod common;

use std::sync::Arc;
use std::sync::atomic::{AtomicU32, Ordering};

use common::{PASSWORD, backend, stack};
use viva_backend::{Backend, BackendError, Entry, StartRequest};
use viva_localstack::Config;

/// A hosted project returns at most 1,000 rows per read without an error; the local stack does
/// the same, so this reads a 2,500-line interview the way a hosted one would be read.
#[tokio::test]
async fn a_long_transcript_is_read_whole_in_order_despite_the_row_cap() {
    let s = stack(Config::default()).await;
    let api = backend(&s.stack);
    let session = api.sign_in(&s.email, PASSWORD).await.unwrap();
    let token = session.access_token;
    let started = api
        .interview_start(&token, &StartRequest::practice(), "test")
        .await
        .unwrap();
    let id = started["session"]["id"].as_str().unwrap().to_owned();
    // Lines renumbered after a late item share their seq: order must still be total.
    let entries: Vec<Entry> = (0..2_500)
        .map(|n| Entry {
            item_id: format!("item_{n:05}"),
            seq: n / 2,
            speaker: if n % 2 == 0 {
                "interviewer"
            } else {
                "candidate"
            }
            .into(),
            text: format!("line {n}"),
            started_ms: i64::from(n) * 1000,
            ended_ms: None,
        })
        .collect();
    for batch in entries.chunks(500) {
        let reply = api.upload_transcript(&token, &id, batch).await.unwrap();
        assert_eq!(reply.accepted, 500);
    }
    let read = api.transcript(&token, &id).await.unwrap();
    assert_eq!(read.len(), 2_500);
    let ids: Vec<&str> = read.iter().map(|e| e.item_id.as_str()).collect();
    let expected: Vec<String> = entries.iter().map(|e| e.item_id.clone()).collect();
    assert_eq!(ids, expected, "every line once, in conversation order");
}

/// A server that answers everything with a redirect, counting what reaches it.
async fn redirecting_server(hits: Arc<AtomicU32>) -> String {
    let app = axum::Router::new().fallback(move || {
        let hits = hits.clone();
        async move {
            hits.fetch_add(1, Ordering::SeqCst);
            (
                axum::http::StatusCode::TEMPORARY_REDIRECT,
                [("location", "https://attacker.example/collect")],
                "",
            )
        }
    });
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let address = listener.local_addr().unwrap();
    tokio::spawn(async move { axum::serve(listener, app).await });
    format!("http://{address}")
}

#[tokio::test]
async fn a_redirect_is_never_followed_with_the_password_or_token() {
    let hits = Arc::new(AtomicU32::new(0));
    let api = Backend::from_settings(&redirecting_server(hits.clone()).await, "anon").unwrap();
    let error = api
        .sign_in("a@b.test", "secret password")
        .await
        .unwrap_err();
    assert_eq!(
        error,
        BackendError::Redirected {
            location: "https://attacker.example/collect".into()
        }
    );
    assert!(
        error.to_string().contains("does not follow redirects"),
        "{error}"
    );
    let error = api.user("access-token").await.unwrap_err();
    assert_eq!(error.code(), "redirected");
    // One request each: the 307 was not re-sent anywhere.
    assert_eq!(hits.load(Ordering::SeqCst), 2);
}

#[tokio::test]
async fn an_oversized_reply_is_refused_without_being_read_whole() {
    // A reply that keeps coming (no length given): 64 MiB in 1 MiB chunks.
    let chunk = bytes::Bytes::from(vec![b' '; 1024 * 1024]);
    let app = axum::Router::new().fallback(move || {
        let chunk = chunk.clone();
        async move {
            let stream = futures_util::stream::iter(
                (0..64).map(move |_| Ok::<_, std::io::Error>(chunk.clone())),
            );
            (
                [("content-type", "application/json")],
                axum::body::Body::from_stream(stream),
            )
        }
    });
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let address = listener.local_addr().unwrap();
    tokio::spawn(async move { axum::serve(listener, app).await });
    let api = Backend::from_settings(&format!("http://{address}"), "anon").unwrap();
    let error = api.user("token").await.unwrap_err();
    assert_eq!(
        error,
        BackendError::TooLarge {
            limit: viva_backend::client::MAX_REPLY_BYTES
        }
    );
}

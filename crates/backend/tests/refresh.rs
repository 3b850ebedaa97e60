//! Staying signed in: 3-second access tokens, many concurrent API calls for 30 s, and not one
//! failed call or reused refresh token; a sign-in revoked elsewhere ends in a signed-out state
//! with a message. The keyring is not involved here (memory only).

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

mod common;

use std::sync::Arc;
use std::sync::atomic::{AtomicU32, Ordering};
use std::time::{Duration, Instant};

use common::{PASSWORD, backend, stack};
use viva_backend::{Account, AuthState, BackendError, LogoutScope, SessionQuery, VaultError};
use viva_localstack::Config;

fn memory_only() -> Result<viva_backend::KeyringVault, VaultError> {
    Err(VaultError::Unavailable("not used in this test".into()))
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn thirty_seconds_of_concurrent_calls_on_three_second_tokens_never_fail() {
    let s = stack(Config {
        access_token_lifetime_s: 3,
        // Any second use of a refresh token is a reuse error: the strictest backend.
        refresh_reuse_window_ms: 0,
        ..Config::default()
    })
    .await;
    let account = Arc::new(Account::new(backend(&s.stack), memory_only()));
    account.sign_in(&s.email, PASSWORD).await.unwrap();
    let _refresher = account.spawn_refresher();

    let calls = Arc::new(AtomicU32::new(0));
    let failures = Arc::new(std::sync::Mutex::new(Vec::new()));
    let until = Instant::now() + Duration::from_secs(30);
    let mut workers = Vec::new();
    for worker in 0..6u64 {
        let (account, calls, failures) = (account.clone(), calls.clone(), failures.clone());
        workers.push(tokio::spawn(async move {
            while Instant::now() < until {
                let api = account.backend().clone();
                let result = if worker % 2 == 0 {
                    account
                        .authorized(|token| {
                            let api = api.clone();
                            async move { api.user(&token).await.map(|_| ()) }
                        })
                        .await
                } else {
                    account
                        .authorized(|token| {
                            let api = api.clone();
                            async move {
                                api.sessions(
                                    &token,
                                    &SessionQuery {
                                        limit: 5,
                                        ..SessionQuery::default()
                                    },
                                )
                                .await
                                .map(|_| ())
                            }
                        })
                        .await
                };
                calls.fetch_add(1, Ordering::Relaxed);
                if let Err(error) = result {
                    failures.lock().unwrap().push(error);
                }
                // Spread the calls so some land right at each token's expiry.
                tokio::time::sleep(Duration::from_millis(40 + worker * 37)).await;
            }
        }));
    }
    for worker in workers {
        worker.await.unwrap();
    }
    let failures = failures.lock().unwrap().clone();
    assert!(
        failures.is_empty(),
        "{} failed: {failures:?}",
        failures.len()
    );
    assert!(calls.load(Ordering::Relaxed) > 300, "{calls:?} calls");
    assert!(matches!(account.state(), AuthState::SignedIn { .. }));

    // One refresh per token life, not one per caller: the sessions table of the auth server
    // counts the refresh tokens issued.
    let issued: i64 = s
        .stack
        .state
        .db
        .call(|conn| {
            conn.query_row("SELECT COUNT(*) FROM refresh_tokens", [], |r| r.get(0))
                .map_err(viva_localstack::db::DbError::from)
        })
        .await
        .unwrap();
    assert!(
        (10..=20).contains(&issued),
        "{issued} refresh tokens for 30 s of 3 s tokens"
    );
}

#[tokio::test]
async fn a_sign_in_revoked_elsewhere_ends_signed_out_with_a_reason() {
    let s = stack(Config {
        access_token_lifetime_s: 2,
        ..Config::default()
    })
    .await;
    let account = Account::new(backend(&s.stack), memory_only());
    let mut changes = account.watch();
    account.sign_in(&s.email, PASSWORD).await.unwrap();

    // "Sign out everywhere" from another device revokes this sign-in's refresh token.
    let elsewhere = backend(&s.stack).sign_in(&s.email, PASSWORD).await.unwrap();
    backend(&s.stack)
        .logout(&elsewhere.access_token, LogoutScope::Global)
        .await
        .unwrap();

    tokio::time::sleep(Duration::from_millis(2100)).await;
    let error = account.access_token().await.unwrap_err();
    assert_eq!(error.code(), "signed_out", "{error}");
    let state = account.state();
    let AuthState::SignedOut {
        reason: Some(reason),
    } = &state
    else {
        panic!("{state:?}");
    };
    assert!(reason.contains("signed out"), "{reason}");
    changes.mark_changed();
    assert_eq!(*changes.borrow_and_update(), state);
    // And no retry storm: later calls fail at once without asking the backend.
    let started = Instant::now();
    assert!(matches!(
        account.access_token().await,
        Err(BackendError::SignedOut(_))
    ));
    assert!(started.elapsed() < Duration::from_millis(50));
}

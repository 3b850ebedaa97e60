//! The token vault in the harness's real gnome-keyring (Secret Service on a private D-Bus):
//! a sign-in survives a restart (a new process), sign-out removes the entry, and with no
//! secret service the account says so plainly and keeps the sign-in in memory only.
//!
//! "A new process" is this test binary started again for one ignored test (`child_*`), with
//! what it needs in the environment.

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

mod common;

use std::process::Command;

use common::{PASSWORD, backend, stack};
use viva_backend::{Account, AuthState, Backend, KeyringStatus, KeyringVault};
use viva_localstack::Config;

async fn require_secret_service() -> KeyringVault {
    KeyringVault::open().await.unwrap_or_else(|error| {
        panic!("these tests need the harness's gnome-keyring: run them with `cargo xtask test` ({error})")
    })
}

/// Runs the ignored test `name` of this binary in a new process with `envs`.
fn child(name: &str, envs: &[(&str, &str)]) -> std::process::Output {
    let mut command = Command::new(std::env::current_exe().unwrap());
    command.args([
        name,
        "--exact",
        "--ignored",
        "--nocapture",
        "--test-threads=1",
    ]);
    for (key, value) in envs {
        command.env(key, value);
    }
    command.output().unwrap()
}

fn assert_child_passed(output: &std::process::Output) {
    let text = format!(
        "{}{}",
        String::from_utf8_lossy(&output.stdout),
        String::from_utf8_lossy(&output.stderr)
    );
    assert!(
        output.status.success() && text.contains("1 passed"),
        "the child failed:\n{text}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_sign_in_survives_a_restart_and_sign_out_removes_it_from_the_keyring() {
    let vault = require_secret_service().await;
    let s = stack(Config::default()).await;
    let account = Account::new(backend(&s.stack), Ok(vault.clone()));
    assert_eq!(account.keyring_status(), KeyringStatus::Available);
    let AuthState::SignedIn { user_id, .. } = account.sign_in(&s.email, PASSWORD).await.unwrap()
    else {
        panic!("not signed in");
    };
    let kept = vault
        .load(&s.stack.base_url)
        .await
        .unwrap()
        .expect("an entry");
    assert_eq!(kept.user_id, user_id);
    // Only the refresh token is kept; never the access token.
    let access = account.access_token().await.unwrap();
    assert_ne!(kept.refresh_token, access);

    // Quit; a new process restores the sign-in from the keyring alone (it rotates the
    // refresh token, so this one's copy is now spent).
    drop(account);
    let output = child(
        "child_restores_the_sign_in",
        &[
            ("VIVA_TEST_BACKEND", &s.stack.base_url),
            ("VIVA_TEST_ANON_KEY", &s.stack.anon_key),
            ("VIVA_TEST_USER_ID", &user_id),
        ],
    );
    assert_child_passed(&output);
    let rotated = vault
        .load(&s.stack.base_url)
        .await
        .unwrap()
        .expect("still kept");
    assert_ne!(
        rotated.refresh_token, kept.refresh_token,
        "rotated and saved"
    );

    // A third run restores again and signs out: the entry is gone.
    let account = Account::new(backend(&s.stack), Ok(vault.clone()));
    assert!(account.restore().await.unwrap());
    account.sign_out().await;
    assert_eq!(vault.load(&s.stack.base_url).await.unwrap(), None);
    assert_eq!(account.state(), AuthState::SignedOut { reason: None });
    let fresh = Account::new(backend(&s.stack), Ok(vault));
    assert!(!fresh.restore().await.unwrap(), "nothing left to restore");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
#[ignore = "run by a_sign_in_survives_a_restart… in a new process"]
async fn child_restores_the_sign_in() {
    let var = |name| std::env::var(name).unwrap();
    let api =
        Backend::from_settings(&var("VIVA_TEST_BACKEND"), &var("VIVA_TEST_ANON_KEY")).unwrap();
    let account = Account::new(api, KeyringVault::open().await);
    assert!(
        account.restore().await.unwrap(),
        "restored from the keyring"
    );
    let AuthState::SignedIn { user_id, .. } = account.state() else {
        panic!("{:?}", account.state());
    };
    assert_eq!(user_id, var("VIVA_TEST_USER_ID"));
    let token = account.access_token().await.unwrap();
    let me = account.backend().user(&token).await.unwrap();
    assert_eq!(me["id"], user_id.as_str());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_revoked_kept_sign_in_is_forgotten_at_launch_with_a_reason() {
    let vault = require_secret_service().await;
    let s = stack(Config::default()).await;
    let account = Account::new(backend(&s.stack), Ok(vault.clone()));
    let signed_in = account.sign_in(&s.email, PASSWORD).await.unwrap();
    let token = account.access_token().await.unwrap();
    drop(account);
    // Signed out everywhere from another device while Viva was closed.
    backend(&s.stack)
        .logout(&token, viva_backend::LogoutScope::Global)
        .await
        .unwrap();
    let relaunched = Account::new(backend(&s.stack), Ok(vault.clone()));
    assert!(!relaunched.restore().await.unwrap());
    let AuthState::SignedOut {
        reason: Some(reason),
    } = relaunched.state()
    else {
        panic!("{:?} after {signed_in:?}", relaunched.state());
    };
    assert!(reason.contains("signed out"), "{reason}");
    assert_eq!(vault.load(&s.stack.base_url).await.unwrap(), None);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn with_no_secret_service_the_account_says_so_and_keeps_the_sign_in_in_memory() {
    let s = stack(Config::default()).await;
    let output = child(
        "child_without_a_secret_service",
        &[
            ("VIVA_TEST_BACKEND", &s.stack.base_url),
            ("VIVA_TEST_ANON_KEY", &s.stack.anon_key),
            ("VIVA_TEST_EMAIL", &s.email),
            // A session bus that does not exist: no Secret Service can answer.
            (
                "DBUS_SESSION_BUS_ADDRESS",
                "unix:path=/nonexistent/viva-test-bus",
            ),
        ],
    );
    assert_child_passed(&output);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
#[ignore = "run by with_no_secret_service… in a new process"]
async fn child_without_a_secret_service() {
    let var = |name| std::env::var(name).unwrap();
    let opened = KeyringVault::open().await;
    let error = opened.as_ref().unwrap_err().clone();
    assert_eq!(error.code(), "keyring_unavailable", "{error}");
    let api =
        Backend::from_settings(&var("VIVA_TEST_BACKEND"), &var("VIVA_TEST_ANON_KEY")).unwrap();
    let account = Account::new(api, opened);
    let KeyringStatus::Unavailable { message, .. } = account.keyring_status() else {
        panic!("{:?}", account.keyring_status());
    };
    assert!(
        message.starts_with(
            "Your system keyring is not available — Viva keeps you signed in only until you quit"
        ),
        "{message}"
    );
    // Signing in still works, for this run.
    account
        .sign_in(&var("VIVA_TEST_EMAIL"), PASSWORD)
        .await
        .unwrap();
    assert!(account.access_token().await.is_ok());
    assert!(!account.restore().await.unwrap(), "nothing kept");
}

//! The token vault in the harness's real gnome-keyring (Secret Service on a private D-Bus):
//! a sign-in survives a restart — `viva account`, a new process, restores it from the keyring
//! alone — sign-out removes the entry, and with no secret service the account says so plainly
//! and keeps the sign-in in memory only.

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use std::process::Command;

use viva_backend::{Account, AuthState, Backend, KeyringStatus, KeyringVault, LogoutScope};
use viva_localstack::{Config, LocalStack};

const PASSWORD: &str = "correct horse 1";

async fn require_secret_service() -> KeyringVault {
    KeyringVault::open().await.unwrap_or_else(|error| {
        panic!("these tests need the harness's gnome-keyring: run them with `cargo xtask test` ({error})")
    })
}

async fn stack() -> (LocalStack, String) {
    let stack = LocalStack::start(Config::default()).await.unwrap();
    let tenant = stack.add_tenant("Acme").await.unwrap();
    let email = format!("cand-{}@acme.test", uuid::Uuid::new_v4().simple());
    stack
        .add_user(&email, PASSWORD, &tenant, "candidate")
        .await
        .unwrap();
    (stack, email)
}

fn backend(stack: &LocalStack) -> Backend {
    Backend::from_settings(&stack.base_url, &stack.anon_key).unwrap()
}

/// Runs `viva account` against `stack` in a new process; returns its exit success and JSON.
async fn viva_account(
    stack: &LocalStack,
    extra: &[&str],
    envs: &[(&str, &str)],
) -> (bool, serde_json::Value) {
    let mut command = Command::new(env!("CARGO_BIN_EXE_viva"));
    command
        .args(["account", "--backend", &stack.base_url])
        .args(["--anon-key", &stack.anon_key])
        .args(extra)
        .env_remove("VIVA_PASSWORD");
    for (key, value) in envs {
        command.env(key, value);
    }
    let output = tokio::task::spawn_blocking(move || command.output())
        .await
        .unwrap()
        .unwrap();
    let stdout = String::from_utf8_lossy(&output.stdout);
    let line = stdout.lines().last().unwrap_or_else(|| {
        panic!(
            "no output; stderr: {}",
            String::from_utf8_lossy(&output.stderr)
        )
    });
    (output.status.success(), serde_json::from_str(line).unwrap())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_sign_in_survives_a_restart_and_sign_out_removes_it_from_the_keyring() {
    let vault = require_secret_service().await;
    let (stack, email) = stack().await;
    let account = Account::new(backend(&stack), Ok(vault.clone()));
    assert_eq!(account.keyring_status(), KeyringStatus::Available);
    let AuthState::SignedIn { user_id, .. } = account.sign_in(&email, PASSWORD).await.unwrap()
    else {
        panic!("not signed in");
    };
    let kept = vault
        .load(&stack.base_url)
        .await
        .unwrap()
        .expect("an entry");
    assert_eq!(kept.user_id, user_id);
    // Only the refresh token is kept; never the access token.
    assert_ne!(kept.refresh_token, account.access_token().await.unwrap());

    // Quit; a new process restores the sign-in from the keyring alone, and saves the rotated
    // refresh token.
    drop(account);
    let (signed_in, reply) = viva_account(&stack, &[], &[]).await;
    assert!(signed_in, "{reply}");
    assert_eq!(reply["auth"]["user_id"], user_id.as_str(), "{reply}");
    assert_eq!(reply["keyring"]["keyring"], "available", "{reply}");
    let rotated = vault
        .load(&stack.base_url)
        .await
        .unwrap()
        .expect("still kept");
    assert_ne!(
        rotated.refresh_token, kept.refresh_token,
        "rotated and saved"
    );

    // A third run restores again and signs out: the entry is gone.
    let account = Account::new(backend(&stack), Ok(vault.clone()));
    assert!(account.restore().await.unwrap());
    account.sign_out().await;
    assert_eq!(vault.load(&stack.base_url).await.unwrap(), None);
    assert_eq!(account.state(), AuthState::SignedOut { reason: None });
    let (signed_in, reply) = viva_account(&stack, &[], &[]).await;
    assert!(!signed_in, "nothing left to restore: {reply}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_revoked_kept_sign_in_is_forgotten_at_launch_with_a_reason() {
    let vault = require_secret_service().await;
    let (stack, email) = stack().await;
    let account = Account::new(backend(&stack), Ok(vault.clone()));
    account.sign_in(&email, PASSWORD).await.unwrap();
    let token = account.access_token().await.unwrap();
    drop(account);
    // Signed out everywhere from another device while Viva was closed.
    backend(&stack)
        .logout(&token, LogoutScope::Global)
        .await
        .unwrap();
    let relaunched = Account::new(backend(&stack), Ok(vault.clone()));
    assert!(!relaunched.restore().await.unwrap());
    let AuthState::SignedOut {
        reason: Some(reason),
    } = relaunched.state()
    else {
        panic!("{:?}", relaunched.state());
    };
    assert!(reason.contains("signed out"), "{reason}");
    assert_eq!(vault.load(&stack.base_url).await.unwrap(), None);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn with_no_secret_service_the_account_says_so_and_keeps_the_sign_in_in_memory() {
    let (stack, email) = stack().await;
    // A session bus that does not exist: no Secret Service can answer.
    let no_bus = [
        (
            "DBUS_SESSION_BUS_ADDRESS",
            "unix:path=/nonexistent/viva-test-bus",
        ),
        ("VIVA_PASSWORD", PASSWORD),
    ];
    let (signed_in, reply) = viva_account(&stack, &["--email", &email, "--keep"], &no_bus).await;
    assert!(signed_in, "signing in still works, for this run: {reply}");
    assert_eq!(reply["keyring"]["keyring"], "unavailable", "{reply}");
    assert_eq!(reply["keyring"]["code"], "keyring_unavailable", "{reply}");
    let message = reply["keyring"]["message"].as_str().unwrap();
    assert!(
        message.starts_with(
            "Your system keyring is not available — Viva keeps you signed in only until you quit"
        ),
        "{message}"
    );
    // Nothing was kept: the next run (with the keyring back) has nothing to restore.
    let (restored, reply) = viva_account(&stack, &[], &no_bus[..1]).await;
    assert!(!restored, "{reply}");
}

/// The desktop app (an account with the keyring vault, refreshing in the background, as the
/// shell runs it) and `viva account` runs in other processes share one sign-in for longer than
/// the server's reuse window. Both rotate the same single-use refresh token; before, the app
/// spent a token the CLI had already spent, the server revoked the session, and both were
/// signed out.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_app_and_the_command_line_share_a_sign_in_past_the_reuse_window() {
    let vault = require_secret_service().await;
    let stack = LocalStack::start(Config {
        access_token_lifetime_s: 2,
        refresh_reuse_window_ms: 300,
        ..Config::default()
    })
    .await
    .unwrap();
    let tenant = stack.add_tenant("Acme").await.unwrap();
    let email = format!("cand-{}@acme.test", uuid::Uuid::new_v4().simple());
    stack
        .add_user(&email, PASSWORD, &tenant, "candidate")
        .await
        .unwrap();
    let app = std::sync::Arc::new(Account::new(backend(&stack), Ok(vault.clone())));
    app.sign_in(&email, PASSWORD).await.unwrap();
    let _refresher = app.spawn_refresher();
    let until = tokio::time::Instant::now() + std::time::Duration::from_secs(10);
    let mut cli_runs = 0;
    while tokio::time::Instant::now() < until {
        let (signed_in, reply) = viva_account(&stack, &[], &[]).await;
        assert!(signed_in, "the command line was signed out: {reply}");
        cli_runs += 1;
        let token = app.access_token().await.unwrap();
        backend(&stack).user(&token).await.unwrap_or_else(|error| {
            panic!("the app's sign-in stopped working after {cli_runs} runs: {error}")
        });
        tokio::time::sleep(std::time::Duration::from_millis(700)).await;
    }
    assert!(cli_runs >= 5, "{cli_runs}");
    assert!(
        matches!(app.state(), AuthState::SignedIn { .. }),
        "{:?}",
        app.state()
    );
    let (signed_in, reply) = viva_account(&stack, &[], &[]).await;
    assert!(signed_in, "{reply}");
    app.sign_out().await;
}

/// A password on the command line would be readable by every user in the process list: there
/// is no such argument; the environment or a prompt only.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_command_line_takes_no_password_argument() {
    let (stack, email) = stack().await;
    let output = Command::new(env!("CARGO_BIN_EXE_viva"))
        .args([
            "account",
            "--backend",
            &stack.base_url,
            "--anon-key",
            &stack.anon_key,
        ])
        .args(["--email", &email, "--password", PASSWORD])
        .env_remove("VIVA_PASSWORD")
        .output()
        .unwrap();
    assert_eq!(output.status.code(), Some(2));
    assert!(
        String::from_utf8_lossy(&output.stderr).contains("unexpected argument '--password'"),
        "{}",
        String::from_utf8_lossy(&output.stderr)
    );
    // Without VIVA_PASSWORD and with no terminal to ask at, it says what it needs.
    let (signed_in, _) = {
        let output = Command::new(env!("CARGO_BIN_EXE_viva"))
            .args([
                "account",
                "--backend",
                &stack.base_url,
                "--anon-key",
                &stack.anon_key,
            ])
            .args(["--email", &email])
            .env_remove("VIVA_PASSWORD")
            .stdin(std::process::Stdio::null())
            .output()
            .unwrap();
        (output.status.code(), output.stderr)
    };
    assert_eq!(signed_in, Some(2));
}

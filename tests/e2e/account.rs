//! Signing in through the real app against a local stack: set the backend in the UI, sign in
//! (a wrong password first), quit and relaunch — still signed in from the keyring — sign out
//! and the keyring entry is gone. Then no token is anywhere on disk: the app's data, config,
//! cache and state folders (logs and the webview's storage included) hold none of the refresh
//! tokens the backend issued and no access token (JWT) at all.

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)] // Tests fail loudly by design.

use std::path::Path;
use std::time::Duration;

use fantoccini::Locator;
use viva_backend::KeyringVault;
use viva_e2e::{Harness, UI_TIMEOUT};
use viva_localstack::{Config, LocalStack};

const PASSWORD: &str = "a long passphrase 7";

/// Every file under `dir`, read as bytes.
fn files_under(dir: &Path, out: &mut Vec<(String, Vec<u8>)>) {
    let Ok(entries) = std::fs::read_dir(dir) else {
        return;
    };
    for entry in entries.flatten() {
        let path = entry.path();
        if path.is_dir() {
            files_under(&path, out);
        } else if let Ok(bytes) = std::fs::read(&path) {
            out.push((path.display().to_string(), bytes));
        }
    }
}

fn contains(haystack: &[u8], needle: &[u8]) -> bool {
    !needle.is_empty() && haystack.windows(needle.len()).any(|w| w == needle)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sign_in_survives_a_relaunch_sign_out_forgets_it_and_no_token_reaches_the_disk() {
    let harness = Harness::from_env().unwrap();
    let stack = LocalStack::start(Config::default()).await.unwrap();
    let tenant = stack.add_tenant("Acme").await.unwrap();
    let email = "ada@acme.test";
    stack
        .add_user(email, PASSWORD, &tenant, "candidate")
        .await
        .unwrap();

    let app = harness.launch_app().await.unwrap();
    // No backend yet: the form asks for one. A plain-http remote address is refused inline.
    app.fill("backend-url", "http://backend.example.com")
        .await
        .unwrap();
    app.fill("backend-anon-key", &stack.anon_key).await.unwrap();
    app.click("backend-save").await.unwrap();
    let refused = app.text_of("[data-testid=account-error]").await.unwrap();
    assert!(refused.contains("use https"), "{refused}");
    app.fill("backend-url", &stack.base_url).await.unwrap();
    app.click("backend-save").await.unwrap();

    // A wrong password is refused inline; the right one signs in.
    app.fill("auth-email", email).await.unwrap();
    app.fill("auth-password", "not the password").await.unwrap();
    app.click("auth-submit").await.unwrap();
    let wrong = app.text_of("[data-testid=account-error]").await.unwrap();
    assert_eq!(wrong, "The email or password is wrong.");
    app.fill("auth-password", PASSWORD).await.unwrap();
    app.click("auth-submit").await.unwrap();
    assert_eq!(
        app.text_of("[data-testid=signed-in-email]").await.unwrap(),
        email
    );
    app.screenshot("signed-in").await.unwrap();
    app.quit().await.unwrap();

    let vault = KeyringVault::open().await.unwrap();
    assert!(
        vault.load(&stack.base_url).await.unwrap().is_some(),
        "the sign-in is kept in the keyring"
    );

    // Relaunched: signed in again from the keyring, without typing anything.
    let app = harness.launch_app().await.unwrap();
    assert_eq!(
        app.text_of("[data-testid=signed-in-email]").await.unwrap(),
        email
    );
    app.click("sign-out").await.unwrap();
    app.client
        .wait()
        .at_most(UI_TIMEOUT)
        .for_element(Locator::Css("[data-testid=auth-form]"))
        .await
        .unwrap();
    assert_eq!(vault.load(&stack.base_url).await.unwrap(), None);
    app.quit().await.unwrap();
    // The log writer flushes in the background.
    tokio::time::sleep(Duration::from_millis(300)).await;

    // Every refresh token the backend ever issued, and anything shaped like a JWT other than
    // the (public) anon key, must be absent from the app's folders.
    let issued: Vec<String> = stack
        .state
        .db
        .call(|conn| {
            let mut statement = conn.prepare("SELECT token FROM refresh_tokens")?;
            let tokens = statement
                .query_map([], |row| row.get(0))?
                .collect::<Result<Vec<String>, _>>()?;
            Ok::<_, viva_localstack::db::DbError>(tokens)
        })
        .await
        .unwrap();
    assert!(issued.len() >= 2, "sign-in and restore each issued one");
    let mut files = Vec::new();
    for var in [
        "XDG_DATA_HOME",
        "XDG_CONFIG_HOME",
        "XDG_CACHE_HOME",
        "XDG_STATE_HOME",
    ] {
        files_under(Path::new(&std::env::var(var).unwrap()), &mut files);
    }
    assert!(
        files
            .iter()
            .any(|(path, _)| path.ends_with("settings.json")),
        "the scan reached the app's config"
    );
    for (path, bytes) in &files {
        for token in &issued {
            assert!(
                !contains(bytes, token.as_bytes()),
                "a refresh token is in {path}"
            );
        }
        let text = String::from_utf8_lossy(bytes).replace(&stack.anon_key, "");
        // A JWT starts with its base64url header: `{"typ":"JWT",...` or `{"alg":...`.
        assert!(
            !text.contains("eyJ0eXAiOi") && !text.contains("eyJhbGciOi"),
            "something shaped like an access token is in {path}"
        );
    }
    stack.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn practice_offline_needs_no_account_and_no_backend() {
    let harness = Harness::from_env().unwrap();
    let app = harness.launch_app().await.unwrap();
    // Another test may have left a backend configured: the choice is on the same form.
    app.client
        .wait()
        .at_most(UI_TIMEOUT)
        .for_element(Locator::Css(
            "[data-testid=practice-offline], [data-testid=backend-change]",
        ))
        .await
        .unwrap();
    if app
        .client
        .find(Locator::Css("[data-testid=backend-change]"))
        .await
        .is_ok()
    {
        app.click("backend-change").await.unwrap();
    }
    app.click("practice-offline").await.unwrap();
    let banner = app.text_of("[data-testid=offline-banner]").await.unwrap();
    assert!(banner.contains("Practising offline"), "{banner}");
    app.screenshot("practice-offline").await.unwrap();
    app.click("leave-offline").await.unwrap();
    app.client
        .wait()
        .at_most(UI_TIMEOUT)
        .for_element(Locator::Css(
            "[data-testid=backend-form], [data-testid=auth-form]",
        ))
        .await
        .unwrap();
    app.quit().await.unwrap();
}

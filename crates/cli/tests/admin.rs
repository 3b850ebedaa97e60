//! `viva admin` against the local stack's Auth admin API: an operator moves a user into an
//! organisation with a role, and nothing but the service-role key may do it.

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)] // Tests fail loudly by design.

use std::process::{Command, Output};

use serde_json::{Value, json};
use viva_backend::Backend;
use viva_localstack::{Config, LocalStack};

const PASSWORD: &str = "password-1";

fn admin(stack: &LocalStack, key: Option<&str>, args: &[&str]) -> Output {
    let mut command = Command::new(env!("CARGO_BIN_EXE_viva"));
    command
        .args(["admin", "--backend", &stack.base_url])
        .args(args)
        .env_remove("VIVA_SERVICE_ROLE_KEY");
    if let Some(key) = key {
        command.env("VIVA_SERVICE_ROLE_KEY", key);
    }
    command.output().unwrap()
}

fn stdout_json(output: &Output) -> Value {
    serde_json::from_slice(&output.stdout).unwrap_or_else(|_| {
        panic!(
            "not JSON: {} / {}",
            String::from_utf8_lossy(&output.stdout),
            String::from_utf8_lossy(&output.stderr)
        )
    })
}

/// The claims of a fresh sign-in (what every service will see from now on).
async fn signed_in_claims(stack: &LocalStack, email: &str) -> Value {
    let backend = Backend::new(&stack.base_url, &stack.anon_key);
    let session = backend.sign_in(email, PASSWORD).await.unwrap();
    let token = session.access_token;
    stack.state.keys.verify(&token).map(|c| json!(c)).unwrap()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_operator_puts_a_user_into_an_organisation_and_nobody_else_can() {
    let stack = LocalStack::start(Config::default()).await.unwrap();
    let acme = stack.add_tenant("Acme").await.unwrap();
    let globex = stack.add_tenant("Globex").await.unwrap();
    stack
        .add_user("pat@example.test", PASSWORD, &acme, "candidate")
        .await
        .unwrap();
    let service_key = stack.state.keys.service_role_key().unwrap();

    // Show, found by e-mail whatever its case.
    let shown = admin(
        &stack,
        Some(&service_key),
        &["show", "--email", "PAT@example.test"],
    );
    assert!(shown.status.success(), "{shown:?}");
    assert_eq!(stdout_json(&shown)["app_metadata"]["tenant_id"], acme);

    // Moved to Globex as an interviewer: the next sign-in carries it.
    let moved = admin(
        &stack,
        Some(&service_key),
        &[
            "set-member",
            "--email",
            "pat@example.test",
            "--tenant",
            &globex,
            "--role",
            "interviewer",
        ],
    );
    assert!(moved.status.success(), "{moved:?}");
    let printed = stdout_json(&moved);
    assert_eq!(
        (
            &printed["app_metadata"]["tenant_id"],
            &printed["app_metadata"]["viva_role"]
        ),
        (&json!(globex), &json!("interviewer"))
    );
    let claims = signed_in_claims(&stack, "pat@example.test").await;
    assert_eq!(claims["app_metadata"]["tenant_id"], globex);
    assert_eq!(claims["app_metadata"]["viva_role"], "interviewer");

    // Attacks: the anon key, a user's own token, no key, and a forged service key are refused,
    // and the membership stays as it is.
    let user_token = Backend::new(&stack.base_url, &stack.anon_key)
        .sign_in("pat@example.test", PASSWORD)
        .await
        .unwrap()
        .access_token;
    let forged = {
        let (signed, signature) = service_key.rsplit_once('.').unwrap();
        let first = if signature.starts_with('A') { 'B' } else { 'A' };
        format!("{signed}.{first}{}", &signature[1..])
    };
    for key in [
        stack.anon_key.as_str(),
        user_token.as_str(),
        forged.as_str(),
    ] {
        let refused = admin(
            &stack,
            Some(key),
            &[
                "set-member",
                "--email",
                "pat@example.test",
                "--tenant",
                &acme,
                "--role",
                "candidate",
            ],
        );
        assert_eq!(refused.status.code(), Some(1), "{refused:?}");
        assert!(refused.stdout.is_empty());
    }
    let no_key = admin(&stack, None, &["show", "--email", "pat@example.test"]);
    assert_eq!(no_key.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&no_key.stderr).contains("VIVA_SERVICE_ROLE_KEY"));

    // Values the server refuses: an organisation that does not exist; an unknown user; nothing
    // to set. Nothing changes.
    let unknown_tenant = admin(
        &stack,
        Some(&service_key),
        &[
            "set-member",
            "--email",
            "pat@example.test",
            "--tenant",
            "00000000-0000-4000-8000-000000000000",
        ],
    );
    assert_eq!(unknown_tenant.status.code(), Some(1), "{unknown_tenant:?}");
    let unknown_user = Command::new(env!("CARGO_BIN_EXE_viva"))
        // --backend may also follow the action.
        .args([
            "admin",
            "show",
            "--email",
            "nobody@example.test",
            "--backend",
            &stack.base_url,
        ])
        .env("VIVA_SERVICE_ROLE_KEY", &service_key)
        .output()
        .unwrap();
    assert_eq!(unknown_user.status.code(), Some(1));
    let nothing = admin(
        &stack,
        Some(&service_key),
        &["set-member", "--email", "pat@example.test"],
    );
    assert_eq!(nothing.status.code(), Some(2));
    let claims = signed_in_claims(&stack, "pat@example.test").await;
    assert_eq!(
        (
            &claims["app_metadata"]["tenant_id"],
            &claims["app_metadata"]["viva_role"]
        ),
        (&json!(globex), &json!("interviewer"))
    );
    stack.shutdown().await;
}

//! Help → Save Diagnostics… in the real app: after a signed-in practice whose words went into
//! the app's debug log, the archive it writes holds what support needs (versions, the harness's
//! devices, the call's timeline, the logs) and none of the candidate's e-mail address, tokens
//! or words — each of which the raw log does hold, so the scan can fail.

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)] // Tests fail loudly by design.

use std::time::Duration;

use viva_e2e::Harness;
use viva_localstack::{Config, LocalStack};

const EMAIL: &str = "grace.hopper@acme-robotics.test";
const PASSWORD: &str = "a long passphrase 7";
const ANSWER: &str = "I rebuilt the nightly billing export so it finishes before breakfast.";

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn saved_diagnostics_hold_what_support_needs_and_nothing_private() {
    let harness = Harness::from_env().unwrap();
    let stack = LocalStack::start(Config::default()).await.unwrap();
    let tenant = stack.add_tenant("Acme Robotics").await.unwrap();
    stack
        .add_user(EMAIL, PASSWORD, &tenant, "candidate")
        .await
        .unwrap();
    // At debug the app logs each final line's words: the archive must still hold none.
    let app = harness
        .launch_app_with(&[("VIVA_LOG", "debug")])
        .await
        .unwrap();
    app.sign_in_to(&stack.base_url, &stack.anon_key, EMAIL, PASSWORD)
        .await
        .unwrap();
    let log_dir = app.text_of("[data-testid=app-log-dir]").await.unwrap();

    // A typed practice on the organisation's server.
    app.click("practice-start").await.unwrap();
    app.wait_until_backend_ready().await.unwrap();
    app.click("text-mode").await.unwrap();
    app.click("consent-agree").await.unwrap();
    app.click("start-interview").await.unwrap();
    let question = app.answer_first_question_in_text(ANSWER).await.unwrap();
    assert_eq!(app.end_interview().await.unwrap(), "completed");
    app.click("summary-done").await.unwrap();

    // The raw log holds the words, so a scan of an unredacted copy would fail.
    let raw: String = std::fs::read_dir(&log_dir)
        .unwrap()
        .flatten()
        .map(|entry| std::fs::read_to_string(entry.path()).unwrap_or_default())
        .collect();
    assert!(raw.contains(ANSWER), "the debug log should hold the answer");

    // Save diagnostics… (under "This copy of Viva"), saved through the system's dialog.
    let folder = tempfile::tempdir().unwrap();
    let file = folder.path().join("viva-diagnostics.zip");
    app.click("save-diagnostics").await.unwrap();
    harness.save_in_dialog("Save diagnostics", &file).unwrap();
    let state = app
        .wait_for(
            "the diagnostics notice",
            Duration::from_secs(30),
            || async {
                let state = app
                    .attribute("[data-testid=diagnostics-notice]", "data-state")
                    .await?;
                (state != "saving").then_some(state)
            },
        )
        .await
        .unwrap();
    let notice = app
        .text_of("[data-testid=diagnostics-notice]")
        .await
        .unwrap();
    assert_eq!(state, "saved", "{notice}");
    assert!(notice.contains(&file.display().to_string()), "{notice}");

    let parts = viva_diagnostics::read_archive(&file).unwrap();
    let names: Vec<&str> = parts.iter().map(|(name, _)| name.as_str()).collect();
    for expected in [
        "README.txt",
        "about.json",
        "devices.json",
        "last-call.json",
        "removed.json",
    ] {
        assert!(names.contains(&expected), "{names:?}");
    }
    assert!(
        names.iter().any(|n| n.starts_with("logs/viva")),
        "{names:?}"
    );

    // Nothing private, in any part.
    let (local, domain) = EMAIL.split_once('@').unwrap();
    for (name, text) in &parts {
        for (what, planted) in [
            ("the e-mail address", EMAIL),
            ("the e-mail's name", local),
            ("the e-mail's domain", domain),
            ("the password", PASSWORD),
            ("the answer", ANSWER),
            ("the question", question.as_str()),
            ("a signed token", "eyJ"),
            ("a client secret", "ek_"),
        ] {
            assert!(!text.contains(planted), "{name} holds {what} ({planted:?})");
        }
    }

    // What support needs is there.
    let part = |wanted: &str| {
        parts
            .iter()
            .find(|(name, _)| name == wanted)
            .map(|(_, text)| serde_json::from_str::<serde_json::Value>(text).unwrap())
            .unwrap()
    };
    let about = part("about.json");
    assert!(about["app_version"].is_string(), "{about}");
    assert!(
        about["os"].as_str().is_some_and(|os| !os.is_empty()),
        "{about}"
    );
    let devices = part("devices.json").to_string();
    assert!(devices.contains("vmic"), "{devices}");
    let call = part("last-call.json");
    let events = call["events"].to_string();
    assert!(events.contains("\"ended\""), "{call}");
    assert!(
        call["final_lines"].as_u64().unwrap_or(0) >= 2,
        "the question and the answer: {call}"
    );
    let removed = part("removed.json");
    assert!(removed["words"].as_u64().unwrap() >= 1, "{removed}");
    let logs: String = parts
        .iter()
        .filter(|(name, _)| name.starts_with("logs/"))
        .map(|(_, text)| text.as_str())
        .collect();
    // The newest lines (the end of a long debug log is what is kept).
    assert!(logs.contains("session_ended"), "the logs are missing");

    // The menu's Help → Save Diagnostics… asks the same.
    app.click("diagnostics-dismiss").await.unwrap();
    let again = folder.path().join("from-the-menu.zip");
    app.choose_from_help_menu(1).unwrap();
    let saving = app
        .wait_for("the menu's request", Duration::from_secs(10), || async {
            app.attribute("[data-testid=diagnostics-notice]", "data-state")
                .await
        })
        .await
        .unwrap();
    assert_eq!(saving, "saving");
    harness.save_in_dialog("Save diagnostics", &again).unwrap();
    app.wait_for("the second archive", Duration::from_secs(30), || async {
        let state = app
            .attribute("[data-testid=diagnostics-notice]", "data-state")
            .await?;
        (state == "saved").then_some(())
    })
    .await
    .unwrap();
    assert!(again.is_file());

    // Leave the app signed out for whoever launches it next.
    app.click("diagnostics-dismiss").await.unwrap();
    app.click("sign-out").await.unwrap();
    app.quit().await.unwrap();
    stack.shutdown().await;
}

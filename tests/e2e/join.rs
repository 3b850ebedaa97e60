//! Joining a scheduled interview in the real app: an interviewer schedules it on a local stack,
//! the candidate signs in and finds it on the home screen with the organisation and a countdown,
//! joins it, answers in text mode, ends it, and the backend's session is closed with the lines.

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)] // Tests fail loudly by design.

use std::time::Duration;

use viva_backend::{Backend, NewInterview, SessionQuery};
use viva_e2e::Harness;
use viva_localstack::{Config, LocalStack};

const PASSWORD: &str = "a long passphrase 7";
const ANSWER: &str = "I led the migration of our billing service to Rust.";

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_candidate_joins_the_interview_scheduled_for_them_and_it_reaches_the_backend() {
    let harness = Harness::from_env().unwrap();
    let stack = LocalStack::start(Config::default()).await.unwrap();
    let tenant = stack.add_tenant("Acme Robotics").await.unwrap();
    let candidate = "grace@acme.test";
    stack
        .add_user(candidate, PASSWORD, &tenant, "candidate")
        .await
        .unwrap();
    stack
        .add_user("lin@acme.test", PASSWORD, &tenant, "interviewer")
        .await
        .unwrap();
    let backend = Backend::new(&stack.base_url, &stack.anon_key);
    let interviewer = backend.sign_in("lin@acme.test", PASSWORD).await.unwrap();
    let in_ten_minutes = (chrono::Utc::now() + chrono::Duration::minutes(10)).to_rfc3339();
    let scheduled = backend
        .schedule(
            &interviewer.access_token,
            &NewInterview {
                title: "Platform engineer — first round".into(),
                question_set: "software_engineer".into(),
                scheduled_at: in_ten_minutes,
                candidate_email: candidate.into(),
            },
        )
        .await
        .unwrap();

    let app = harness.launch_app().await.unwrap();
    app.open_backend_form().await.unwrap();
    app.fill("backend-url", &stack.base_url).await.unwrap();
    app.fill("backend-anon-key", &stack.anon_key).await.unwrap();
    app.click("backend-save").await.unwrap();
    app.fill("auth-email", candidate).await.unwrap();
    app.fill("auth-password", PASSWORD).await.unwrap();
    app.click("auth-submit").await.unwrap();

    // Home: the interview, its organisation and a countdown.
    let organisation = app
        .text_of("[data-testid=upcoming-organisation]")
        .await
        .unwrap();
    assert!(organisation.contains("Acme Robotics"), "{organisation}");
    let countdown = app
        .text_of("[data-testid=upcoming-countdown]")
        .await
        .unwrap();
    assert!(
        countdown == "(in 9 min)" || countdown == "(in 10 min)",
        "{countdown}"
    );
    let listed = app
        .attribute("[data-testid=upcoming-interview]", "data-id")
        .await
        .unwrap();
    assert_eq!(listed, scheduled.id);
    app.click("join").await.unwrap();

    // Pre-flight, then the room in text mode.
    app.wait_until_backend_ready().await.unwrap();
    app.click("text-mode").await.unwrap();
    let button = app.text_of("[data-testid=start-interview]").await.unwrap();
    assert_eq!(button, "Join interview");
    app.click("start-interview").await.unwrap();
    let question = app.answer_first_question_in_text(ANSWER).await.unwrap();
    assert_eq!(app.end_interview().await.unwrap(), "completed");

    // The backend has the session closed and every line, sent by the app's outbox.
    let deadline = tokio::time::Instant::now() + Duration::from_secs(20);
    loop {
        let page = backend
            .sessions(&interviewer.access_token, &SessionQuery::default())
            .await
            .unwrap();
        let row = page.rows.iter().find(|r| r.id == scheduled.id).unwrap();
        let entries = backend
            .transcript(&interviewer.access_token, &scheduled.id)
            .await
            .unwrap();
        let has = |speaker: &str, text: &str| {
            entries
                .iter()
                .any(|e| e.speaker == speaker && e.text.trim() == text.trim())
        };
        if row.status == "completed" && has("candidate", ANSWER) && has("interviewer", &question) {
            break;
        }
        assert!(
            tokio::time::Instant::now() < deadline,
            "the backend has {row:?} with {entries:?}"
        );
        tokio::time::sleep(Duration::from_millis(250)).await;
    }
    // Leave the app signed out for whoever launches it next.
    app.click("summary-done").await.unwrap();
    app.click("sign-out").await.unwrap();
    app.text_of("[data-testid=auth-form]").await.unwrap();
    app.quit().await.unwrap();
    stack.shutdown().await;
}

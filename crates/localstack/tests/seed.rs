//! `--seed demo` gives working accounts once, and never re-creates them.

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)] // Tests fail loudly by design.

mod common;

use common::Stack;
use viva_localstack::Config;
use viva_localstack::seed::seed_demo;

#[tokio::test]
async fn the_demo_seed_creates_working_accounts_and_a_scheduled_interview_once() {
    let s = Stack::start(Config::default()).await;
    let demo = seed_demo(&s.stack)
        .await
        .unwrap()
        .expect("a fresh stack was not seeded");
    assert_eq!(
        seed_demo(&s.stack).await.unwrap(),
        None,
        "seeding twice created accounts twice"
    );

    let candidate = s.sign_in(&demo.candidate.0, &demo.candidate.1).await;
    let (_, _, rows) = s
        .get(
            "/rest/v1/interview_sessions?select=status,question_set",
            &candidate.access_token,
        )
        .await;
    assert_eq!(
        rows,
        serde_json::json!([{"status": "scheduled", "question_set": "software_engineer"}])
    );
    let interviewer = s.sign_in(&demo.interviewer.0, &demo.interviewer.1).await;
    let (_, headers, _) = s
        .get("/rest/v1/interview_sessions", &interviewer.access_token)
        .await;
    assert_eq!(headers["content-range"], "0-0/1");
    s.stack.shutdown().await;
}

//! The real app at launch: an interview a crash left live in the transcript database is
//! recovered — interrupted, every saved line kept — and the first screen says so.

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)] // Tests fail loudly by design.

use viva_e2e::Harness;
use viva_realtime::{Line, LineStatus, Speaker};
use viva_store::{NewSession, SessionStatus, Store};

fn line(item: &str, seq: u32, text: &str, status: LineStatus) -> Line {
    Line {
        item_id: item.into(),
        seq,
        speaker: Speaker::Candidate,
        text: text.into(),
        started_ms: u64::from(seq) * 1000,
        ended_ms: None,
        status,
        inaudible: None,
        interrupted: false,
    }
}

#[tokio::test(flavor = "current_thread")]
async fn an_interview_a_crash_left_live_is_recovered_at_launch_with_every_line() {
    let harness = Harness::from_env().unwrap();
    // The harness gives every run its own XDG data home; the app keeps its database there.
    let data_home = std::env::var("XDG_DATA_HOME").unwrap();
    let db = std::path::Path::new(&data_home)
        .join("app.viva.desktop")
        .join(viva_store::FILE_NAME);
    let id = format!("crashed-{}", std::process::id());
    {
        // A Viva that died mid-answer: the session is live in the file, and nobody holds it.
        let (store, _) = Store::open(&db).unwrap();
        store
            .begin_session(&NewSession {
                id: id.clone(),
                remote: None,
                user_id: None,
                title: "Practice".into(),
                mode: "practice".into(),
                started_at_ms: 1_000,
                consent: None,
            })
            .unwrap();
        store
            .record(
                &id,
                &line("q1", 1, "Tell me about yourself", LineStatus::Final),
            )
            .unwrap();
        store
            .record(
                &id,
                &line("a1", 2, "I have been building", LineStatus::Partial),
            )
            .unwrap();
    }

    let app = harness.launch_app().await.unwrap();
    let shown = app.text_of("[data-testid=app-transcripts]").await.unwrap();
    assert!(
        shown.contains("1 interview interrupted by a crash recovered with every saved line"),
        "{shown}"
    );
    app.quit().await.unwrap();

    let (store, report) = Store::open(&db).unwrap();
    assert!(
        report.interrupted.is_empty(),
        "the app had recovered it already"
    );
    assert_eq!(
        store.session(&id).unwrap().status,
        SessionStatus::Interrupted
    );
    let lines: Vec<(String, bool)> = store
        .lines(&id, true)
        .unwrap()
        .into_iter()
        .map(|l| (l.text, l.interrupted))
        .collect();
    assert_eq!(
        lines,
        vec![
            ("Tell me about yourself".to_string(), false),
            ("I have been building".to_string(), true)
        ]
    );
}

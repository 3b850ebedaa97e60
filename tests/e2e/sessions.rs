//! Interviewers' review in the real app, against a local stack holding interviews of two
//! organisations: an interviewer lists exactly their organisation's interviews, filters them,
//! opens one, finds words in it and exports it as Markdown, schedules one and cancels it; a
//! candidate sees only their own. An interview once read stays readable and searchable with
//! the backend gone, marked as possibly out of date, until its reader signs out.

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)] // Tests fail loudly by design.

use std::collections::BTreeSet;
use std::time::Duration;

use viva_backend::{Backend, Closing, Entry, NewInterview, StartRequest};
use viva_e2e::{App, Harness};
use viva_localstack::{Config, LocalStack};

const PASSWORD: &str = "a long passphrase 7";

/// Schedules an interview for `candidate`, runs it as them (started, lines uploaded, closed)
/// and returns its id.
async fn held_interview(
    backend: &Backend,
    interviewer: &str,
    (candidate, email): (&str, &str),
    title: &str,
    answer: &str,
) -> String {
    let scheduled = backend
        .schedule(
            interviewer,
            &NewInterview {
                title: title.into(),
                question_set: "software_engineer".into(),
                scheduled_at: chrono::Utc::now().to_rfc3339(),
                candidate_email: email.into(),
            },
        )
        .await
        .unwrap();
    let start = StartRequest::Session {
        session_id: scheduled.id.clone(),
        practice: false,
        consent: Some(viva_contract::consent::NOTICE_VERSION.into()),
    };
    backend
        .interview_start(candidate, &start, "e2e")
        .await
        .unwrap();
    let entries = [
        (
            "interviewer",
            "Tell me about a system you made faster.",
            0,
            3_000,
        ),
        ("candidate", answer, 4_500, 9_000),
    ]
    .iter()
    .enumerate()
    .map(|(i, (speaker, text, start, end))| Entry {
        item_id: format!("item_{i}"),
        seq: i32::try_from(i).unwrap(),
        speaker: (*speaker).into(),
        text: (*text).into(),
        started_ms: *start,
        ended_ms: Some(*end),
    })
    .collect::<Vec<_>>();
    backend
        .upload_transcript(candidate, &scheduled.id, &entries)
        .await
        .unwrap();
    backend
        .close_session(
            candidate,
            &scheduled.id,
            &Closing {
                status: "completed".into(),
                ended_at: chrono::Utc::now().to_rfc3339(),
                duration_ms: 9_000,
                realtime_cost_usd: None,
            },
        )
        .await
        .unwrap();
    scheduled.id
}

async fn sign_in(backend: &Backend, email: &str) -> String {
    backend.sign_in(email, PASSWORD).await.unwrap().access_token
}

/// The rows the list shows: (id, status).
async fn listed(app: &App, expected: usize) -> Vec<(String, String)> {
    app.wait_for("the interviews list", Duration::from_secs(20), || async {
        let script = r#"return [...document.querySelectorAll('[data-testid=session-row]')]
            .filter(r => r.dataset.id)
            .map(r => [r.dataset.id, r.querySelector('[data-testid=session-status]').textContent]);"#;
        let value = app.client.execute(script, vec![]).await.ok()?;
        let rows: Vec<(String, String)> = serde_json::from_value(value).ok()?;
        (rows.len() == expected).then_some(rows)
    })
    .await
    .unwrap()
}

async fn sign_in_app(app: &App, stack: &LocalStack, email: &str) {
    app.sign_in_to(&stack.base_url, &stack.anon_key, email, PASSWORD)
        .await
        .unwrap();
    app.text_of("[data-testid=signed-in-email]").await.unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_interviewer_reviews_exactly_their_organisations_interviews_and_a_candidate_their_own() {
    let harness = Harness::from_env().unwrap();
    let stack = LocalStack::start(Config::default()).await.unwrap();
    let acme = stack.add_tenant("Acme Robotics").await.unwrap();
    let globex = stack.add_tenant("Globex").await.unwrap();
    for (email, tenant, role) in [
        ("lin@acme.test", &acme, "interviewer"),
        ("grace@acme.test", &acme, "candidate"),
        ("alan@acme.test", &acme, "candidate"),
        ("hank@globex.test", &globex, "interviewer"),
        ("marge@globex.test", &globex, "candidate"),
    ] {
        stack.add_user(email, PASSWORD, tenant, role).await.unwrap();
    }
    let backend = Backend::new(&stack.base_url, &stack.anon_key);
    let lin = sign_in(&backend, "lin@acme.test").await;
    let grace = sign_in(&backend, "grace@acme.test").await;
    let alan = sign_in(&backend, "alan@acme.test").await;
    let hank = sign_in(&backend, "hank@globex.test").await;
    let marge = sign_in(&backend, "marge@globex.test").await;
    let graces = held_interview(
        &backend,
        &lin,
        (&grace, "grace@acme.test"),
        "Platform engineer",
        "I cut our build from forty minutes to six with a shared cache.",
    )
    .await;
    let alans = held_interview(
        &backend,
        &lin,
        (&alan, "alan@acme.test"),
        "Data analyst",
        "I moved the nightly report to incremental queries.",
    )
    .await;
    let _globex = held_interview(
        &backend,
        &hank,
        (&marge, "marge@globex.test"),
        "Platform engineer",
        "Globex's answer, which Acme must never see.",
    )
    .await;

    // The interviewer: Acme's two interviews, and not Globex's.
    let app = harness.launch_app().await.unwrap();
    sign_in_app(&app, &stack, "lin@acme.test").await;
    app.click("open-sessions").await.unwrap();
    let rows = listed(&app, 2).await;
    let ids: BTreeSet<_> = rows.iter().map(|(id, _)| id.clone()).collect();
    assert_eq!(ids, BTreeSet::from([graces.clone(), alans.clone()]));
    assert!(
        rows.iter().all(|(_, status)| status == "completed"),
        "{rows:?}"
    );
    let count = app.text_of("[data-testid=sessions-count]").await.unwrap();
    assert_eq!(count, "2 interviews");

    // Filter by role, then by candidate.
    app.fill("filter-title", "platform").await.unwrap();
    let rows = listed(&app, 1).await;
    assert_eq!(rows[0].0, graces);
    app.fill("filter-title", "").await.unwrap();
    listed(&app, 2).await;
    app.fill("filter-candidate", "alan@").await.unwrap();
    let rows = listed(&app, 1).await;
    assert_eq!(rows[0].0, alans);
    app.fill("filter-candidate", "").await.unwrap();
    listed(&app, 2).await;

    // Open Grace's interview (read from the server), find in it, export it.
    app.client
        .find(fantoccini::Locator::Css(&format!(
            "[data-testid=session-row][data-id='{graces}'] button"
        )))
        .await
        .unwrap()
        .click()
        .await
        .unwrap();
    let title = app.text_of("[data-testid=review-title]").await.unwrap();
    assert_eq!(title, "Platform engineer");
    app.fill("review-find", "shared cache").await.unwrap();
    app.wait_for("the match", Duration::from_secs(5), || async {
        let shown = app.text_of("[data-testid=review-matches]").await.ok()?;
        (shown == "1 of 1").then_some(())
    })
    .await
    .unwrap();
    let latency = app.text_of("[data-testid=insight-latency]").await.unwrap();
    assert!(latency.starts_with("1.5 s"), "{latency}");
    let folder = tempfile::tempdir().unwrap();
    let file = folder.path().join("grace.md");
    app.click("export").await.unwrap();
    harness.save_in_dialog("Export transcript", &file).unwrap();
    app.text_of("[data-testid=review-notice]").await.unwrap();
    let markdown = std::fs::read_to_string(&file).unwrap();
    assert!(markdown.starts_with("# Platform engineer"), "{markdown}");
    assert!(
        markdown.contains(
            "**Candidate** (00:04): I cut our build from forty minutes to six with a shared cache."
        ),
        "{markdown}"
    );
    assert!(!markdown.contains("Globex"), "{markdown}");
    app.click("review-back").await.unwrap();

    // Schedule one for Grace: it is listed as scheduled; cancel it and it is cancelled.
    listed(&app, 2).await;
    app.click("schedule-open").await.unwrap();
    app.fill("schedule-email", "grace@acme.test").await.unwrap();
    app.fill("schedule-title", "Second round").await.unwrap();
    app.client
        .execute(
            "const field = document.querySelector('[data-testid=schedule-when]');
             field.value = '2030-01-15T10:00';
             field.dispatchEvent(new Event('input', { bubbles: true }));",
            vec![],
        )
        .await
        .unwrap();
    app.click("schedule-submit").await.unwrap();
    let rows = listed(&app, 3).await;
    let (second, _) = rows
        .iter()
        .find(|(_, status)| status == "scheduled")
        .unwrap_or_else(|| panic!("no scheduled interview in {rows:?}"))
        .clone();
    app.click("session-cancel").await.unwrap();
    app.wait_for("the cancelled status", Duration::from_secs(10), || async {
        let rows = listed(&app, 3).await;
        rows.iter()
            .any(|(id, status)| id == &second && status == "cancelled")
            .then_some(())
    })
    .await
    .unwrap();
    let on_server = backend
        .sessions(
            &lin,
            &viva_backend::SessionQuery {
                id: Some(second.clone()),
                limit: 1,
                ..Default::default()
            },
        )
        .await
        .unwrap();
    assert_eq!(on_server.rows[0].status, "cancelled");
    assert_eq!(
        on_server.rows[0].candidate_email.as_deref(),
        Some("grace@acme.test")
    );
    app.click("sessions-back").await.unwrap();
    app.click("sign-out").await.unwrap();
    app.text_of("[data-testid=auth-form]").await.unwrap();

    // A candidate: their own interview only, and nothing to schedule or cancel.
    sign_in_app(&app, &stack, "alan@acme.test").await;
    app.click("open-sessions").await.unwrap();
    let rows = listed(&app, 1).await;
    assert_eq!(rows[0].0, alans);
    let scheduling = app
        .client
        .execute(
            "return document.querySelector('[data-testid=schedule-open]') !== null;",
            vec![],
        )
        .await
        .unwrap();
    assert_eq!(scheduling, serde_json::json!(false));

    app.click("sessions-back").await.unwrap();
    app.click("sign-out").await.unwrap();
    app.text_of("[data-testid=auth-form]").await.unwrap();
    app.quit().await.unwrap();
    stack.shutdown().await;
}

/// Whether the app's store on disk still holds `session_id` (read after the app has quit).
fn kept_on_disk(session_id: &str) -> bool {
    let data_home = std::env::var("XDG_DATA_HOME").unwrap();
    let db = std::path::Path::new(&data_home)
        .join("app.viva.desktop")
        .join(viva_store::FILE_NAME);
    let (store, _) = viva_store::Store::open(&db).unwrap();
    store.session(session_id).is_ok()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_interview_read_once_stays_readable_and_searchable_offline_until_sign_out() {
    let harness = Harness::from_env().unwrap();
    let stack = LocalStack::start(Config::default()).await.unwrap();
    let acme = stack.add_tenant("Acme Robotics").await.unwrap();
    stack
        .add_user("lin@acme.test", PASSWORD, &acme, "interviewer")
        .await
        .unwrap();
    stack
        .add_user("grace@acme.test", PASSWORD, &acme, "candidate")
        .await
        .unwrap();
    let backend = Backend::new(&stack.base_url, &stack.anon_key);
    let lin = sign_in(&backend, "lin@acme.test").await;
    let grace = sign_in(&backend, "grace@acme.test").await;
    let graces = held_interview(
        &backend,
        &lin,
        (&grace, "grace@acme.test"),
        "Platform engineer",
        "I sharded the queue by tenant so one noisy customer slowed only themselves.",
    )
    .await;

    // Read once from the server: no marker, it is the server's.
    let app = harness.launch_app().await.unwrap();
    sign_in_app(&app, &stack, "lin@acme.test").await;
    app.click("open-sessions").await.unwrap();
    let row = format!("[data-testid=session-row][data-id='{graces}'] button");
    app.wait_for("Grace's interview", Duration::from_secs(20), || async {
        app.attribute(&row, "type").await.map(|_| ())
    })
    .await
    .unwrap();
    app.client
        .find(fantoccini::Locator::Css(&row))
        .await
        .unwrap()
        .click()
        .await
        .unwrap();
    app.text_of("[data-testid=review-line]").await.unwrap();
    let marked = app
        .client
        .execute(
            "return document.querySelector('[data-testid=review-stale]') !== null;",
            vec![],
        )
        .await
        .unwrap();
    assert_eq!(marked, serde_json::json!(false));
    app.click("review-back").await.unwrap();
    app.click("sessions-back").await.unwrap();

    // The backend goes away. The list is this computer's, and holds the copy; the copy opens
    // with every line, marked as read from the server and possibly out of date.
    stack.shutdown().await;
    app.click("open-sessions").await.unwrap();
    app.text_of("[data-testid=sessions-stale]").await.unwrap();
    app.wait_for(
        "the kept copy in the list",
        Duration::from_secs(20),
        || async { app.attribute(&row, "type").await.map(|_| ()) },
    )
    .await
    .unwrap();
    app.client
        .find(fantoccini::Locator::Css(&row))
        .await
        .unwrap()
        .click()
        .await
        .unwrap();
    let stale = app.text_of("[data-testid=review-stale]").await.unwrap();
    assert!(stale.contains("may be out of date"), "{stale}");
    let title = app.text_of("[data-testid=review-title]").await.unwrap();
    assert_eq!(title, "Platform engineer");
    let lines = app
        .client
        .execute(
            "return [...document.querySelectorAll('[data-testid=review-line] .words')].map(l => l.textContent);",
            vec![],
        )
        .await
        .unwrap();
    assert_eq!(
        lines,
        serde_json::json!([
            "Tell me about a system you made faster.",
            "I sharded the queue by tenant so one noisy customer slowed only themselves."
        ])
    );
    app.click("review-back").await.unwrap();

    // Searching this computer's transcripts finds the copy's words.
    app.fill("search-text", "noisy customer").await.unwrap();
    app.click("search-submit").await.unwrap();
    let hit = app
        .wait_for("the search hit", Duration::from_secs(20), || async {
            app.attribute("[data-testid=search-hit]", "data-session")
                .await
        })
        .await
        .unwrap();
    assert_eq!(hit, graces);
    app.click("sessions-back").await.unwrap();

    // Signing out removes the copy from this computer.
    app.click("sign-out").await.unwrap();
    app.text_of("[data-testid=auth-form]").await.unwrap();
    app.quit().await.unwrap();
    assert!(!kept_on_disk(&graces), "the copy outlived the sign-out");
}

//! Joining a scheduled interview in the real app: an interviewer schedules it on a local stack,
//! the candidate signs in and finds it on the home screen with the organisation and a countdown,
//! joins it, answers in text mode, ends it, and the backend's session is closed with the lines.
//! And when the organisation's backend has spoken answers off (its grant says `mode: "text"`),
//! the candidate who asked for nothing gets typed answers and the microphone is never opened.

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)] // Tests fail loudly by design.

use std::process::Command;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;

use fantoccini::Locator;
use viva_backend::{Backend, NewInterview, SessionQuery};
use viva_e2e::{App, Harness};
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
    app.sign_in_to(&stack.base_url, &stack.anon_key, candidate, PASSWORD)
        .await
        .unwrap();

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

    // Pre-flight: what is recorded, who reads it and where it is kept, and no start until the
    // candidate agrees.
    app.wait_until_backend_ready().await.unwrap();
    app.click("text-mode").await.unwrap();
    let button = app.text_of("[data-testid=start-interview]").await.unwrap();
    assert_eq!(button, "Join interview");
    let recorded = app.text_of("[data-testid=consent-recorded]").await.unwrap();
    assert!(recorded.contains("No audio is recorded"), "{recorded}");
    let readers = app.text_of("[data-testid=consent-readers]").await.unwrap();
    assert!(readers.contains("Acme Robotics"), "{readers}");
    let kept = app.text_of("[data-testid=consent-kept]").await.unwrap();
    assert!(kept.contains("127.0.0.1"), "{kept}");
    assert_eq!(
        app.attribute("[data-testid=start-interview]", "disabled")
            .await
            .as_deref(),
        Some("true"),
        "Join is enabled before the candidate agreed"
    );
    app.click("consent-agree").await.unwrap();
    assert_eq!(
        app.attribute("[data-testid=start-interview]", "disabled")
            .await,
        None
    );
    let agreed_from = chrono::Utc::now().timestamp_millis();
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
    // The agreement is on record on both sides: in the backend's session (the server's
    // clock) and in this computer's store.
    let id = scheduled.id.clone();
    let (notice, at): (Option<String>, Option<String>) = stack
        .state
        .db
        .call(move |conn| {
            conn.query_row(
                "SELECT consent_notice, consent_at FROM interview_sessions WHERE id = ?1",
                [&id],
                |r| Ok((r.get(0)?, r.get(1)?)),
            )
            .map_err(viva_localstack::db::DbError::from)
        })
        .await
        .unwrap();
    assert_eq!(
        notice.as_deref(),
        Some(viva_contract::consent::NOTICE_VERSION)
    );
    assert!(at.is_some());
    let data_home = std::env::var("XDG_DATA_HOME").unwrap();
    let db = std::path::Path::new(&data_home)
        .join("app.viva.desktop")
        .join(viva_store::FILE_NAME);
    let (store, _) = viva_store::Store::open(&db).unwrap();
    let kept = store.session(&scheduled.id).unwrap();
    let consent = kept.consent.expect("the store keeps the agreement");
    assert_eq!(consent.notice, viva_contract::consent::NOTICE_VERSION);
    assert!(consent.agreed_at_ms >= agreed_from, "{consent:?}");
    // Leave the app signed out for whoever launches it next.
    app.click("summary-done").await.unwrap();
    app.click("sign-out").await.unwrap();
    app.text_of("[data-testid=auth-form]").await.unwrap();
    app.quit().await.unwrap();
    stack.shutdown().await;
}

/// The recording streams the app has open on the harness's PulseAudio, by index: what a
/// desktop's "microphone in use" indicator shows. (PulseAudio numbers streams in order and
/// never reuses a number while it runs.)
fn app_recording_streams(harness: &Harness) -> Vec<u32> {
    let pids: Vec<String> = viva_e2e::app_processes(&harness.app_binary)
        .iter()
        .map(u32::to_string)
        .collect();
    let listed = Command::new("pactl")
        .args(["list", "source-outputs"])
        .env("LC_ALL", "C")
        .output()
        .expect("pactl runs");
    assert!(listed.status.success(), "pactl: {listed:?}");
    String::from_utf8_lossy(&listed.stdout)
        .split("Source Output #")
        .skip(1)
        .filter_map(|stream| {
            let index = stream.lines().next()?.trim().parse().ok()?;
            let pid = stream.lines().find_map(|line| {
                let value = line.trim().strip_prefix("application.process.id = ")?;
                Some(value.trim_matches('"').to_owned())
            })?;
            pids.contains(&pid).then_some(index)
        })
        .collect()
}

/// Watches, every 50 ms until stopped, for a recording stream of the app numbered above
/// `after`; returns every one it saw.
fn watch_for_new_recordings(
    harness: &Harness,
    after: u32,
) -> (Arc<AtomicBool>, std::thread::JoinHandle<Vec<u32>>) {
    let stop = Arc::new(AtomicBool::new(false));
    let (harness, stopped) = (harness.clone(), stop.clone());
    let watcher = std::thread::spawn(move || {
        let mut seen = Vec::new();
        while !stopped.load(Ordering::Relaxed) {
            for index in app_recording_streams(&harness) {
                if index > after && !seen.contains(&index) {
                    seen.push(index);
                }
            }
            std::thread::sleep(Duration::from_millis(50));
        }
        seen
    });
    (stop, watcher)
}

/// Whether an element matching `css` is on the page now.
async fn present(app: &App, css: &str) -> bool {
    app.client.find(Locator::Css(css)).await.is_ok()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn when_the_organisation_has_voice_off_the_candidate_types_and_the_microphone_stays_closed() {
    let harness = Harness::from_env().unwrap();
    // Voice rolled out to nobody: every grant says `mode: "text"`.
    let stack = LocalStack::start(Config {
        voice_rollout_percent: 0,
        ..Config::default()
    })
    .await
    .unwrap();
    let tenant = stack.add_tenant("Quiet Labs").await.unwrap();
    let candidate = "ada@quiet.test";
    stack
        .add_user(candidate, PASSWORD, &tenant, "candidate")
        .await
        .unwrap();
    stack
        .add_user("lin@quiet.test", PASSWORD, &tenant, "interviewer")
        .await
        .unwrap();
    let backend = Backend::new(&stack.base_url, &stack.anon_key);
    let interviewer = backend.sign_in("lin@quiet.test", PASSWORD).await.unwrap();
    let in_five_minutes = (chrono::Utc::now() + chrono::Duration::minutes(5)).to_rfc3339();
    backend
        .schedule(
            &interviewer.access_token,
            &NewInterview {
                title: "Support engineer".into(),
                question_set: "software_engineer".into(),
                scheduled_at: in_five_minutes,
                candidate_email: candidate.into(),
            },
        )
        .await
        .unwrap();

    let app = harness.launch_app().await.unwrap();
    app.sign_in_to(&stack.base_url, &stack.anon_key, candidate, PASSWORD)
        .await
        .unwrap();
    app.click("join").await.unwrap();

    // Pre-flight cannot know the grant yet: its microphone test runs, and this test sees its
    // stream (so the watch below would see the interview's). The candidate asks for voice.
    app.wait_until_backend_ready().await.unwrap();
    let tested = app
        .wait_for(
            "the pre-flight's microphone test",
            Duration::from_secs(10),
            || async { app_recording_streams(&harness).into_iter().max() },
        )
        .await
        .unwrap();
    assert!(!app.is_checked("text-mode").await.unwrap());
    app.click("consent-agree").await.unwrap();
    let (stop, watcher) = watch_for_new_recordings(&harness, tested);
    app.click("start-interview").await.unwrap();

    // The interviewer's voice plays and the first question arrives, with no microphone open.
    app.wait_for(
        "the interviewer's voice",
        Duration::from_secs(30),
        || async { (app.level("speaker-level").await > 10).then_some(()) },
    )
    .await
    .unwrap();
    let recording: Vec<u32> = app_recording_streams(&harness)
        .into_iter()
        .filter(|&stream| stream > tested)
        .collect();
    assert!(
        recording.is_empty(),
        "the app has the microphone open in the room: PulseAudio recording streams {recording:?} (pre-flight's test was #{tested})"
    );

    // The room says plainly that answers are typed, and why; no microphone meter or mute; the
    // answer box has the keyboard.
    let notice = app.text_of("[data-testid=typed-answers]").await.unwrap();
    assert!(
        notice.contains("This interview takes typed answers.")
            && notice.contains("Your organisation has turned spoken answers off for now"),
        "{notice}"
    );
    let because = app
        .attribute("[data-testid=typed-answers]", "data-because")
        .await;
    assert_eq!(because.as_deref(), Some("organisation"));
    assert!(!present(&app, "[data-testid=mic-level]").await);
    assert!(!present(&app, "[data-testid=mute]").await);
    let focused = app
        .client
        .execute(
            "return document.activeElement?.dataset?.testid ?? null;",
            vec![],
        )
        .await
        .unwrap();
    assert_eq!(focused, serde_json::json!("answer-input"));

    // The connection details show the mode.
    app.click("health-badge").await.unwrap();
    let answers = app.text_of("[data-testid=health-answers]").await.unwrap();
    assert!(
        answers.contains("spoken answers are off for your organisation"),
        "{answers}"
    );
    // A scheduled interview speaks its organisation's voice API: GPT-Live unless it chose
    // otherwise, so this call went through the SDP proxy.
    let voice_ai = app.text_of("[data-testid=health-voice-ai]").await.unwrap();
    assert!(voice_ai.starts_with("GPT-Live · "), "{voice_ai}");

    // A typed answer lands in the transcript, and the interviewer answers it.
    app.answer_first_question_in_text(ANSWER).await.unwrap();
    assert!(!present(&app, "[data-testid=mic-level]").await);
    assert_eq!(app.end_interview().await.unwrap(), "completed");

    stop.store(true, Ordering::Relaxed);
    let opened = watcher.join().unwrap();
    assert!(
        opened.is_empty(),
        "the app opened the microphone during the interview: PulseAudio recording streams {opened:?} (pre-flight's test was #{tested})"
    );
    app.click("summary-done").await.unwrap();
    app.click("sign-out").await.unwrap();
    app.text_of("[data-testid=auth-form]").await.unwrap();
    app.quit().await.unwrap();
    stack.shutdown().await;
}

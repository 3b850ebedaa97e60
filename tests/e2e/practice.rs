//! A practice interview in the real app, offline, on the embedded local stack: the pre-flight
//! meter moves when the candidate speaks and their words are written out, the test tone plays, the first question appears and
//! its audio plays, an answer said into the virtual microphone becomes the candidate's line
//! (word error rate at most 20 %), the health badge shows
//! a live connection with a round-trip time, mute silences the meter, and after ending, the
//! summary shows and the lines are in the local store.

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)] // Tests fail loudly by design.

use std::time::Duration;

use viva_e2e::{Harness, word_error_rate};
use viva_realtime::Speaker;
use viva_store::Store;

const ANSWER: &str = "I led the migration of our billing system to a new database.";
const SOUND_CHECK: &str = "Good morning, thank you for having me today.";

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_spoken_practice_answer_becomes_a_saved_line_with_health_mute_and_a_summary() {
    let harness = Harness::from_env().unwrap();
    let app = harness.launch_app().await.unwrap();

    // No organisation needed: practise offline. Pre-flight: the backend (the embedded one) is
    // ready, the meter follows the voice and the words said appear.
    app.open_offline_preflight().await.unwrap();
    let model = app.text_of("[data-testid=check-model]").await.unwrap();
    assert_eq!(model, "Ready", "the offline model should be set up");
    let speaking = {
        let mic = harness.clone();
        std::thread::spawn(move || mic.say(SOUND_CHECK))
    };
    let heard = app
        .wait_for("the pre-flight meter", Duration::from_secs(10), || async {
            let l = app.level("preflight-level").await;
            (l > 20).then_some(l)
        })
        .await
        .unwrap();
    assert!(heard > 20);
    speaking.join().unwrap().unwrap();
    let words = app
        .wait_for("the words heard", Duration::from_secs(20), || async {
            let state = app.attribute("[data-testid=heard]", "data-state").await?;
            (state == "words").then_some(())?;
            app.text_of("[data-testid=heard]").await.ok()
        })
        .await
        .unwrap();
    let (errors, said) = word_error_rate(SOUND_CHECK, &words);
    assert!(
        errors * 5 <= said,
        "pre-flight heard {words:?} for {SOUND_CHECK:?}"
    );

    // The speaker test plays a tone through the real output.
    app.click("tone-play").await.unwrap();
    let tone = app.text_of("[data-testid=tone-result]").await.unwrap();
    assert!(tone.contains("hear a short tone"), "{tone}");

    app.click("start-interview").await.unwrap();

    // The first question appears, its voice plays, and it is final before the answer.
    app.wait_for(
        "the interviewer's voice",
        Duration::from_secs(30),
        || async { (app.level("speaker-level").await > 10).then_some(()) },
    )
    .await
    .unwrap();
    let question = app
        .wait_for("the first question", Duration::from_secs(40), || async {
            let lines = app.final_lines().await.ok()?;
            lines
                .into_iter()
                .find(|(speaker, text)| speaker == "interviewer" && !text.trim().is_empty())
                .map(|(_, text)| text)
        })
        .await
        .unwrap();
    let shown = app.text_of("[data-testid=room-question]").await.unwrap();
    assert_eq!(shown.trim(), question.trim());
    // Let the question's audio finish before answering.
    app.wait_for("the question to end", Duration::from_secs(30), || async {
        (app.level("speaker-level").await == 0).then_some(())
    })
    .await
    .unwrap();

    // The answer, said into the virtual microphone, becomes the candidate's line.
    harness.say(ANSWER).unwrap();
    let answer = app
        .wait_for("the answer's line", Duration::from_secs(40), || async {
            app.final_lines()
                .await
                .ok()?
                .into_iter()
                .find(|(speaker, _)| speaker == "candidate")
                .map(|(_, text)| text)
        })
        .await
        .unwrap();
    let (errors, words) = word_error_rate(ANSWER, &answer);
    assert!(
        errors * 5 <= words,
        "word error rate {errors}/{words}: heard {answer:?}"
    );

    // Health: connected, with a round-trip time.
    app.click("health-badge").await.unwrap();
    let rtt = app
        .wait_for("a round-trip time", Duration::from_secs(10), || async {
            let text = app.text_of("[data-testid=health-rtt]").await.ok()?;
            text.ends_with(" ms").then_some(text)
        })
        .await
        .unwrap();
    assert!(rtt.trim_end_matches(" ms").parse::<u32>().is_ok(), "{rtt}");
    let quality = app
        .attribute("[data-testid=health-badge]", "data-quality")
        .await
        .unwrap();
    assert!(["good", "fair"].contains(&quality.as_str()), "{quality}");

    // Mute: speaking moves the meter no more.
    app.click("mute").await.unwrap();
    let mic = harness.clone();
    let speaking = std::thread::spawn(move || mic.say("This should not be heard at all."));
    let mut loudest = 0;
    while !speaking.is_finished() {
        loudest = loudest.max(app.level("mic-level").await);
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    speaking.join().unwrap().unwrap();
    assert_eq!(loudest, 0, "the meter moved while muted");

    // End, with confirmation, and the summary.
    app.end_interview().await.unwrap();
    let lines = app.text_of("[data-testid=summary-lines]").await.unwrap();
    assert!(lines.contains("yours"), "{lines}");
    let sync = app.text_of("[data-testid=summary-sync]").await.unwrap();
    assert!(sync.contains("this computer only"), "{sync}");
    app.screenshot("practice-summary").await.unwrap();
    app.quit().await.unwrap();

    // The lines the user saw are in the local store.
    let data_home = std::env::var("XDG_DATA_HOME").unwrap();
    let db = std::path::Path::new(&data_home)
        .join("app.viva.desktop")
        .join(viva_store::FILE_NAME);
    let (store, _) = Store::open(&db).unwrap();
    let session = store
        .sessions(10, 0)
        .unwrap()
        .into_iter()
        .find(|s| s.mode == "practice")
        .expect("the practice session is stored");
    assert_eq!(session.status, viva_store::SessionStatus::Completed);
    let stored = store.lines(&session.id, true).unwrap();
    assert!(
        stored
            .iter()
            .any(|l| l.speaker == Speaker::Interviewer && l.text.trim() == question.trim()),
        "{stored:?}"
    );
    assert!(
        stored
            .iter()
            .any(|l| l.speaker == Speaker::Candidate && l.text == answer),
        "{stored:?}"
    );
}

//! Pre-flight when something is missing, in the real app: no sound server (so no microphone),
//! a backend that stops answering, and no offline model — each explained, each with a way on:
//! typed answers, Try again, and setting the model up from pre-flight with a progress bar.

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)] // Tests fail loudly by design.

use std::path::Path;
use std::time::Duration;

use viva_e2e::{Harness, word_error_rate};
use viva_localstack::{Config, LocalStack};

const PASSWORD: &str = "a long passphrase 7";

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn without_a_microphone_preflight_explains_and_practice_goes_on_in_text() {
    let harness = Harness::from_env().unwrap();
    // No sound server: no microphone and no speakers on this "computer".
    let app = harness
        .launch_app_with(&[("PULSE_SERVER", "unix:/nonexistent/viva-no-sound")])
        .await
        .unwrap();
    app.open_offline_preflight().await.unwrap();
    let problem = app.text_of("[data-testid=mic-problem]").await.unwrap();
    assert!(problem.contains("No microphone"), "{problem}");
    assert!(problem.contains("answer in text"), "{problem}");
    let text_mode = app
        .attribute("[data-testid=text-mode]", "checked")
        .await
        .unwrap_or_default();
    assert_eq!(text_mode, "true", "text mode should be chosen for the user");

    app.click("start-interview").await.unwrap();
    let answer = "I would start by measuring where the time goes.";
    app.answer_first_question_in_text(answer).await.unwrap();
    assert_eq!(app.end_interview().await.unwrap(), "completed");
    app.quit().await.unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_unreachable_backend_gets_a_clear_message_and_try_again_recovers() {
    let harness = Harness::from_env().unwrap();
    // A stack that can be stopped and started again at the same address with the same data, as
    // a server that goes away and comes back.
    let data = tempfile::tempdir().unwrap();
    let address = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap();
    let config = || Config {
        listen: address,
        data_dir: Some(data.path().to_owned()),
        ..Config::default()
    };
    let stack = LocalStack::start(config()).await.unwrap();
    let tenant = stack.add_tenant("Acme Robotics").await.unwrap();
    let candidate = "ada@acme.test";
    stack
        .add_user(candidate, PASSWORD, &tenant, "candidate")
        .await
        .unwrap();
    let (base_url, anon_key) = (stack.base_url.clone(), stack.anon_key.clone());

    let app = harness.launch_app().await.unwrap();
    app.sign_in_to(&base_url, &anon_key, candidate, PASSWORD)
        .await
        .unwrap();
    app.text_of("[data-testid=signed-in-email]").await.unwrap();

    // The server goes away while the candidate is signed in.
    stack.shutdown().await;
    app.click("practice-start").await.unwrap();
    let check = app
        .wait_for(
            "the unreachable message",
            Duration::from_secs(20),
            || async {
                let state = app
                    .attribute("[data-testid=check-backend]", "data-state")
                    .await?;
                (state == "unreachable").then_some(())?;
                app.text_of("[data-testid=check-backend]").await.ok()
            },
        )
        .await
        .unwrap();
    assert!(check.contains("Cannot reach the server"), "{check}");
    assert!(check.contains("try again"), "{check}");
    let start_disabled = app
        .attribute("[data-testid=start-interview]", "disabled")
        .await;
    assert!(start_disabled.is_some(), "start must wait for the server");

    // Trying again while it is still down says so again.
    app.click("backend-retry").await.unwrap();
    app.wait_for("the second check", Duration::from_secs(20), || async {
        let state = app
            .attribute("[data-testid=check-backend]", "data-state")
            .await?;
        let button = app
            .attribute("[data-testid=backend-retry]", "disabled")
            .await;
        (state == "unreachable" && button.is_none()).then_some(())
    })
    .await
    .unwrap();

    // The server is back: Try again, and once the candidate agrees to the recording notice
    // the interview can start.
    let stack = LocalStack::start(config()).await.unwrap();
    app.click("backend-retry").await.unwrap();
    app.wait_until_backend_ready().await.unwrap();
    app.click("consent-agree").await.unwrap();
    assert!(
        app.attribute("[data-testid=start-interview]", "disabled")
            .await
            .is_none(),
        "start should be possible once the server answers"
    );

    // Leave the app signed out for whoever launches it next.
    app.click("preflight-back").await.unwrap();
    app.click("sign-out").await.unwrap();
    app.text_of("[data-testid=auth-form]").await.unwrap();
    app.quit().await.unwrap();
    stack.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn without_the_offline_model_practice_runs_in_text_and_the_model_is_set_up_from_preflight() {
    let harness = Harness::from_env().unwrap();
    // A model directory holding only the verified download: set-up then converts it without the
    // network (tests never leave loopback), as after a download.
    let models = tempfile::tempdir().unwrap();
    let wheel = viva_speech::model::model_dir().join(viva_speech::model::WHEEL_FILE);
    link_or_copy(&wheel, &models.path().join(viva_speech::model::WHEEL_FILE));
    let model_dir = models.path().to_string_lossy().into_owned();
    let app = harness
        .launch_app_with(&[("VIVA_MODEL_DIR", &model_dir)])
        .await
        .unwrap();

    // Without the model: a banner, text mode locked on, and the practice still runs.
    app.open_offline_preflight().await.unwrap();
    let banner = app.text_of("[data-testid=model-missing]").await.unwrap();
    assert!(banner.contains("runs in text"), "{banner}");
    assert_eq!(
        app.attribute("[data-testid=text-mode]", "disabled").await,
        Some("true".into())
    );
    let heard = app
        .wait_for("the words panel", Duration::from_secs(10), || async {
            app.attribute("[data-testid=heard]", "data-state")
                .await
                .filter(|s| !s.is_empty())
        })
        .await
        .unwrap();
    assert_eq!(heard, "model_missing");
    app.click("start-interview").await.unwrap();
    app.answer_first_question_in_text("I enjoy making slow systems fast.")
        .await
        .unwrap();
    assert_eq!(app.end_interview().await.unwrap(), "completed");

    // Back in pre-flight: set the model up, watching its progress.
    app.click("summary-done").await.unwrap();
    app.click("practice-start").await.unwrap();
    app.wait_until_backend_ready().await.unwrap();
    // The page records every step it shows: converting a small model can take less time than
    // one WebDriver round trip, so sampling the text from here could miss a step the user saw.
    app.client
        .execute(
            r#"window.__vivaSetupSteps = [];
            new MutationObserver(() => {
              const shown = document.querySelector('[data-testid=model-progress-text]');
              const steps = window.__vivaSetupSteps;
              if (shown && steps[steps.length - 1] !== shown.textContent) {
                steps.push(shown.textContent);
              }
            }).observe(document.body, { subtree: true, childList: true, characterData: true });"#,
            vec![],
        )
        .await
        .unwrap();
    app.click("model-setup").await.unwrap();
    app.wait_for("the model set-up", Duration::from_secs(60), || async {
        let ready = app
            .attribute("[data-testid=check-model]", "data-ready")
            .await?;
        (ready == "true").then_some(())
    })
    .await
    .unwrap();
    let steps: Vec<String> = serde_json::from_value(
        app.client
            .execute("return window.__vivaSetupSteps;", vec![])
            .await
            .unwrap(),
    )
    .unwrap();
    assert!(
        steps.iter().any(|s| s.starts_with("Preparing the model…")),
        "set-up showed {steps:?}"
    );
    assert!(models.path().join(viva_speech::model::MODEL_FILE).is_file());
    assert!(
        app.attribute("[data-testid=model-missing]", "role")
            .await
            .is_none(),
        "the banner should go once the model is ready"
    );
    assert_eq!(
        app.attribute("[data-testid=text-mode]", "disabled").await,
        None,
        "voice answers should be possible again"
    );

    // The microphone test now writes out what it hears.
    let said = "My name is Ada and I write software.";
    harness.say(said).unwrap();
    let words = app
        .wait_for("the words heard", Duration::from_secs(30), || async {
            let state = app.attribute("[data-testid=heard]", "data-state").await?;
            (state == "words").then_some(())?;
            app.text_of("[data-testid=heard]").await.ok()
        })
        .await
        .unwrap();
    let (errors, count) = word_error_rate(said, &words);
    assert!(errors * 5 <= count, "heard {words:?} for {said:?}");
    app.quit().await.unwrap();
}

fn link_or_copy(from: &Path, to: &Path) {
    assert!(
        from.is_file(),
        "{} is missing: `cargo xtask test` sets the model up first",
        from.display()
    );
    if std::fs::hard_link(from, to).is_err() {
        std::fs::copy(from, to).unwrap();
    }
}

/// A PulseAudio loopback from the speakers' sink into the microphone's (a laptop's speakers
/// heard by its microphone), unloaded when dropped.
struct SpeakersIntoMicrophone(String);

impl SpeakersIntoMicrophone {
    fn load() -> Self {
        let speakers =
            std::env::var("VIVA_E2E_SPEAKER_SINK").unwrap_or_else(|_| "vspeakers".into());
        let microphone = std::env::var("VIVA_E2E_MIC_SINK").unwrap_or_else(|_| "vmic".into());
        let out = std::process::Command::new("pactl")
            .args(["load-module", "module-loopback"])
            .arg(format!("source={speakers}.monitor"))
            .arg(format!("sink={microphone}"))
            .arg("latency_msec=60")
            .output()
            .expect("pactl runs");
        assert!(
            out.status.success(),
            "pactl load-module: {}",
            String::from_utf8_lossy(&out.stderr)
        );
        Self(String::from_utf8_lossy(&out.stdout).trim().to_owned())
    }
}

impl Drop for SpeakersIntoMicrophone {
    fn drop(&mut self) {
        let _ = std::process::Command::new("pactl")
            .args(["unload-module", &self.0])
            .status();
    }
}

/// Plays the speaker test and waits for what the microphone made of it (`data-heard`).
async fn speaker_test_heard(app: &viva_e2e::App) -> String {
    app.click("tone-play").await.unwrap();
    app.wait_for(
        "the speaker test's verdict",
        Duration::from_secs(20),
        || async {
            app.attribute("[data-testid=tone-heard]", "data-heard")
                .await
        },
    )
    .await
    .unwrap()
}

/// The speaker test plays its tone the way the interviewer's voice is played, into the echo
/// canceller, and says whether the microphone heard it: not on a computer whose microphone does
/// not hear its speakers, yes once the speakers are looped back into the microphone — with
/// echo cancellation on, and a warning if the candidate says they use headphones.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_speaker_test_says_whether_the_microphone_hears_the_speakers() {
    let harness = Harness::from_env().unwrap();
    let launched = chrono::Utc::now();
    let app = harness.launch_app().await.unwrap();
    app.open_offline_preflight().await.unwrap();
    let help = app.text_of("[data-testid=echo-help]").await.unwrap();
    assert!(help.contains("Echo cancellation is on"), "{help}");

    assert_eq!(speaker_test_heard(&app).await, "false");
    let line = app.text_of("[data-testid=tone-heard]").await.unwrap();
    assert_eq!(line, "Your microphone does not pick up your speakers.");

    let _looped = SpeakersIntoMicrophone::load();
    // The result of the first run stays until the next one decides.
    app.click("tone-play").await.unwrap();
    app.wait_for("the second verdict", Duration::from_secs(20), || async {
        let heard = app
            .attribute("[data-testid=tone-heard]", "data-heard")
            .await?;
        (heard == "true").then_some(())
    })
    .await
    .unwrap();
    let line = app.text_of("[data-testid=tone-heard]").await.unwrap();
    assert_eq!(
        line,
        "Your microphone picks up your speakers — echo cancellation is on."
    );
    app.click("headphones").await.unwrap();
    assert_eq!(
        app.attribute("[data-testid=tone-heard]", "class")
            .await
            .as_deref(),
        Some("warning")
    );
    // Back as it was: the switch is a saved setting, and the next test starts from it.
    app.click("headphones").await.unwrap();
    app.wait_for(
        "echo cancellation back on",
        Duration::from_secs(5),
        || async {
            let help = app.text_of("[data-testid=echo-help]").await.ok()?;
            help.contains("Echo cancellation is on").then_some(())
        },
    )
    .await
    .unwrap();
    app.quit().await.unwrap();
    // Where the app logs under the harness's data home (the About panel shows the same path).
    let data_home = std::env::var("XDG_DATA_HOME").unwrap();
    let log_dir = format!("{data_home}/app.viva.desktop/logs");
    // Two tones played: two output streams opened and closed normally, which is nothing for
    // the user's log to call an error (the sound server client used to log each close so).
    let errors = sound_server_errors(&log_dir, launched);
    assert!(errors.is_empty(), "{errors:#?}");
}

/// The sound server client's ERROR lines in the app's JSON log since `since`.
fn sound_server_errors(log_dir: &str, since: chrono::DateTime<chrono::Utc>) -> Vec<String> {
    viva_e2e::app_log_since(log_dir, since)
        .into_iter()
        .filter(|logged| {
            logged["level"] == "ERROR"
                && logged["target"]
                    .as_str()
                    .is_some_and(|t| t.starts_with("pulseaudio"))
        })
        .map(|logged| logged.to_string())
        .collect()
}

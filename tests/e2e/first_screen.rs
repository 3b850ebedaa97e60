//! The real app, launched under Xvfb: the first screen shows what `app_info` reports, and a
//! second launch hands over to the running window instead of opening another.

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)] // Tests fail loudly by design.

use std::time::Duration;

use viva_e2e::Harness;

#[tokio::test(flavor = "current_thread")]
async fn first_screen_shows_the_version_build_and_private_data_dir() {
    let harness = Harness::from_env().unwrap();
    // Earlier launches in this run log into the same folder: only this launch's lines count.
    let launched = chrono::Utc::now();
    let app = harness.launch_app().await.unwrap();

    let version = app.text_of("[data-testid=app-version]").await.unwrap();
    assert_eq!(
        version,
        env!("CARGO_PKG_VERSION"),
        "the window shows another version"
    );

    let build = app.text_of("[data-testid=app-build]").await.unwrap();
    assert!(
        !build.starts_with("unknown"),
        "the build id is missing: {build}"
    );

    // The harness gives every run its own XDG data home: the app must use it, not the user's.
    let data_dir = app.text_of("[data-testid=app-data-dir]").await.unwrap();
    let data_home = std::env::var("XDG_DATA_HOME").unwrap();
    assert!(
        data_dir.starts_with(&data_home),
        "{data_dir} is outside {data_home}"
    );
    assert!(
        data_dir.ends_with("app.viva.desktop"),
        "unexpected data dir {data_dir}"
    );

    // The app writes structured JSON logs into the log dir it shows (through a background
    // writer, so the line may take a moment to reach the file).
    let log_dir = app.text_of("[data-testid=app-log-dir]").await.unwrap();
    let started = logged_event(&log_dir, "app_started", launched)
        .await
        .expect("no app_started event in the JSON log");
    assert_eq!(started["fields"]["version"], env!("CARGO_PKG_VERSION"));
    // Once the first screen is drawn the window reports it, and the log says how long start-up
    // took (support reads it; the start-up benchmark times it).
    let ready = logged_event(&log_dir, "startup_finished", launched)
        .await
        .expect("no startup_finished event in the JSON log");
    let millis = ready["fields"]["millis"].as_u64().unwrap();
    assert!((1..60_000).contains(&millis), "start-up took {millis} ms?");

    let title = app.client.title().await.unwrap();
    assert_eq!(title, "Viva");
    app.screenshot("first-screen").await.unwrap();
    app.quit().await.unwrap();
}

/// The first JSON log line in `log_dir` logged at `since` or later whose `event` field is
/// `event`, waiting up to 5 s for the background writer to put it there.
async fn logged_event(
    log_dir: &str,
    event: &str,
    since: chrono::DateTime<chrono::Utc>,
) -> Option<serde_json::Value> {
    for _ in 0..50 {
        let found = viva_e2e::app_log_since(log_dir, since)
            .into_iter()
            .find(|logged| logged["fields"]["event"] == event);
        if found.is_some() {
            return found;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    None
}

#[tokio::test(flavor = "current_thread")]
async fn a_second_launch_hands_over_to_the_running_window() {
    let harness = Harness::from_env().unwrap();
    let app = harness.launch_app().await.unwrap();
    app.text_of("[data-testid=app-version]").await.unwrap();

    let mut second = tokio::process::Command::new(&harness.app_binary)
        .kill_on_drop(true)
        .spawn()
        .unwrap();
    let status = tokio::time::timeout(Duration::from_secs(15), second.wait())
        .await
        .expect("a second instance kept running next to the first")
        .unwrap();
    assert!(status.success(), "the second launch failed: {status}");

    // The first window is still alive and answering.
    let version = app.text_of("[data-testid=app-version]").await.unwrap();
    assert_eq!(version, env!("CARGO_PKG_VERSION"));
    app.quit().await.unwrap();
}

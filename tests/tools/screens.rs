//! Refreshes the README's screenshots: every screen of the real app under Xvfb (first screen,
//! pre-flight, interview, end, summary, review, sessions list, and the interview in the dark
//! theme), written to
//! `VIVA_SCREENSHOT_DIR` (`cargo xtask screenshot` runs it inside the harness and sets it to
//! `docs/img`).

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)] // A tool: fail loudly.

use std::path::PathBuf;
use std::time::Duration;

use viva_e2e::{App, Harness};

async fn shoot(app: &App, dir: &std::path::Path, name: &str) {
    // Let the webview settle (fonts, the level meters) before the capture.
    tokio::time::sleep(Duration::from_millis(600)).await;
    let png = app.png().await.unwrap();
    let path = dir.join(format!("{name}.png"));
    std::fs::write(&path, png).unwrap();
    println!("screenshot: wrote {}", path.display());
}

async fn has_final(app: &App, speaker: &str) -> Option<()> {
    let css = format!("[data-testid=line][data-final=true][data-speaker={speaker}]");
    app.client
        .find(fantoccini::Locator::Css(&css))
        .await
        .ok()
        .map(|_| ())
}

#[tokio::main(flavor = "multi_thread", worker_threads = 2)]
async fn main() {
    let dir = PathBuf::from(std::env::var("VIVA_SCREENSHOT_DIR").unwrap());
    std::fs::create_dir_all(&dir).unwrap();
    let harness = Harness::from_env().unwrap();
    let app = harness.launch_app().await.unwrap();
    app.text_of("[data-testid=app-version]").await.unwrap();
    shoot(&app, &dir, "first-screen").await;

    app.open_offline_preflight().await.unwrap();
    let mic = harness.clone();
    let speaking = std::thread::spawn(move || mic.say("Testing my microphone, one, two, three."));
    tokio::time::sleep(Duration::from_millis(900)).await;
    shoot(&app, &dir, "preflight").await;
    speaking.join().unwrap().unwrap();

    app.click("start-interview").await.unwrap();
    app.wait_for("the first question", Duration::from_secs(40), || {
        has_final(&app, "interviewer")
    })
    .await
    .unwrap();
    tokio::time::sleep(Duration::from_secs(4)).await;
    harness
        .say("I would start by measuring where the time goes before changing anything.")
        .unwrap();
    app.wait_for("the answer", Duration::from_secs(40), || {
        has_final(&app, "candidate")
    })
    .await
    .unwrap();
    app.click("health-badge").await.unwrap();
    shoot(&app, &dir, "interview-room").await;

    app.click("end").await.unwrap();
    app.text_of("[data-testid=end-dialog]").await.unwrap();
    shoot(&app, &dir, "end-confirm").await;
    app.click("end-confirm").await.unwrap();
    app.text_of("[data-testid=summary-lines]").await.unwrap();
    shoot(&app, &dir, "summary").await;

    // The interview just held, in review (insights above the lines) and in the list.
    app.click("summary-review").await.unwrap();
    app.text_of("[data-testid=review-line]").await.unwrap();
    shoot(&app, &dir, "review").await;
    app.click("review-back").await.unwrap();
    app.click("open-sessions").await.unwrap();
    app.text_of("[data-testid=session-row]").await.unwrap();
    shoot(&app, &dir, "sessions").await;
    app.quit().await.unwrap();

    // The room again as a system set to dark shows it (GTK's dark variant is what WebKitGTK
    // reports as `prefers-color-scheme: dark`).
    let app = harness
        .launch_app_with(&[("GTK_THEME", "Adwaita:dark")])
        .await
        .unwrap();
    let dark = app
        .client
        .execute(
            "return matchMedia('(prefers-color-scheme: dark)').matches",
            vec![],
        )
        .await
        .unwrap();
    assert_eq!(
        dark,
        serde_json::Value::Bool(true),
        "the webview stayed light"
    );
    app.open_offline_preflight().await.unwrap();
    app.click("text-mode").await.unwrap();
    app.click("start-interview").await.unwrap();
    app.answer_first_question_in_text(
        "I would start by measuring where the time goes before changing anything.",
    )
    .await
    .unwrap();
    app.click("health-badge").await.unwrap();
    shoot(&app, &dir, "interview-room-dark").await;
    app.end_interview().await.unwrap();
    app.quit().await.unwrap();
}

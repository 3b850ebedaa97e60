//! Accessibility, audited in the real window: axe-core (pinned in `tests/axe`, installed by
//! set-up) is injected into the app's WebKit webview over WebDriver and run on every screen a
//! candidate and a reviewer pass through — first screen, backend form, pre-flight, the room in a
//! typed practice, the end dialog, the summary, review and the interview list. No screen may have
//! a serious or critical violation; lesser ones are printed. And the keyboard alone, pressed
//! through the X server, takes a candidate from the first screen through a typed practice to an
//! exported transcript.

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)] // Tests fail loudly by design.

use std::time::Duration;

use fantoccini::Locator;
use serde_json::Value;
use viva_e2e::{App, Harness};

const AXE: &str = concat!(
    env!("CARGO_MANIFEST_DIR"),
    "/axe/node_modules/axe-core/axe.min.js"
);

/// One axe finding: (impact, rule, help, the first elements it concerns).
type Violation = (String, String, String, Vec<String>);

/// axe's findings on the screen as it is now.
async fn audit(app: &App, screen: &str) -> Vec<Violation> {
    let loaded = app
        .client
        .execute("return typeof window.axe === 'object';", vec![])
        .await
        .unwrap();
    if loaded != Value::Bool(true) {
        let source = std::fs::read_to_string(AXE)
            .unwrap_or_else(|e| panic!("{AXE}: {e} (cargo xtask setup installs axe-core)"));
        app.client.execute(&source, vec![]).await.unwrap();
    }
    // Let the screen settle (a level meter, a late line) before judging it.
    tokio::time::sleep(Duration::from_millis(400)).await;
    let found = app
        .client
        .execute_async(
            "const done = arguments[arguments.length - 1];
            axe.run(document, { resultTypes: ['violations'] })
              .then((r) => done([r.passes.length, r.violations.map((v) => [
                v.impact ?? 'unknown', v.id, v.help,
                v.nodes.slice(0, 5).map((n) => n.target.join(' ')),
              ])]))
              .catch((e) => done('axe failed: ' + e));",
            vec![],
        )
        .await
        .unwrap();
    let (passed, violations): (usize, Vec<Violation>) =
        serde_json::from_value(found.clone()).unwrap_or_else(|_| panic!("{screen}: {found}"));
    // axe ran its rules on this screen (contrast, names, labels, landmarks…), not on nothing.
    assert!(passed >= 10, "{screen}: axe passed only {passed} rules");
    eprintln!(
        "{screen}: {passed} rules passed, {} violated",
        violations.len()
    );
    for (impact, rule, help, nodes) in &violations {
        eprintln!("{screen}: {impact} {rule}: {help} {nodes:?}");
    }
    violations
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn no_screen_has_a_serious_or_critical_accessibility_violation() {
    let harness = Harness::from_env().unwrap();
    let app = harness.launch_app().await.unwrap();
    let mut serious = Vec::new();
    let mut screens = 0;
    let mut check = |screen: &str, violations: Vec<Violation>| {
        screens += 1;
        serious.extend(
            violations
                .into_iter()
                .filter(|(impact, ..)| impact == "serious" || impact == "critical")
                .map(|(impact, rule, help, nodes)| {
                    format!("{screen}: {impact} {rule} ({help}) at {nodes:?}")
                }),
        );
    };

    app.text_of("[data-testid=app-version]").await.unwrap();
    check("first screen", audit(&app, "first screen").await);
    app.open_backend_form().await.unwrap();
    check("backend form", audit(&app, "backend form").await);

    app.click("practice-offline").await.unwrap();
    app.click("practice-start").await.unwrap();
    app.wait_until_backend_ready().await.unwrap();
    check("pre-flight", audit(&app, "pre-flight").await);

    app.click("text-mode").await.unwrap();
    app.click("start-interview").await.unwrap();
    app.answer_first_question_in_text("I would measure first, then change one thing at a time.")
        .await
        .unwrap();
    check("room", audit(&app, "room").await);
    app.click("health-badge").await.unwrap();
    check(
        "room with connection details",
        audit(&app, "room details").await,
    );

    app.click("end").await.unwrap();
    app.text_of("[data-testid=end-dialog]").await.unwrap();
    check("end dialog", audit(&app, "end dialog").await);
    app.click("end-confirm").await.unwrap();
    app.text_of("[data-testid=summary-lines]").await.unwrap();
    check("summary", audit(&app, "summary").await);

    app.click("summary-review").await.unwrap();
    app.text_of("[data-testid=review-line]").await.unwrap();
    check("review", audit(&app, "review").await);
    app.click("review-back").await.unwrap();
    app.click("open-sessions").await.unwrap();
    app.text_of("[data-testid=session-row]").await.unwrap();
    check("interview list", audit(&app, "interview list").await);

    // The audit can fail: a text field without a label, added to the page, is reported.
    app.client
        .execute(
            "const field = document.createElement('input');
            field.type = 'text';
            field.id = 'unlabelled-self-check';
            document.querySelector('main, body').append(field);",
            vec![],
        )
        .await
        .unwrap();
    let planted = audit(&app, "self-check").await;
    assert!(
        planted
            .iter()
            .any(|(impact, rule, _, nodes)| impact == "critical"
                && rule == "label"
                && nodes.iter().any(|n| n.contains("unlabelled-self-check"))),
        "axe did not report the unlabelled field: {planted:?}"
    );
    app.quit().await.unwrap();

    assert_eq!(screens, 9);
    assert!(serious.is_empty(), "{serious:#?}");
}

const TYPED_ANSWER: &str = "I keep a written list of every risk and check it each week.";

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_keyboard_alone_goes_from_first_launch_through_a_typed_practice_to_an_export() {
    let harness = Harness::from_env().unwrap();
    let app = harness.launch_app().await.unwrap();
    app.text_of("[data-testid=app-version]").await.unwrap();
    // A backend an earlier test configured shows its Change link instead of the form.
    if app
        .client
        .find(Locator::Css("[data-testid=backend-change]"))
        .await
        .is_ok()
    {
        app.tab_to("backend-change").await.unwrap();
        app.press(&["Return"]).unwrap();
    }
    app.tab_to("practice-offline").await.unwrap();
    app.press(&["Return"]).unwrap();
    app.tab_to("practice-start").await.unwrap();
    app.press(&["Return"]).unwrap();
    app.wait_until_backend_ready().await.unwrap();

    app.tab_to("text-mode").await.unwrap();
    app.press(&["space"]).unwrap();
    assert!(
        app.is_checked("text-mode").await.unwrap(),
        "space did not tick the text mode box"
    );
    app.tab_to("start-interview").await.unwrap();
    app.press(&["Return"]).unwrap();

    app.first_question().await.unwrap();
    app.tab_to("answer-input").await.unwrap();
    app.type_text(TYPED_ANSWER).unwrap();
    app.press(&["ctrl+Return"]).unwrap();
    app.wait_for_reply_to(TYPED_ANSWER).await.unwrap();

    // Ctrl+E asks to end; the dialog's confirm button has the focus, so Return ends.
    app.press(&["ctrl+e"]).unwrap();
    app.text_of("[data-testid=end-dialog]").await.unwrap();
    assert_eq!(app.focused().await.as_deref(), Some("end-confirm"));
    app.press(&["Return"]).unwrap();
    app.text_of("[data-testid=summary-lines]").await.unwrap();
    app.tab_to("summary-review").await.unwrap();
    app.press(&["Return"]).unwrap();
    app.text_of("[data-testid=review-line]").await.unwrap();

    let folder = tempfile::tempdir().unwrap();
    let file = folder.path().join("typed practice.md");
    app.tab_to("export").await.unwrap();
    app.press(&["Return"]).unwrap();
    harness.save_in_dialog("Export transcript", &file).unwrap();
    app.text_of("[data-testid=review-notice]").await.unwrap();
    let markdown = std::fs::read_to_string(&file).unwrap();
    assert!(markdown.contains(TYPED_ANSWER), "{markdown}");
    app.quit().await.unwrap();
}

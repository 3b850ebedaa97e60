//! After an interview, in the real app: the summary opens the transcript in review, which shows
//! who said what and when, finds words, jumps to a time, and exports Markdown through the
//! system's save dialog into a file that holds every line; a search over every transcript on
//! this computer finds the answer and opens the transcript at it.

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)] // Tests fail loudly by design.

use std::time::Duration;

use viva_e2e::Harness;

const ANSWER: &str = "I rewrote our deploy scripts so releases took minutes instead of hours.";

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_finished_practice_opens_in_review_and_exports_as_markdown() {
    let harness = Harness::from_env().unwrap();
    let app = harness.launch_app().await.unwrap();
    app.open_offline_preflight().await.unwrap();
    app.click("text-mode").await.unwrap();
    app.click("start-interview").await.unwrap();
    let question = app.answer_first_question_in_text(ANSWER).await.unwrap();
    assert_eq!(app.end_interview().await.unwrap(), "completed");

    // Open in review: the lines as said, with speakers and times.
    app.click("summary-review").await.unwrap();
    let lines = app
        .wait_for("the transcript", Duration::from_secs(10), || async {
            let script = r#"return [...document.querySelectorAll('[data-testid=review-line]')]
                .map(l => [l.dataset.speaker, l.querySelector('.when').textContent,
                           l.querySelector('.words').textContent]);"#;
            let value = app.client.execute(script, vec![]).await.ok()?;
            let lines: Vec<(String, String, String)> = serde_json::from_value(value).ok()?;
            (lines.len() >= 3).then_some(lines)
        })
        .await
        .unwrap();
    assert_eq!(lines[0].0, "interviewer");
    assert_eq!(lines[0].2, question);
    assert_eq!(lines[0].1, "0:00");
    let answer = lines
        .iter()
        .find(|(speaker, _, words)| speaker == "candidate" && words == ANSWER)
        .unwrap_or_else(|| panic!("the answer is missing from {lines:?}"));
    assert!(answer.1.starts_with("0:"), "{answer:?}");

    // Find in the transcript: every line with the words counts (the interviewer may quote the
    // answer back), and the words are marked, the answer's among them.
    let phrase = "deploy scripts";
    let holding = lines
        .iter()
        .filter(|(_, _, words)| words.to_lowercase().contains(phrase))
        .count();
    app.fill("review-find", phrase).await.unwrap();
    // The count follows each key typed: wait for the whole phrase's.
    let expected = format!("1 of {holding}");
    app.wait_for("the matches", Duration::from_secs(5), || async {
        let shown = app.text_of("[data-testid=review-matches]").await.ok()?;
        (shown == expected).then_some(())
    })
    .await
    .unwrap();
    let marked = app
        .client
        .execute(
            "return [...document.querySelectorAll('.review-lines mark')]
                .map(m => [m.closest('[data-testid=review-line]').dataset.speaker, m.textContent]);",
            vec![],
        )
        .await
        .unwrap();
    let marked: Vec<(String, String)> = serde_json::from_value(marked).unwrap();
    assert!(
        marked.iter().all(|(_, text)| text.to_lowercase() == phrase),
        "{marked:?}"
    );
    assert!(
        marked.contains(&("candidate".into(), phrase.into())),
        "{marked:?}"
    );

    // Export Markdown through the save dialog.
    let folder = tempfile::tempdir().unwrap();
    let file = folder.path().join("practice review.md");
    app.click("export").await.unwrap();
    harness.save_in_dialog("Export transcript", &file).unwrap();
    let notice = app.text_of("[data-testid=review-notice]").await.unwrap();
    assert_eq!(notice, format!("Saved to {}", file.display()));
    let markdown = std::fs::read_to_string(&file).unwrap();
    assert!(markdown.starts_with("# Practice"), "{markdown}");
    assert!(markdown.contains(&question), "{markdown}");
    assert!(markdown.contains(ANSWER), "{markdown}");
    assert!(markdown.contains("Candidate"), "{markdown}");

    // Search every transcript on this computer; the hit opens the transcript at that line.
    app.click("review-back").await.unwrap();
    app.click("open-sessions").await.unwrap();
    app.fill("search-text", "\"deploy scripts\" minutes")
        .await
        .unwrap();
    app.click("search-submit").await.unwrap();
    let hit_item = app
        .wait_for("a search hit", Duration::from_secs(10), || async {
            let css = "[data-testid=search-hit]";
            let session = app.attribute(css, "data-session").await?;
            let item = app.attribute(css, "data-item").await?;
            Some((session, item))
        })
        .await
        .unwrap();
    app.client
        .find(fantoccini::Locator::Css("[data-testid=search-hit] button"))
        .await
        .unwrap()
        .click()
        .await
        .unwrap();
    app.wait_for("the hit's line in focus", Duration::from_secs(10), || async {
        let script = "const l = document.activeElement; \
            return l && l.dataset.testid === 'review-line' ? l.querySelector('.words').textContent : null;";
        let value = app.client.execute(script, vec![]).await.ok()?;
        (value.as_str()? == ANSWER).then_some(())
    })
    .await
    .unwrap();
    assert!(!hit_item.1.is_empty());
    app.click("review-back").await.unwrap();
    app.quit().await.unwrap();
}

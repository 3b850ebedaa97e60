//! The review screens' benchmark (`cargo xtask bench` runs it inside the harness): opening a
//! two-hour transcript (2,000 lines) until it is painted, and scrolling a list of 10,000
//! interviews — the frame times the webview manages while the list is scrolled every frame.
//! Prints a table and, when `VIVA_BENCH_ROWS` names a folder, leaves its rows there.

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)] // A tool: fail loudly.

use std::time::Duration;

use viva_e2e::Harness;
use viva_realtime::{Line, LineStatus, Speaker};
use viva_store::{Ending, NewSession, SessionStatus, Store};

const LONG: &str = "bench-two-hours";
const LINES: u32 = 2_000;
const SESSIONS: u32 = 10_000;

/// The `p` quantile of `sorted`; NaN (printed as such) when nothing was measured.
fn percentile(sorted: &[f64], p: f64) -> f64 {
    let at = (sorted.len().saturating_sub(1) as f64 * p).round() as usize;
    sorted.get(at).copied().unwrap_or(f64::NAN)
}

/// Fills the app's store: 10,000 short sessions and, newest, one of 2,000 lines over two hours.
fn seed(store: &Store) {
    let (existing, _) = store
        .list(&viva_store::SessionList {
            limit: 1,
            ..Default::default()
        })
        .unwrap();
    let base = 1_700_000_000_000_i64;
    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(base, |d| i64::try_from(d.as_millis()).unwrap_or(base));
    if existing.first().map(|s| s.id.as_str()) != Some(LONG) {
        for n in 0..SESSIONS {
            let id = format!("bench-{n:05}");
            store
                .begin_session(&NewSession {
                    id: id.clone(),
                    remote: None,
                    user_id: None,
                    title: format!("Interview {n}"),
                    mode: "interview".into(),
                    started_at_ms: base + i64::from(n) * 60_000,
                    consent: None,
                })
                .unwrap();
            store
                .end_session(
                    &id,
                    &Ending {
                        status: SessionStatus::Completed,
                        ended_at_ms: base + i64::from(n) * 60_000 + 30_000,
                        duration_ms: 30_000,
                        cost_usd: None,
                    },
                )
                .unwrap();
        }
        store
            .begin_session(&NewSession {
                id: LONG.into(),
                remote: None,
                user_id: None,
                title: "Two hours".into(),
                mode: "interview".into(),
                // Now: the newest, at the top of the list.
                started_at_ms: now,
                consent: None,
            })
            .unwrap();
        let lines: Vec<Line> = (0..LINES)
            .map(|i| Line {
                item_id: format!("item_{i}"),
                seq: i,
                speaker: if i % 2 == 0 {
                    Speaker::Interviewer
                } else {
                    Speaker::Candidate
                },
                text: format!(
                    "Line {i}: I would start by measuring where the time goes, um, then change the slowest part first and measure again."
                ),
                started_ms: u64::from(i) * 3_600,
                ended_ms: Some(u64::from(i) * 3_600 + 3_000),
                status: LineStatus::Final,
                inaudible: None,
                interrupted: false,
            })
            .collect();
        store.record_many(LONG, &lines).unwrap();
        store
            .end_session(
                LONG,
                &Ending {
                    status: SessionStatus::Completed,
                    ended_at_ms: now + 7_200_000,
                    duration_ms: 7_200_000,
                    cost_usd: None,
                },
            )
            .unwrap();
    }
}

/// What the webview did in `ms` milliseconds: the intervals between its frames, and for each
/// scroll event the time the list took to update its rows and then to lay them out (each
/// sorted; the first interval, which includes the wait for the first frame, left out). `scroll`
/// moves the list a screen per frame.
async fn frame_intervals(app: &viva_e2e::App, scroll: bool, ms: u32) -> [Vec<f64>; 3] {
    let measured = app
        .client
        .execute_async(
            r#"const [scroll, duration, done] = arguments;
            const viewport = document.querySelector('[data-testid=sessions-viewport]');
            const rows = viewport.firstElementChild;
            const intervals = [], updates = [], layouts = [];
            // A scroll event reaches the document's capture listener first, then the list's own
            // handler, then this one, added after it.
            let began = 0;
            const before = () => { began = performance.now(); };
            const after = () => {
                const updated = performance.now();
                rows.getBoundingClientRect();
                void document.body.offsetHeight;
                updates.push(updated - began);
                layouts.push(performance.now() - updated);
            };
            document.addEventListener('scroll', before, true);
            viewport.addEventListener('scroll', after);
            let last = performance.now();
            const started = last;
            const step = (now) => {
                intervals.push(now - last);
                last = now;
                if (scroll) viewport.scrollTop += viewport.clientHeight;
                if (now - started < duration) requestAnimationFrame(step);
                else {
                    document.removeEventListener('scroll', before, true);
                    viewport.removeEventListener('scroll', after);
                    done([intervals, updates, layouts]);
                }
            };
            requestAnimationFrame(step);"#,
            vec![serde_json::json!(scroll), serde_json::json!(ms)],
        )
        .await
        .unwrap();
    let mut measured: [Vec<f64>; 3] = serde_json::from_value(measured).unwrap();
    measured[0].remove(0);
    for series in &mut measured {
        series.sort_by(f64::total_cmp);
    }
    measured
}

#[tokio::main(flavor = "multi_thread", worker_threads = 2)]
async fn main() {
    let harness = Harness::from_env().unwrap();
    let data_home = std::env::var("XDG_DATA_HOME").unwrap();
    let db = std::path::Path::new(&data_home)
        .join("app.viva.desktop")
        .join(viva_store::FILE_NAME);
    std::fs::create_dir_all(db.parent().unwrap()).unwrap();
    {
        let (store, _) = Store::open(&db).unwrap();
        seed(&store);
    }

    let app = harness.launch_app().await.unwrap();
    app.click("open-sessions").await.unwrap();
    app.wait_for("the list", Duration::from_secs(30), || async {
        let count = app.text_of("[data-testid=sessions-count]").await.ok()?;
        let shown: u32 = count.split_whitespace().next()?.parse().ok()?;
        (shown > SESSIONS).then_some(())
    })
    .await
    .unwrap();

    // The webview's frame interval with nothing to do: under Xvfb's software rendering this is
    // the floor every other frame time stands on. Then the list scrolled a screen per frame for
    // three seconds: its frame intervals show jank.
    let [idle, ..] = frame_intervals(&app, false, 1_000).await;
    let [frames, updates, layouts] = frame_intervals(&app, true, 3_000).await;

    // Open the two-hour transcript from the list, five times: click → its first lines painted,
    // and click → all 2,000 lines in the page.
    let mut opens = Vec::new();
    let mut whole = Vec::new();
    // Where the time to first paint goes: click → the transcript's data arrived, → its first
    // lines in the page; the rest is the webview's layout and paint.
    let mut stages: [Vec<f64>; 2] = Default::default();
    for _ in 0..5 {
        app.client
            .execute(
                "document.querySelector('[data-testid=sessions-viewport]').scrollTop = 0;",
                vec![],
            )
            .await
            .unwrap();
        let row = format!("[data-testid=session-row][data-id='{LONG}'] button");
        app.wait_for(
            "the long session's row",
            Duration::from_secs(10),
            || async { app.attribute(&row, "type").await.map(|_| ()) },
        )
        .await
        .unwrap();
        let took = app
            .client
            .execute_async(
                r#"const [selector, count, done] = arguments;
                const started = performance.now();
                const since = () => performance.now() - started;
                let first = null, entered = -1;
                // The view marks when the transcript's data arrived (Review.tsx, OPENED_MARK).
                const answered = () => {
                    const marks = performance.getEntriesByName('viva:transcript-opened', 'mark');
                    const last = marks[marks.length - 1];
                    return last && last.startTime >= started ? last.startTime - started : -1;
                };
                // Painted: a task queued from the frame callback after the lines entered the
                // page runs once that frame has been painted.
                const observer = new MutationObserver(() => {
                    if (first !== null || !document.querySelector('[data-testid=review-line]')) return;
                    first = -1;
                    entered = since();
                    requestAnimationFrame(() => setTimeout(() => { first = performance.now() - started; }, 0));
                });
                observer.observe(document.body, { childList: true, subtree: true });
                document.querySelector(selector).click();
                const check = () => {
                    const lines = document.querySelectorAll('[data-testid=review-line]').length;
                    if (first !== null && first >= 0 && lines >= count) {
                        observer.disconnect();
                        requestAnimationFrame(() => setTimeout(() => done([first, since(), answered(), entered]), 0));
                    } else requestAnimationFrame(check);
                };
                requestAnimationFrame(check);"#,
                vec![serde_json::json!(row), serde_json::json!(LINES)],
            )
            .await
            .unwrap();
        let [first, all, answered, entered]: [f64; 4] = serde_json::from_value(took).unwrap();
        opens.push(first);
        whole.push(all);
        for (stage, at) in stages.iter_mut().zip([answered, entered]) {
            stage.push(at);
        }
        app.click("review-back").await.unwrap();
    }
    opens.sort_by(f64::total_cmp);
    whole.sort_by(f64::total_cmp);
    for stage in &mut stages {
        stage.sort_by(f64::total_cmp);
    }

    // The command on its own, through the same IPC the view uses: what opening costs before
    // the webview lays out anything.
    let mut commands = Vec::new();
    for _ in 0..5 {
        let took = app
            .client
            .execute_async(
                r#"const [id, done] = arguments;
                const started = performance.now();
                window.__TAURI_INTERNALS__.invoke('open_transcript', { sessionId: id })
                    .then(() => done(performance.now() - started), () => done(-1));"#,
                vec![serde_json::json!(LONG)],
            )
            .await
            .unwrap();
        let took: f64 = serde_json::from_value(took).unwrap();
        assert!(took >= 0.0, "open_transcript failed");
        commands.push(took);
    }
    commands.sort_by(f64::total_cmp);
    app.quit().await.unwrap();

    let rows = format!(
        "| open a 2-hour transcript (2,000 lines) → first lines painted, p50 / p95 of 5 | {:.0} / {:.0} ms | ≤ 200 ms |\n\
         | … of which: click → data arrived / first lines in the page, p50 | {:.0} / {:.0} ms | |\n\
         | open a 2-hour transcript → all 2,000 lines in the page, p50 / p95 of 5 | {:.0} / {:.0} ms | |\n\
         | its `open_transcript` command alone, through IPC, p50 / p95 of 5 | {:.0} / {:.0} ms | |\n\
         | webview frame interval when idle (Xvfb, no GPU): p50 / p95 | {:.1} / {:.1} ms | |\n\
         | scroll 10,001 interviews a screen per frame: frame p50 / p95 / max | {:.1} / {:.1} / {:.1} ms over {} frames | no jank (≤ 33 ms) |\n\
         | … of which, per scroll event: the list's update / its layout, p50 / p95 | {:.1} / {:.1} · {:.1} / {:.1} ms | |\n",
        percentile(&opens, 0.5),
        percentile(&opens, 0.95),
        percentile(&stages[0], 0.5),
        percentile(&stages[1], 0.5),
        percentile(&whole, 0.5),
        percentile(&whole, 0.95),
        percentile(&commands, 0.5),
        percentile(&commands, 0.95),
        percentile(&idle, 0.5),
        percentile(&idle, 0.95),
        percentile(&frames, 0.5),
        percentile(&frames, 0.95),
        frames.last().copied().unwrap_or(0.0),
        frames.len(),
        percentile(&updates, 0.5),
        percentile(&updates, 0.95),
        percentile(&layouts, 0.5),
        percentile(&layouts, 0.95),
    );
    println!("\n| measure | result | goal |\n|---|---|---|\n{rows}");
    if let Some(dir) = std::env::var_os("VIVA_BENCH_ROWS") {
        std::fs::create_dir_all(&dir).unwrap();
        std::fs::write(std::path::Path::new(&dir).join("review.md"), rows).unwrap();
    }
}

//! The candidate app's benchmark (`cargo xtask bench` runs it inside the harness): cold start to
//! an interactive first screen, end of speech to the final line in the DOM over ten spoken
//! answers, and the memory of all the app's processes during the call. Prints a table and, when
//! `VIVA_BENCH_ROWS` names a folder, leaves its rows there.

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)] // A tool: fail loudly.

use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use viva_e2e::{App, Harness};

const ANSWERS: [&str; 10] = [
    "I led the migration of our billing system to a new database.",
    "The hardest part was keeping the old and new systems in sync.",
    "I wrote tests for every edge case before we switched over.",
    "We finished two weeks early and nobody lost any data.",
    "Next time I would involve the support team much sooner.",
    "I prefer small pull requests that are easy to review.",
    "Our team deployed several times a day with feature flags.",
    "I measure first and only then change the slow code.",
    "Good documentation saves more time than it costs to write.",
    "I enjoy mentoring new engineers on the team.",
];

fn unix_ms() -> f64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .unwrap()
        .as_secs_f64()
        * 1000.0
}

/// Resident memory of `pid` and every process under it, in MiB.
fn tree_rss_mib(pid: u32) -> f64 {
    let mut pids = vec![pid];
    let mut total_kib = 0_u64;
    while let Some(pid) = pids.pop() {
        let status = std::fs::read_to_string(format!("/proc/{pid}/status")).unwrap_or_default();
        total_kib += status
            .lines()
            .find_map(|l| l.strip_prefix("VmRSS:"))
            .and_then(|v| v.split_whitespace().next()?.parse().ok())
            .unwrap_or(0);
        let children =
            std::fs::read_to_string(format!("/proc/{pid}/task/{pid}/children")).unwrap_or_default();
        pids.extend(
            children
                .split_whitespace()
                .filter_map(|c| c.parse::<u32>().ok()),
        );
    }
    total_kib as f64 / 1024.0
}

fn percentile(sorted: &[f64], p: f64) -> f64 {
    sorted[((sorted.len() - 1) as f64 * p).round() as usize]
}

/// Times (unix ms) at which candidate lines became final in the DOM, recorded in the page.
async fn candidate_finals(app: &App) -> Vec<f64> {
    let value = app
        .client
        .execute("return window.__vivaFinals || [];", vec![])
        .await
        .unwrap();
    serde_json::from_value(value).unwrap_or_default()
}

#[tokio::main(flavor = "multi_thread", worker_threads = 2)]
async fn main() {
    let harness = Harness::from_env().unwrap();

    let launched = Instant::now();
    let app = harness.launch_app().await.unwrap();
    app.text_of("[data-testid=app-version]").await.unwrap();
    let cold_start = launched.elapsed();

    app.open_offline_preflight().await.unwrap();
    app.click("start-interview").await.unwrap();
    // Note when each candidate line turns final, by the page's own clock.
    app.client
        .execute(
            r#"window.__vivaFinals = [];
            const seen = new Set();
            new MutationObserver(() => {
              for (const l of document.querySelectorAll('[data-testid=line][data-speaker=candidate][data-final=true]')) {
                if (!seen.has(l)) { seen.add(l); window.__vivaFinals.push(Date.now()); }
              }
            }).observe(document.body, { subtree: true, childList: true, attributes: true });"#,
            vec![],
        )
        .await
        .unwrap();
    let pid = viva_e2e::app_processes(&harness.app_binary)[0];

    let mut latencies = Vec::new();
    let mut peak_rss: f64 = 0.0;
    for (index, answer) in ANSWERS.iter().enumerate() {
        // Wait for the question to be asked and the interviewer to fall silent. The local
        // interviewer asks five questions and says goodbye; later answers are still heard.
        app.wait_for("a question", Duration::from_secs(60), || async {
            let script = "return document.querySelectorAll('[data-testid=line][data-speaker=interviewer][data-final=true]').length;";
            let asked = app.client.execute(script, vec![]).await.ok()?.as_u64()?;
            (asked as usize > index.min(5)).then_some(())
        })
        .await
        .unwrap();
        app.wait_for("silence", Duration::from_secs(30), || async {
            let level = app
                .attribute("[data-testid=speaker-level]", "data-level")
                .await?;
            (level == "0").then_some(())
        })
        .await
        .unwrap();
        tokio::time::sleep(Duration::from_millis(700)).await;
        harness.say(answer).unwrap();
        let spoken_end = unix_ms();
        let shown = app
            .wait_for("the answer's line", Duration::from_secs(40), || async {
                candidate_finals(&app).await.get(index).copied()
            })
            .await
            .unwrap();
        latencies.push(shown - spoken_end);
        peak_rss = peak_rss.max(tree_rss_mib(pid));
    }
    app.end_interview().await.unwrap();
    app.quit().await.unwrap();

    latencies.sort_by(f64::total_cmp);
    let rows = [
        format!(
            "| app: end of speech → final line in the DOM (10 answers, offline practice) | p50 {:.0} ms, p95 {:.0} ms | |",
            percentile(&latencies, 0.5),
            percentile(&latencies, 0.95)
        ),
        format!(
            "| app: memory of all its processes during a call (peak RSS) | {peak_rss:.0} MiB | |"
        ),
        format!(
            "| app: cold start → first screen interactive (through tauri-driver) | {:.2} s | |",
            cold_start.as_secs_f64()
        ),
    ];
    println!("\n| measure | result | goal |\n|---|---|---|");
    for row in &rows {
        println!("{row}");
    }
    if let Ok(dir) = std::env::var("VIVA_BENCH_ROWS") {
        let _ = std::fs::create_dir_all(&dir);
        let _ = std::fs::write(
            std::path::Path::new(&dir).join("app.md"),
            rows.join("\n") + "\n",
        );
    }
}

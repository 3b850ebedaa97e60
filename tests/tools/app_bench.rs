//! The candidate app's benchmark (`cargo xtask bench` runs it inside the harness): cold start to
//! an interactive first screen, end of speech to the final line in the DOM over ten spoken
//! answers, and the memory (PSS) of all the app's processes idle and during the call. Prints a
//! table and, when `VIVA_BENCH_ROWS` names a folder, leaves its rows there.

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

/// The proportional set size of `pid` and every process under it, in MiB, process by process
/// (name, MiB). PSS splits each shared page between the processes that map it, so the sum is
/// what the app costs the machine; RSS would count the shared libraries once per process.
fn tree_pss_mib(pid: u32) -> Vec<(String, f64)> {
    let mut pids = vec![pid];
    let mut processes = Vec::new();
    while let Some(pid) = pids.pop() {
        let rollup =
            std::fs::read_to_string(format!("/proc/{pid}/smaps_rollup")).unwrap_or_default();
        let kib: u64 = rollup
            .lines()
            .find_map(|l| l.strip_prefix("Pss:"))
            .and_then(|v| v.split_whitespace().next()?.parse().ok())
            .unwrap_or(0);
        let name = std::fs::read_to_string(format!("/proc/{pid}/comm")).unwrap_or_default();
        processes.push((name.trim().to_owned(), kib as f64 / 1024.0));
        let children =
            std::fs::read_to_string(format!("/proc/{pid}/task/{pid}/children")).unwrap_or_default();
        pids.extend(
            children
                .split_whitespace()
                .filter_map(|c| c.parse::<u32>().ok()),
        );
    }
    processes
}

/// The total of [`tree_pss_mib`], and its processes as "name N" for the table.
fn pss_summary(processes: &[(String, f64)]) -> (f64, String) {
    let total = processes.iter().map(|(_, mib)| mib).sum();
    let parts: Vec<String> = processes
        .iter()
        .filter(|(_, mib)| *mib >= 1.0)
        .map(|(name, mib)| format!("{name} {mib:.0}"))
        .collect();
    (total, parts.join(", "))
}

/// How many times the app is started directly for the start-up row.
const DIRECT_STARTS: usize = 5;

/// Starts the app as a desktop launcher does (no WebDriver session, which costs its own set-up)
/// and times it until the first screen reports itself drawn and interactive
/// (`startup_finished`, in the log it writes to stderr when `VIVA_LOG_STDERR` is set); then
/// stops it.
async fn direct_start(harness: &Harness) -> Duration {
    use tokio::io::AsyncBufReadExt;
    viva_e2e::stop_app_instances(&harness.app_binary)
        .await
        .unwrap();
    let launched = Instant::now();
    let mut child = tokio::process::Command::new(&harness.app_binary)
        .env("VIVA_LOG_STDERR", "1")
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::piped())
        .kill_on_drop(true)
        .spawn()
        .unwrap();
    let mut lines = tokio::io::BufReader::new(child.stderr.take().unwrap()).lines();
    let took = tokio::time::timeout(Duration::from_secs(30), async {
        while let Some(line) = lines.next_line().await.unwrap() {
            if line.contains("startup_finished") {
                return launched.elapsed();
            }
        }
        panic!("the app exited before its first screen was ready")
    })
    .await
    .expect("the app's first screen was not ready within 30 s");
    let _ = child.kill().await;
    viva_e2e::stop_app_instances(&harness.app_binary)
        .await
        .unwrap();
    took
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

    // Which build is measured: xtask passes it; a row without it would mislead.
    let profile = std::env::var("VIVA_BENCH_PROFILE").unwrap_or_else(|_| "debug".to_owned());
    let launched = Instant::now();
    // The local interviewer's per-answer transcription times (`interviewer_transcribed`, from
    // the end of the turn) go to the app's log, to explain the latency row.
    let app = harness
        .launch_app_with(&[("VIVA_LOG", "info,viva_localstack=debug")])
        .await
        .unwrap();
    app.text_of("[data-testid=app-version]").await.unwrap();
    let cold_start = launched.elapsed();
    let log_dir = app.text_of("[data-testid=app-log-dir]").await.unwrap();
    let pid = viva_e2e::app_processes(&harness.app_binary)[0];
    // Idle on the first screen, once start-up's own allocations have settled.
    tokio::time::sleep(Duration::from_secs(3)).await;
    let (idle_pss, idle_parts) = pss_summary(&tree_pss_mib(pid));

    app.open_offline_preflight().await.unwrap();
    // `VIVA_BENCH_HEADPHONES=1`: the candidate says they use headphones, so echo cancellation
    // is off (to see what it costs).
    let headphones = std::env::var_os("VIVA_BENCH_HEADPHONES").is_some();
    if headphones {
        app.click("headphones").await.unwrap();
    }
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

    let mut latencies = Vec::new();
    let mut peak_pss = (0.0, String::new());
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
        let now = pss_summary(&tree_pss_mib(pid));
        if now.0 > peak_pss.0 {
            peak_pss = now;
        }
    }
    app.end_interview().await.unwrap();
    app.quit().await.unwrap();

    let mut starts = Vec::new();
    for _ in 0..DIRECT_STARTS {
        starts.push(direct_start(&harness).await.as_secs_f64());
    }
    let first_start = starts[0];
    starts.sort_by(f64::total_cmp);

    latencies.sort_by(f64::total_cmp);
    let rows = [
        format!(
            "| app ({profile}): end of speech → final line in the DOM (10 answers, offline practice) | p50 {:.0} ms, p95 {:.0} ms | p95 ≤ 500 ms (release) |",
            percentile(&latencies, 0.5),
            percentile(&latencies, 0.95)
        ),
        format!(
            "| app ({profile}): memory of all its processes, idle on the first screen (PSS, MiB) | {idle_pss:.0} MiB ({idle_parts}) | |"
        ),
        format!(
            "| app ({profile}): memory of all its processes in offline practice (peak PSS, MiB) | {:.0} MiB ({}) | ≤ 400 MiB (release) |",
            peak_pss.0, peak_pss.1
        ),
        format!(
            "| app ({profile}): cold start → first screen interactive (through tauri-driver) | {:.2} s | |",
            cold_start.as_secs_f64()
        ),
        format!(
            "| app ({profile}): start → first screen interactive, started directly ({DIRECT_STARTS} starts) | median {:.2} s (first {:.2} s, slowest {:.2} s) | ≤ 0.6 s (release) |",
            percentile(&starts, 0.5),
            first_start,
            starts[starts.len() - 1]
        ),
    ];
    println!(
        "\necho cancellation {}; the app's log (per-answer transcription times): {log_dir}",
        if headphones { "off (headphones)" } else { "on" }
    );
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

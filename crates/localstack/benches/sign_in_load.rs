//! A transcript upload's latency while someone hammers the sign-in endpoint with wrong
//! passwords: batches of 100 lines to `transcript-processor` over real HTTP on loopback, first on
//! a quiet stack, then beside eight clients sending bad sign-ins as fast as they can. Before
//! W2-1 every attempt hashed a password while holding the database lock, so each stalled every
//! upload; now attempts are rate limited before hashing and hashing runs off the lock. Prints a
//! table. Run with `cargo xtask bench`.

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)] // A benchmark fails loudly.

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::time::{Duration, Instant};

use serde_json::{Value, json};
use viva_localstack::{Config, LocalStack};

mod common;

const BATCHES: usize = 40;

async fn uploads(url: &str, key: &str, token: &str, session: &str, round: usize) -> Vec<Duration> {
    let http = reqwest::Client::new();
    let mut latencies = Vec::new();
    for batch in 0..BATCHES {
        let entries: Vec<Value> = (0..100)
            .map(|i| {
                let n = (round * BATCHES + batch) * 100 + i;
                json!({"item_id": format!("item_{n}"), "seq": n, "speaker": "candidate",
                       "text": "I led the migration of our payments service.", "started_ms": n})
            })
            .collect();
        let started = Instant::now();
        let response = http
            .post(url)
            .header("apikey", key)
            .bearer_auth(token)
            .json(&json!({"session_id": session, "entries": entries}))
            .send()
            .await
            .unwrap();
        assert!(response.status().is_success());
        latencies.push(started.elapsed());
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    latencies
}

fn percentile(values: &mut [Duration], p: f64) -> String {
    values.sort();
    let index = ((values.len() as f64 - 1.0) * p).round() as usize;
    format!(
        "{:.1} ms",
        values[index.min(values.len() - 1)].as_secs_f64() * 1000.0
    )
}

fn main() {
    let runtime = tokio::runtime::Runtime::new().unwrap();
    runtime.block_on(async {
        let dir = tempfile::tempdir().unwrap();
        let stack = LocalStack::start(Config {
            data_dir: Some(dir.path().to_owned()),
            ..Config::default()
        })
        .await
        .unwrap();
        let tenant = stack.add_tenant("Bench").await.unwrap();
        stack
            .add_user("bench@example.test", "password-1", &tenant, "candidate")
            .await
            .unwrap();
        let (token, session) = common::practice(&stack, "bench@example.test").await;
        let url = format!("{}/functions/v1/transcript-processor", stack.base_url);

        let mut quiet = uploads(&url, &stack.anon_key, &token, &session, 0).await;

        let flooding = Arc::new(AtomicBool::new(true));
        let (limited, refused) = (Arc::new(AtomicU64::new(0)), Arc::new(AtomicU64::new(0)));
        let mut flood = Vec::new();
        for client in 0..8 {
            let (flooding, limited, refused) = (flooding.clone(), limited.clone(), refused.clone());
            let url = format!("{}/auth/v1/token?grant_type=password", stack.base_url);
            let key = stack.anon_key.clone();
            flood.push(tokio::spawn(async move {
                let http = reqwest::Client::new();
                let mut n = 0_u64;
                while flooding.load(Ordering::Relaxed) {
                    n += 1;
                    let status = http
                        .post(&url)
                        .header("apikey", &key)
                        // Half guess at the real account's password, half at made-up ones.
                        .json(&json!({"email": if client % 2 == 0 { "bench@example.test".to_owned() } else { format!("guess{client}-{n}@example.test") }, "password": format!("wrong-{n}")}))
                        .send()
                        .await
                        .map(|r| r.status().as_u16())
                        .unwrap_or(0);
                    match status {
                        429 => limited.fetch_add(1, Ordering::Relaxed),
                        _ => refused.fetch_add(1, Ordering::Relaxed),
                    };
                }
            }));
        }
        tokio::time::sleep(Duration::from_millis(200)).await;
        let mut loaded = uploads(&url, &stack.anon_key, &token, &session, 1).await;
        flooding.store(false, Ordering::Relaxed);
        for task in flood {
            let _ = task.await;
        }
        println!("\n`transcript-processor`, 100-line batches, while 8 clients send wrong passwords\n");
        println!("| stack | upload p50 | p95 | max | sign-ins refused 429 / checked |");
        println!("|---|---|---|---|---|");
        println!(
            "| quiet | {} | {} | {} | — |",
            percentile(&mut quiet, 0.5),
            percentile(&mut quiet, 0.95),
            percentile(&mut quiet, 1.0)
        );
        let row = format!(
            "| under a sign-in flood | {} | {} | {} | {} / {} |",
            percentile(&mut loaded, 0.5),
            percentile(&mut loaded, 0.95),
            percentile(&mut loaded, 1.0),
            limited.load(Ordering::Relaxed),
            refused.load(Ordering::Relaxed)
        );
        println!("{row}");
        if let Some(rows) = std::env::var_os("VIVA_BENCH_ROWS") {
            let rows = std::path::PathBuf::from(rows);
            let _ = std::fs::create_dir_all(&rows);
            let _ = std::fs::write(
                rows.join("localstack_sign_in_load.md"),
                format!(
                    "| upload p95 under a sign-in flood (quiet {}) | {} | uploads unaffected |\n",
                    percentile(&mut quiet, 0.95),
                    percentile(&mut loaded, 0.95)
                ),
            );
        }
        stack.shutdown().await;
    });
}

//! `transcript-processor` throughput and latency on the file-backed SQLite store, over real HTTP
//! on loopback: batches of 100 lines, one client and four concurrent clients. Prints a table.
//! Run with `cargo xtask bench`; the goal is ≥ 5,000 lines/s.

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)] // A benchmark fails loudly.

use std::time::{Duration, Instant};

use serde_json::{Value, json};
use viva_localstack::{Config, LocalStack};

mod common;

const LINES_PER_BATCH: usize = 100;

async fn client_run(
    url: String,
    key: String,
    token: String,
    session: String,
    client: usize,
    batches: usize,
) -> Vec<Duration> {
    let http = reqwest::Client::new();
    let mut latencies = Vec::with_capacity(batches);
    for batch in 0..batches {
        let entries: Vec<Value> = (0..LINES_PER_BATCH)
            .map(|i| {
                let n = batch * LINES_PER_BATCH + i;
                json!({"item_id": format!("c{client}_item_{n}"), "seq": n, "speaker": "candidate",
                       "text": "I led the migration of our payments service to an event-driven design.", "started_ms": n * 1000, "ended_ms": n * 1000 + 800})
            })
            .collect();
        let started = Instant::now();
        let response = http
            .post(&url)
            .header("apikey", &key)
            .bearer_auth(&token)
            .json(&json!({"session_id": session, "entries": entries}))
            .send()
            .await
            .unwrap();
        assert!(response.status().is_success());
        let body: Value = response.json().await.unwrap();
        assert_eq!(body["accepted"], LINES_PER_BATCH);
        latencies.push(started.elapsed());
    }
    latencies
}

fn percentile(sorted: &[Duration], p: f64) -> Duration {
    let index = ((sorted.len() as f64 - 1.0) * p).round() as usize;
    sorted[index.min(sorted.len() - 1)]
}

fn main() {
    // `cargo bench` passes harness flags such as `--bench`; this benchmark takes none.
    let runtime = tokio::runtime::Runtime::new().unwrap();
    runtime.block_on(async {
        let dir = tempfile::tempdir().unwrap();
        let stack = LocalStack::start(Config { data_dir: Some(dir.path().to_owned()), ..Config::default() }).await.unwrap();
        let tenant = stack.add_tenant("Bench").await.unwrap();
        stack.add_user("bench@example.test", "password-1", &tenant, "candidate").await.unwrap();
        let (token, session) = common::practice(&stack, "bench@example.test").await;
        let url = format!("{}/functions/v1/transcript-processor", stack.base_url);

        println!("\n| transcript-processor ({LINES_PER_BATCH} lines a call) | lines/s | p50 | p99 |\n|---|---|---|---|");
        for clients in [1usize, 4] {
            let batches = 200 / clients;
            let wall = Instant::now();
            let mut tasks = tokio::task::JoinSet::new();
            for client in 0..clients {
                let tag = clients * 10 + client;
                tasks.spawn(client_run(url.clone(), stack.anon_key.clone(), token.clone(), session.clone(), tag, batches));
            }
            let mut latencies: Vec<Duration> = tasks.join_all().await.into_iter().flatten().collect();
            let elapsed = wall.elapsed();
            latencies.sort();
            let lines = latencies.len() * LINES_PER_BATCH;
            println!(
                "| {clients} client(s), {lines} lines | {:.0} | {:.1} ms | {:.1} ms |",
                lines as f64 / elapsed.as_secs_f64(),
                percentile(&latencies, 0.5).as_secs_f64() * 1e3,
                percentile(&latencies, 0.99).as_secs_f64() * 1e3
            );
        }
        stack.shutdown().await;
    });
}

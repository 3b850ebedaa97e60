//! The local interviewer's listening speed, over real WebRTC on loopback: a candidate says
//! interview sentences (espeak-ng), and each turn's end of speech → `...transcription.completed`
//! latency is measured, with the CPU the process spent per minute of candidate audio. Prints a
//! table and, when `VIVA_BENCH_ROWS` names a folder, leaves its rows there.

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

#[path = "../tests/common/candidate.rs"]
mod candidate;

use std::time::{Duration, Instant};

use cpu_time::ProcessTime;
use serde_json::json;
use viva_localstack::interviewer::InterviewerConfig;
use viva_localstack::{Config, LocalStack};

const SENTENCES: &[&str] = &[
    "I led the migration of our billing system to a new database.",
    "The hardest part was keeping the old and new systems in sync.",
    "I wrote tests for every edge case before we switched over.",
    "We finished two weeks early and nobody lost any data.",
    "Next time I would involve the support team much sooner.",
    "My manager wanted to ship a feature before it was ready.",
    "I showed her the error reports from the beta users.",
    "We agreed to delay the launch by one week.",
    "The release went smoothly and customers were happy.",
    "I learned that data wins arguments better than opinions.",
];

/// How long the clip is quiet at its end (below −40 dBFS in 10 ms windows).
fn trailing_quiet(samples: &[f32]) -> Duration {
    let loud = samples
        .chunks(480)
        .rposition(|w| (w.iter().map(|s| s * s).sum::<f32>() / w.len() as f32).sqrt() > 0.01)
        .map_or(0, |i| i + 1);
    Duration::from_millis(((samples.len() / 480).saturating_sub(loud) * 10) as u64)
}

fn percentile(sorted: &[Duration], p: f64) -> Duration {
    let index = ((sorted.len() as f64 - 1.0) * p).round() as usize;
    sorted[index.min(sorted.len() - 1)]
}

#[tokio::main(flavor = "multi_thread", worker_threads = 2)]
async fn main() {
    let model = viva_speech::model::default_model_path();
    if !model.is_file() {
        eprintln!(
            "interviewer benchmark skipped: no model at {} (run `cargo xtask bench`)",
            model.display()
        );
        return;
    }
    let rounds: usize = std::env::var("VIVA_BENCH_TURNS")
        .ok()
        .and_then(|s| s.parse().ok())
        .unwrap_or(2);
    let stack = LocalStack::start(Config {
        interviewer: InterviewerConfig {
            model_path: Some(model),
            ..InterviewerConfig::default()
        },
        ..Config::default()
    })
    .await
    .unwrap();
    let tenant = stack.add_tenant("Bench").await.unwrap();
    stack
        .add_user("bench@example.com", "password-1", &tenant, "candidate")
        .await
        .unwrap();
    let http = reqwest::Client::new();
    let token: serde_json::Value = http
        .post(format!(
            "{}/auth/v1/token?grant_type=password",
            stack.base_url
        ))
        .header("apikey", &stack.anon_key)
        .json(&json!({"email": "bench@example.com", "password": "password-1"}))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    let started: serde_json::Value = http
        .post(format!("{}/functions/v1/interview-start", stack.base_url))
        .header("apikey", &stack.anon_key)
        .bearer_auth(token["access_token"].as_str().unwrap())
        .json(&json!({"mode": "practice"}))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    let candidate = candidate::Candidate::call(
        started["realtime"]["url"].as_str().unwrap(),
        started["realtime"]["client_secret"]["value"]
            .as_str()
            .unwrap(),
    )
    .await;
    // Text replies: the turns measure listening, not waiting for spoken questions.
    candidate
        .send(json!({"type": "session.update", "session": {"output_modalities": ["text"]}}))
        .await;
    let speech: Vec<Vec<f32>> = SENTENCES.iter().map(|s| candidate::speech(s)).collect();

    let (mut from_speech_end, mut from_stopped) = (Vec::new(), Vec::new());
    let mut audio_seconds = 0.0;
    let cpu_start = ProcessTime::now();
    let wall_start = Instant::now();
    for _ in 0..rounds {
        for samples in &speech {
            let from = candidate.event_count();
            candidate.say(samples).await;
            // The speech ended before the clip did: espeak-ng's trailing quiet was still sent.
            let spoken = Instant::now() - trailing_quiet(samples);
            audio_seconds += samples.len() as f64 / 48_000.0;
            let (_, stopped) = candidate
                .wait_for(
                    from,
                    "input_audio_buffer.speech_stopped",
                    Duration::from_secs(20),
                    |_| true,
                )
                .await;
            let stopped_at = Instant::now();
            let item = stopped["item_id"].as_str().unwrap().to_owned();
            candidate
                .wait_for(
                    from,
                    "conversation.item.input_audio_transcription.completed",
                    Duration::from_secs(20),
                    |e| e["item_id"] == item.as_str(),
                )
                .await;
            let done = Instant::now();
            from_speech_end.push(done - spoken);
            from_stopped.push(done - stopped_at);
            candidate.say(&vec![0.0; 24_000]).await;
        }
    }
    let cpu = cpu_start.elapsed().as_secs_f64();
    let wall = wall_start.elapsed().as_secs_f64();
    candidate.hang_up().await;
    stack.shutdown().await;

    from_speech_end.sort();
    from_stopped.sort();
    let ms = |d: Duration| format!("{:.0} ms", d.as_secs_f64() * 1000.0);
    let minutes = audio_seconds / 60.0;
    let rows = [
        format!(
            "| interviewer: end of speech → transcription completed, p50 / p95 ({} turns; includes the 500 ms of silence `server_vad` waits for) | {} / {} | p95 ≤ 800 ms |",
            from_speech_end.len(),
            ms(percentile(&from_speech_end, 0.5)),
            ms(percentile(&from_speech_end, 0.95))
        ),
        format!(
            "| interviewer: `speech_stopped` → transcription completed (transcription itself), p50 / p95 | {} / {} | |",
            ms(percentile(&from_stopped, 0.5)),
            ms(percentile(&from_stopped, 0.95))
        ),
        format!(
            "| interviewer: CPU per minute of candidate audio, whole process (peer, VAD, Whisper tiny.en 1 thread, and the test candidate) | {:.1} s ({:.0} % of a core while in a call) | |",
            cpu / minutes.max(f64::EPSILON),
            100.0 * cpu / wall
        ),
    ];
    println!("\n| measure | result | goal |\n|---|---|---|");
    for row in &rows {
        println!("{row}");
    }
    if let Ok(dir) = std::env::var("VIVA_BENCH_ROWS") {
        let _ = std::fs::create_dir_all(&dir);
        let _ = std::fs::write(
            std::path::Path::new(&dir).join("interviewer.md"),
            rows.join("\n") + "\n",
        );
    }
}

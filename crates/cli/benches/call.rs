//! The call's speed, over real WebRTC on loopback against the embedded local stack:
//! - start → data channel open, p50/p95 over 20 calls in each signaling mode;
//! - microphone frame → RTP packet, and the CPU and memory of the `viva` command line, during
//!   one long practice call (5 minutes by default, `VIVA_BENCH_CALL_SECONDS`) taken by the real
//!   binary as a child process, so its figures are the client's alone.
//!
//! Prints a table and, when `VIVA_BENCH_ROWS` names a folder, leaves its rows there.

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

#[path = "../tests/common/mod.rs"]
mod common;

use std::io::{BufRead, BufReader};
use std::path::Path;
use std::process::{Command, Stdio};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};

use viva_audio::{EncoderSettings, PacedMicrophone};
use viva_cli::embedded::{self, EmbeddedOptions};
use viva_localstack::Signaling;
use viva_realtime::SessionState;
use viva_rtc::{CallConfig, CallEvent, Media};
use viva_session::BackendGrants;

const CALLS: usize = 20;

const ANSWERS: &[&str] = &[
    "I am a software engineer with six years of experience in payments and data systems.",
    "My manager wanted to ship a feature before it was ready. I showed her the error reports and we agreed to wait a week.",
    "I once deleted a test database that another team used. I restored it from a backup and wrote a checklist.",
    "We had two weeks to move our billing system. I split the work into small steps and we finished early.",
    "I want this role because I enjoy hard problems and your team builds tools that people use every day.",
];

fn percentile(sorted: &[Duration], p: f64) -> Duration {
    let index = ((sorted.len() as f64 - 1.0) * p).round() as usize;
    sorted[index.min(sorted.len() - 1)]
}

fn ms(d: Duration) -> String {
    format!("{:.0} ms", d.as_secs_f64() * 1000.0)
}

/// End of the candidate's speech → their final line, for `CALLS` answers on `api` (practice
/// calls of `ANSWERS.len()` answers each, through the SDP proxy, which both APIs support).
async fn answer_latencies(api: viva_rtc::VoiceApi) -> Vec<Duration> {
    let embedded = embedded::start(EmbeddedOptions {
        signaling: Some(Signaling::WebSocket),
        ..EmbeddedOptions::default()
    })
    .await
    .unwrap();
    let grants = BackendGrants::new(
        embedded.backend.clone(),
        embedded.session.access_token.clone(),
        true,
    )
    .with_practice_api(Some(api));
    let answers: Vec<Vec<f32>> = ANSWERS.iter().map(|a| common::speech(a)).collect();
    let mut latencies = Vec::new();
    while latencies.len() < CALLS {
        let grant = grants.start(None).await.unwrap();
        let (recording, _dir) = common::recording(&grant);
        let script = viva_cli::script::Script {
            answers: answers.clone(),
            step_timeout: Duration::from_secs(60),
            ..viva_cli::script::Script::default()
        };
        let (outcome, _) = viva_cli::script::take(
            grant,
            None,
            recording,
            common::settings(CallConfig {
                udp_addrs: vec!["127.0.0.1:0".into()],
                ..CallConfig::default()
            }),
            script,
            |_| {},
        )
        .await
        .unwrap();
        assert_eq!(outcome.error, None, "{:?}", outcome.lines);
        latencies.extend(outcome.answer_latencies);
    }
    latencies.truncate(CALLS);
    latencies.sort();
    latencies
}

/// Start → `live` (the data channel open), and interview-start → `live`, for `CALLS` calls.
async fn connect_times(signaling: Signaling) -> (Vec<Duration>, Vec<Duration>) {
    let embedded = embedded::start(EmbeddedOptions {
        signaling: Some(signaling),
        ..EmbeddedOptions::default()
    })
    .await
    .unwrap();
    let grants = BackendGrants::new(
        embedded.backend.clone(),
        embedded.session.access_token.clone(),
        true,
    );
    let (mut to_open, mut with_grant) = (Vec::new(), Vec::new());
    // One warm-up call: first use loads the interviewer's voice and model.
    for call in 0..=CALLS {
        let asked = Instant::now();
        let grant = grants.start(None).await.unwrap();
        let (_microphone, frames) = PacedMicrophone::start(EncoderSettings::default()).unwrap();
        let started = Instant::now();
        let (handle, mut events) = viva_rtc::start(
            grant,
            None,
            CallConfig {
                udp_addrs: vec!["127.0.0.1:0".into()],
                interviewer_speaks_first: false,
                ..CallConfig::default()
            },
            Media {
                uplink: frames,
                downlink: None,
            },
        );
        loop {
            match tokio::time::timeout(Duration::from_secs(20), events.recv()).await {
                Ok(Some(CallEvent::State {
                    state: SessionState::Live,
                })) => break,
                Ok(Some(CallEvent::State {
                    state: SessionState::Failed { reason },
                })) => panic!("call {call} failed: {reason}"),
                Ok(Some(_)) => {}
                Ok(None) | Err(_) => panic!("call {call} never opened"),
            }
        }
        let open = Instant::now();
        if call > 0 {
            to_open.push(open - started);
            with_grant.push(open - asked);
        }
        handle.end().await;
    }
    embedded.stack.shutdown().await;
    to_open.sort();
    with_grant.sort();
    (to_open, with_grant)
}

/// One sample of a process: CPU seconds so far and resident memory.
#[derive(Debug, Clone, Copy)]
struct Sample {
    at: Duration,
    cpu_s: f64,
    rss_mib: f64,
}

fn clock_ticks() -> f64 {
    Command::new("getconf")
        .arg("CLK_TCK")
        .output()
        .ok()
        .and_then(|o| String::from_utf8(o.stdout).ok())
        .and_then(|s| s.trim().parse().ok())
        .unwrap_or(100.0)
}

fn sample(pid: u32, ticks: f64, at: Duration) -> Option<Sample> {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).ok()?;
    // Fields after the command name, which is in parentheses and may hold spaces.
    let fields: Vec<&str> = stat.rsplit_once(')')?.1.split_whitespace().collect();
    let utime: f64 = fields.get(11)?.parse().ok()?;
    let stime: f64 = fields.get(12)?.parse().ok()?;
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).ok()?;
    let rss_kib: f64 = status
        .lines()
        .find_map(|l| l.strip_prefix("VmRSS:"))?
        .split_whitespace()
        .next()?
        .parse()
        .ok()?;
    Some(Sample {
        at,
        cpu_s: (utime + stime) / ticks,
        rss_mib: rss_kib / 1024.0,
    })
}

/// What the long call measured.
struct LongCall {
    samples: Vec<Sample>,
    summary: serde_json::Value,
    /// When the script was done and the call only held the line.
    talk_ended: Option<Duration>,
}

/// Takes one practice interview of `seconds` with the `viva` binary against `stack`.
async fn long_call(seconds: u64, dir: &Path) -> LongCall {
    let stack = embedded::start(EmbeddedOptions::default()).await.unwrap();
    let email = "bench-call@example.com";
    let tenant = stack.stack.add_tenant("Bench").await.unwrap();
    stack
        .stack
        .add_user(email, "bench-password-1", &tenant, "candidate")
        .await
        .unwrap();
    let mut command = Command::new(env!("CARGO_BIN_EXE_viva"));
    command
        .args(["practice", "--backend", &stack.stack.base_url])
        .args(["--anon-key", &stack.stack.anon_key, "--email", email])
        .args(["--hold-s", &seconds.to_string(), "--udp", "127.0.0.1:0"])
        .env("VIVA_PASSWORD", "bench-password-1")
        .arg("--db")
        .arg(dir.join("transcripts.sqlite3"))
        .stdout(Stdio::piped())
        .stderr(Stdio::inherit());
    for (i, text) in ANSWERS.iter().enumerate() {
        let path = dir.join(format!("answer-{i}.wav"));
        common::say_to_wav(&path, text);
        command.arg("--audio-file").arg(path);
    }
    let mut child = command.spawn().unwrap();
    let pid = child.id();
    let stdout = child.stdout.take().unwrap();
    let started = Instant::now();
    let done = Arc::new(AtomicBool::new(false));
    let sampler = {
        let done = done.clone();
        std::thread::spawn(move || {
            let ticks = clock_ticks();
            let mut samples = Vec::new();
            while !done.load(Ordering::Relaxed) {
                if let Some(s) = sample(pid, ticks, started.elapsed()) {
                    samples.push(s);
                }
                std::thread::sleep(Duration::from_secs(1));
            }
            samples
        })
    };
    let reader = tokio::task::spawn_blocking(move || {
        let (mut summary, mut answered, mut talk_ended) = (serde_json::Value::Null, 0, None);
        for line in BufReader::new(stdout).lines().map_while(Result::ok) {
            let Ok(event) = serde_json::from_str::<serde_json::Value>(&line) else {
                continue;
            };
            match event["type"].as_str() {
                Some("line") if event["speaker"] == "candidate" => answered += 1,
                // The closing line after the last answer: from here the call only holds.
                Some("line") if answered == ANSWERS.len() && talk_ended.is_none() => {
                    talk_ended = Some(started.elapsed());
                }
                Some("summary") => summary = event,
                _ => {}
            }
        }
        (summary, talk_ended)
    });
    let (summary, talk_ended) = reader.await.unwrap();
    done.store(true, Ordering::Relaxed);
    let status = child.wait().unwrap();
    let samples = sampler.join().unwrap();
    stack.stack.shutdown().await;
    assert!(
        status.success(),
        "the long call failed ({status}): {summary}"
    );
    LongCall {
        samples,
        summary,
        talk_ended,
    }
}

/// CPU as a share of one core between two samples.
fn cpu_share(from: &Sample, to: &Sample) -> f64 {
    100.0 * (to.cpu_s - from.cpu_s) / (to.at - from.at).as_secs_f64().max(f64::EPSILON)
}

#[tokio::main(flavor = "multi_thread", worker_threads = 2)]
async fn main() {
    if !viva_speech::model::default_model_path().is_file() {
        eprintln!("call benchmark skipped: no speech model (run `cargo xtask bench`)");
        return;
    }
    let seconds: u64 = std::env::var("VIVA_BENCH_CALL_SECONDS")
        .ok()
        .and_then(|s| s.parse().ok())
        .unwrap_or(300);
    let mut rows = Vec::new();
    for (name, api) in [
        ("Realtime", viva_rtc::VoiceApi::Realtime),
        ("GPT-Live", viva_rtc::VoiceApi::Live),
    ] {
        let latencies = answer_latencies(api).await;
        rows.push(format!(
            "| call ({name}, local interviewer): end of the candidate's speech → their final line, p50 / p95 ({CALLS} answers) | {} / {} | |",
            ms(percentile(&latencies, 0.5)),
            ms(percentile(&latencies, 0.95))
        ));
    }
    if std::env::var("VIVA_BENCH_CALL_ONLY").as_deref() == Ok("answers") {
        println!("\n| measure | result | goal |\n|---|---|---|");
        for row in &rows {
            println!("{row}");
        }
        return;
    }
    for (name, signaling) in [
        ("http", Signaling::Http),
        ("websocket", Signaling::WebSocket),
    ] {
        let (to_open, with_grant) = connect_times(signaling).await;
        rows.push(format!(
            "| call ({name} signaling): start → data channel open, p50 / p95 ({CALLS} calls) | {} / {} | ≤ 600 ms |",
            ms(percentile(&to_open, 0.5)),
            ms(percentile(&to_open, 0.95))
        ));
        rows.push(format!(
            "| call ({name} signaling): `interview-start` request → data channel open, p50 / p95 | {} / {} | |",
            ms(percentile(&with_grant, 0.5)),
            ms(percentile(&with_grant, 0.95))
        ));
    }

    let dir = std::env::temp_dir().join(format!("viva-bench-call-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let call = long_call(seconds, &dir).await;
    let _ = std::fs::remove_dir_all(&dir);
    let latency = &call.summary["uplink"]["frame_to_rtp_ms"];
    let number = |v: &serde_json::Value| v.as_f64().map_or("?".into(), |x| format!("{x:.2} ms"));
    rows.push(format!(
        "| call: microphone frame → RTP packet, p50 / p99 / max ({} frames) | {} / {} / {} | |",
        latency["frames"],
        number(&latency["p50"]),
        number(&latency["p99"]),
        number(&latency["max"])
    ));
    let (first, last) = (call.samples.first().unwrap(), call.samples.last().unwrap());
    let talk_end = call
        .talk_ended
        .and_then(|t| call.samples.iter().find(|s| s.at >= t))
        .unwrap_or(last);
    rows.push(format!(
        "| call: CPU of `viva` over a {} s practice call (whole call / talking {:.0} s / holding the line) | {:.1} % / {:.1} % / {:.1} % of a core | |",
        seconds,
        talk_end.at.as_secs_f64(),
        cpu_share(first, last),
        cpu_share(first, talk_end),
        cpu_share(talk_end, last)
    ));
    let after_a_minute = call
        .samples
        .iter()
        .find(|s| s.at >= Duration::from_secs(60))
        .unwrap_or(first);
    let peak = call.samples.iter().map(|s| s.rss_mib).fold(0.0, f64::max);
    rows.push(format!(
        "| call: resident memory of `viva` (after 1 min / at the end / peak) | {:.1} / {:.1} / {:.1} MiB | |",
        after_a_minute.rss_mib, last.rss_mib, peak
    ));
    let summary = &call.summary["summary"];
    rows.push(format!(
        "| call: the long call itself (lines, reconnects, uplink packets dropped) | {} lines, {} reconnects, {} dropped | |",
        summary["lines"], summary["reconnects"], call.summary["uplink"]["dropped"]
    ));

    println!("\n| measure | result | goal |\n|---|---|---|");
    for row in &rows {
        println!("{row}");
    }
    if let Ok(dir) = std::env::var("VIVA_BENCH_ROWS") {
        let _ = std::fs::create_dir_all(&dir);
        let _ = std::fs::write(Path::new(&dir).join("call.md"), rows.join("\n") + "\n");
    }
}

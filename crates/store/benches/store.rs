//! The local store at scale: search over a million generated lines (the goal is ≤ 50 ms p95),
//! committing one final line (one fsync), and opening the file with its integrity check.
//! Prints a table; run with `cargo xtask bench`. The generated database is kept under
//! `target/viva-bench/` so later runs skip the generation.

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)] // A benchmark fails loudly.

use std::path::Path;
use std::time::{Duration, Instant};

use viva_realtime::{Line, LineStatus, Speaker};
use viva_store::{NewSession, SearchQuery, Store};

const SESSIONS: usize = 2_000;
const LINES_PER_SESSION: usize = 500;
const DAY_MS: i64 = 86_400_000;
const FIRST_DAY_MS: i64 = 1_735_689_600_000; // 2025-01-01

/// Interview words, most common first; picked with a Zipf-like skew like real speech.
const WORDS: &str = "the and to i a of that we it in was is for so on with this my you but \
    they have be at team what would as our about how there think when not do which had one \
    were were just then from an or more work time system because project also use can like \
    data service code test really make first new where out if could user design problem \
    people some all need good api database performance question well build change other \
    experience approach part release issue customer production feature process scale cache \
    latency query index memory thread async rust tokio python java kubernetes docker cloud \
    migration architecture review incident monitoring metrics logging tracing deploy \
    pipeline schema postgres sqlite redis kafka queue event stream batch retry backoff \
    timeout failure recovery consistency replication partition shard load balancer \
    throughput benchmark profiling allocation garbage collector compiler borrow checker \
    lifetime trait generic closure iterator ownership mutex channel actor websocket http \
    grpc protobuf json serialization authentication authorization token session encryption \
    certificate security audit compliance privacy stakeholder deadline estimate priority \
    roadmap mentor conflict feedback ownership communication documentation onboarding";

struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        // xorshift64*: deterministic data, so runs are comparable.
        self.0 ^= self.0 >> 12;
        self.0 ^= self.0 << 25;
        self.0 ^= self.0 >> 27;
        self.0.wrapping_mul(0x2545_F491_4F6C_DD1D)
    }

    fn below(&mut self, n: usize) -> usize {
        usize::try_from(self.next() % n as u64).unwrap()
    }
}

fn sentence(rng: &mut Rng, words: &[&str], extra: &[String]) -> String {
    let count = 6 + rng.below(20);
    (0..count)
        .map(|_| {
            // Squaring a uniform draw favours the common words.
            let r = rng.below(1_000_000) as f64 / 1_000_000.0;
            if rng.below(50) == 0 {
                extra[rng.below(extra.len())].as_str()
            } else {
                words[((r * r) * words.len() as f64) as usize]
            }
        })
        .collect::<Vec<_>>()
        .join(" ")
}

/// A store with SESSIONS × LINES_PER_SESSION final lines, built once and reused.
fn million_line_store(dir: &Path) -> Store {
    let path = dir.join(format!("store-{}.sqlite3", SESSIONS * LINES_PER_SESSION));
    let ready = dir.join(format!("store-{}.ready", SESSIONS * LINES_PER_SESSION));
    if !ready.exists() {
        let _ = std::fs::remove_file(&path);
        let started = Instant::now();
        let (store, _) = Store::open(&path).unwrap();
        let words: Vec<&str> = WORDS.split_whitespace().collect();
        // Rare words (names, products) so some queries match a handful of lines.
        let extra: Vec<String> = (0..20_000).map(|i| format!("term{i}")).collect();
        let mut rng = Rng(0x5EED);
        for s in 0..SESSIONS {
            let id = format!("session-{s:05}");
            store
                .begin_session(&NewSession {
                    id: id.clone(),
                    remote: None,
                    user_id: None,
                    title: format!(
                        "{} interview {s}",
                        ["Backend", "Frontend", "Data", "SRE"][s % 4]
                    ),
                    mode: "interview".into(),
                    started_at_ms: FIRST_DAY_MS + (s as i64 % 365) * DAY_MS,
                    consent: None,
                })
                .unwrap();
            let lines: Vec<Line> = (0..LINES_PER_SESSION)
                .map(|i| Line {
                    item_id: format!("item_{i}"),
                    seq: u32::try_from(i + 1).unwrap(),
                    speaker: if i % 2 == 0 {
                        Speaker::Interviewer
                    } else {
                        Speaker::Candidate
                    },
                    text: sentence(&mut rng, &words, &extra),
                    started_ms: i as u64 * 5_000,
                    ended_ms: Some(i as u64 * 5_000 + 4_000),
                    status: LineStatus::Final,
                    inaudible: None,
                    interrupted: false,
                })
                .collect();
            store.record_many(&id, &lines).unwrap();
            store
                .end_session(
                    &id,
                    &viva_store::Ending {
                        status: viva_store::SessionStatus::Completed,
                        ended_at_ms: FIRST_DAY_MS,
                        duration_ms: 2_500_000,
                        cost_usd: None,
                    },
                )
                .unwrap();
        }
        drop(store);
        std::fs::write(&ready, b"").unwrap();
        println!(
            "generated {} lines in {:.0?}",
            SESSIONS * LINES_PER_SESSION,
            started.elapsed()
        );
    }
    let started = Instant::now();
    let (store, _) = Store::open(&path).unwrap();
    let size = std::fs::metadata(&path).map(|m| m.len()).unwrap_or(0);
    println!(
        "| open + integrity check, {} lines ({} MiB) | {:.0?} | |",
        SESSIONS * LINES_PER_SESSION,
        size / (1024 * 1024),
        started.elapsed()
    );
    store
}

fn percentile(sorted: &[Duration], p: f64) -> Duration {
    sorted[((sorted.len() - 1) as f64 * p).round() as usize]
}

fn main() {
    let target = std::env::var_os("CARGO_TARGET_DIR")
        .map(std::path::PathBuf::from)
        .unwrap_or_else(|| Path::new(env!("CARGO_MANIFEST_DIR")).join("../../target"));
    let dir = target.join("viva-bench");
    std::fs::create_dir_all(&dir).unwrap();
    println!("\n## viva-store\n\n| case | p50 | p95 | hits |\n|---|---|---|---|");
    let store = million_line_store(&dir);
    let day = |d: i64| Some(FIRST_DAY_MS + d * DAY_MS);
    let cases: Vec<(&str, SearchQuery)> = vec![
        (
            "rare word",
            SearchQuery {
                text: "term1234".into(),
                ..SearchQuery::default()
            },
        ),
        (
            "common word",
            SearchQuery {
                text: "the".into(),
                ..SearchQuery::default()
            },
        ),
        (
            "two topic words",
            SearchQuery {
                text: "rust tokio".into(),
                ..SearchQuery::default()
            },
        ),
        (
            "phrase",
            SearchQuery {
                text: "\"borrow checker\"".into(),
                ..SearchQuery::default()
            },
        ),
        (
            "prefix",
            SearchQuery {
                text: "migrat*".into(),
                ..SearchQuery::default()
            },
        ),
        (
            "word + speaker",
            SearchQuery {
                text: "kubernetes".into(),
                speaker: Some(Speaker::Candidate),
                ..SearchQuery::default()
            },
        ),
        (
            "word + title",
            SearchQuery {
                text: "latency".into(),
                title_contains: Some("SRE".into()),
                ..SearchQuery::default()
            },
        ),
        (
            "word + one week",
            SearchQuery {
                text: "postgres".into(),
                from_ms: day(100),
                until_ms: day(107),
                ..SearchQuery::default()
            },
        ),
    ];
    for (name, query) in &cases {
        let mut times = Vec::new();
        let mut hits = 0;
        for _ in 0..40 {
            let started = Instant::now();
            hits = store.search(query).unwrap().len();
            times.push(started.elapsed());
        }
        times.sort();
        println!(
            "| search: {name} (50 best) | {:.1?} | {:.1?} | {hits} |",
            percentile(&times, 0.5),
            percentile(&times, 0.95)
        );
    }

    // One final line committed (WAL, synchronous=FULL: one fsync), in a fresh file.
    let commit_path = dir.join("commit.sqlite3");
    for suffix in ["", "-wal", "-shm"] {
        let _ = std::fs::remove_file(format!("{}{suffix}", commit_path.display()));
    }
    let (commit_store, _) = Store::open(&commit_path).unwrap();
    commit_store
        .begin_session(&NewSession {
            id: "live".into(),
            remote: Some("http://127.0.0.1:9".into()),
            user_id: Some("u".into()),
            title: "Live".into(),
            mode: "practice".into(),
            started_at_ms: 0,
            consent: None,
        })
        .unwrap();
    let mut times = Vec::new();
    for i in 0..300 {
        let line = Line {
            item_id: format!("live_{i}"),
            seq: i + 1,
            speaker: Speaker::Candidate,
            text: "I would start by measuring where the time goes before changing anything".into(),
            started_ms: u64::from(i) * 4000,
            ended_ms: Some(u64::from(i) * 4000 + 3000),
            status: LineStatus::Final,
            inaudible: None,
            interrupted: false,
        };
        let started = Instant::now();
        commit_store.record("live", &line).unwrap();
        times.push(started.elapsed());
    }
    times.sort();
    println!(
        "| commit one final line (+ outbox, fsync) | {:.2?} | {:.2?} | |",
        percentile(&times, 0.5),
        percentile(&times, 0.95)
    );
}

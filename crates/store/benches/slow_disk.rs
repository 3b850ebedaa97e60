//! A live interview's writes on a slow disk, and what they do to the async runtime the call runs
//! on. Every `fsync`/`fdatasync` is delayed (an `LD_PRELOAD` shim, built here with `cc`, sleeps
//! before the real call), then a session's stream is replayed on a two-worker runtime, as the
//! app's: a partial line every 50 ms, a final line every second, a level sample every 50 ms.
//! Beside it a task wakes every 20 ms, as the call's audio pacing does, and records how late it
//! woke.
//!
//! Two ways of writing are measured: `inline` (the store called straight from the session's
//! async task, as before W2-1) and `writer` (through `Store::on_writer`, the store's own thread).
//! Prints one table. Run with `cargo xtask bench`, or `cargo bench -p viva-store --bench
//! slow_disk` (`VIVA_BENCH_FSYNC_MS`, default 30, sets the delay).

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)] // A benchmark fails loudly.

use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use viva_realtime::{Line, LineStatus, Speaker, TranscriptChange};
use viva_store::{NewSession, Store};

const SHIM: &str = r#"
#define _GNU_SOURCE
#include <dlfcn.h>
#include <stdlib.h>
#include <time.h>
static void pause_ms(void) {
    const char *ms = getenv("VIVA_BENCH_FSYNC_MS");
    long delay = ms ? atol(ms) : 30;
    struct timespec t = { delay / 1000, (delay % 1000) * 1000000L };
    nanosleep(&t, NULL);
}
int fsync(int fd) {
    static int (*real)(int) = 0;
    if (!real) real = (int (*)(int))dlsym(RTLD_NEXT, "fsync");
    pause_ms();
    return real(fd);
}
int fdatasync(int fd) {
    static int (*real)(int) = 0;
    if (!real) real = (int (*)(int))dlsym(RTLD_NEXT, "fdatasync");
    pause_ms();
    return real(fd);
}
"#;

const RUN: Duration = Duration::from_secs(12);

/// Builds the shim and runs this benchmark again under it; returns when that run is done.
fn rerun_under_shim() {
    let dir = tempfile::tempdir().unwrap();
    let source = dir.path().join("slow_fsync.c");
    let library = dir.path().join("slow_fsync.so");
    std::fs::write(&source, SHIM).unwrap();
    let built = std::process::Command::new("cc")
        .args(["-shared", "-fPIC", "-O2", "-o"])
        .arg(&library)
        .arg(&source)
        .arg("-ldl")
        .status()
        .expect("a C compiler (cc) for the fsync shim");
    assert!(built.success(), "the fsync shim did not build");
    let status = std::process::Command::new(std::env::current_exe().unwrap())
        .env("LD_PRELOAD", &library)
        .env("VIVA_BENCH_UNDER_SHIM", "1")
        .status()
        .unwrap();
    assert!(status.success());
}

#[derive(Clone, Copy, PartialEq)]
enum Mode {
    Inline,
    Writer,
}

fn line(n: u32, text: &str, status: LineStatus) -> Line {
    Line {
        item_id: format!("item_{n}"),
        seq: n,
        speaker: if n.is_multiple_of(2) {
            Speaker::Interviewer
        } else {
            Speaker::Candidate
        },
        text: text.to_owned(),
        started_ms: u64::from(n) * 1000,
        ended_ms: (status == LineStatus::Final).then_some(u64::from(n) * 1000 + 900),
        status,
        inaudible: None,
        interrupted: false,
    }
}

enum Event {
    Change(TranscriptChange),
    Level,
}

struct Measured {
    tick_late: Vec<Duration>,
    level_delay: Vec<Duration>,
    final_delay: Vec<Duration>,
}

fn percentile(values: &mut [Duration], p: f64) -> Duration {
    values.sort();
    let index = ((values.len() as f64 - 1.0) * p).round() as usize;
    values[index.min(values.len().saturating_sub(1))]
}

fn run(mode: Mode, folder: &Path) -> Measured {
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .unwrap();
    let (store, _) = Store::open(&folder.join("transcripts.sqlite3")).unwrap();
    store
        .begin_session(&NewSession {
            id: "s".into(),
            remote: None,
            user_id: None,
            title: "Bench".into(),
            mode: "practice".into(),
            started_at_ms: 0,
            consent: None,
        })
        .unwrap();
    runtime.block_on(async move {
        let stop = Instant::now() + RUN;
        // The call's pacing: wakes every 20 ms; how late each wake is.
        let ticker = tokio::spawn(async move {
            let mut late = Vec::new();
            let mut next = Instant::now() + Duration::from_millis(20);
            while Instant::now() < stop {
                tokio::time::sleep_until(next.into()).await;
                late.push(Instant::now().saturating_duration_since(next));
                next += Duration::from_millis(20);
            }
            late
        });
        // What the call hands the session, as it arrives.
        let (events, mut incoming) = tokio::sync::mpsc::channel::<(Instant, Event)>(4096);
        tokio::spawn(async move {
            let mut n = 1_u32;
            let mut words = String::new();
            let mut step = 0_u32;
            while Instant::now() < stop {
                tokio::time::sleep(Duration::from_millis(50)).await;
                step += 1;
                let _ = events.send((Instant::now(), Event::Level)).await;
                let change = if step.is_multiple_of(20) {
                    let change = TranscriptChange::LineFinal(line(n, &words, LineStatus::Final));
                    n += 1;
                    words.clear();
                    change
                } else {
                    words.push_str("word ");
                    TranscriptChange::LinePartial(line(n, &words, LineStatus::Partial))
                };
                let _ = events.send((Instant::now(), Event::Change(change))).await;
            }
        });
        // The session: every change is written before it is passed on; levels pass straight on.
        let session = tokio::spawn(async move {
            let mut level_delay = Vec::new();
            let mut final_delay = Vec::new();
            while let Some((sent, event)) = incoming.recv().await {
                match event {
                    Event::Level => level_delay.push(sent.elapsed()),
                    Event::Change(change) => {
                        let is_final = matches!(change, TranscriptChange::LineFinal(_));
                        match mode {
                            Mode::Inline => store.apply("s", &change).unwrap(),
                            Mode::Writer => store
                                .on_writer(move |store| store.apply("s", &change))
                                .await
                                .unwrap(),
                        }
                        if is_final {
                            final_delay.push(sent.elapsed());
                        }
                    }
                }
            }
            (level_delay, final_delay)
        });
        let tick_late = ticker.await.unwrap();
        let (level_delay, final_delay) = session.await.unwrap();
        Measured {
            tick_late,
            level_delay,
            final_delay,
        }
    })
}

fn ms(d: Duration) -> String {
    format!("{:.1} ms", d.as_secs_f64() * 1000.0)
}

fn main() {
    if std::env::var_os("VIVA_BENCH_UNDER_SHIM").is_none() {
        rerun_under_shim();
        return;
    }
    let delay = std::env::var("VIVA_BENCH_FSYNC_MS").unwrap_or_else(|_| "30".into());
    println!(
        "\nA live session's writes with every fsync delayed {delay} ms (two-worker runtime, {} s each)\n",
        RUN.as_secs()
    );
    println!(
        "| writes | call pacing late p50 / p99 / max | level to the UI p50 / p99 | final line saved p50 / p99 |"
    );
    println!("|---|---|---|---|");
    let mut summary = Vec::new();
    for (mode, name) in [
        (Mode::Inline, "on the async task (before)"),
        (Mode::Writer, "on the store's writer thread"),
    ] {
        let folder: PathBuf = tempfile::tempdir().unwrap().keep();
        let mut measured = run(mode, &folder);
        let _ = std::fs::remove_dir_all(&folder);
        let row = format!(
            "| {name} | {} / {} / {} | {} / {} | {} / {} |",
            ms(percentile(&mut measured.tick_late, 0.5)),
            ms(percentile(&mut measured.tick_late, 0.99)),
            ms(percentile(&mut measured.tick_late, 1.0)),
            ms(percentile(&mut measured.level_delay, 0.5)),
            ms(percentile(&mut measured.level_delay, 0.99)),
            ms(percentile(&mut measured.final_delay, 0.5)),
            ms(percentile(&mut measured.final_delay, 0.99)),
        );
        println!("{row}");
        summary.push(format!(
            "| {delay} ms fsync, writes {name}: call pacing late p99 / max | {} / {} | no stall beyond a tick (20 ms) |\n",
            ms(percentile(&mut measured.tick_late, 0.99)),
            ms(percentile(&mut measured.tick_late, 1.0)),
        ));
    }
    if let Some(dir) = std::env::var_os("VIVA_BENCH_ROWS") {
        let dir = PathBuf::from(dir);
        let _ = std::fs::create_dir_all(&dir);
        let _ = std::fs::write(dir.join("store_slow_disk.md"), summary.concat());
    }
}

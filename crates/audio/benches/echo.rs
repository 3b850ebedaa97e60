//! Echo cancellation in simulated rooms (echo delay 40/80/150 ms × gain −6/−12/−20 dB):
//! ERLE after convergence and from the first second on, time to converge, the candidate's level
//! change in double talk and CPU per minute of audio. Needs no sound server; prints a table and, when `VIVA_BENCH_ROWS`
//! names a folder, leaves its summary rows there.

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

#[path = "../tests/room/mod.rs"]
mod room;

use cpu_time::ThreadTime;
use room::{RATE, Room, Voice, at, db, energy, noise};

/// The timeline of each room, in seconds: the interviewer alone until `DOUBLE_TALK`, the
/// candidate over them until `FAR_END`, then the candidate alone from `ALONE`.
const DOUBLE_TALK: f64 = 6.0;
const FAR_END: f64 = 9.0;
const ALONE: f64 = 10.0;
const TOTAL: f64 = 13.5;

struct Measured {
    room: Room,
    erle_db: f64,
    /// From 1 s until the double talk, as the tests require (≥ 30 dB after a second).
    erle_from_1s_db: f64,
    /// 0.5 s windows: the residual against the echo over a few words.
    converged_s: Option<f64>,
    /// 100 ms windows: strict, as word tails leave the residual floor only 10–20 dB down.
    converged_strict_s: Option<f64>,
    double_talk_db: f64,
    cpu_s: f64,
}

fn measure(room: Room, far_voice: &Voice, near_voice: &Voice) -> Measured {
    let mut far = far_voice.at(48_000, TOTAL);
    far.truncate(at(TOTAL));
    far[at(FAR_END)..].fill(0.0);
    let echo = room.echo(&far);
    let clip = near_voice.at(48_000, 0.0);
    let clip_len = clip.len().min(at(FAR_END - DOUBLE_TALK));
    // The candidate 6 dB above the echo.
    let gain = room::active_rms(&echo, RATE / 100) * 2.0 / room::active_rms(&clip, RATE / 100);
    let mut near = vec![0.0f32; far.len()];
    for start in [at(DOUBLE_TALK), at(ALONE)] {
        for (i, s) in clip[..clip_len].iter().enumerate() {
            near[start + i] = s * gain;
        }
    }
    let floor = noise(far.len(), -85.0, 3);
    let mic: Vec<f32> = (0..far.len())
        .map(|i| echo[i] + near[i] + floor[i])
        .collect();

    // Setting the canceller up is inside the timing: a few hundred µs against seconds of audio.
    let cpu = ThreadTime::now();
    let out = room::through_canceller(&far, &mic);
    let cpu_s = cpu.elapsed().as_secs_f64();

    let level = |start: usize| {
        let range = start..start + clip_len + RATE / 10;
        db(energy(&out[range.clone()]) / energy(&near[range]))
    };
    Measured {
        room,
        erle_db: room::erle(&echo, &out, 2.0, DOUBLE_TALK),
        erle_from_1s_db: room::erle(&echo, &out, 1.0, DOUBLE_TALK),
        converged_s: room::converged_at(&echo, &out, 30.0, 0.5, DOUBLE_TALK),
        converged_strict_s: room::converged_at(&echo, &out, 30.0, 0.1, DOUBLE_TALK),
        double_talk_db: level(at(DOUBLE_TALK)) - level(at(ALONE)),
        cpu_s,
    }
}

fn seconds(s: Option<f64>) -> String {
    s.map_or_else(|| "never".to_owned(), |s| format!("{s:.1} s"))
}

fn main() {
    let far = Voice::far();
    let near = Voice::near();
    let source = if far.spoken {
        "espeak-ng speech"
    } else {
        "synthetic speech (espeak-ng not found)"
    };
    let mut results = Vec::new();
    for delay_ms in [40.0, 80.0, 150.0] {
        for gain_db in [-6.0, -12.0, -20.0] {
            results.push(measure(Room { delay_ms, gain_db }, &far, &near));
        }
    }

    println!(
        "\n| room ({source}) | ERLE after convergence (2–6 s) | ERLE from 1 s (1–6 s) | converged to ≥ 30 dB (0.5 s / 100 ms windows) | double-talk level change | CPU |\n|---|---|---|---|---|---|"
    );
    for r in &results {
        println!(
            "| {:.0} ms, {:+.0} dB | {:.1} dB | {:.1} dB | {} / {} | {:+.2} dB | {:.2} % of a core |",
            r.room.delay_ms,
            r.room.gain_db,
            r.erle_db,
            r.erle_from_1s_db,
            seconds(r.converged_s),
            seconds(r.converged_strict_s),
            r.double_talk_db,
            100.0 * r.cpu_s / TOTAL
        );
    }

    let worst_erle = results.iter().map(|r| r.erle_db).fold(f64::MAX, f64::min);
    let mean_erle = results.iter().map(|r| r.erle_db).sum::<f64>() / results.len() as f64;
    let worst_erle_1s = results
        .iter()
        .map(|r| r.erle_from_1s_db)
        .fold(f64::MAX, f64::min);
    let slowest = |pick: fn(&Measured) -> Option<f64>| {
        let worst = results
            .iter()
            .map(|r| pick(r).unwrap_or(f64::INFINITY))
            .fold(0.0, f64::max);
        seconds(worst.is_finite().then_some(worst))
    };
    let worst_double_talk = results
        .iter()
        .map(|r| r.double_talk_db)
        .max_by(|a, b| a.abs().total_cmp(&b.abs()))
        .unwrap_or_default();
    let cpu: f64 = results.iter().map(|r| r.cpu_s).sum();
    let audio = TOTAL * results.len() as f64;
    let rows = [
        format!(
            "| audio echo: ERLE after convergence, worst of 9 rooms (mean) | {worst_erle:.1} dB ({mean_erle:.1} dB) | ≥ 30 dB |"
        ),
        format!(
            "| audio echo: ERLE from 1 s on (1–6 s), worst of 9 rooms | {worst_erle_1s:.1} dB | ≥ 30 dB |"
        ),
        format!(
            "| audio echo: time to converge to 30 dB over 0.5 s windows, slowest room (100 ms windows) | {} ({}) | ≤ 1 s |",
            slowest(|r| r.converged_s),
            slowest(|r| r.converged_strict_s)
        ),
        format!(
            "| audio echo: candidate's level change in double talk, worst room | {worst_double_talk:+.2} dB | ≤ 3 dB |"
        ),
        format!(
            "| audio echo: CPU per minute of audio (AEC3, noise suppression, high-pass) | {:.2} s ({:.2} % of a core) | ≤ 2 % of a core |",
            cpu / audio * 60.0,
            100.0 * cpu / audio
        ),
    ];
    println!("\n| measure ({source}) | result | goal |\n|---|---|---|");
    for row in &rows {
        println!("{row}");
    }
    if let Ok(dir) = std::env::var("VIVA_BENCH_ROWS") {
        let _ = std::fs::create_dir_all(&dir);
        let _ = std::fs::write(
            std::path::Path::new(&dir).join("audio_echo.md"),
            rows.join("\n") + "\n",
        );
    }
}

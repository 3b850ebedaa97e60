//! The candidate's word error rate with the interviewer's echo, with and without echo
//! cancellation, against clean speech. Ten interview turns, twice over, in one continuous call
//! per room: the interviewer asks (espeak-ng, one voice) through the speakers, the room's echo
//! path brings it back to the microphone, and the candidate (espeak-ng, another voice) answers —
//! after a pause (single talk), or, every other turn, over the question's last 1.5 s (double
//! talk). The first round has the odd turns in double talk, the second the even ones, so every
//! answer is heard once each way: the split is not a split between sentences, and one
//! sentence's luck with the model does not decide the double-talk figure. Each answer's stretch
//! of the microphone signal is transcribed by the offline model (Whisper tiny.en, as the local
//! interviewer runs it) at five alignments of its window ([`ALIGNMENTS_MS`]):
//!
//! - clean: the candidate alone;
//! - echo, no AEC: the candidate and the echo, as the microphone hears them;
//! - echo + AEC: the same through [`viva_audio::EchoCanceller`], its reference what the speakers played.
//!
//! The canceller runs for the whole call, so it has converged on the first question before the
//! first answer, as in a real interview. Rooms as in the `echo` benchmark of `viva-audio` (delay
//! 40/80/150 ms × gain −6/−12/−20 dB); both voices at the same level (−20 dBFS active), so the
//! candidate is 6/12/20 dB above the echo. Needs the speech model (`cargo xtask setup`) and
//! espeak-ng; skips with a message without them. Prints a table and, when `VIVA_BENCH_ROWS`
//! names a folder, leaves its summary rows there.

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

#[path = "../../audio/tests/room/mod.rs"]
mod room;

use std::ops::Range;
use std::time::Instant;

use room::{RATE, Room, Voice, at, noise};
use viva_audio::FRAME_SAMPLES;
use viva_audio::resample::StreamResampler;
use viva_speech::model::{default_model_path, word_errors};
use viva_speech::stt::{Model, Transcriber};

/// The interviewer's questions and the candidate's answers, in order.
const TURNS: [(&str, &str); 10] = [
    (
        "Tell me about yourself, and what brought you to this role.",
        "I have worked as a software engineer for many years, mostly on payment systems.",
    ),
    (
        "What was the hardest bug you have fixed, and how did you find it?",
        "A memory leak in our cache, which I found by comparing heap snapshots over a week.",
    ),
    (
        "How do you decide what to work on first when everything is urgent?",
        "I ask what breaks for customers first, and I fix that before anything else.",
    ),
    (
        "Tell me about a time you disagreed with a colleague.",
        "We argued about the database design, so we built both versions and measured them.",
    ),
    (
        "How would you design a service that sends reminders to millions of people?",
        "I would put the reminders in a queue and let many small workers send them.",
    ),
    (
        "What do you do when a project falls behind schedule?",
        "I tell the team early, cut the least important features, and agree on a new date.",
    ),
    (
        "Describe a decision you made with incomplete information.",
        "We chose a new vendor in a single afternoon, and I planned a way to switch back.",
    ),
    (
        "How do you make sure your code is easy for others to read?",
        "I keep functions short, name things clearly, and ask for a review of every change.",
    ),
    (
        "What did you learn from your last project that failed?",
        "That you should talk to real users before you build anything large.",
    ),
    (
        "Why do you want to leave your current job?",
        "I want to work on harder problems with a team that really cares about quality.",
    ),
];

/// The candidate's voice: the one the speech model's own tests use.
const CANDIDATE_VOICE: [&str; 4] = ["-v", "en-us", "-s", "160"];
/// The interviewer's: another voice, pitch and speed.
const INTERVIEWER_VOICE: [&str; 6] = ["-v", "en-gb+f3", "-p", "70", "-s", "165"];
/// The longest room's echo path: 150 ms and its last reflection 23 ms later.
const LONGEST_ECHO: f64 = 0.15 + 0.023;
/// How much of a question's end a double-talk answer overlaps.
const OVERLAP: f64 = 1.5;
/// The candidate's pause after a question in single talk (after its echo has died away).
const PAUSE: f64 = 0.6;
/// The interviewer's pause after an answer.
const NEXT_QUESTION: f64 = 0.8;
/// Around each answer's speech, the window that is transcribed.
const LEAD: f64 = 0.1;
const TAIL: f64 = 0.4;

/// Where each answer's window is moved to, in ms. Whisper tiny.en writes different words for
/// a window moved by 5–10 ms (the clean answers' word error rate ranged from 9.5 to 16.2 %
/// over these offsets), so every condition is heard at each of them and the errors summed:
/// the comparison is between the signals, not between one alignment's luck and another's.
const ALIGNMENTS_MS: [i64; 5] = [-20, -10, 0, 10, 20];

/// How many times the call goes through the ten turns (double talk on the odd turns the first
/// time, on the even ones the second).
const ROUNDS: usize = 2;
/// The answers heard in a call.
const ANSWERS: usize = ROUNDS * TURNS.len();
/// Each answer at each alignment.
const HEARINGS: usize = ANSWERS * ALIGNMENTS_MS.len();

/// One answer in the call.
struct Answer {
    /// Which of [`TURNS`].
    turn: usize,
    /// The transcribed window.
    window: Range<usize>,
    /// Whether it overlaps its question.
    double_talk: bool,
}

/// Where each answer is in the call, and what was played and said.
struct Call {
    /// What the speakers played (the interviewer), 48 kHz mono.
    far: Vec<f32>,
    /// What the candidate said, at the microphone, 48 kHz mono.
    near: Vec<f32>,
    answers: Vec<Answer>,
}

/// The last sample of `x` within 30 dB of its loudest 10 ms (the end of its speech).
fn speech_end(x: &[f32]) -> usize {
    let window = RATE / 100;
    let energies: Vec<f64> = x.chunks(window).map(room::energy).collect();
    let loudest = energies.iter().copied().fold(0.0, f64::max);
    energies
        .iter()
        .rposition(|&e| e > loudest * 1e-3)
        .map_or(x.len(), |i| ((i + 1) * window).min(x.len()))
}

/// Lays the turns out on one timeline, [`ROUNDS`] times. The longest room delay is waited for
/// before a single-talk answer, so no room's echo reaches into it.
fn call(questions: &[Vec<f32>], answers: &[Vec<f32>]) -> Call {
    let mut far = Vec::new();
    let mut near = Vec::new();
    let mut windows = Vec::new();
    let mut t = at(0.5);
    let turns = questions.iter().zip(answers).enumerate();
    for (index, (turn, (question, answer))) in turns.cycle().take(ANSWERS).enumerate() {
        let question_end = t + speech_end(question);
        // The first question plays in full before the first answer, as a call opens.
        let round = index / TURNS.len();
        let double_talk = turn % 2 != round % 2;
        let start = if double_talk {
            question_end - at(OVERLAP)
        } else {
            question_end + at(LONGEST_ECHO + PAUSE)
        };
        let answer_end = start + speech_end(answer);
        let total = (answer_end + at(TAIL + NEXT_QUESTION)).max(t + question.len());
        far.resize(total, 0.0);
        near.resize(total, 0.0);
        for (i, s) in question.iter().enumerate() {
            far[t + i] += s;
        }
        for (i, s) in answer[..speech_end(answer)].iter().enumerate() {
            near[start + i] += s;
        }
        windows.push(Answer {
            turn,
            window: start - at(LEAD)..answer_end + at(TAIL),
            double_talk,
        });
        t = answer_end + at(NEXT_QUESTION);
    }
    // Whole 20 ms frames, and a second of quiet at the end.
    let total = (far.len() + RATE).next_multiple_of(FRAME_SAMPLES);
    far.resize(total, 0.0);
    near.resize(total, 0.0);
    Call {
        far,
        near,
        answers: windows,
    }
}

/// Word errors of one condition, split by double and single talk.
#[derive(Debug, Clone, Default)]
struct Score {
    /// (edits, words said) in double talk and in single talk, over every alignment.
    double_talk: (usize, usize),
    single_talk: (usize, usize),
    /// (edits, words said) at each of [`ALIGNMENTS_MS`].
    by_alignment: [(usize, usize); ALIGNMENTS_MS.len()],
    /// Each hearing's edits: answer by answer (in the call's order) at each alignment.
    edits: Vec<usize>,
}

impl Score {
    fn add(&mut self, hearing: Hearing, (edits, words): (usize, usize)) {
        self.edits.push(edits);
        let part = if hearing.double_talk {
            &mut self.double_talk
        } else {
            &mut self.single_talk
        };
        part.0 += edits;
        part.1 += words;
        let at = &mut self.by_alignment[hearing.alignment];
        at.0 += edits;
        at.1 += words;
    }

    fn all(&self) -> f64 {
        rate((
            self.double_talk.0 + self.single_talk.0,
            self.double_talk.1 + self.single_talk.1,
        ))
    }

    /// How many hearings had more errors than the same answer at the same alignment in `than`.
    fn worse(&self, than: &Self) -> usize {
        self.edits
            .iter()
            .zip(&than.edits)
            .filter(|(a, b)| a > b)
            .count()
    }

    fn cell(&self) -> String {
        format!(
            "{:.1} % ({:.1} / {:.1})",
            self.all(),
            rate(self.double_talk),
            rate(self.single_talk)
        )
    }
}

/// Word error rate in percent.
fn rate((edits, words): (usize, usize)) -> f64 {
    100.0 * edits as f64 / words.max(1) as f64
}

/// One answer heard at one alignment.
#[derive(Debug, Clone, Copy)]
struct Hearing {
    turn: usize,
    double_talk: bool,
    /// Index into [`ALIGNMENTS_MS`].
    alignment: usize,
}

/// Two transcribers, one thread each (as the local interviewer runs one), hearing answers side
/// by side: what they write does not depend on how many run at once.
struct Listener {
    transcribers: [Transcriber; 2],
    transcriptions: usize,
    seconds: f64,
}

impl Listener {
    /// Transcribes each answer's window of `signal` (48 kHz), read `latency` samples later (the
    /// processing's own delay), at every alignment, and scores it. Misheard answers go to
    /// stderr under `label`.
    fn score(&mut self, call: &Call, signal: &[f32], latency: usize, label: &str) -> Score {
        let mut jobs = Vec::new();
        for (alignment, &ms) in ALIGNMENTS_MS.iter().enumerate() {
            for answer in &call.answers {
                let shift = latency as i64 + ms * RATE as i64 / 1000;
                let from = (answer.window.start as i64 + shift).max(0) as usize;
                let to = ((answer.window.end as i64 + shift).max(0) as usize).min(signal.len());
                let hearing = Hearing {
                    turn: answer.turn,
                    double_talk: answer.double_talk,
                    alignment,
                };
                jobs.push((hearing, &signal[from.min(to)..to]));
            }
        }
        let half = jobs.len().div_ceil(2);
        let [first, second] = &mut self.transcribers;
        let (heard, seconds) = std::thread::scope(|scope| {
            let (a, b) = jobs.split_at(half);
            let other = scope.spawn(|| hear_all(second, b));
            let (mut heard, mut seconds) = hear_all(first, a);
            let (rest, more) = other.join().unwrap();
            heard.extend(rest);
            seconds += more;
            (heard, seconds)
        });
        self.seconds += seconds;
        self.transcriptions += jobs.len();
        let mut score = Score::default();
        for ((hearing, _), heard) in jobs.iter().zip(heard) {
            let errors = word_errors(TURNS[hearing.turn].1, &heard);
            if errors.0 > 0 {
                let talk = if hearing.double_talk {
                    "double"
                } else {
                    "single"
                };
                eprintln!(
                    "  {label}: answer {} ({talk} talk, {:+} ms): {} errors: “{heard}”",
                    hearing.turn + 1,
                    ALIGNMENTS_MS[hearing.alignment],
                    errors.0
                );
            }
            score.add(*hearing, errors);
        }
        score
    }
}

/// What `transcriber` hears in each stretch, and the seconds it took.
fn hear_all(transcriber: &mut Transcriber, jobs: &[(Hearing, &[f32])]) -> (Vec<String>, f64) {
    let started = Instant::now();
    let heard = jobs
        .iter()
        .map(|(_, samples)| {
            let mut resampler = StreamResampler::new(48_000, 16_000).unwrap();
            let mut audio = Vec::new();
            resampler.process(samples, &mut audio).unwrap();
            resampler
                .process(&vec![0.0; RATE / 10], &mut audio)
                .unwrap();
            transcriber.transcribe(&audio, false).unwrap()
        })
        .collect();
    (heard, started.elapsed().as_secs_f64())
}

/// How many samples later `processed` carries `input` (the lag, up to 50 ms, that correlates
/// them best over the call's first ten seconds).
fn latency(input: &[f32], processed: &[f32]) -> usize {
    let stretch = 0..at(10.0).min(input.len().saturating_sub(at(0.05)));
    (0..at(0.05))
        .map(|lag| {
            let c: f64 = stretch
                .clone()
                .map(|i| f64::from(input[i]) * f64::from(processed[i + lag]))
                .sum();
            (lag, c)
        })
        .max_by(|a, b| a.1.total_cmp(&b.1))
        .map_or(0, |(lag, _)| lag)
}

fn main() {
    let started = Instant::now();
    let path = default_model_path();
    if !path.is_file() {
        eprintln!(
            "echo WER benchmark skipped: no speech model at {} (run `cargo xtask setup`, or `cargo xtask bench`)",
            path.display()
        );
        return;
    }
    let questions: Vec<Voice> = TURNS
        .iter()
        .enumerate()
        .map(|(i, (q, _))| Voice::new(q, &INTERVIEWER_VOICE, 2 * i as u64 + 1))
        .collect();
    let answers: Vec<Voice> = TURNS
        .iter()
        .enumerate()
        .map(|(i, (_, a))| Voice::new(a, &CANDIDATE_VOICE, 2 * i as u64 + 2))
        .collect();
    if !questions.iter().chain(&answers).all(|v| v.spoken) {
        eprintln!(
            "echo WER benchmark skipped: espeak-ng not found (a word error rate needs words)"
        );
        return;
    }
    let questions: Vec<Vec<f32>> = questions.iter().map(|v| v.at(48_000, 0.0)).collect();
    let answers: Vec<Vec<f32>> = answers.iter().map(|v| v.at(48_000, 0.0)).collect();
    let call = call(&questions, &answers);
    let floor = noise(call.far.len(), -85.0, 3);

    let model = Model::load(&path, 1).unwrap();
    let mut listener = Listener {
        transcribers: [model.transcriber().unwrap(), model.transcriber().unwrap()],
        transcriptions: 0,
        seconds: 0.0,
    };
    let alone: Vec<f32> = call.near.iter().zip(&floor).map(|(n, f)| n + f).collect();
    eprintln!("clean:");
    let clean = listener.score(&call, &alone, 0, "clean");
    // The candidate alone through the canceller while the interviewer plays (headphones, or a
    // room with no echo): what the processing itself costs. Its output comes a fixed few ms
    // later (band splitting and noise suppression work on overlapping blocks); each answer is
    // read that much later, as the local interviewer's voice detection would follow it.
    let through = room::through_canceller(&call.far, &alone);
    let delay = latency(&alone, &through);
    eprintln!(
        "no echo, through the canceller (its output {:.1} ms late):",
        delay as f64 * 1000.0 / RATE as f64
    );
    let processed = listener.score(&call, &through, delay, "processed");

    let mut rooms = Vec::new();
    let mut aec_cpu = 0.0;
    for delay_ms in [40.0, 80.0, 150.0] {
        for gain_db in [-6.0, -12.0, -20.0] {
            let room = Room { delay_ms, gain_db };
            eprintln!("room {delay_ms} ms, {gain_db} dB:");
            let echo = room.echo(&call.far);
            let mic: Vec<f32> = (0..echo.len()).map(|i| echo[i] + alone[i]).collect();
            let raw = listener.score(&call, &mic, 0, "no AEC");
            let aec_started = Instant::now();
            let out = room::through_canceller(&call.far, &mic);
            aec_cpu += aec_started.elapsed().as_secs_f64();
            // Sanity: the echo taken out while the first question plays alone.
            let first_answer = call.answers[0].window.start as f64 / RATE as f64;
            eprintln!(
                "  ERLE over the first question: {:.1} dB",
                room::erle(&echo, &out, 1.0, first_answer)
            );
            let aec = listener.score(&call, &out, delay, "AEC");
            rooms.push((room, raw, aec));
        }
    }

    let seconds = call.far.len() as f64 / RATE as f64;
    let words: usize = ROUNDS * TURNS.iter().map(|t| word_errors(t.1, t.1).1).sum::<usize>();
    println!(
        "\n| candidate's word error rate, all (double talk / single talk); {ANSWERS} answers, {words} words, {seconds:.0} s call, each answer heard at {} alignments | clean | echo, no AEC | echo + AEC | AEC − clean |\n|---|---|---|---|---|",
        ALIGNMENTS_MS.len()
    );
    println!(
        "| no echo (the candidate alone) | {} | | {} (no echo, through the canceller) | {:+.1} points ({} of {} hearings worse) |",
        clean.cell(),
        processed.cell(),
        processed.all() - clean.all(),
        processed.worse(&clean),
        HEARINGS
    );
    for (room, raw, aec) in &rooms {
        println!(
            "| room {:.0} ms, {:+.0} dB | {:.1} % | {} | {} | {:+.1} points ({} of {} hearings worse) |",
            room.delay_ms,
            room.gain_db,
            clean.all(),
            raw.cell(),
            aec.cell(),
            aec.all() - clean.all(),
            aec.worse(&clean),
            HEARINGS
        );
    }

    let worst = rooms
        .iter()
        .max_by(|a, b| a.2.all().total_cmp(&b.2.all()))
        .unwrap();
    let mean_aec = rooms.iter().map(|r| r.2.all()).sum::<f64>() / rooms.len() as f64;
    let worst_raw = rooms.iter().map(|r| r.1.all()).fold(0.0, f64::max);
    let mean_raw = rooms.iter().map(|r| r.1.all()).sum::<f64>() / rooms.len() as f64;
    let spread: Vec<String> = clean
        .by_alignment
        .iter()
        .zip(ALIGNMENTS_MS)
        .map(|(&errors, ms)| format!("{:.1} % at {ms:+} ms", rate(errors)))
        .collect();
    println!(
        "\nThe clean answers alone, window by window: {}; the canceller's output is {:.1} ms late and read that much later.",
        spread.join(", "),
        delay as f64 * 1000.0 / RATE as f64
    );
    let rows = [
        format!(
            "| speech echo: candidate's WER with echo + AEC − clean, worst of 9 rooms ({:.0} ms, {:+.0} dB; mean) | {:+.1} points ({:+.1}) | ≤ 3 points |",
            worst.0.delay_ms,
            worst.0.gain_db,
            worst.2.all() - clean.all(),
            mean_aec - clean.all()
        ),
        format!(
            "| speech echo: candidate's WER clean / echo + AEC worst room / echo without AEC worst room (mean) | {:.1} % / {:.1} % / {:.1} % ({:.1} %) | |",
            clean.all(),
            worst.2.all(),
            worst_raw,
            mean_raw
        ),
    ];
    println!("\n| measure | result | goal |\n|---|---|---|");
    for row in &rows {
        println!("{row}");
    }
    eprintln!(
        "\n{} transcriptions in {:.1} s; AEC over 9 × {seconds:.0} s in {aec_cpu:.1} s; {:.1} s in all",
        listener.transcriptions,
        listener.seconds,
        started.elapsed().as_secs_f64()
    );
    if let Ok(dir) = std::env::var("VIVA_BENCH_ROWS") {
        let _ = std::fs::create_dir_all(&dir);
        let _ = std::fs::write(
            std::path::Path::new(&dir).join("speech_echo.md"),
            rows.join("\n") + "\n",
        );
    }
}

//! Echo cancellation end to end on the harness's sound devices: the speakers are routed back
//! into the microphone (a PulseAudio loopback from the virtual speakers into the virtual
//! microphone, delayed and attenuated, as a laptop's speakers reach its microphone), and a
//! five-question practice interview runs on a real `LiveSession` with both devices, the
//! candidate's answers spoken into the microphone by espeak-ng after each question. With
//! cancellation on, the interviewer never hears itself: no candidate line is a question heard
//! back and it never cuts itself off. With it off, the same interview shows the failure.

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use std::process::{Child, Command, Stdio};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use viva_audio::{CaptureSettings, Direction, PlaybackSettings};
use viva_cli::embedded::{self, EmbeddedOptions};
use viva_cli::script::{self, Ears, Mouth, Outcome, Script};
use viva_localstack::interviewer::script::{DEFAULT_SET, question_set};
use viva_realtime::{Line, LineStatus, Speaker};
use viva_rtc::{CallConfig, Heard};
use viva_session::{
    BackendGrants, EchoState, LiveEvent, LiveSession, LiveSettings, Microphone, Speakers,
};
use viva_speech::model::word_errors;

mod common;
use common::{mic_sink, recording, require_pulse, speaker_sink, speech, words};

/// Both tests use the one virtual microphone and run Whisper: one at a time under plain
/// `cargo test` too (nextest's `shared-harness` group does it across processes).
static ONE_CALL_AT_A_TIME: tokio::sync::Mutex<()> = tokio::sync::Mutex::const_new(());

/// The way back from the speakers to the microphone: the delay PulseAudio's loopback keeps,
/// and its attenuation (a laptop's speakers reach its microphone some 10–20 dB down).
const ECHO_LATENCY_MS: u32 = 80;
const ECHO_GAIN_DB: f32 = -14.0;

/// A line this far (word error rate) from every question is not that question heard back.
const NOT_A_QUESTION_WER: f64 = 0.7;

/// The local interviewer's turn detection counts a frame louder than this as speech (its
/// `ServerVad` default), for the residual echo report.
const TURN_DBFS: f32 = -40.0;

/// The candidate's answers, one per question, in words that none of the questions uses much.
const ANSWERS: [&str; 5] = [
    "I build payment systems and I enjoy working with databases.",
    "We argued about the release plan, so I wrote down both options and we picked one together.",
    "I once broke the main branch on a Friday, so now I test every change first.",
    "We finished two weeks early and nobody lost any data.",
    "I enjoy solving hard problems with a small and friendly team.",
];

fn pactl(args: &[&str]) -> String {
    let out = Command::new("pactl")
        .env("LC_ALL", "C")
        .args(args)
        .output()
        .expect("pactl runs");
    assert!(
        out.status.success(),
        "pactl {args:?}: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8_lossy(&out.stdout).into_owned()
}

/// The speakers played back into the microphone, until dropped (unloaded even when the test
/// fails).
struct Loopback {
    module: String,
}

impl Loopback {
    fn load(latency_ms: u32, gain_db: f32) -> Self {
        let module = pactl(&[
            "load-module",
            "module-loopback",
            &format!("source={}.monitor", speaker_sink()),
            &format!("sink={}", mic_sink()),
            &format!("latency_msec={latency_ms}"),
            "source_dont_move=true",
            "sink_dont_move=true",
            // A fixed path, as a laptop's speakers and microphone on one clock make. By
            // default the loopback resamples every 10 s to hold its latency: a drifting
            // clock between speakers and microphone, which the canceller follows less well.
            "adjust_time=0",
        ])
        .trim()
        .to_owned();
        let loopback = Self { module };
        let deadline = Instant::now() + Duration::from_secs(5);
        let input = loop {
            if let Some(input) = loopback.sink_input() {
                break input;
            }
            assert!(
                Instant::now() < deadline,
                "the loopback has no sink input: {}",
                pactl(&["list", "sink-inputs"])
            );
            std::thread::sleep(Duration::from_millis(20));
        };
        // As a linear factor: pactl reads a leading minus as "lower by".
        let factor = 10f32.powf(gain_db / 20.0);
        pactl(&["set-sink-input-volume", &input, &format!("{factor:.4}")]);
        loopback
    }

    /// The loopback's stream into the microphone's sink.
    fn sink_input(&self) -> Option<String> {
        let list = pactl(&["list", "sink-inputs"]);
        let mut current = None;
        for line in list.lines() {
            let line = line.trim();
            if let Some(index) = line.strip_prefix("Sink Input #") {
                current = Some(index.to_owned());
            } else if line.strip_prefix("Owner Module: ") == Some(self.module.as_str()) {
                return current;
            }
        }
        None
    }
}

impl Drop for Loopback {
    fn drop(&mut self) {
        let _ = Command::new("pactl")
            .args(["unload-module", &self.module])
            .status();
    }
}

/// Writes 48 kHz mono samples to a WAV file for paplay.
fn write_wav(path: &std::path::Path, samples: &[f32]) {
    let spec = hound::WavSpec {
        channels: 1,
        sample_rate: viva_audio::SAMPLE_RATE,
        bits_per_sample: 16,
        sample_format: hound::SampleFormat::Int,
    };
    let mut writer = hound::WavWriter::create(path, spec).unwrap();
    for s in samples {
        writer
            .write_sample((s.clamp(-1.0, 1.0) * f32::from(i16::MAX)) as i16)
            .unwrap();
    }
    writer.finalize().unwrap();
}

fn play(sink: &str, wav: &std::path::Path) -> Child {
    Command::new("paplay")
        .args(["-d", sink])
        .arg(wav)
        .spawn()
        .expect("paplay runs")
}

/// How loud what the speakers play arrives in the microphone, in dB: a tone played into the
/// speakers' sink, recorded from the microphone's monitor, loudest 100 ms against the tone.
fn measure_echo_gain_db(dir: &std::path::Path) -> f64 {
    let rate = viva_audio::SAMPLE_RATE as usize;
    let amplitude = 0.25f32;
    let tone: Vec<f32> = (0..rate)
        .map(|i| amplitude * (2.0 * std::f32::consts::PI * 440.0 * i as f32 / rate as f32).sin())
        .collect();
    let wav = dir.join("probe.wav");
    write_wav(&wav, &tone);
    let mut recorder = Command::new("parec")
        .args(["-d", &format!("{}.monitor", mic_sink())])
        .args([
            "--raw",
            "--format=float32le",
            "--channels=1",
            "--latency-msec=20",
        ])
        .arg(format!("--rate={rate}"))
        .stdout(Stdio::piped())
        .spawn()
        .expect("parec runs");
    let mut stdout = recorder.stdout.take().unwrap();
    let reader = std::thread::spawn(move || {
        let mut bytes = Vec::new();
        let _ = std::io::Read::read_to_end(&mut stdout, &mut bytes);
        bytes
    });
    std::thread::sleep(Duration::from_millis(300));
    assert!(play(&speaker_sink(), &wav).wait().unwrap().success());
    std::thread::sleep(Duration::from_millis(400));
    let _ = recorder.kill();
    let _ = recorder.wait();
    let recorded: Vec<f32> = reader
        .join()
        .unwrap()
        .chunks_exact(4)
        .map(|b| f32::from_le_bytes([b[0], b[1], b[2], b[3]]))
        .collect();
    let rms =
        |s: &[f32]| (s.iter().map(|x| f64::from(*x).powi(2)).sum::<f64>() / s.len() as f64).sqrt();
    let loudest = recorded
        .chunks_exact(rate / 10)
        .map(rms)
        .fold(0.0, f64::max);
    20.0 * (loudest / rms(&tone)).log10()
}

/// Says answers into the microphone's sink, as a candidate in front of the microphone would,
/// through one stream that stays open for the whole call (silence between answers).
///
/// One stream, not a player per answer: each stream that connects to the microphone's sink
/// makes PulseAudio rewind it, and the loopback's delay (the room's echo path) then jumps by
/// up to ~50 ms (measured with a click train through the loopback: one jump of 46 ms in five
/// connections, none with one open stream). A real room's echo path does not move when the
/// candidate speaks; the canceller's re-convergence after a moving path is measured in
/// `viva-audio`'s echo tests.
struct Candidate {
    /// The answer samples still to be written to the stream, and whether the writer is busy.
    queue: Arc<Mutex<std::collections::VecDeque<f32>>>,
    /// When the writer last wrote a sample of an answer.
    last_spoken: Arc<Mutex<Option<Instant>>>,
    stream: Child,
    /// Until when the microphone may hear the candidate (the answer, the sound server's
    /// latency and a margin).
    speaking_until: Arc<Mutex<Option<Instant>>>,
}

/// How far ahead of real time the writer keeps the stream fed (pacat's own buffer is 20 ms).
const STREAM_LEAD: Duration = Duration::from_millis(60);

impl Candidate {
    fn new(speaking_until: Arc<Mutex<Option<Instant>>>) -> Self {
        let rate = viva_audio::SAMPLE_RATE;
        let mut stream = Command::new("pacat")
            .args(["-p", "-d", &mic_sink(), "--latency-msec=20", "--raw"])
            .args(["--format=s16le", "--channels=1", &format!("--rate={rate}")])
            .stdin(Stdio::piped())
            .spawn()
            .expect("pacat runs");
        let mut stdin = stream.stdin.take().unwrap();
        let queue = Arc::new(Mutex::new(std::collections::VecDeque::<f32>::new()));
        let last_spoken = Arc::new(Mutex::new(None));
        let (writer_queue, writer_spoken) = (queue.clone(), last_spoken.clone());
        // Real-time pacing by the wall clock: 20 ms of samples every 20 ms, kept a little
        // ahead, so what is queued plays within ~100 ms (a pipe written flat out would hold
        // up to a second).
        std::thread::spawn(move || {
            let chunk = rate as usize / 50;
            let started = Instant::now();
            let mut bytes = Vec::with_capacity(chunk * 2);
            for k in 0u32.. {
                let due = started + Duration::from_millis(20) * k;
                if let Some(wait) = due.checked_duration_since(Instant::now() + STREAM_LEAD) {
                    std::thread::sleep(wait);
                }
                bytes.clear();
                let mut spoke = false;
                {
                    let mut queue = writer_queue.lock().unwrap();
                    for _ in 0..chunk {
                        let sample = queue.pop_front();
                        spoke |= sample.is_some();
                        let sample = sample.unwrap_or(0.0).clamp(-1.0, 1.0);
                        bytes.extend_from_slice(
                            &((sample * f32::from(i16::MAX)) as i16).to_le_bytes(),
                        );
                    }
                }
                if spoke {
                    *writer_spoken.lock().unwrap() = Some(Instant::now());
                }
                if std::io::Write::write_all(&mut stdin, &bytes).is_err() {
                    return; // The stream was closed: the call is over.
                }
            }
        });
        Self {
            queue,
            last_spoken,
            stream,
            speaking_until,
        }
    }
}

impl Mouth for Candidate {
    fn say(&mut self, answer: &[f32]) {
        let length =
            Duration::from_secs_f64(answer.len() as f64 / f64::from(viva_audio::SAMPLE_RATE));
        *self.speaking_until.lock().unwrap() =
            Some(Instant::now() + length + Duration::from_millis(500));
        *self.last_spoken.lock().unwrap() = Some(Instant::now());
        self.queue.lock().unwrap().extend(answer);
    }

    fn is_idle(&mut self) -> bool {
        // Written and, after the lead and pacat's buffer, played.
        self.queue.lock().unwrap().is_empty()
            && self
                .last_spoken
                .lock()
                .unwrap()
                .is_none_or(|t| t.elapsed() > STREAM_LEAD + Duration::from_millis(60))
    }
}

impl Drop for Candidate {
    fn drop(&mut self) {
        let _ = self.stream.kill();
        let _ = self.stream.wait();
    }
}

/// Hears the interviewer through the speakers' level (the session's output meter).
#[derive(Default)]
struct SpeakerLevels {
    heard: Heard,
}

impl Ears for SpeakerLevels {
    fn event(&mut self, event: &LiveEvent) {
        if let LiveEvent::Level {
            direction: Direction::Output,
            level,
        } = event
        {
            self.heard.frames += 1;
            self.heard.level_dbfs = Some(level.peak_dbfs);
            if level.peak_dbfs > viva_rtc::listen::SPEECH_DBFS {
                self.heard.loud_frames += 1;
                self.heard.last_loud = Some(Instant::now());
            }
        }
    }

    fn heard(&self) -> Heard {
        self.heard
    }
}

/// What the interviewer hears of itself: the level of what the microphone sends (after the
/// canceller), in 50 ms windows, while the speakers play the interviewer and the candidate is
/// quiet. A diagnosis for the report; the assertions are on what the candidate sees.
struct ResidualEcho {
    started: Instant,
    speaking_until: Arc<Mutex<Option<Instant>>>,
    output_loud_at: Option<Instant>,
    /// When the interviewer's voice last started after a pause.
    output_onset: Option<Instant>,
    /// Every such window: (seconds into the test, dBFS, ms into the interviewer's speech).
    windows: Vec<(f64, f32, u128)>,
}

impl ResidualEcho {
    fn new(started: Instant, speaking_until: Arc<Mutex<Option<Instant>>>) -> Self {
        Self {
            started,
            speaking_until,
            output_loud_at: None,
            output_onset: None,
            windows: Vec::new(),
        }
    }

    fn event(&mut self, event: &LiveEvent) {
        let LiveEvent::Level { direction, level } = event else {
            return;
        };
        let now = Instant::now();
        match direction {
            Direction::Output if level.peak_dbfs > viva_rtc::listen::SPEECH_DBFS => {
                let paused = self
                    .output_loud_at
                    .is_none_or(|t| now - t > Duration::from_millis(500));
                if paused {
                    self.output_onset = Some(now);
                }
                self.output_loud_at = Some(now);
            }
            Direction::Input => {
                let playing = self
                    .output_loud_at
                    .is_some_and(|t| now - t < Duration::from_millis(300));
                let candidate = self
                    .speaking_until
                    .lock()
                    .unwrap()
                    .is_some_and(|until| now < until);
                if playing && !candidate {
                    let into = self.output_onset.map_or(0, |t| (now - t).as_millis());
                    self.windows
                        .push(((now - self.started).as_secs_f64(), level.rms_dbfs, into));
                }
            }
            Direction::Output => {}
        }
    }

    fn report(&self) -> String {
        let mut loudest = self.windows.clone();
        loudest.sort_by(|a, b| b.1.total_cmp(&a.1));
        let shown: Vec<String> = loudest
            .iter()
            .take(5)
            .map(|(at, dbfs, into)| format!("{at:.2} s: {dbfs:.1} dBFS, {into} ms in"))
            .collect();
        let above = self.windows.iter().filter(|w| w.1 > TURN_DBFS).count();
        format!(
            "sent while the interviewer spoke: {} windows of 50 ms, {above} above {TURN_DBFS} dBFS; loudest {shown:?}",
            self.windows.len(),
        )
    }
}

/// One interview on the devices, with the speakers coming back into the microphone.
struct Run {
    outcome: Outcome,
    /// What the interviewer says, in order: the greeting with the first question, the other
    /// questions, the closing line.
    script: Vec<String>,
    /// Every sentence the interviewer says, alone and as said.
    questions: Vec<String>,
    echo_gain_db: f64,
    /// The last echo canceller report of the call.
    echo: Option<EchoState>,
    residual: ResidualEcho,
    /// Interviewer lines (item ids) cut off while the candidate was not speaking.
    cut_while_quiet: Vec<String>,
    took: Duration,
}

impl Run {
    fn lines(&self, speaker: Speaker) -> Vec<&Line> {
        self.outcome
            .lines
            .iter()
            .filter(|l| l.speaker == speaker)
            .collect()
    }

    /// The question a line is closest to, and its word error rate against it.
    fn closest_question(&self, text: &str) -> (f64, &str) {
        self.questions
            .iter()
            .map(|q| {
                let (edits, words) = word_errors(q, text);
                (edits as f64 / words.max(1) as f64, q.as_str())
            })
            .min_by(|a, b| a.0.total_cmp(&b.0))
            .unwrap()
    }

    /// Candidate lines that are a question heard back.
    fn questions_heard_back(&self) -> Vec<(&str, f64)> {
        self.lines(Speaker::Candidate)
            .into_iter()
            .map(|l| (l.text.as_str(), self.closest_question(&l.text).0))
            .filter(|(_, wer)| *wer <= NOT_A_QUESTION_WER)
            .collect()
    }

    /// Interviewer lines cut off before their end while the candidate was quiet (a turn
    /// started that was not the candidate's), after which the interviewer went on talking: it
    /// interrupted itself. A line cut by hanging up is the last and does not count.
    fn self_interruptions(&self) -> Vec<&str> {
        let interviewer = self.lines(Speaker::Interviewer);
        let Some((_, earlier)) = interviewer.split_last() else {
            return Vec::new();
        };
        earlier
            .iter()
            .copied()
            .filter(|l| l.interrupted && self.cut_while_quiet.contains(&l.item_id))
            .map(|l| l.text.as_str())
            .collect()
    }

    fn report(&self, label: &str) {
        eprintln!(
            "== echo cancellation {label}: echo {:.1} dB, {:?}, took {:.1} s, error {:?}",
            self.echo_gain_db,
            self.echo,
            self.took.as_secs_f64(),
            self.outcome.error
        );
        eprintln!("  {}", self.residual.report());
        for line in &self.outcome.lines {
            match line.speaker {
                Speaker::Candidate => {
                    let (wer, question) = self.closest_question(&line.text);
                    eprintln!(
                        "  {:>2} candidate   {:?}  (min WER {wer:.2} against {question:?})",
                        line.seq, line.text
                    );
                }
                Speaker::Interviewer => eprintln!(
                    "  {:>2} interviewer {:?}{}",
                    line.seq,
                    line.text,
                    if line.interrupted {
                        "  [interrupted]"
                    } else {
                        ""
                    }
                ),
            }
        }
    }
}

/// The answer `said` was `heard`, leniently: through the sound server, the canceller's noise
/// suppression and Opus, the offline model mishears more short words than from a stand-in
/// microphone (`assert_heard`'s two), so up to a third of them may be missing.
fn assert_mostly_heard(said: &str, heard: &str) {
    let heard = words(heard);
    let said = words(said);
    let missing: Vec<&String> = said.iter().filter(|w| !heard.contains(w)).collect();
    assert!(
        missing.len() <= (said.len() / 3).max(2),
        "missing {missing:?} of {said:?} in {heard:?}"
    );
}

/// Lower case, letters and digits only.
fn normalised(text: &str) -> String {
    text.to_lowercase()
        .split(|c: char| !c.is_alphanumeric())
        .filter(|w| !w.is_empty())
        .collect::<Vec<_>>()
        .join(" ")
}

async fn interview_with_echo(echo_cancellation: bool, give_up_after: Duration) -> Run {
    require_pulse();
    // What moves the echo path — the sound server's underflows and overflows, the player's
    // underruns, jumps of the canceller's delay estimate — printed with a failing run's output
    // (nextest shows a passing test's output only when asked). `RUST_LOG` overrides.
    let filter = tracing_subscriber::EnvFilter::try_from_default_env()
        .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("pulseaudio=info,viva_audio=info"));
    let _ = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_test_writer()
        .try_init();
    let _turn = ONE_CALL_AT_A_TIME.lock().await;
    let started = Instant::now();
    let dir = tempfile::tempdir().unwrap();
    // The candidate's stream opens before the loopback, so its connection cannot move the
    // echo path (see `Candidate`).
    let speaking_until = Arc::new(Mutex::new(None));
    let candidate = Candidate::new(speaking_until.clone());
    let _loopback = Loopback::load(ECHO_LATENCY_MS, ECHO_GAIN_DB);
    let probe_dir = dir.path().to_owned();
    let echo_gain_db = tokio::task::spawn_blocking(move || measure_echo_gain_db(&probe_dir))
        .await
        .unwrap();
    assert!(
        (-20.0..=-10.0).contains(&echo_gain_db),
        "the speakers reach the microphone at {echo_gain_db:.1} dB"
    );

    // The practice's question set, as the interviewer says it.
    let set = question_set(DEFAULT_SET).unwrap();
    assert!(set.questions.len() >= ANSWERS.len(), "{set:?}");
    let mut said = vec![format!("{} {}", set.greeting, set.questions[0])];
    said.extend(set.questions[1..].iter().cloned());
    said.push(set.closing.clone());
    let mut questions = said.clone();
    questions.push(set.greeting.clone());
    questions.extend(set.questions.iter().cloned());

    let embedded = embedded::start(EmbeddedOptions::default()).await.unwrap();
    let grants = BackendGrants::new(
        embedded.backend.clone(),
        embedded.session.access_token.clone(),
        true,
    );
    let grant = grants.start(None).await.unwrap();
    let (recording, _store_dir) = recording(&grant);
    let settings = LiveSettings {
        call: CallConfig {
            udp_addrs: vec!["127.0.0.1:0".into()],
            ..CallConfig::default()
        },
        speakers: Speakers::Device(PlaybackSettings::default()),
        echo_cancellation,
    };
    let (session, events) = LiveSession::start(
        grant,
        Some(Arc::new(grants)),
        recording,
        Microphone::Device(CaptureSettings::default()),
        settings,
    )
    .await
    .unwrap();
    let script = Script {
        answers: ANSWERS.iter().map(|a| speech(a)).collect(),
        step_timeout: Duration::from_secs(30),
        give_up_after: Some(give_up_after),
        ..Script::default()
    };
    let mut echo = None;
    let mut residual = ResidualEcho::new(started, speaking_until.clone());
    let mut cut_while_quiet = Vec::new();
    let outcome = script::run_with(
        session,
        events,
        candidate,
        SpeakerLevels::default(),
        script,
        |event| match event {
            LiveEvent::Level { .. } => residual.event(event),
            LiveEvent::State { state } => {
                eprintln!("[{:5.1} s] {state:?}", started.elapsed().as_secs_f64());
            }
            LiveEvent::Echo { echo: state } => {
                if echo.as_ref() != Some(state) {
                    eprintln!("[{:5.1} s] {state:?}", started.elapsed().as_secs_f64());
                }
                echo = Some(state.clone());
            }
            LiveEvent::Line { line } if line.status == LineStatus::Final => {
                eprintln!(
                    "[{:5.1} s] {:?}: {:?}{}",
                    started.elapsed().as_secs_f64(),
                    line.speaker,
                    line.text,
                    if line.interrupted {
                        " [interrupted]"
                    } else {
                        ""
                    }
                );
                // A cut line is final at once: the candidate was speaking then, or not.
                let candidate_quiet = speaking_until
                    .lock()
                    .unwrap()
                    .is_none_or(|until| Instant::now() >= until);
                if line.speaker == Speaker::Interviewer && line.interrupted && candidate_quiet {
                    cut_while_quiet.push(line.item_id.clone());
                }
            }
            _ => {}
        },
    )
    .await;
    Run {
        outcome,
        script: said,
        questions,
        echo_gain_db,
        echo,
        residual,
        cut_while_quiet,
        took: started.elapsed(),
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn with_echo_cancellation_on_the_interviewer_never_hears_itself() {
    let run = interview_with_echo(true, Duration::from_secs(150)).await;
    run.report("on");
    assert_eq!(run.outcome.error, None);
    let echo = run
        .echo
        .clone()
        .expect("the session reports its echo canceller");
    assert!(echo.on && echo.hearing_speakers, "{echo:?}");

    // No candidate line is a question heard back.
    for line in run.lines(Speaker::Candidate) {
        let (wer, question) = run.closest_question(&line.text);
        assert!(
            wer > NOT_A_QUESTION_WER,
            "{:?} is {question:?} heard back (WER {wer:.2})",
            line.text
        );
    }
    // The interviewer never cut itself off: each line said whole, once, in order, each
    // answered by the candidate's answer.
    let interviewer: Vec<String> = run
        .lines(Speaker::Interviewer)
        .iter()
        .map(|l| normalised(&l.text))
        .collect();
    let expected: Vec<String> = run.script.iter().map(|l| normalised(l)).collect();
    assert_eq!(interviewer, expected);
    assert!(
        run.lines(Speaker::Interviewer)
            .iter()
            .all(|l| !l.interrupted),
        "{:#?}",
        run.outcome.lines
    );
    let order: Vec<Speaker> = run.outcome.lines.iter().map(|l| l.speaker).collect();
    let mut dialogue = vec![Speaker::Interviewer];
    for _ in ANSWERS {
        dialogue.extend([Speaker::Candidate, Speaker::Interviewer]);
    }
    assert_eq!(order, dialogue, "{:#?}", run.outcome.lines);
    for (answer, said) in run.outcome.answers.iter().zip(ANSWERS) {
        assert_mostly_heard(said, &answer.text);
    }
}

/// Proof that the test above can fail: the same interview with the canceller off.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn with_echo_cancellation_off_the_interviewer_hears_itself() {
    let run = interview_with_echo(false, Duration::from_secs(60)).await;
    run.report("off");
    let echo = run
        .echo
        .clone()
        .expect("the session reports its echo canceller");
    assert!(!echo.on, "{echo:?}");
    // The call ran and the interviewer was heard: what follows is the echo's doing.
    assert!(
        run.outcome.loud_frames > 20,
        "{} loud frames",
        run.outcome.loud_frames
    );
    assert!(!run.lines(Speaker::Interviewer).is_empty());
    let heard_back = run.questions_heard_back();
    let cut = run.self_interruptions();
    eprintln!("questions heard back: {heard_back:?}; interviewer cut itself off: {cut:?}");
    assert!(
        !heard_back.is_empty() || !cut.is_empty(),
        "without echo cancellation the interviewer should hear itself: {:#?}",
        run.outcome.lines
    );
}

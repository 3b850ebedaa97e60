//! Takes an interview with recorded answers: waits for each question to be asked and for the
//! interviewer to stop talking, says the next answer into the (stand-in) microphone, and waits
//! for its transcript — the way a candidate would, with the timing of a real call. What says
//! the answers is a [`Mouth`] and what hears the interviewer are [`Ears`]: the paced stand-in
//! and a listener here, a real voice into a sound card and the speakers' levels in the device
//! tests.

use std::sync::Arc;
use std::time::{Duration, Instant};

use tokio::sync::mpsc;
use viva_audio::{EncoderSettings, PacedMicrophone};
use viva_realtime::{Line, LineStatus, SessionState, Speaker};
use viva_rtc::{Grant, GrantSource, Heard, Listener, Summary, UplinkCounters};
use viva_session::{
    Ended, LiveEvent, LiveSession, LiveSettings, Microphone, Recording, SessionError, Speakers,
};

/// What to say and how long to wait.
#[derive(Debug, Clone)]
pub struct Script {
    /// Each answer as 48 kHz mono samples, said after one question.
    pub answers: Vec<Vec<f32>>,
    /// How long each step (a question, a transcript) may take.
    pub step_timeout: Duration,
    /// The interviewer counts as done talking after this much silence.
    pub silence: Duration,
    /// After the last answer, wait for the interviewer's next line before hanging up.
    pub wait_for_reply: bool,
    /// Stay on the line (the microphone sending silence) until the call is this old, then
    /// hang up: for long calls in benchmarks and soak runs.
    pub hold_until: Duration,
    /// Hang up when the script is not done after this long (the error says so): a bound on a
    /// call that may never get there, however each step goes.
    pub give_up_after: Option<Duration>,
}

impl Default for Script {
    fn default() -> Self {
        Self {
            answers: Vec::new(),
            step_timeout: Duration::from_secs(60),
            silence: Duration::from_millis(700),
            wait_for_reply: true,
            hold_until: Duration::ZERO,
            give_up_after: None,
        }
    }
}

/// How the interview went.
#[derive(Debug, Clone)]
pub struct Outcome {
    /// Final lines, in conversation order.
    pub lines: Vec<Line>,
    /// The candidate's line for each answer said, in order.
    pub answers: Vec<Line>,
    /// For each answer: from the end of its speech (when the microphone finished saying it,
    /// trailing silence of the recording included) to its final line arriving.
    pub answer_latencies: Vec<Duration>,
    /// Decoded frames of the interviewer's voice that carried speech.
    pub loud_frames: u64,
    pub summary: Option<Summary>,
    /// How the session ended, as recorded (`None` if it stopped without saying).
    pub ended: Option<Ended>,
    /// Why the script stopped early.
    pub error: Option<String>,
}

/// What says the answers.
pub trait Mouth {
    /// Starts saying `answer` (48 kHz mono samples); returns at once.
    fn say(&mut self, answer: &[f32]);
    /// Everything said has been said.
    fn is_idle(&mut self) -> bool;
}

/// What hears the interviewer: frames of their voice with speech in them, and when the last
/// one was heard.
pub trait Ears {
    /// Every event of the session, as it arrives (ears on a sound card read its levels).
    fn event(&mut self, _event: &LiveEvent) {}
    fn heard(&self) -> Heard;
}

impl Mouth for PacedMicrophone {
    fn say(&mut self, answer: &[f32]) {
        PacedMicrophone::say(self, answer);
    }

    fn is_idle(&mut self) -> bool {
        PacedMicrophone::is_idle(self)
    }
}

impl Ears for Arc<Listener> {
    fn heard(&self) -> Heard {
        Listener::heard(self)
    }
}

enum Step {
    AwaitQuestion {
        answered: usize,
    },
    Speaking {
        answered: usize,
    },
    AwaitTranscript {
        answered: usize,
        finals_before: usize,
    },
    /// The interviewer's next line: any after the last answer's position.
    AwaitReply {
        after_seq: u32,
    },
    /// The script is done; the call stays up until `Script::hold_until`.
    Holding,
    Done,
}

/// Starts a live session for `grant` — the app's own pipeline, transcript written ahead to
/// `recording` — with a paced microphone and a listener instead of a sound card, and takes the
/// interview `script` describes. `on_event` sees every event of the session (to print it).
/// Also returns the uplink's counters.
///
/// # Errors
/// When the microphone's encoder cannot be made or the store refused the session.
pub async fn take(
    grant: Grant,
    grants: Option<Arc<dyn GrantSource>>,
    recording: Recording,
    settings: LiveSettings,
    script: Script,
    on_event: impl FnMut(&LiveEvent),
) -> Result<(Outcome, Arc<UplinkCounters>), SessionError> {
    let (stand_in, microphone) = Microphone::paced(EncoderSettings::default())?;
    let listener = Arc::new(Listener::default());
    let settings = LiveSettings {
        speakers: Speakers::Listener(listener.clone()),
        ..settings
    };
    let (session, events) =
        LiveSession::start(grant, grants, recording, stand_in, settings).await?;
    let uplink = session.uplink();
    let outcome = run(session, events, microphone, listener, script, on_event).await;
    Ok((outcome, uplink))
}

/// Runs `script` on a started session whose microphone is `microphone` and whose speakers are
/// `listener`; `on_event` sees every event (to print it).
pub async fn run(
    session: LiveSession,
    events: mpsc::Receiver<LiveEvent>,
    microphone: PacedMicrophone,
    listener: Arc<Listener>,
    script: Script,
    on_event: impl FnMut(&LiveEvent),
) -> Outcome {
    run_with(session, events, microphone, listener, script, on_event).await
}

/// Runs `script` on a started session, saying the answers with `mouth` and hearing the
/// interviewer with `ears`; `on_event` sees every event (to print it).
pub async fn run_with(
    session: LiveSession,
    mut events: mpsc::Receiver<LiveEvent>,
    mut mouth: impl Mouth,
    mut ears: impl Ears,
    script: Script,
    mut on_event: impl FnMut(&LiveEvent),
) -> Outcome {
    let mut ended = None;
    let mut lines: Vec<Line> = Vec::new();
    let mut answers = Vec::new();
    let mut answer_latencies = Vec::new();
    // When the answer being said ends: the microphone plays it in real time from `say`.
    let mut speech_ends = Instant::now();
    let mut error = None;
    let mut step = Step::AwaitQuestion { answered: 0 };
    let call_started = Instant::now();
    let mut step_started = call_started;
    // Interviewer speech heard since the last answer was said: the next question's voice
    // (which may finish before that answer's transcript arrives).
    let mut loud_at_answer = 0;
    let mut tick = tokio::time::interval(Duration::from_millis(50));
    let finals =
        |lines: &[Line], speaker: Speaker| lines.iter().filter(|l| l.speaker == speaker).count();
    loop {
        tokio::select! {
            event = events.recv() => {
                let Some(event) = event else {
                    error = Some("the call stopped reporting".into());
                    break;
                };
                ears.event(&event);
                on_event(&event);
                match event {
                    LiveEvent::Line { line } if line.status == LineStatus::Final => {
                        upsert(&mut lines, line);
                    }
                    LiveEvent::Renumbered { item_id, seq } => renumber(&mut lines, &item_id, seq),
                    LiveEvent::State { state: SessionState::Failed { reason } } => {
                        error = Some(format!("the call failed: {reason}"));
                        break;
                    }
                    LiveEvent::State { state: SessionState::Ended { reason } } => {
                        if !matches!(step, Step::Holding | Step::Done) {
                            error = Some(format!("the call ended early: {reason}"));
                        }
                        break;
                    }
                    LiveEvent::Ended { ended: over } => {
                        ended = Some(over);
                        if !matches!(step, Step::Holding | Step::Done) {
                            error = Some("the call ended early".into());
                        }
                        break;
                    }
                    _ => {}
                }
            }
            _ = tick.tick() => {}
        }
        let heard = ears.heard();
        let quiet_for = heard.last_loud.map(|t| t.elapsed());
        let next = match &step {
            Step::AwaitQuestion { answered } => {
                let asked = finals(&lines, Speaker::Interviewer) > *answered
                    && heard.loud_frames > loud_at_answer
                    && quiet_for.is_some_and(|q| q >= script.silence);
                if *answered >= script.answers.len() {
                    Some(Step::Holding)
                } else if asked {
                    mouth.say(&script.answers[*answered]);
                    let samples = script.answers[*answered].len() as f64;
                    speech_ends = Instant::now()
                        + Duration::from_secs_f64(samples / f64::from(viva_audio::SAMPLE_RATE));
                    Some(Step::Speaking {
                        answered: *answered,
                    })
                } else {
                    None
                }
            }
            Step::Speaking { answered } => mouth.is_idle().then(|| Step::AwaitTranscript {
                answered: *answered,
                finals_before: finals(&lines, Speaker::Candidate),
            }),
            Step::AwaitTranscript {
                answered,
                finals_before,
            } => {
                let new: Vec<&Line> = lines
                    .iter()
                    .filter(|l| l.speaker == Speaker::Candidate && l.status == LineStatus::Final)
                    .skip(*finals_before)
                    .collect();
                match new.first() {
                    Some(line) => {
                        answers.push((*line).clone());
                        answer_latencies
                            .push(Instant::now().saturating_duration_since(speech_ends));
                        let answered = answered + 1;
                        if answered < script.answers.len() {
                            Some(Step::AwaitQuestion { answered })
                        } else if script.wait_for_reply {
                            // By seq, not by count: the reply's words may already be final
                            // before the answer's transcript is.
                            Some(Step::AwaitReply {
                                after_seq: line.seq,
                            })
                        } else {
                            Some(Step::Holding)
                        }
                    }
                    None => None,
                }
            }
            Step::AwaitReply { after_seq } => lines
                .iter()
                .any(|l| l.speaker == Speaker::Interviewer && l.seq > *after_seq)
                .then_some(Step::Holding),
            Step::Holding => (call_started.elapsed() >= script.hold_until).then_some(Step::Done),
            Step::Done => break,
        };
        let given_up = script
            .give_up_after
            .filter(|_| !matches!(step, Step::Holding | Step::Done))
            .filter(|after| call_started.elapsed() > *after);
        if let Some(after) = given_up {
            error = Some(format!("the script gave up after {after:?}"));
            break;
        }
        if let Some(next) = next {
            if matches!(next, Step::AwaitTranscript { .. }) {
                loud_at_answer = heard.loud_frames;
            }
            step = next;
            step_started = Instant::now();
        } else if !matches!(step, Step::Holding) && step_started.elapsed() > script.step_timeout {
            error = Some(match step {
                Step::AwaitQuestion { answered } => {
                    format!("no question was heard before answer {}", answered + 1)
                }
                Step::Speaking { .. } => "the answer could not be sent".into(),
                Step::AwaitTranscript { answered, .. } => {
                    format!("answer {} was never transcribed", answered + 1)
                }
                Step::AwaitReply { .. } => {
                    "the interviewer did not reply to the last answer".into()
                }
                Step::Holding | Step::Done => String::new(),
            });
            break;
        }
    }
    let loud_frames = ears.heard().loud_frames;
    // Hang up, and read on until the session has recorded its ending: the last lines closing
    // while hanging up still count.
    let hanging_up = tokio::spawn(session.end());
    while ended.is_none() {
        let Some(event) = events.recv().await else {
            break;
        };
        ears.event(&event);
        on_event(&event);
        match event {
            LiveEvent::Line { line } if line.status == LineStatus::Final => {
                upsert(&mut lines, line);
            }
            LiveEvent::Renumbered { item_id, seq } => renumber(&mut lines, &item_id, seq),
            LiveEvent::Ended { ended: over } => ended = Some(over),
            _ => {}
        }
    }
    let _ = hanging_up.await;
    lines.sort_by_key(|l| l.seq);
    Outcome {
        lines,
        answers,
        answer_latencies,
        loud_frames,
        summary: ended.as_ref().and_then(|e| e.summary.clone()),
        ended,
        error,
    }
}

fn renumber(lines: &mut [Line], item_id: &str, seq: u32) {
    if let Some(line) = lines.iter_mut().find(|l| l.item_id == item_id) {
        line.seq = seq;
    }
    lines.sort_by_key(|l| l.seq);
}

fn upsert(lines: &mut Vec<Line>, line: Line) {
    match lines.iter_mut().find(|l| l.item_id == line.item_id) {
        Some(existing) => *existing = line,
        None => lines.push(line),
    }
    lines.sort_by_key(|l| l.seq);
}

//! Takes an interview with recorded answers: waits for each question to be asked and for the
//! interviewer to stop talking, says the next answer into the (stand-in) microphone, and waits
//! for its transcript — the way a candidate would, with the timing of a real call.

use std::sync::Arc;
use std::time::{Duration, Instant};

use tokio::sync::mpsc;
use viva_audio::{AudioError, EncoderSettings, PacedMicrophone};
use viva_realtime::{Line, LineStatus, SessionState, Speaker, TranscriptChange};
use viva_rtc::{
    CallConfig, CallEvent, CallHandle, Grant, GrantSource, Listener, Media, Summary, UplinkCounters,
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
}

impl Default for Script {
    fn default() -> Self {
        Self {
            answers: Vec::new(),
            step_timeout: Duration::from_secs(60),
            silence: Duration::from_millis(700),
            wait_for_reply: true,
            hold_until: Duration::ZERO,
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
    /// Decoded frames of the interviewer's voice that carried speech.
    pub loud_frames: u64,
    pub summary: Option<Summary>,
    /// Why the script stopped early.
    pub error: Option<String>,
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

/// Starts a call for `grant` with a stand-in microphone and a listener instead of a sound card,
/// and takes the interview `script` describes. Also returns the uplink's counters.
///
/// # Errors
/// When the microphone's encoder cannot be made.
pub async fn take(
    grant: Grant,
    grants: Option<Arc<dyn GrantSource>>,
    config: CallConfig,
    script: Script,
    on_event: impl FnMut(&CallEvent),
) -> Result<(Outcome, Arc<UplinkCounters>), AudioError> {
    let (microphone, frames) = PacedMicrophone::start(EncoderSettings::default())?;
    let listener = Arc::new(Listener::default());
    let (handle, events) = viva_rtc::start(
        grant,
        grants,
        config,
        Media {
            uplink: frames,
            downlink: Some(listener.clone()),
        },
    );
    let uplink = handle.uplink();
    let outcome = run(handle, events, microphone, listener, script, on_event).await;
    Ok((outcome, uplink))
}

/// Runs `script` on a started call; `on_event` sees every call event (to print or record it).
pub async fn run(
    handle: CallHandle,
    mut events: mpsc::Receiver<CallEvent>,
    microphone: PacedMicrophone,
    listener: Arc<Listener>,
    script: Script,
    mut on_event: impl FnMut(&CallEvent),
) -> Outcome {
    let mut lines: Vec<Line> = Vec::new();
    let mut answers = Vec::new();
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
                on_event(&event);
                match &event {
                    CallEvent::Transcript { change: TranscriptChange::LineFinal(line) } => {
                        upsert(&mut lines, line.clone());
                    }
                    CallEvent::Transcript { change: TranscriptChange::LineRenumbered { item_id, seq } } => {
                        if let Some(line) = lines.iter_mut().find(|l| &l.item_id == item_id) {
                            line.seq = *seq;
                        }
                        lines.sort_by_key(|l| l.seq);
                    }
                    CallEvent::State { state: SessionState::Failed { reason } } => {
                        error = Some(format!("the call failed: {reason}"));
                        break;
                    }
                    CallEvent::State { state: SessionState::Ended { reason } } => {
                        if !matches!(step, Step::Holding | Step::Done) {
                            error = Some(format!("the call ended early: {reason}"));
                        }
                        break;
                    }
                    _ => {}
                }
            }
            _ = tick.tick() => {}
        }
        let heard = listener.heard();
        handle.set_levels(Some(microphone.level_dbfs()), heard.level_dbfs);
        let quiet_for = heard.last_loud.map(|t| t.elapsed());
        let next = match &step {
            Step::AwaitQuestion { answered } => {
                let asked = finals(&lines, Speaker::Interviewer) > *answered
                    && heard.loud_frames > loud_at_answer
                    && quiet_for.is_some_and(|q| q >= script.silence);
                if *answered >= script.answers.len() {
                    Some(Step::Holding)
                } else if asked {
                    microphone.say(&script.answers[*answered]);
                    Some(Step::Speaking {
                        answered: *answered,
                    })
                } else {
                    None
                }
            }
            Step::Speaking { answered } => microphone.is_idle().then(|| Step::AwaitTranscript {
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
    let loud_frames = listener.heard().loud_frames;
    let summary = handle.end().await;
    // What arrived while hanging up (the last lines closing) still counts.
    while let Ok(event) = events.try_recv() {
        on_event(&event);
        if let CallEvent::Transcript {
            change: TranscriptChange::LineFinal(line),
        } = &event
        {
            upsert(&mut lines, line.clone());
        }
    }
    lines.sort_by_key(|l| l.seq);
    Outcome {
        lines,
        answers,
        loud_frames,
        summary,
        error,
    }
}

fn upsert(lines: &mut Vec<Line>, line: Line) {
    match lines.iter_mut().find(|l| l.item_id == line.item_id) {
        Some(existing) => *existing = line,
        None => lines.push(line),
    }
    lines.sort_by_key(|l| l.seq);
}

//! The live interview as the UI sees it: the one session under way (or the microphone test
//! before it), and the typed views of what it streams — lines, health, levels, its ending.

use serde::Serialize;
use tokio::sync::Mutex;
use viva_audio::{AudioEvent, Capture, Direction, Level};
use viva_localstack::model::Progress;
use viva_realtime::{Line, LineStatus, SessionState, Speaker};
use viva_rtc::{Health, QualityLevel};
use viva_session::hearing::{Heard, WhyUnavailable};
use viva_session::{Ended, LiveEvent, LiveSession};
use viva_store::SyncState;

/// Managed Tauri state: at most one interview and one microphone test at a time.
#[derive(Debug, Default)]
pub struct LiveState {
    pub session: Mutex<Option<LiveSession>>,
    pub mic_test: Mutex<Option<MicTest>>,
    /// Held while the offline model is being set up: one set-up at a time.
    pub model_setup: Mutex<()>,
}

/// The pre-flight microphone test: a capture whose levels the UI shows and whose voice is
/// written out by the offline model ("say something").
#[derive(Debug)]
pub struct MicTest {
    pub capture: Capture,
    pub forward: tokio::task::JoinHandle<()>,
}

impl Drop for MicTest {
    fn drop(&mut self) {
        self.forward.abort();
    }
}

/// What pre-flight's "say something" heard.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, specta::Type)]
#[serde(tag = "state", rename_all = "snake_case")]
pub enum HeardView {
    Listening,
    Speaking,
    Transcribing,
    /// What was said (empty: speech, but no words recognised).
    Words {
        text: String,
    },
    /// The offline model is not set up, so words cannot be shown.
    ModelMissing,
    Unavailable {
        reason: String,
    },
}

impl From<Heard> for HeardView {
    fn from(heard: Heard) -> Self {
        match heard {
            Heard::Listening => Self::Listening,
            Heard::Speaking => Self::Speaking,
            Heard::Transcribing => Self::Transcribing,
            Heard::Words(text) => Self::Words { text },
            Heard::Unavailable(WhyUnavailable::ModelMissing) => Self::ModelMissing,
            Heard::Unavailable(WhyUnavailable::Failed(reason)) => Self::Unavailable { reason },
        }
    }
}

/// A step of setting up the offline model, with how far along it is (0–1).
#[derive(Debug, Clone, PartialEq, Serialize, specta::Type)]
#[serde(tag = "step", rename_all = "snake_case")]
pub enum ModelSetupView {
    Downloading { fraction: f32 },
    Verifying,
    Converting { fraction: f32 },
    Done,
}

impl From<Progress> for ModelSetupView {
    fn from(progress: Progress) -> Self {
        match progress {
            Progress::Downloading(fraction) => Self::Downloading { fraction },
            Progress::Verifying => Self::Verifying,
            Progress::Converting(fraction) => Self::Converting { fraction },
            Progress::Done => Self::Done,
        }
    }
}

/// Where the session is, for the room's banner.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, specta::Type)]
#[serde(tag = "state", rename_all = "snake_case")]
pub enum StateView {
    Connecting,
    Live,
    Reconnecting { attempt: u32, reason: String },
    Ended { reason: String },
    Failed { reason: String },
}

impl From<&SessionState> for StateView {
    fn from(state: &SessionState) -> Self {
        match state {
            SessionState::Idle | SessionState::Connecting => Self::Connecting,
            SessionState::Live => Self::Live,
            SessionState::Reconnecting { attempt, reason } => Self::Reconnecting {
                attempt: *attempt,
                reason: reason.clone(),
            },
            SessionState::Ended { reason } => Self::Ended {
                reason: reason.clone(),
            },
            SessionState::Failed { reason } => Self::Failed {
                reason: reason.clone(),
            },
        }
    }
}

/// One transcript line, partial or final.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, specta::Type)]
#[serde(rename_all = "camelCase")]
pub struct LineView {
    pub item_id: String,
    pub seq: u32,
    /// `candidate` or `interviewer`.
    pub speaker: String,
    pub text: String,
    /// Milliseconds since the session started.
    pub started_ms: u32,
    /// The words will not change any more.
    pub is_final: bool,
    /// The words could not be made out (the server's reason).
    pub inaudible: Option<String>,
    /// The interviewer was cut off.
    pub interrupted: bool,
}

fn clamp_ms(ms: u64) -> u32 {
    u32::try_from(ms).unwrap_or(u32::MAX)
}

impl From<&Line> for LineView {
    fn from(line: &Line) -> Self {
        Self {
            item_id: line.item_id.clone(),
            seq: line.seq,
            speaker: match line.speaker {
                Speaker::Candidate => "candidate",
                Speaker::Interviewer => "interviewer",
            }
            .into(),
            text: line.text.clone(),
            started_ms: clamp_ms(line.started_ms),
            is_final: line.status == LineStatus::Final,
            inaudible: line.inaudible.clone(),
            interrupted: line.interrupted,
        }
    }
}

/// The connection's health, for the badge and its details.
#[derive(Debug, Clone, PartialEq, Serialize, specta::Type)]
#[serde(rename_all = "camelCase")]
pub struct HealthView {
    /// `good`, `fair` or `poor`.
    pub quality: String,
    /// Why it is not good.
    pub reason: Option<String>,
    pub rtt_ms: Option<f64>,
    pub jitter_ms: Option<f64>,
    /// Share of the interviewer's packets lost recently (0–1).
    pub loss: Option<f64>,
    pub uplink_kbps: Option<f64>,
    pub connection: String,
    pub ice: String,
    pub reconnects: u32,
}

impl From<&Health> for HealthView {
    fn from(health: &Health) -> Self {
        Self {
            quality: match health.quality.level {
                QualityLevel::Good => "good",
                QualityLevel::Fair => "fair",
                QualityLevel::Poor => "poor",
            }
            .into(),
            reason: health.quality.reason.clone(),
            rtt_ms: health.rtt_ms,
            jitter_ms: health.downlink_jitter_ms,
            loss: health.downlink_loss,
            uplink_kbps: health.uplink_kbps,
            connection: health.peer_state.clone(),
            ice: health.ice_state.clone(),
            reconnects: health.reconnects,
        }
    }
}

/// A microphone or speaker level.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, specta::Type)]
#[serde(rename_all = "camelCase")]
pub struct LevelView {
    /// `true` for the microphone, `false` for the speakers.
    pub microphone: bool,
    pub rms_dbfs: f32,
    pub peak_dbfs: f32,
}

impl LevelView {
    pub fn new(direction: Direction, level: Level) -> Self {
        Self {
            microphone: direction == Direction::Input,
            rms_dbfs: level.rms_dbfs,
            peak_dbfs: level.peak_dbfs,
        }
    }
}

/// How the interview went, for the summary screen.
#[derive(Debug, Clone, PartialEq, Serialize, specta::Type)]
#[serde(rename_all = "camelCase")]
pub struct EndedView {
    pub session_id: String,
    /// `completed` or `interrupted`.
    pub status: String,
    pub reason: Option<String>,
    pub duration_ms: u32,
    pub lines: u32,
    pub candidate_lines: u32,
    pub interviewer_lines: u32,
    pub cost_usd: Option<f64>,
    pub cost_note: Option<String>,
    /// Transcript changes that could not be saved.
    pub unsaved: u32,
    pub sync: SyncView,
}

/// How far the session's lines have reached the backend.
#[derive(Debug, Clone, PartialEq, Serialize, specta::Type)]
#[serde(tag = "state", rename_all = "snake_case")]
pub enum SyncView {
    Synced,
    Pending {
        lines: u32,
    },
    Failing {
        lines: u32,
        reason: String,
    },
    /// Offline practice: kept on this computer only.
    LocalOnly,
    /// A copy of the backend's transcript, read from it at `at_ms` (Unix ms).
    #[serde(rename_all = "camelCase")]
    Cached {
        at_ms: f64,
    },
    Unknown {
        reason: String,
    },
}

impl From<Result<SyncState, String>> for SyncView {
    fn from(state: Result<SyncState, String>) -> Self {
        let clamp = |n: u64| u32::try_from(n).unwrap_or(u32::MAX);
        match state {
            Ok(SyncState::Synced) => Self::Synced,
            Ok(SyncState::Pending { lines }) => Self::Pending {
                lines: clamp(lines),
            },
            Ok(SyncState::Failing { lines, reason }) => Self::Failing {
                lines: clamp(lines),
                reason,
            },
            Ok(SyncState::LocalOnly) => Self::LocalOnly,
            Ok(SyncState::Cached { at_ms }) => Self::Cached {
                at_ms: at_ms as f64,
            },
            Err(reason) => Self::Unknown { reason },
        }
    }
}

impl EndedView {
    pub fn new(ended: &Ended) -> Self {
        let count = |n: usize| u32::try_from(n).unwrap_or(u32::MAX);
        let summary = ended.summary.as_ref();
        Self {
            session_id: ended.session_id.clone(),
            status: ended.status.as_str().into(),
            reason: summary.and_then(|s| match &s.ended {
                SessionState::Ended { reason } | SessionState::Failed { reason } => {
                    Some(reason.clone())
                }
                _ => None,
            }),
            duration_ms: summary.map_or(0, |s| clamp_ms(s.duration_ms)),
            lines: summary.map_or(0, |s| count(s.lines)),
            candidate_lines: summary.map_or(0, |s| count(s.candidate_lines)),
            interviewer_lines: summary.map_or(0, |s| count(s.interviewer_lines)),
            cost_usd: summary.and_then(|s| s.cost_usd),
            cost_note: summary.and_then(|s| s.cost_note.clone()),
            unsaved: ended.unsaved,
            sync: ended.sync.clone().into(),
        }
    }
}

/// One thing the live session streams to the UI.
#[derive(Debug, Clone, PartialEq, Serialize, specta::Type)]
#[serde(tag = "type", rename_all = "snake_case")]
pub enum LiveUpdate {
    State {
        state: StateView,
    },
    /// A line appeared or its words changed (saved first when final).
    Line {
        line: LineView,
    },
    #[serde(rename_all = "camelCase")]
    Renumbered {
        item_id: String,
        seq: u32,
    },
    Health {
        health: HealthView,
    },
    Level {
        level: LevelView,
    },
    /// The voice AI reported a problem; the interview goes on.
    Problem {
        code: String,
        message: String,
    },
    /// A device changed or has trouble, in words.
    #[serde(rename_all = "camelCase")]
    Device {
        message: String,
        /// The microphone cannot be used: offer text mode.
        microphone_lost: bool,
    },
    /// A line could not be saved on this computer.
    NotSaved {
        message: String,
    },
    Ended {
        ended: EndedView,
    },
}

/// What the UI is told of `event`; `None` for what it has no use for.
pub fn update(event: LiveEvent) -> Option<LiveUpdate> {
    Some(match event {
        LiveEvent::Line { line } => LiveUpdate::Line {
            line: (&line).into(),
        },
        LiveEvent::Renumbered { item_id, seq } => LiveUpdate::Renumbered { item_id, seq },
        LiveEvent::State { state } => LiveUpdate::State {
            state: (&state).into(),
        },
        LiveEvent::Health { health } => LiveUpdate::Health {
            health: (&health).into(),
        },
        LiveEvent::Problem { code, message } => LiveUpdate::Problem { code, message },
        LiveEvent::Level { direction, level } => LiveUpdate::Level {
            level: LevelView::new(direction, level),
        },
        LiveEvent::Device { event } => device_update(&event)?,
        LiveEvent::NotSaved { message } => LiveUpdate::NotSaved { message },
        LiveEvent::Ended { ended } => LiveUpdate::Ended {
            ended: EndedView::new(&ended),
        },
    })
}

fn device_update(event: &AudioEvent) -> Option<LiveUpdate> {
    let what = |direction: &Direction| match direction {
        Direction::Input => "microphone",
        Direction::Output => "speakers",
    };
    let (message, microphone_lost) = match event {
        AudioEvent::NoSignal { seconds } => (
            format!("Your microphone has picked up nothing for {seconds} s. Is it muted?"),
            false,
        ),
        AudioEvent::SignalRestored => ("Your microphone hears you again.".into(), false),
        AudioEvent::DeviceLost {
            direction, reason, ..
        } => (
            format!(
                "The {} stopped working ({reason}); switching to another.",
                what(direction)
            ),
            false,
        ),
        AudioEvent::DeviceUnavailable { direction, message } => (
            format!("No {} can be used: {message}", what(direction)),
            *direction == Direction::Input,
        ),
        AudioEvent::DeviceOpened { device, reason } => {
            if *reason == viva_audio::OpenReason::Started {
                return None;
            }
            (format!("Now using {}.", device.name), false)
        }
        AudioEvent::Level { .. } | AudioEvent::Overflow { .. } | AudioEvent::Underrun { .. } => {
            return None;
        }
    };
    Some(LiveUpdate::Device {
        message,
        microphone_lost,
    })
}

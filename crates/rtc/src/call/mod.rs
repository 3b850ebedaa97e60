//! The call: connects, carries voice and events, measures health, reconnects when the network
//! fails, re-sessions before the provider's cap, and ends cleanly with a summary. One task
//! owns all of it; callers hold a [`CallHandle`] and read [`CallEvent`]s.
//!
//! # The run loop
//!
//! [`start`] spawns two tasks: the uplink (microphone frames to whichever connection is
//! current, `uplink.rs`) and the call's run loop (`run.rs`). The run loop owns the
//! [`Conversation`] core, which holds every protocol rule
//! (turn-taking, the session cap's quiet moment, history replay and its echo filter, the
//! offline queue, cost, the session state) and does no I/O. The loop only does the I/O:
//!
//! 1. connect (`connect.rs`): a fresh grant if needed, offer (through the SDP proxy, whose
//!    sign-in waits out another connection's hold on the interview, `link.rs`), answer, open
//!    event channel;
//! 2. while the connection lives, wait for the first of: a peer event (a data-channel
//!    message is parsed and fed to the core; voice goes to the speaker), a command from the
//!    [`CallHandle`], an SDP-proxy notice, the SDP-proxy link opened again after it closed
//!    while the media went on (`link.rs`; typed answers wait for it), the end of the
//!    disconnected grace, the health tick (`stats.rs`), or the core's session-cap timer. The
//!    link is read all the while, from the answer on, so the proxy's pings are answered; a
//!    link that has pinged and then stays quiet past `proxy_quiet_limit` is taken as gone;
//! 3. after each input, carry out the core's outputs in order: send client events, publish
//!    transcript and state changes and problems, point the uplink at the connection, arm the
//!    timer, or start a planned re-session;
//! 4. when the connection ends, follow `reconnect.rs`'s rules: reconnect with backoff,
//!    re-session, fail, or end.
//!
//! Commands are handled in one place, whether a connection is live or not: a client event
//! goes to the core (sent now or queued), `End` closes the transcript and ends the call.

mod config;
mod connect;
mod events;
mod link;
mod reconnect;
mod run;
mod stats;
mod typed;
mod uplink;

use std::sync::Arc;
use std::time::{Duration, Instant};

use serde::Serialize;
use tokio::sync::{mpsc, oneshot, watch};
use viva_audio::{EncodedFrame, RtpAudio};
use viva_realtime::{ClientEvent, Conversation, CostMeter, SessionState, TranscriptChange};

pub use config::CallConfig;
pub use uplink::UplinkCounters;

use crate::CallError;
use crate::grant::{AnswerMode, Grant, GrantSource};
use crate::health::Health;

/// Where the interviewer's voice goes.
pub trait VoiceSink: Send + Sync {
    fn push(&self, packet: RtpAudio);
}

impl VoiceSink for viva_audio::playback::PacketSender {
    fn push(&self, packet: RtpAudio) {
        // A full playback queue drops the packet; the jitter buffer conceals it.
        let _ = viva_audio::playback::PacketSender::push(self, packet);
    }
}

/// The call's audio: encoded microphone frames in, the interviewer's packets out.
pub struct Media {
    pub uplink: mpsc::Receiver<EncodedFrame>,
    pub downlink: Option<Arc<dyn VoiceSink>>,
}

impl std::fmt::Debug for Media {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Media").finish_non_exhaustive()
    }
}

/// How a call went.
#[cfg_attr(feature = "specta", derive(specta::Type))]
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Summary {
    pub session_id: String,
    pub duration_ms: u64,
    pub lines: usize,
    pub candidate_lines: usize,
    pub interviewer_lines: usize,
    pub reconnects: u32,
    /// Planned new connections before the provider's session cap.
    pub resessions: u32,
    /// `None` when some usage could not be priced; `cost_note` says why.
    pub cost_usd: Option<f64>,
    pub cost_note: Option<String>,
    pub ended: SessionState,
}

/// What a call tells its owner.
#[derive(Debug, Clone, PartialEq, Serialize)]
#[serde(tag = "kind", rename_all = "snake_case")]
pub enum CallEvent {
    State {
        state: SessionState,
    },
    Transcript {
        change: TranscriptChange,
    },
    Health {
        health: Health,
    },
    /// The voice AI reported an error, or sent something we could not use; the call goes on.
    Problem {
        code: String,
        message: String,
    },
    /// A renewed grant (a reconnect, a new secret, a re-session) changed how answers are
    /// given. From voice to text the call has already stopped sending the microphone's frames.
    Answers {
        mode: AnswerMode,
    },
    Ended {
        summary: Summary,
    },
}

/// What the owner asks of the run loop.
enum Command {
    Send(ClientEvent),
    Text(String),
    SetLevels(Option<f32>, Option<f32>),
    End(oneshot::Sender<Summary>),
}

/// The owner's side of a call.
#[derive(Debug)]
pub struct CallHandle {
    commands: mpsc::Sender<Command>,
    uplink: Arc<UplinkCounters>,
    task: tokio::task::JoinHandle<()>,
}

impl CallHandle {
    /// Sends a client event; before the event channel opens it is queued.
    pub async fn send(&self, event: ClientEvent) -> Result<(), CallError> {
        self.commands
            .send(Command::Send(event))
            .await
            .map_err(|_| CallError::Ended)
    }

    /// Sends a typed answer, the way the call's voice API takes one (before the connection
    /// opens it is queued).
    pub async fn send_text(&self, text: &str) -> Result<(), CallError> {
        self.commands
            .send(Command::Text(text.to_owned()))
            .await
            .map_err(|_| CallError::Ended)
    }

    /// The latest microphone and speaker levels, for the health samples.
    pub fn set_levels(&self, mic_dbfs: Option<f32>, speaker_dbfs: Option<f32>) {
        let _ = self
            .commands
            .try_send(Command::SetLevels(mic_dbfs, speaker_dbfs));
    }

    pub fn uplink(&self) -> Arc<UplinkCounters> {
        self.uplink.clone()
    }

    /// Hangs up and returns the summary (`None` if the call had already ended by itself).
    pub async fn end(self) -> Option<Summary> {
        let (reply, summary) = oneshot::channel();
        if self.commands.send(Command::End(reply)).await.is_err() {
            return None;
        }
        let summary = tokio::time::timeout(Duration::from_secs(10), summary)
            .await
            .ok()
            .and_then(Result::ok);
        if summary.is_none() {
            self.task.abort();
        }
        summary
    }

    /// Whether the call's task has finished.
    pub fn is_finished(&self) -> bool {
        self.task.is_finished()
    }
}

/// Starts a call for `grant`. `grants` renews the client secret (and access token) when it
/// expires; without it an expired secret ends the call. Must be called inside a tokio runtime.
pub fn start(
    grant: Grant,
    grants: Option<Arc<dyn GrantSource>>,
    config: CallConfig,
    media: Media,
) -> (CallHandle, mpsc::Receiver<CallEvent>) {
    let (commands_tx, commands) = mpsc::channel(64);
    let (events_tx, events) = mpsc::channel(512);
    let uplink = Arc::new(UplinkCounters::default());
    let (target_tx, target) = watch::channel(None);
    // Microphone frames go out only under a voice grant; a text grant never sends any.
    let uplink_task = (grant.mode == AnswerMode::Voice)
        .then(|| tokio::spawn(uplink::run_uplink(media.uplink, target, uplink.clone())));
    let conversation = Conversation::for_api(
        grant.realtime.api,
        config.conversation(),
        CostMeter::new(
            &grant.realtime.model,
            transcription_model(&grant).as_deref(),
        ),
    );
    let call = run::Call {
        grant,
        grants,
        config,
        downlink: media.downlink,
        uplink_target: target_tx,
        uplink_task,
        events: events_tx,
        commands,
        started: Instant::now(),
        conversation,
        levels: (None, None),
        http: http_client(),
        ended_by: None,
        provider_closed: false,
        typed: typed::Outbox::default(),
    };
    let task = tokio::spawn(call.run());
    (
        CallHandle {
            commands: commands_tx,
            uplink,
            task,
        },
        events,
    )
}

/// One HTTP client for every call: building one loads the system's CA roots (~45 ms here),
/// which would otherwise delay each call's start. [`prepare`] builds it ahead of time.
fn http_client() -> reqwest::Client {
    static CLIENT: std::sync::OnceLock<reqwest::Client> = std::sync::OnceLock::new();
    // The offer carries the client secret: never re-sent to wherever a redirect points.
    CLIENT
        .get_or_init(|| {
            reqwest::Client::builder()
                .redirect(reqwest::redirect::Policy::none())
                .build()
                .unwrap_or_default()
        })
        .clone()
}

/// Does the slow one-time set-up of calls (the HTTP client and its CA roots) now, so that the
/// first call starts as fast as the next ones. Call it while the user is still getting ready.
pub fn prepare() {
    let _ = http_client();
}

fn transcription_model(grant: &Grant) -> Option<String> {
    grant
        .realtime
        .session
        .pointer("/audio/input/transcription/model")
        .and_then(serde_json::Value::as_str)
        .map(str::to_owned)
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]

    use super::*;
    use crate::grant::{ClientSecret, RealtimeGrant, SignalingMode, VoiceApi};

    /// A grant for a voice AI at `url` (the call only has to start).
    fn grant(mode: AnswerMode, url: String) -> Grant {
        Grant {
            session_id: "s".into(),
            mode,
            max_duration_s: None,
            realtime: RealtimeGrant {
                api: VoiceApi::Realtime,
                signaling: SignalingMode::Http,
                url,
                client_secret: ClientSecret {
                    value: "ek_test".into(),
                    expires_at: i64::MAX,
                },
                model: "gpt-realtime".into(),
                session: serde_json::json!({"type": "realtime"}),
                ice_servers: vec![],
            },
            access_token: None,
        }
    }

    /// Starts a call under `mode`; whether it still takes microphone frames after a moment.
    async fn takes_frames(mode: AnswerMode) -> bool {
        // A voice AI that takes the connection and never answers: the call stays connecting.
        let silent = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let url = format!("http://{}/v1/realtime/calls", silent.local_addr().unwrap());
        let (frames, uplink) = mpsc::channel(4);
        let media = Media {
            uplink,
            downlink: None,
        };
        let (handle, _events) = start(grant(mode, url), None, CallConfig::default(), media);
        tokio::time::sleep(Duration::from_millis(50)).await;
        let taken = !frames.is_closed();
        handle.task.abort();
        taken
    }

    #[tokio::test]
    async fn a_text_grant_sends_no_microphone_frames_at_all() {
        assert!(takes_frames(AnswerMode::Voice).await);
        assert!(!takes_frames(AnswerMode::Text).await);
    }
}

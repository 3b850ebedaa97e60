//! The call: connects, carries voice and events, measures health, reconnects when the network
//! fails, re-sessions before the provider's cap, and ends cleanly with a summary. One task
//! owns all of it; callers hold a [`CallHandle`] and read [`CallEvent`]s.

use std::collections::{HashSet, VecDeque};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use bytes::Bytes;
use rtc::media::Sample;
use serde::Serialize;
use tokio::sync::{mpsc, oneshot, watch};
use viva_audio::{EncodedFrame, RtpAudio};
use viva_realtime::event::ServerEvent;
use viva_realtime::{
    Assembler, ClientEvent, Cost, CostMeter, Limits, Line, LineStatus, SessionInput, SessionState,
    Speaker, TranscriptChange, parse_server_event_with,
};
use webrtc::media_stream::track_local::static_sample::TrackLocalStaticSample;
use webrtc::peer_connection::{
    RTCIceConnectionState, RTCPeerConnectionState, RTCStatsReportEntry, StatsSelector,
};

use crate::backoff::{Backoff, ReconnectPolicy};
use crate::grant::{Grant, GrantError, GrantSource, SignalingMode};
use crate::health::{DownlinkMeter, Health, Quality, QualityLevel, assess};
use crate::peer::{IceTimers, Peer, PeerEvent};
use crate::signaling::{ProxyLink, ProxyNotice, http_hang_up, http_offer};
use crate::{CallError, ErrorReport};

/// How a call behaves. `Default` suits production; tests shorten the clocks.
#[derive(Debug, Clone)]
pub struct CallConfig {
    /// Local UDP addresses for ICE (`0.0.0.0:0` lets the system choose).
    pub udp_addrs: Vec<String>,
    pub ice: IceTimers,
    pub reconnect: ReconnectPolicy,
    /// ICE may be `disconnected` this long before we stop waiting for it to recover.
    pub disconnected_grace: Duration,
    /// From the offer to an open event channel.
    pub connect_timeout: Duration,
    /// The provider ends sessions after a while; a new connection is made before this.
    pub session_cap: Duration,
    pub health_every: Duration,
    /// Send `response.create` when the event channel opens, so the interviewer speaks first
    /// (and again on a later connection when the interviewer owes the next turn).
    pub interviewer_speaks_first: bool,
    /// A client secret this close to expiry is renewed before it is used.
    pub secret_margin: Duration,
    /// The largest server event read; bigger ones are reported and skipped unparsed. The
    /// data channel itself carries at most the `max-message-size` we offer (webrtc-rs's
    /// default: 64 KiB), so this bounds what a future transport might let through.
    pub max_event_bytes: usize,
}

impl Default for CallConfig {
    fn default() -> Self {
        Self {
            udp_addrs: vec!["0.0.0.0:0".into()],
            ice: IceTimers::default(),
            reconnect: ReconnectPolicy::default(),
            disconnected_grace: Duration::from_secs(3),
            connect_timeout: Duration::from_secs(15),
            session_cap: Duration::from_secs(55 * 60),
            health_every: Duration::from_secs(1),
            interviewer_speaks_first: true,
            secret_margin: Duration::from_secs(10),
            max_event_bytes: viva_realtime::parse::DEFAULT_MAX_MESSAGE_BYTES,
        }
    }
}

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
    Ended {
        summary: Summary,
    },
}

enum Command {
    Send(ClientEvent),
    SetLevels(Option<f32>, Option<f32>),
    End(oneshot::Sender<Summary>),
}

/// Counters the uplink task keeps, readable from outside.
#[derive(Debug, Default)]
pub struct UplinkCounters {
    pub packets: AtomicU64,
    pub bytes: AtomicU64,
    /// Frames lost: older than the hold while no connection could take them, or refused.
    pub dropped: AtomicU64,
    /// Microseconds from a frame filling (capture) to its RTP packet being handed to the
    /// connection, newest last; the last few thousand.
    latencies_us: Mutex<VecDeque<u32>>,
}

const LATENCY_WINDOW: usize = 15_000;

impl UplinkCounters {
    /// A copy of the recent frame-to-packet latencies, in microseconds.
    pub fn latencies_us(&self) -> Vec<u32> {
        self.latencies_us
            .lock()
            .map(|l| l.iter().copied().collect())
            .unwrap_or_default()
    }
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
    tokio::spawn(run_uplink(media.uplink, target, uplink.clone()));
    let started = Instant::now();
    let call = Call {
        cost: CostMeter::new(
            &grant.realtime.model,
            transcription_model(&grant).as_deref(),
        ),
        grant,
        grants,
        config,
        downlink: media.downlink,
        uplink_target: target_tx,
        events: events_tx,
        commands,
        started,
        state: SessionState::Idle,
        assembler: Assembler::new(),
        pending: VecDeque::new(),
        levels: (None, None),
        reconnects: 0,
        resessions: 0,
        http: http_client(),
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

/// Where the uplink writes: the current connection's track.
#[derive(Clone)]
struct UplinkTarget {
    track: Arc<TrackLocalStaticSample>,
    ssrc: u32,
    payload_type: u8,
}

/// Frames kept while no connection can take them: two seconds. A planned re-session or a
/// quick reconnect then loses no words; what is older than that is dropped (and counted).
const UPLINK_HOLD: usize = 100;

/// Moves microphone frames to whichever connection is current, for the life of the call.
/// Between connections the newest frames wait, and go out first on the next connection.
async fn run_uplink(
    mut frames: mpsc::Receiver<EncodedFrame>,
    mut target: watch::Receiver<Option<UplinkTarget>>,
    counters: Arc<UplinkCounters>,
) {
    let mut held: VecDeque<EncodedFrame> = VecDeque::new();
    loop {
        let frame = tokio::select! {
            frame = frames.recv() => match frame {
                Some(frame) => Some(frame),
                None => return,
            },
            changed = target.changed() => {
                if changed.is_err() {
                    return;
                }
                None
            }
        };
        let current = target.borrow_and_update().clone();
        let Some(to) = current else {
            if let Some(frame) = frame {
                if held.len() == UPLINK_HOLD {
                    held.pop_front();
                    counters.dropped.fetch_add(1, Ordering::Relaxed);
                }
                held.push_back(frame);
            }
            continue;
        };
        while let Some(old) = held.pop_front() {
            send_frame(&to, old, &counters).await;
        }
        if let Some(frame) = frame {
            send_frame(&to, frame, &counters).await;
        }
    }
}

async fn send_frame(to: &UplinkTarget, frame: EncodedFrame, counters: &UplinkCounters) {
    let bytes = frame.payload.len() as u64;
    let sample = Sample {
        data: Bytes::from(frame.payload),
        duration: Duration::from_millis(20),
        ..Sample::new(Instant::now())
    };
    let written = to
        .track
        .sample_writer(to.ssrc, to.payload_type)
        .write_sample(&sample)
        .await;
    if written.is_err() {
        counters.dropped.fetch_add(1, Ordering::Relaxed);
        return;
    }
    counters.packets.fetch_add(1, Ordering::Relaxed);
    counters.bytes.fetch_add(bytes, Ordering::Relaxed);
    let latency = frame
        .filled_at
        .elapsed()
        .as_micros()
        .min(u128::from(u32::MAX)) as u32;
    if let Ok(mut window) = counters.latencies_us.lock() {
        if window.len() == LATENCY_WINDOW {
            window.pop_front();
        }
        window.push_back(latency);
    }
}

/// One live connection and what we know of it.
struct Connection {
    peer: Peer,
    proxy: Option<ProxyLink>,
    /// For hanging up a direct call.
    location: Option<String>,
    secret: String,
    opened_at: Instant,
    peer_state: RTCPeerConnectionState,
    ice_state: RTCIceConnectionState,
    disconnected_since: Option<Instant>,
    channel_open: bool,
    meter: DownlinkMeter,
    last_event: Option<Instant>,
    last_uplink_bytes: (Instant, u64),
    /// What is under way; a re-session waits until none of it is.
    busy: Busy,
    target: UplinkTarget,
    /// What arrived between the answer and the channel opening, for the call loop.
    early: Vec<PeerEvent>,
    /// Ids of the earlier lines this connection was given as history.
    replayed: HashSet<String>,
}

/// What a planned re-session must not cut into.
#[derive(Debug, Default, Clone, Copy)]
struct Busy {
    /// A response is being generated.
    responding: bool,
    /// The interviewer's voice is still playing out (it may outlast `response.done`).
    playing: bool,
    /// The candidate started a turn that is not transcribed yet.
    candidate_turn: bool,
}

impl Busy {
    fn is_quiet(self) -> bool {
        !(self.responding || self.playing || self.candidate_turn)
    }
}

/// Why the live loop stopped.
enum Outcome {
    Lost(String),
    Ended(String),
    Failed(CallError),
    Resession,
}

struct Call {
    grant: Grant,
    grants: Option<Arc<dyn GrantSource>>,
    config: CallConfig,
    downlink: Option<Arc<dyn VoiceSink>>,
    uplink_target: watch::Sender<Option<UplinkTarget>>,
    events: mpsc::Sender<CallEvent>,
    commands: mpsc::Receiver<Command>,
    started: Instant,
    state: SessionState,
    assembler: Assembler,
    cost: CostMeter,
    /// Client events waiting for the event channel to open.
    pending: VecDeque<ClientEvent>,
    levels: (Option<f32>, Option<f32>),
    reconnects: u32,
    resessions: u32,
    http: reqwest::Client,
}

/// Client events kept while the channel is not open; older ones are dropped past this.
const MAX_PENDING: usize = 64;

impl Call {
    fn now_ms(&self) -> u64 {
        self.started.elapsed().as_millis() as u64
    }

    async fn publish(&self, event: CallEvent) {
        // A closed receiver means nobody listens; the call itself goes on.
        let _ = self.events.send(event).await;
    }

    async fn transition(&mut self, input: SessionInput) {
        match self.state.next(input) {
            Ok(next) => {
                self.state = next.clone();
                self.publish(CallEvent::State { state: next }).await;
            }
            Err(invalid) => tracing::warn!(event = "call_state_refused", error = %invalid),
        }
    }

    async fn run(mut self) {
        self.transition(SessionInput::Connect).await;
        let mut ended_by: Option<oneshot::Sender<Summary>> = None;
        let mut connection = match self.connect_or_command(&mut ended_by).await {
            Some(Ok(connection)) => Some(connection),
            Some(Err(error)) => {
                self.fail(&error).await;
                None
            }
            None => None,
        };
        while let Some(mut live) = connection.take() {
            let outcome = self.live(&mut live, &mut ended_by).await;
            match outcome {
                Outcome::Ended(reason) => {
                    self.hang_up(live).await;
                    self.transition(SessionInput::End { reason }).await;
                }
                Outcome::Failed(error) => {
                    self.hang_up(live).await;
                    self.fail(&error).await;
                }
                Outcome::Resession => {
                    connection = self.resession(live, &mut ended_by).await;
                }
                Outcome::Lost(reason) => {
                    self.drop_connection(live);
                    connection = self.reconnect(reason, &mut ended_by).await;
                }
            }
        }
        if !self.state.is_final() {
            self.transition(SessionInput::End {
                reason: "the call was ended".into(),
            })
            .await;
        }
        let summary = self.summary();
        self.publish(CallEvent::Ended {
            summary: summary.clone(),
        })
        .await;
        if let Some(reply) = ended_by {
            let _ = reply.send(summary);
        }
    }

    async fn fail(&mut self, error: &CallError) {
        tracing::warn!(event = "call_failed", code = error.code(), error = %error);
        let report = ErrorReport::from(error);
        self.publish(CallEvent::Problem {
            code: report.code.into(),
            message: report.message.clone(),
        })
        .await;
        self.close_lines().await;
        self.transition(SessionInput::Fail {
            reason: report.message,
        })
        .await;
    }

    async fn close_lines(&mut self) {
        let changes = self.assembler.finish(self.now_ms());
        for change in changes {
            self.publish(CallEvent::Transcript { change }).await;
        }
    }

    fn summary(&self) -> Summary {
        let lines = self.assembler.lines();
        let count = |speaker| lines.iter().filter(|l| l.speaker == speaker).count();
        let (cost_usd, cost_note) = match self.cost.total() {
            Cost::Known { usd } => (Some(usd), None),
            Cost::Unknown { reason } => (None, Some(reason)),
        };
        Summary {
            session_id: self.grant.session_id.clone(),
            duration_ms: self.now_ms(),
            lines: lines.len(),
            candidate_lines: count(viva_realtime::Speaker::Candidate),
            interviewer_lines: count(viva_realtime::Speaker::Interviewer),
            reconnects: self.reconnects,
            resessions: self.resessions,
            cost_usd,
            cost_note,
            ended: self.state.clone(),
        }
    }

    /// Connects while still answering commands: `End` abandons the attempt (`None`).
    async fn connect_or_command(
        &mut self,
        ended_by: &mut Option<oneshot::Sender<Summary>>,
    ) -> Option<Result<Connection, CallError>> {
        let grant = self.grant.clone();
        let (grants, config, http) = (self.grants.clone(), self.config.clone(), self.http.clone());
        let attempt = connect(grant, grants, config, http);
        tokio::pin!(attempt);
        loop {
            tokio::select! {
                result = &mut attempt => {
                    return Some(result.map(|(connection, grant)| {
                        self.grant = grant;
                        connection
                    }));
                }
                command = self.commands.recv() => {
                    if !self.command_while_offline(command, ended_by).await {
                        return None;
                    }
                }
            }
        }
    }

    /// A command while no connection is live: events are queued; `false` when the call was
    /// ended (by the owner, or by dropping the handle).
    async fn command_while_offline(
        &mut self,
        command: Option<Command>,
        ended_by: &mut Option<oneshot::Sender<Summary>>,
    ) -> bool {
        match command {
            Some(Command::Send(event)) => self.queue(event),
            Some(Command::SetLevels(mic, speaker)) => self.levels = (mic, speaker),
            Some(Command::End(reply)) => {
                *ended_by = Some(reply);
                self.close_lines().await;
                self.transition(SessionInput::End {
                    reason: "the call was ended".into(),
                })
                .await;
                return false;
            }
            None => {
                self.transition(SessionInput::End {
                    reason: "the app closed the call".into(),
                })
                .await;
                return false;
            }
        }
        true
    }

    fn queue(&mut self, event: ClientEvent) {
        if self.pending.len() == MAX_PENDING {
            tracing::warn!(
                event = "client_event_dropped",
                "too many events queued before the channel opened"
            );
            self.pending.pop_front();
        }
        self.pending.push_back(event);
    }

    async fn reconnect(
        &mut self,
        reason: String,
        ended_by: &mut Option<oneshot::Sender<Summary>>,
    ) -> Option<Connection> {
        tracing::info!(event = "call_reconnecting", %reason);
        let lost_at = Instant::now();
        let mut backoff = Backoff::new(self.config.reconnect);
        let mut last_reason = reason.clone();
        self.transition(SessionInput::ConnectionLost { reason })
            .await;
        loop {
            let Some(delay) = backoff.next_delay(lost_at.elapsed(), fastrand::f64()) else {
                let error = CallError::GaveUp(format!(
                    "no connection for {} s; the last problem was: {last_reason}",
                    lost_at.elapsed().as_secs()
                ));
                self.fail(&error).await;
                return None;
            };
            if !self.wait_or_command(delay, ended_by).await {
                return None;
            }
            match self.connect_or_command(ended_by).await {
                None => return None,
                Some(Ok(connection)) => {
                    self.reconnects += 1;
                    let changes = self.assembler.continue_after_reconnect(self.now_ms());
                    for change in changes {
                        self.publish(CallEvent::Transcript { change }).await;
                    }
                    tracing::info!(event = "call_reconnected", attempts = backoff.attempts());
                    return Some(connection);
                }
                Some(Err(error)) if error.is_retryable() => {
                    last_reason = error.to_string();
                    self.transition(SessionInput::ConnectionLost {
                        reason: last_reason.clone(),
                    })
                    .await;
                }
                Some(Err(error)) => {
                    self.fail(&error).await;
                    return None;
                }
            }
        }
    }

    /// Sleeps while answering commands; `false` when the call was ended meanwhile.
    async fn wait_or_command(
        &mut self,
        delay: Duration,
        ended_by: &mut Option<oneshot::Sender<Summary>>,
    ) -> bool {
        let deadline = tokio::time::sleep(delay);
        tokio::pin!(deadline);
        loop {
            tokio::select! {
                () = &mut deadline => return true,
                command = self.commands.recv() => {
                    if !self.command_while_offline(command, ended_by).await {
                        return false;
                    }
                }
            }
        }
    }

    /// A planned new connection before the provider's cap: made at a quiet moment, so no
    /// words are in flight, then the old one is closed.
    async fn resession(
        &mut self,
        old: Connection,
        ended_by: &mut Option<oneshot::Sender<Summary>>,
    ) -> Option<Connection> {
        tracing::info!(event = "call_resession");
        self.uplink_target.send_replace(None);
        self.hang_up(old).await;
        match self.connect_or_command(ended_by).await {
            None => None,
            Some(Ok(connection)) => {
                self.resessions += 1;
                tracing::info!(event = "call_resessioned");
                let changes = self.assembler.continue_after_reconnect(self.now_ms());
                for change in changes {
                    self.publish(CallEvent::Transcript { change }).await;
                }
                Some(connection)
            }
            Some(Err(error)) => {
                self.reconnect(
                    format!("the planned new connection failed: {error}"),
                    ended_by,
                )
                .await
            }
        }
    }

    /// Stops using a broken connection; closing it may take a while, so it happens aside.
    fn drop_connection(&self, connection: Connection) {
        self.uplink_target.send_replace(None);
        tokio::spawn(async move {
            if let Some(proxy) = connection.proxy {
                proxy.bye().await;
            }
            connection.peer.close().await;
        });
    }

    /// Ends a connection on purpose: tells the far side, then closes.
    async fn hang_up(&self, connection: Connection) {
        self.uplink_target.send_replace(None);
        if let Some(proxy) = connection.proxy {
            proxy.bye().await;
        } else if let Some(location) = &connection.location {
            http_hang_up(
                &self.http,
                &self.grant.realtime.url,
                location,
                &connection.secret,
            )
            .await;
        }
        connection.peer.close().await;
    }

    async fn on_open(&mut self, live: &mut Connection) {
        live.channel_open = true;
        let mut first = vec![ClientEvent::session_update(&self.grant.realtime.session)];
        // A new connection of a running interview: the voice AI's new session hears what
        // was said so far, as text, and speaks only if it owes the next turn.
        let said: Vec<&Line> = self
            .assembler
            .lines()
            .into_iter()
            .filter(|l| l.status == LineStatus::Final && !l.text.is_empty())
            .collect();
        let mut previous: Option<&str> = None;
        for line in &said {
            first.push(ClientEvent::history_line(line, previous));
            live.replayed.insert(line.item_id.clone());
            previous = Some(&line.item_id);
        }
        let interviewer_owes_a_turn = match said.last() {
            None => true,
            Some(last) => last.speaker == Speaker::Candidate || last.interrupted,
        };
        if self.config.interviewer_speaks_first && interviewer_owes_a_turn {
            first.push(ClientEvent::response_create());
        }
        for event in first.into_iter().chain(self.pending.drain(..)) {
            if let Err(e) = live.peer.channel.send_text(&event.to_json()).await {
                tracing::warn!(event = "client_event_not_sent", error = %e);
            }
        }
        self.uplink_target.send_replace(Some(live.target.clone()));
        if self.state != SessionState::Live {
            self.transition(SessionInput::Connected).await;
        }
    }

    async fn live(
        &mut self,
        live: &mut Connection,
        ended_by: &mut Option<oneshot::Sender<Summary>>,
    ) -> Outcome {
        self.on_open(live).await;
        for event in std::mem::take(&mut live.early) {
            if let Some(outcome) = self.on_peer_event(live, event).await {
                return outcome;
            }
        }
        let mut health = tokio::time::interval(self.config.health_every);
        health.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        let opened = live.opened_at;
        loop {
            let grace_left = live.disconnected_since.map(|since| {
                self.config
                    .disconnected_grace
                    .saturating_sub(since.elapsed())
            });
            tokio::select! {
                event = live.peer.events.recv() => {
                    let Some(event) = event else {
                        return Outcome::Lost("the connection stopped reporting".into());
                    };
                    if let Some(outcome) = self.on_peer_event(live, event).await {
                        return outcome;
                    }
                }
                command = self.commands.recv() => match command {
                    Some(Command::Send(event)) => {
                        if live.channel_open {
                            if let Err(e) = live.peer.channel.send_text(&event.to_json()).await {
                                tracing::warn!(event = "client_event_not_sent", error = %e);
                                self.queue(event);
                            }
                        } else {
                            self.queue(event);
                        }
                    }
                    Some(Command::SetLevels(mic, speaker)) => self.levels = (mic, speaker),
                    Some(Command::End(reply)) => {
                        *ended_by = Some(reply);
                        self.close_lines().await;
                        return Outcome::Ended("the call was ended".into());
                    }
                    None => return Outcome::Ended("the app closed the call".into()),
                },
                notice = proxy_notice(&mut live.proxy) => match notice {
                    ProxyNotice::Bye => {
                        self.close_lines().await;
                        return Outcome::Ended("the interviewer hung up".into());
                    }
                    ProxyNotice::Closed(error) if !error.is_retryable() => {
                        live.proxy = None;
                        return Outcome::Failed(error);
                    }
                    ProxyNotice::Closed(error) => {
                        // Media flows without the proxy; a reconnect opens a new one.
                        tracing::info!(event = "sdp_proxy_closed", error = %error);
                        live.proxy = None;
                    }
                    ProxyNotice::Error(message) => {
                        self.publish(CallEvent::Problem { code: "sdp_proxy".into(), message }).await;
                    }
                },
                () = sleep_opt(grace_left) => {
                    return Outcome::Lost(format!(
                        "the network path has been down for {} s",
                        self.config.disconnected_grace.as_secs()
                    ));
                }
                _ = health.tick() => {
                    let sample = self.health(live).await;
                    // Health is a stream of snapshots: a slow reader skips some.
                    let _ = self.events.try_send(CallEvent::Health { health: sample });
                    if opened.elapsed() >= self.config.session_cap && live.busy.is_quiet() {
                        return Outcome::Resession;
                    }
                }
            }
        }
    }

    async fn on_peer_event(&mut self, live: &mut Connection, event: PeerEvent) -> Option<Outcome> {
        match event {
            PeerEvent::Ice(state) => {
                tracing::debug!(event = "ice_state", state = %state);
                live.ice_state = state;
                match state {
                    RTCIceConnectionState::Disconnected => {
                        live.disconnected_since.get_or_insert_with(Instant::now);
                    }
                    RTCIceConnectionState::Failed => {
                        return Some(Outcome::Lost("the network path failed".into()));
                    }
                    RTCIceConnectionState::Connected | RTCIceConnectionState::Completed => {
                        live.disconnected_since = None;
                    }
                    _ => {}
                }
            }
            PeerEvent::State(state) => {
                live.peer_state = state;
                if matches!(
                    state,
                    RTCPeerConnectionState::Failed | RTCPeerConnectionState::Closed
                ) {
                    return Some(Outcome::Lost(format!("the connection {state}")));
                }
            }
            PeerEvent::ChannelOpen => {
                if !live.channel_open {
                    self.on_open(live).await;
                }
            }
            PeerEvent::ChannelClosed => {
                live.channel_open = false;
                return Some(Outcome::Lost(
                    "the event channel closed without a goodbye".into(),
                ));
            }
            PeerEvent::Message(text) => {
                live.last_event = Some(Instant::now());
                self.on_message(live, &text).await;
            }
            PeerEvent::Binary(bytes) => {
                tracing::warn!(event = "binary_event_ignored", bytes);
                self.publish(CallEvent::Problem {
                    code: "unexpected_binary".into(),
                    message: format!("ignored a {bytes}-byte binary message on the event channel"),
                })
                .await;
            }
            PeerEvent::Voice {
                sequence,
                timestamp,
                payload,
                arrived,
            } => {
                live.meter
                    .packet(sequence, timestamp, arrived, self.started);
                if let Some(sink) = &self.downlink {
                    sink.push(RtpAudio {
                        sequence,
                        timestamp,
                        payload,
                    });
                }
            }
        }
        None
    }

    async fn on_message(&mut self, live: &mut Connection, text: &str) {
        let limits = Limits {
            max_message_bytes: self.config.max_event_bytes,
        };
        let envelope = match parse_server_event_with(text, limits) {
            Ok(envelope) => envelope,
            Err(error) => {
                tracing::warn!(event = "server_event_unusable", error = %error);
                self.publish(CallEvent::Problem {
                    code: "unusable_event".into(),
                    message: error.to_string(),
                })
                .await;
                return;
            }
        };
        if let ServerEvent::ItemAdded(e) | ServerEvent::ItemDone(e) = &envelope.event {
            // Our own replay of earlier lines coming back: already in the transcript.
            if live.replayed.contains(&e.item.id) {
                return;
            }
        }
        match &envelope.event {
            ServerEvent::Error(e) => {
                self.publish(CallEvent::Problem {
                    code: e
                        .error
                        .code
                        .clone()
                        .or_else(|| e.error.kind.clone())
                        .unwrap_or_else(|| "error".into()),
                    message: e.error.message.clone(),
                })
                .await;
            }
            ServerEvent::ResponseCreated(_) => live.busy.responding = true,
            ServerEvent::SpeechStarted(_) => live.busy.candidate_turn = true,
            ServerEvent::OutputAudioStarted(_) => live.busy.playing = true,
            ServerEvent::OutputAudioStopped(_) | ServerEvent::OutputAudioCleared(_) => {
                live.busy.playing = false;
            }
            ServerEvent::ResponseDone(done) => {
                live.busy.responding = false;
                if let Some(usage) = &done.response.usage {
                    self.cost.add_response(usage);
                }
            }
            ServerEvent::InputTranscriptCompleted(done) => {
                live.busy.candidate_turn = false;
                if let Some(usage) = &done.usage {
                    self.cost.add_transcription(usage);
                }
            }
            ServerEvent::InputTranscriptFailed(_) => live.busy.candidate_turn = false,
            _ => {}
        }
        let changes = self.assembler.apply(&envelope, self.now_ms());
        for change in changes {
            if let TranscriptChange::LineFinal(line) = &change {
                tracing::debug!(event = "line_final", seq = line.seq, speaker = ?line.speaker, text = %line.text);
            }
            self.publish(CallEvent::Transcript { change }).await;
        }
    }

    async fn health(&self, live: &mut Connection) -> Health {
        let report = live
            .peer
            .pc
            .get_stats(Instant::now(), StatsSelector::None)
            .await;
        let mut rtt_ms = None;
        let mut dtls_state = String::from("unknown");
        let mut uplink = (0u64, 0u64);
        for entry in report.iter() {
            match entry {
                RTCStatsReportEntry::IceCandidatePair(pair)
                    if pair.nominated && pair.current_round_trip_time > 0.0 =>
                {
                    rtt_ms = Some(pair.current_round_trip_time * 1000.0);
                }
                RTCStatsReportEntry::Transport(transport) => {
                    dtls_state = transport.dtls_state.to_string();
                }
                RTCStatsReportEntry::OutboundRtp(out) => {
                    uplink.0 += out.sent_rtp_stream_stats.packets_sent;
                    uplink.1 += out.sent_rtp_stream_stats.bytes_sent;
                }
                _ => {}
            }
        }
        let now = Instant::now();
        let (then, bytes_then) = live.last_uplink_bytes;
        let seconds = now.duration_since(then).as_secs_f64();
        let uplink_kbps = (seconds > 0.2 && uplink.1 >= bytes_then)
            .then(|| (uplink.1 - bytes_then) as f64 * 8.0 / 1000.0 / seconds);
        live.last_uplink_bytes = (now, uplink.1);
        let mut sample = Health {
            at_ms: self.now_ms(),
            peer_state: live.peer_state.to_string(),
            ice_state: live.ice_state.to_string(),
            dtls_state,
            data_channel: if live.channel_open {
                "open"
            } else {
                "connecting"
            }
            .into(),
            rtt_ms,
            downlink_jitter_ms: live.meter.jitter_ms(),
            downlink_packets: live.meter.received(),
            downlink_lost: live.meter.lost(),
            downlink_loss: live.meter.interval_loss(),
            uplink_packets: uplink.0,
            uplink_bytes: uplink.1,
            uplink_kbps,
            uplink_loss: None,
            mic_dbfs: self.levels.0,
            speaker_dbfs: self.levels.1,
            since_last_event_ms: live.last_event.map(|t| t.elapsed().as_millis() as u64),
            reconnects: self.reconnects,
            quality: Quality {
                level: QualityLevel::Good,
                reason: None,
            },
        };
        sample.quality = assess(&sample);
        sample
    }
}

async fn proxy_notice(proxy: &mut Option<ProxyLink>) -> ProxyNotice {
    match proxy {
        Some(link) => link.notice().await,
        None => std::future::pending().await,
    }
}

async fn sleep_opt(duration: Option<Duration>) {
    match duration {
        Some(duration) => tokio::time::sleep(duration).await,
        None => std::future::pending().await,
    }
}

fn unix_now() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_secs() as i64)
}

async fn renew(
    grants: Option<&Arc<dyn GrantSource>>,
    session_id: &str,
    why: &str,
) -> Result<Grant, CallError> {
    let Some(grants) = grants else {
        return Err(CallError::SignInAgain(format!(
            "{why}, and this call cannot get a new one"
        )));
    };
    grants.renew(session_id).await.map_err(|error| match error {
        GrantError::SignInAgain(message) => CallError::SignInAgain(message),
        GrantError::Refused { message, .. } => CallError::Refused(message),
        GrantError::Unavailable(message) => CallError::Unavailable(message),
    })
}

/// One connection attempt: a fresh grant if needed, the offer, signaling, the answer, and an
/// open event channel. Returns the connection and the grant it used.
async fn connect(
    mut grant: Grant,
    grants: Option<Arc<dyn GrantSource>>,
    config: CallConfig,
    http: reqwest::Client,
) -> Result<(Connection, Grant), CallError> {
    let margin = config.secret_margin.as_secs() as i64;
    let mut renewed = false;
    if grant
        .realtime
        .client_secret
        .expires_within(unix_now(), margin)
    {
        grant = renew(
            grants.as_ref(),
            &grant.session_id,
            "the session key expired",
        )
        .await?;
        renewed = true;
    }
    let mut peer = Peer::offer(&grant.realtime.ice_servers, &config.udp_addrs, config.ice).await?;
    let (answer, proxy, location) = loop {
        let attempt = match grant.realtime.signaling {
            SignalingMode::Http => http_offer(
                &http,
                &grant.realtime.url,
                &grant.realtime.client_secret.value,
                &peer.offer,
            )
            .await
            .map(|(answer, location)| (answer, None, location)),
            SignalingMode::Websocket => {
                let token = grant.access_token.clone().unwrap_or_default();
                match ProxyLink::open(&grant.realtime.url, &token, &grant.session_id).await {
                    Ok(mut link) => link.offer(&peer.offer).await.map(|a| (a, Some(link), None)),
                    Err(error) => Err(error),
                }
            }
        };
        match attempt {
            Ok(done) => break done,
            // One renewal per attempt: a key refused right after renewal is a real refusal.
            Err(CallError::SecretRejected(why) | CallError::SignInAgain(why)) if !renewed => {
                grant = renew(grants.as_ref(), &grant.session_id, &why).await?;
                renewed = true;
            }
            Err(CallError::SecretRejected(why)) => return Err(CallError::SignInAgain(why)),
            Err(error) => {
                peer.close().await;
                return Err(error);
            }
        }
    };
    let (ssrc, payload_type) = match peer.accept(answer).await {
        Ok(accepted) => accepted,
        Err(error) => {
            peer.close().await;
            return Err(error);
        }
    };
    let target = UplinkTarget {
        track: peer.track.clone(),
        ssrc,
        payload_type,
    };
    let mut connection = Connection {
        secret: grant.realtime.client_secret.value.clone(),
        peer,
        proxy,
        location,
        opened_at: Instant::now(),
        peer_state: RTCPeerConnectionState::New,
        ice_state: RTCIceConnectionState::New,
        disconnected_since: None,
        channel_open: false,
        meter: DownlinkMeter::default(),
        last_event: None,
        last_uplink_bytes: (Instant::now(), 0),
        busy: Busy::default(),
        target,
        early: Vec::new(),
        replayed: HashSet::new(),
    };
    // Wait for the event channel; voice that arrives first is kept for the call loop.
    let deadline = tokio::time::Instant::now() + config.connect_timeout;
    let mut early = Vec::new();
    loop {
        let event = tokio::time::timeout_at(deadline, connection.peer.events.recv()).await;
        match event {
            Err(_) => {
                connection.peer.close().await;
                return Err(CallError::Timeout("opening the connection"));
            }
            Ok(None) => return Err(CallError::Network("the connection went away".into())),
            Ok(Some(PeerEvent::ChannelOpen)) => break,
            Ok(Some(PeerEvent::State(RTCPeerConnectionState::Failed))) => {
                connection.peer.close().await;
                return Err(CallError::Network(
                    "the connection could not be established".into(),
                ));
            }
            Ok(Some(PeerEvent::State(state))) => connection.peer_state = state,
            Ok(Some(PeerEvent::Ice(state))) => connection.ice_state = state,
            Ok(Some(other)) => early.push(other),
        }
    }
    connection.early = early;
    Ok((connection, grant))
}

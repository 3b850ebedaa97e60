//! One interview call: the conversation task that owns all of a call's state, and how a call
//! starts. Its parts live beside it: the peer (`peer.rs`), the audio in and out (`media.rs`),
//! the transcriber thread (`transcriber.rs`) and the call's voice API (`dialect/`: what
//! happens becomes that API's events). The task's handling is split by concern into
//! `client.rs` (Realtime's client events), `commands.rs` (Live's commands), `listening.rs`
//! (turns and transcripts) and `speaking.rs` (the interviewer's lines). The tasks talk over
//! bounded channels, and what reaches the conversation task is `input.rs`'s; the conversation
//! task ends the call on `bye`, a closed data channel, a failed connection or the end of a
//! Live session, and everything it owns goes with it.

mod client;
mod commands;
mod listening;
mod speaking;

use std::collections::HashMap;
use std::sync::Arc;
use std::sync::atomic::AtomicBool;
use std::time::{Duration, Instant};

use serde_json::{Value, json};
use tokio::sync::mpsc;
use viva_realtime::event::ServerEvent;
use viva_speech::stt::SttError;
use viva_speech::turn::Listener;
use viva_speech::vad::ServerVad;
use webrtc::data_channel::{DataChannel, DataChannelEvent, RTCDataChannelState};
use webrtc::peer_connection::{PeerConnection, RTCPeerConnectionState};

use super::dialect::{Active, Flow, Happening, LiveWriter, RealtimeWriter, Writer};
use super::events::{initial_session, new_id, wire};
use super::input::Input;
use super::media::{SpeakerCommand, listen, speaker};
use super::peer::{self, CallError};
use super::script::{QuestionSet, Script, question_set};
use super::transcriber::{Early, Job, transcriber_thread};
use super::{Answer, CallApi, CallSetup, Interviewer};
use crate::live_sessions::{AllowedEvents, Role};

/// How long a call's last events have to leave before its channel closes.
const FLUSH_TIMEOUT: Duration = Duration::from_secs(1);

/// Audio kept before the current turn (for prefix padding).
const KEEP_BEFORE_TURN_MS: u64 = 2_000;

/// The registry's view of a live call.
#[derive(Debug)]
pub struct CallHandle {
    pub call_id: String,
    pub session_id: Option<String>,
    /// The call speaks GPT-Live (it takes typed answers).
    pub live: bool,
    inputs: mpsc::Sender<Input>,
    /// Every server event the call sends its client, for a server's sideband (`/attach`).
    events: tokio::sync::broadcast::Sender<String>,
}

impl CallHandle {
    /// The call's server events from now on, as its client receives them.
    pub fn observe(&self) -> tokio::sync::broadcast::Receiver<String> {
        self.events.subscribe()
    }

    pub fn hang_up(&self) {
        let _ = self.inputs.try_send(Input::HangUp);
    }

    /// Ends a Live call as its maximum duration would; false for a Realtime call.
    pub fn expire(&self) -> bool {
        self.live && self.inputs.try_send(Input::Expire).is_ok()
    }

    /// Where the candidate's typed answer goes (a Live call's only).
    pub(super) fn typed_answers(&self) -> Option<mpsc::Sender<Input>> {
        self.live.then(|| self.inputs.clone())
    }
}

/// Hands `text` to the call as the candidate's typed answer.
pub(super) async fn typed_answer(inputs: mpsc::Sender<Input>, text: &str) -> Result<(), String> {
    inputs
        .send(Input::Typed(text.to_owned()))
        .await
        .map_err(|_| "the call has ended".to_owned())
}

/// Starts a call for `setup` from the candidate's offer and returns the answer.
pub(super) async fn start(
    interviewer: Arc<Interviewer>,
    setup: CallSetup,
    offer: &str,
) -> Result<Answer, CallError> {
    let (inputs, input_rx) = mpsc::channel::<Input>(1024);
    let peer = peer::answer(interviewer.config.bind_ip, offer, inputs.clone()).await?;
    let call_id = match setup.api {
        CallApi::Realtime => new_id("rtc"),
        CallApi::Live(_) => new_id("live"),
    };
    // A sideband that falls this far behind misses events (it is told by a gap, not a stall).
    let (events, _) = tokio::sync::broadcast::channel(1024);
    interviewer.register(CallHandle {
        call_id: call_id.clone(),
        session_id: setup.session_id.clone(),
        live: matches!(setup.api, CallApi::Live(_)),
        inputs: inputs.clone(),
        events: events.clone(),
    });
    tracing::info!(event = "interviewer_call_started", call_id = %call_id, session_id = ?setup.session_id);
    let (speaker_tx, speaker_rx) = mpsc::channel(16);
    tokio::spawn(speaker(
        peer.track,
        peer.ssrc,
        peer.payload_type,
        speaker_rx,
        inputs.clone(),
    ));
    let mut conversation =
        Conversation::new(interviewer, setup, call_id.clone(), inputs, speaker_tx);
    conversation.observers = Some(events);
    tokio::spawn(conversation.run(peer.pc, input_rx));
    Ok(Answer {
        call_id,
        sdp: peer.sdp,
    })
}

/// Which commands a client may send: Realtime's client events, or Live's permitted commands.
enum Commands {
    Realtime,
    Live(AllowedEvents),
}

/// The conversation task's state.
struct Conversation {
    interviewer: Arc<Interviewer>,
    session_id: Option<String>,
    call_id: String,
    /// The call's voice API: its events, and how its conversation goes.
    writer: Box<dyn Writer>,
    flow: Flow,
    commands: Commands,
    /// When the call started: its timeline's zero.
    started: Instant,
    /// Whether the interviewer owes the first turn when the channel opens (Live: nothing was
    /// said yet, or the candidate spoke last).
    owes_first_turn: bool,
    /// The candidate is not heard (Live's mute): their audio is replaced by silence.
    muted: bool,
    /// The candidate's turn whose transcript the interviewer waits for before answering.
    awaiting: Option<String>,
    /// The candidate typed an answer while the interviewer was saying a line: the next line
    /// follows once that one is over.
    answer_after_line: bool,
    /// Why the call is to end, once it is.
    end: Option<&'static str>,
    inputs: mpsc::Sender<Input>,
    speaker: mpsc::Sender<SpeakerCommand>,
    /// Sidebands attached to the call: they see what the client is sent.
    observers: Option<tokio::sync::broadcast::Sender<String>>,
    channel: Option<Arc<dyn DataChannel>>,
    channel_open: bool,
    outbox: Vec<String>,
    script: Script,
    /// The candidate's audio and turns; `turn_detection: null` turns detection off, and turns
    /// are committed by the client.
    listener: Listener,
    text_only: bool,
    session: Value,
    /// The open turn's item; `Some` exactly when the listener has a turn open.
    turn_item: Option<String>,
    last_partial_ms: u64,
    partial_busy: bool,
    partial_sent: HashMap<String, String>,
    last_item: Option<String>,
    active: Option<Active>,
    heard_ms_since_response: u64,
    jobs: Option<std::sync::mpsc::Sender<Job>>,
    /// Skips the queued partial (a final is more urgent).
    partial_abort: Arc<AtomicBool>,
    /// The final started early at a pause in the current turn, if any.
    early: Option<Early>,
    stt_error: Option<SttError>,
    stt_started: bool,
}

impl Conversation {
    fn new(
        interviewer: Arc<Interviewer>,
        setup: CallSetup,
        call_id: String,
        inputs: mpsc::Sender<Input>,
        speaker: mpsc::Sender<SpeakerCommand>,
    ) -> Self {
        let set = question_set(&setup.question_set).unwrap_or_else(|| QuestionSet {
            id: "fallback".into(),
            title: "Practice".into(),
            greeting: "Hello.".into(),
            closing: "Thank you, this interview is over.".into(),
            questions: vec!["Tell me about yourself.".into()],
        });
        let voice = interviewer.voice.describe();
        let session = initial_session(&call_id, &set, &voice);
        let mut script = Script::new(set);
        let (writer, commands, owes_first_turn): (Box<dyn Writer>, _, _) = match &setup.api {
            CallApi::Realtime => (Box::new(RealtimeWriter), Commands::Realtime, false),
            CallApi::Live(config) => {
                // What was said before: the script goes on after it, and the interviewer
                // speaks first unless its last line was said whole and not yet answered.
                let spoken = config
                    .input
                    .iter()
                    .filter(|m| m.role != Role::Developer)
                    .collect::<Vec<_>>();
                let whole = script.resume(
                    spoken
                        .iter()
                        .filter(|m| m.role == Role::Assistant)
                        .map(|m| m.text()),
                );
                let owes = spoken.last().is_none_or(|m| m.role == Role::User) || !whole;
                let writer = LiveWriter::new(
                    &call_id,
                    config,
                    crate::functions::LOCAL_LIVE_MODEL,
                    &json!(voice),
                    interviewer.config.live_max_duration,
                    interviewer.config.live_usage_every,
                );
                (
                    Box::new(writer),
                    Commands::Live(config.allowed_client_events()),
                    owes,
                )
            }
        };
        Self {
            interviewer,
            session_id: setup.session_id,
            call_id,
            flow: writer.flow(),
            writer,
            commands,
            started: Instant::now(),
            owes_first_turn,
            muted: false,
            awaiting: None,
            answer_after_line: false,
            end: None,
            inputs,
            speaker,
            observers: None,
            channel: None,
            channel_open: false,
            outbox: Vec::new(),
            script,
            listener: Listener::new(ServerVad::default(), KEEP_BEFORE_TURN_MS),
            text_only: false,
            session,
            turn_item: None,
            last_partial_ms: 0,
            partial_busy: false,
            partial_sent: HashMap::new(),
            last_item: None,
            active: None,
            heard_ms_since_response: 0,
            jobs: None,
            partial_abort: Arc::new(AtomicBool::new(false)),
            early: None,
            stt_error: None,
            stt_started: false,
        }
    }

    async fn run(mut self, pc: Arc<dyn PeerConnection>, mut inputs: mpsc::Receiver<Input>) {
        let reason = loop {
            if let Some(reason) = self.end.take() {
                break reason;
            }
            let due = self
                .writer
                .next_due_ms()
                .map(|ms| self.started + Duration::from_millis(ms));
            let input = tokio::select! {
                input = inputs.recv() => input,
                () = sleep_until(due) => {
                    self.timer().await;
                    continue;
                }
            };
            let Some(input) = input else {
                break "inputs closed";
            };
            match input {
                Input::Channel(channel) => self.adopt_channel(channel).await,
                Input::ChannelOpen => self.opened().await,
                Input::ChannelClosed => break "data channel closed",
                Input::Client(text) => self.client_event(&text).await,
                Input::Track(track) => {
                    tokio::spawn(listen(track, self.inputs.clone()));
                    self.start_transcriber().await;
                }
                Input::Audio(frame) => self.audio(frame).await,
                Input::Transcript(result) => self.transcribed(result).await,
                Input::Played { response_id } => self.played(&response_id).await,
                Input::Typed(text) => self.typed(&text).await,
                Input::Peer(state) => match state {
                    RTCPeerConnectionState::Failed => break "connection failed",
                    RTCPeerConnectionState::Closed => break "connection closed",
                    _ => {}
                },
                Input::HangUp => {
                    self.report(Happening::Closed {
                        reason: "close_requested",
                        event_id: None,
                    })
                    .await;
                    break "hung up";
                }
                Input::Expire => {
                    self.report(Happening::Closed {
                        reason: "expired",
                        event_id: None,
                    })
                    .await;
                    break "session expired";
                }
            }
            if self.answer_after_line && self.active.is_none() {
                self.answer_after_line = false;
                if !self.script.is_over() {
                    self.respond().await;
                }
            }
        };
        tracing::info!(event = "interviewer_call_ended", call_id = %self.call_id, session_id = ?self.session_id, reason);
        self.interviewer.unregister(&self.call_id);
        if let Some(channel) = self.channel.take() {
            // The last events (a Live session's `session.closed`) leave before the channel
            // closes.
            let deadline = Instant::now() + FLUSH_TIMEOUT;
            while self.channel_open
                && channel.outstanding_bytes().await.is_ok_and(|n| n > 0)
                && Instant::now() < deadline
            {
                tokio::time::sleep(Duration::from_millis(10)).await;
            }
            let _ = channel.close().await;
        }
        let _ = pc.close().await;
        // Dropping the job sender ends the transcriber thread; dropping the speaker's command
        // sender ends the speaker.
    }

    async fn adopt_channel(&mut self, channel: Arc<dyn DataChannel>) {
        let label = channel.label().await.unwrap_or_default();
        if label != "oai-events" {
            tracing::debug!(event = "interviewer_ignores_channel", %label);
            return;
        }
        let open = matches!(channel.ready_state().await, Ok(RTCDataChannelState::Open));
        let reader = Arc::clone(&channel);
        let inputs = self.inputs.clone();
        tokio::spawn(async move {
            while let Some(event) = reader.poll().await {
                let input = match event {
                    DataChannelEvent::OnOpen => Input::ChannelOpen,
                    DataChannelEvent::OnMessage(message) => {
                        Input::Client(String::from_utf8_lossy(&message.data).into_owned())
                    }
                    DataChannelEvent::OnClose => Input::ChannelClosed,
                    _ => continue,
                };
                let closed = matches!(input, Input::ChannelClosed);
                if inputs.send(input).await.is_err() || closed {
                    return;
                }
            }
            let _ = inputs.send(Input::ChannelClosed).await;
        });
        self.channel = Some(channel);
        if open {
            self.opened().await;
        }
    }

    async fn opened(&mut self) {
        if self.channel_open {
            return;
        }
        self.channel_open = true;
        let now = self.timeline_ms();
        let first = self.writer.write(
            Happening::Opened {
                session: &self.session,
            },
            now,
        );
        let queued = std::mem::take(&mut self.outbox);
        for text in first.into_iter().chain(queued) {
            self.send_now(text).await;
        }
        if self.flow.speaks_unasked && self.owes_first_turn && !self.script.is_over() {
            self.owes_first_turn = false;
            self.respond().await;
        }
    }

    /// Milliseconds since the call started: the session's timeline.
    fn timeline_ms(&self) -> u64 {
        u64::try_from(self.started.elapsed().as_millis()).unwrap_or(u64::MAX)
    }

    /// Tells the client what happened, in the call's voice API.
    async fn report(&mut self, happening: Happening<'_>) {
        let now = self.timeline_ms();
        for text in self.writer.write(happening, now) {
            self.send(text).await;
        }
    }

    /// What the writer's clock brought (fragments being spoken, usage, expiry).
    async fn timer(&mut self) {
        let due = self.writer.due(self.timeline_ms());
        for text in due.messages {
            self.send(text).await;
        }
        if due.end.is_some() {
            self.end = due.end;
        }
    }

    async fn send_now(&mut self, text: String) {
        if let Some(observers) = &self.observers {
            // Nobody attached is the usual case, not an error.
            let _ = observers.send(text.clone());
        }
        if let Some(channel) = &self.channel
            && let Err(error) = channel.send_text(&text).await
        {
            tracing::debug!(event = "interviewer_event_not_sent", %error);
        }
    }

    /// Sends a Realtime event (the Realtime client events' own answers).
    async fn emit(&mut self, event: ServerEvent) {
        self.send(wire(&event)).await;
    }

    /// Sends a message now, or once the channel opens.
    async fn send(&mut self, text: String) {
        if self.channel_open {
            self.send_now(text).await;
        } else {
            self.outbox.push(text);
        }
    }

    /// Tells the client that an event of theirs could not be followed.
    async fn error(&mut self, code: &str, message: &str, event_id: Option<String>) {
        self.report(Happening::Problem {
            code,
            message,
            event_id,
        })
        .await;
    }

    /// One message from the client on `oai-events`, in the call's voice API.
    async fn client_event(&mut self, text: &str) {
        match &self.commands {
            Commands::Realtime => self.realtime_event(text).await,
            Commands::Live(allowed) => {
                let allowed = allowed.clone();
                self.live_command(text, &allowed).await;
            }
        }
    }

    /// Starts the call's transcriber thread once the candidate's audio arrives.
    async fn start_transcriber(&mut self) {
        if self.stt_started {
            return;
        }
        self.stt_started = true;
        match self.interviewer.model().await.and_then(|m| m.transcriber()) {
            Ok(transcriber) => {
                let (jobs, job_rx) = std::sync::mpsc::channel();
                let inputs = self.inputs.clone();
                let spawned = std::thread::Builder::new()
                    .name(format!(
                        "stt-{}",
                        self.call_id
                            .split_once('_')
                            .and_then(|(_, hex)| hex.get(..8))
                            .unwrap_or("call")
                    ))
                    .spawn(move || transcriber_thread(transcriber, job_rx, inputs));
                match spawned {
                    Ok(_) => self.jobs = Some(jobs),
                    Err(error) => self.stt_error = Some(SttError::Failed(error.to_string())),
                }
            }
            Err(error) => {
                tracing::warn!(event = "interviewer_without_transcription", %error);
                self.stt_error = Some(error);
            }
        }
    }
}

/// Waits until `deadline`, or for ever without one.
async fn sleep_until(deadline: Option<Instant>) {
    match deadline {
        Some(deadline) => tokio::time::sleep_until(deadline.into()).await,
        None => std::future::pending().await,
    }
}

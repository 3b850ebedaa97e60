//! A live interview: the microphone and speakers wired to the call, every transcript change
//! saved before anyone is told of it, and the session's ending recorded. One task owns it all;
//! the owner holds a [`LiveSession`] and reads [`LiveEvent`]s.

use std::sync::Arc;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use serde::Serialize;
use tokio::sync::{mpsc, oneshot, watch};
use viva_audio::{
    AudioEvent, Capture, Direction, EchoControl, EchoStats, Level, PacedMicrophone, Playback,
};
use viva_realtime::{Line, SessionState, TranscriptChange};
use viva_rtc::{
    CallConfig, CallEvent, CallHandle, Grant, GrantSource, Health, Listener, Media, Summary,
    UplinkCounters,
};
use viva_store::{Ending, NewSession, SessionStatus, Store, SyncState};

use crate::SessionError;
use crate::answering::{self, Answering};
use crate::device::DeviceNotice;
use crate::media::{self, Microphone, Speakers};

/// How the session runs.
#[derive(Debug, Clone)]
pub struct LiveSettings {
    pub call: CallConfig,
    pub speakers: Speakers,
    /// Take the speakers' sound out of the microphone (when both are devices). On unless the
    /// candidate says they use headphones.
    pub echo_cancellation: bool,
}

impl Default for LiveSettings {
    fn default() -> Self {
        Self {
            call: CallConfig::default(),
            speakers: Speakers::default(),
            echo_cancellation: true,
        }
    }
}

/// Where the transcript is kept, and as what.
#[derive(Debug, Clone)]
pub struct Recording {
    pub store: Store,
    /// Its `id` must be the grant's session id.
    pub session: NewSession,
}

/// What a live session tells its owner: one flat list, each thing once. The desktop shell
/// streams it to the UI as it is, so its serialised shape is the UI's contract.
#[cfg_attr(feature = "specta", derive(specta::Type))]
#[derive(Debug, Clone, PartialEq, Serialize)]
#[serde(tag = "type", rename_all = "snake_case")]
pub enum LiveEvent {
    /// A line appeared or its words changed. A final one is already on disk (or
    /// [`LiveEvent::NotSaved`] came first).
    Line { line: Line },
    /// A line moved in the conversation's order (saved first, like a final line).
    Renumbered { item_id: String, seq: u32 },
    /// Where the call is: connecting, live, reconnecting, ended, failed.
    State { state: SessionState },
    /// The connection's health, once a second.
    Health { health: Health },
    /// The voice AI reported a problem; the interview goes on.
    Problem { code: String, message: String },
    /// Echo cancellation on the microphone, once a second with the health (only when both
    /// the microphone and the speakers are devices).
    Echo { echo: EchoState },
    /// Microphone (what is sent, so silence while muted) or speaker level, every 50 ms.
    Level { direction: Direction, level: Level },
    /// A device changed, went missing or fell silent, in words ([`DeviceNotice`]).
    Device {
        message: String,
        /// The microphone cannot be used: offer typed answers.
        microphone_lost: bool,
    },
    /// A transcript change (or the session's ending) could not be written to disk.
    NotSaved { message: String },
    /// How answers are given changed during the session: a renewed grant turned spoken answers
    /// off, and the microphone is closed.
    Answering { answering: Answering },
    /// The session is over and its ending is recorded. Sent once, last.
    Ended { ended: Ended },
}

/// Echo cancellation on the microphone, for the connection details.
#[cfg_attr(feature = "specta", derive(specta::Type))]
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct EchoState {
    /// On (off: the candidate uses headphones).
    pub on: bool,
    /// The speakers' sound reaches the canceller (not yet: nothing has played).
    pub hearing_speakers: bool,
    /// The delay from the speakers back to the microphone, once the canceller has found it.
    pub delay_ms: Option<u32>,
    /// The microphone hears the speakers (`None`: not known yet).
    pub speakers_heard: Option<bool>,
}

impl EchoState {
    fn of(stats: &EchoStats) -> Self {
        Self {
            on: stats.enabled,
            hearing_speakers: stats.reference_samples > 0,
            delay_ms: stats.delay_ms,
            speakers_heard: stats.speakers_heard,
        }
    }
}

/// How a session ended.
#[cfg_attr(feature = "specta", derive(specta::Type))]
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Ended {
    pub session_id: String,
    pub status: SessionStatus,
    /// `None` when the call stopped without one.
    pub summary: Option<Summary>,
    /// Transcript changes that could not be saved (0 when all were).
    pub unsaved: u32,
    /// How far its lines had reached the backend when it ended.
    pub sync: EndedSync,
}

/// How far an ended session's lines had reached the backend, as far as the store could say.
/// Untagged: a known state serialises as [`SyncState`] itself (tagged by `state`), an unknown
/// one as `{ "reason": … }`.
#[cfg_attr(feature = "specta", derive(specta::Type))]
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(untagged)]
pub enum EndedSync {
    Known(SyncState),
    /// The store could not be read back (why, in words).
    Unknown {
        reason: String,
    },
}

impl From<DeviceNotice> for LiveEvent {
    fn from(notice: DeviceNotice) -> Self {
        Self::Device {
            message: notice.message,
            microphone_lost: notice.microphone_lost,
        }
    }
}

enum Command {
    Mute(bool),
    Text(String, oneshot::Sender<Result<(), SessionError>>),
    End(oneshot::Sender<Ended>),
}

/// The owner's side of a live session. Dropping it ends the session.
#[derive(Debug)]
pub struct LiveSession {
    session_id: String,
    answering: watch::Receiver<Answering>,
    uplink: Arc<UplinkCounters>,
    commands: mpsc::Sender<Command>,
    echo: Option<EchoControl>,
}

impl LiveSession {
    /// Opens `microphone` (a device, a paced stand-in, or none for typed answers) and the
    /// speakers, records the session, and connects. Must be called inside a tokio runtime.
    ///
    /// The grant decides first ([`answering::decide`]): when it says `mode: "text"`, the
    /// microphone offered is dropped unopened and answers are typed.
    ///
    /// # Errors
    /// No microphone could be opened (text mode still can), or the store refused the session.
    pub async fn start(
        grant: Grant,
        grants: Option<Arc<dyn GrantSource>>,
        recording: Recording,
        microphone: Microphone,
        settings: LiveSettings,
    ) -> Result<(Self, mpsc::Receiver<LiveEvent>), SessionError> {
        let session_id = recording.session.id.clone();
        let (answering, microphone) = answering::decide(grant.mode, microphone);
        tracing::info!(event = "answers_decided", session = %session_id, granted = %grant.mode, answering = ?answering);
        let (events_tx, events) = mpsc::channel(512);
        let opened = media::open(microphone, settings.speakers, settings.echo_cancellation)?;
        if let Some(notice) = opened.trouble.as_ref().and_then(DeviceNotice::of) {
            let _ = events_tx.try_send(notice.into());
        }
        let new_session = recording.session.clone();
        recording
            .store
            .on_writer(move |store| store.begin_session(&new_session))
            .await?;
        let media = Media {
            uplink: opened.uplink,
            downlink: opened.downlink,
        };
        let (handle, call_events) = viva_rtc::start(grant, grants, settings.call, media);
        let (answering_tx, answering) = watch::channel(answering);
        let uplink = handle.uplink();
        let (commands_tx, commands) = mpsc::channel(16);
        let task = Task {
            session_id: session_id.clone(),
            answering: answering_tx,
            store: recording.store,
            events: events_tx,
            handle: Some(handle),
            capture: opened.capture,
            _playback: opened.playback,
            echo: opened.echo.clone(),
            _silent_uplink: opened.silent_uplink,
            paced: opened.paced,
            listener: opened.listener,
            levels: (None, None),
            unsaved: 0,
            waiting: Vec::new(),
        };
        tokio::spawn(task.run(
            call_events,
            opened.capture_events,
            opened.playback_events,
            commands,
        ));
        Ok((
            Self {
                session_id,
                answering,
                uplink,
                commands: commands_tx,
                echo: opened.echo,
            },
            events,
        ))
    }

    pub fn session_id(&self) -> &str {
        &self.session_id
    }

    /// Whether the session has ended (by itself, or by [`LiveSession::end`]).
    pub fn is_over(&self) -> bool {
        self.commands.is_closed()
    }

    /// Whether answers are typed (no microphone is open).
    pub fn is_text_only(&self) -> bool {
        matches!(self.answering(), Answering::Text { .. })
    }

    /// How answers are given now, and why (the grant's `mode` first).
    pub fn answering(&self) -> Answering {
        *self.answering.borrow()
    }

    /// Turns echo cancellation on or off mid-call (no effect without one: the microphone or
    /// the speakers are not devices).
    pub fn set_echo_cancellation(&self, on: bool) {
        if let Some(echo) = &self.echo {
            echo.set_enabled(on);
        }
    }

    /// What the echo canceller has done, when there is one.
    pub fn echo_stats(&self) -> Option<EchoStats> {
        self.echo.as_ref().map(EchoControl::stats)
    }

    /// The uplink's packet counts and frame-to-packet latencies.
    pub fn uplink(&self) -> Arc<UplinkCounters> {
        self.uplink.clone()
    }

    /// Mutes or unmutes the microphone (silence is sent while muted).
    pub async fn set_muted(&self, muted: bool) -> Result<(), SessionError> {
        self.commands
            .send(Command::Mute(muted))
            .await
            .map_err(|_| SessionError::Over)
    }

    /// Sends a typed answer and asks the interviewer to reply.
    pub async fn send_text(&self, text: &str) -> Result<(), SessionError> {
        let text = text.trim();
        if text.is_empty() {
            return Err(SessionError::EmptyAnswer);
        }
        let (reply, sent) = oneshot::channel();
        self.commands
            .send(Command::Text(text.to_owned(), reply))
            .await
            .map_err(|_| SessionError::Over)?;
        sent.await.map_err(|_| SessionError::Over)?
    }

    /// Hangs up and waits for the ending to be recorded. `None` if the session had already
    /// ended (its [`LiveEvent::Ended`] says how).
    pub async fn end(self) -> Option<Ended> {
        let (reply, ended) = oneshot::channel();
        self.commands.send(Command::End(reply)).await.ok()?;
        ended.await.ok()
    }
}

struct Task {
    session_id: String,
    answering: watch::Sender<Answering>,
    store: Store,
    events: mpsc::Sender<LiveEvent>,
    handle: Option<CallHandle>,
    capture: Option<Capture>,
    /// Kept open for the session's life.
    _playback: Option<Playback>,
    echo: Option<EchoControl>,
    _silent_uplink: Option<mpsc::Sender<viva_audio::EncodedFrame>>,
    /// Stand-ins, metered on a timer.
    paced: Option<PacedMicrophone>,
    listener: Option<Arc<Listener>>,
    levels: (Option<f32>, Option<f32>),
    unsaved: u32,
    /// Owners waiting for the ending.
    waiting: Vec<oneshot::Sender<Ended>>,
}

/// Receives from `receiver` if there is one; never completes otherwise.
async fn next_from<T>(receiver: &mut Option<mpsc::Receiver<T>>) -> Option<T> {
    match receiver {
        Some(receiver) => receiver.recv().await,
        None => std::future::pending().await,
    }
}

/// Ticks if there is a timer; never completes otherwise.
async fn tick(timer: &mut Option<tokio::time::Interval>) {
    match timer {
        Some(timer) => {
            timer.tick().await;
        }
        None => std::future::pending().await,
    }
}

impl Task {
    async fn run(
        mut self,
        mut call_events: mpsc::Receiver<CallEvent>,
        mut capture_events: Option<mpsc::Receiver<AudioEvent>>,
        mut playback_events: Option<mpsc::Receiver<AudioEvent>>,
        mut commands: mpsc::Receiver<Command>,
    ) {
        let mut commands_open = true;
        // Devices report their levels; stand-ins are read every 50 ms, like a device's meter.
        let mut meter = (self.paced.is_some() || self.listener.is_some())
            .then(|| tokio::time::interval(Duration::from_millis(50)));
        let summary = loop {
            tokio::select! {
                event = call_events.recv() => match event {
                    Some(CallEvent::Ended { summary }) => break Some(summary),
                    Some(event) => self.call_event(event).await,
                    None => break None,
                },
                event = next_from(&mut capture_events) => match event {
                    Some(event) => self.audio_event(event).await,
                    None => capture_events = None,
                },
                event = next_from(&mut playback_events) => match event {
                    Some(event) => self.audio_event(event).await,
                    None => playback_events = None,
                },
                () = tick(&mut meter) => self.meter_stand_ins(),
                command = commands.recv(), if commands_open => match command {
                    Some(command) => self.command(command).await,
                    // The owner is gone: hang up.
                    None => {
                        commands_open = false;
                        self.hang_up();
                    }
                },
            }
        };
        // The call is over: stop the devices before the (slow) disk work.
        self.capture = None;
        self._playback = None;
        self.paced = None;
        // The one rule for "completed", the app's and the `viva` command's alike: the call
        // itself reached `Ended` (the interviewer finished, or we hung up) rather than
        // failing or stopping without a summary. (The command used to count a session as
        // completed when its script of answers ran without error, whatever the call's own
        // ending; a call that ended cleanly after a step timed out was "interrupted" there and
        // "completed" in the app.)
        let status = match summary.as_ref().map(|s| &s.ended) {
            Some(SessionState::Ended { .. }) => SessionStatus::Completed,
            _ => SessionStatus::Interrupted,
        };
        let ending = Ending {
            status,
            ended_at_ms: unix_ms(),
            duration_ms: summary
                .as_ref()
                .map_or(0, |s| i64::try_from(s.duration_ms).unwrap_or(i64::MAX)),
            cost_usd: summary.as_ref().and_then(|s| s.cost_usd),
        };
        let session_id = self.session_id.clone();
        // Recorded, then asked how far it has synced, in one trip to the store's thread.
        let recorded = self
            .store
            .on_writer(move |store| {
                let saved = store.end_session(&session_id, &ending);
                let sync = match store.session(&session_id) {
                    Ok(session) => EndedSync::Known(session.sync),
                    Err(error) => EndedSync::Unknown {
                        reason: error.to_string(),
                    },
                };
                Ok((saved, sync))
            })
            .await;
        let (saved, sync) = match recorded {
            Ok((saved, sync)) => (saved, sync),
            Err(error) => {
                let reason = error.to_string();
                (Err(error), EndedSync::Unknown { reason })
            }
        };
        if let Err(error) = saved {
            self.unsaved += 1;
            self.tell(LiveEvent::NotSaved {
                message: error.to_string(),
            })
            .await;
        }
        let ended = Ended {
            session_id: self.session_id.clone(),
            status,
            summary,
            unsaved: self.unsaved,
            sync,
        };
        tracing::info!(event = "session_ended", session = %self.session_id, status = ?status, unsaved = self.unsaved);
        for waiting in self.waiting.drain(..) {
            let _ = waiting.send(ended.clone());
        }
        self.tell(LiveEvent::Ended { ended }).await;
        // Owners that asked to end after this point learn it from the closed channel.
        drop(commands);
    }

    async fn tell(&self, event: LiveEvent) {
        // The owner may have stopped listening (its window closed); the session still records.
        let _ = self.events.send(event).await;
    }

    async fn call_event(&mut self, event: CallEvent) {
        let event = match event {
            CallEvent::Transcript { change } => {
                // Written ahead: a change is on disk before it is shown. The write runs on the
                // store's own thread, so a slow disk never stalls the runtime the call's event
                // loop runs on.
                let (session_id, saving) = (self.session_id.clone(), change.clone());
                let saved = self
                    .store
                    .on_writer(move |store| store.apply(&session_id, &saving))
                    .await;
                if let Err(error) = saved {
                    self.unsaved += 1;
                    tracing::error!(event = "line_not_saved", %error);
                    self.tell(LiveEvent::NotSaved {
                        message: error.to_string(),
                    })
                    .await;
                }
                match change {
                    TranscriptChange::LineStarted(line)
                    | TranscriptChange::LinePartial(line)
                    | TranscriptChange::LineFinal(line) => LiveEvent::Line { line },
                    TranscriptChange::LineRenumbered { item_id, seq } => {
                        LiveEvent::Renumbered { item_id, seq }
                    }
                }
            }
            CallEvent::State { state } => LiveEvent::State { state },
            CallEvent::Health { health } => {
                if let Some(echo) = &self.echo {
                    let echo = EchoState::of(&echo.stats());
                    let _ = self.events.try_send(LiveEvent::Echo { echo });
                }
                LiveEvent::Health { health }
            }
            CallEvent::Problem { code, message } => LiveEvent::Problem { code, message },
            CallEvent::Answers { mode } => {
                let Some(answering) = answering::renewed(*self.answering.borrow(), mode) else {
                    return;
                };
                self.close_microphone();
                self.answering.send_replace(answering);
                LiveEvent::Answering { answering }
            }
            // Handled by the run loop: the session's own `Ended` follows once it is recorded.
            CallEvent::Ended { .. } => return,
        };
        self.tell(event).await;
    }

    /// Reads the stand-ins' levels: for the call's health and for the owner.
    fn meter_stand_ins(&mut self) {
        if let Some(paced) = &self.paced {
            self.levels.0 = Some(paced.level_dbfs());
        }
        let heard = self.listener.as_ref().and_then(|l| l.heard().level_dbfs);
        if heard.is_some() {
            self.levels.1 = heard;
        }
        if let Some(handle) = &self.handle {
            handle.set_levels(self.levels.0, self.levels.1);
        }
        for (direction, dbfs) in [
            (
                Direction::Input,
                self.levels.0.filter(|_| self.paced.is_some()),
            ),
            (Direction::Output, heard),
        ] {
            if let Some(dbfs) = dbfs {
                let level = media::level(dbfs);
                let _ = self.events.try_send(LiveEvent::Level { direction, level });
            }
        }
    }

    async fn audio_event(&mut self, event: AudioEvent) {
        match event {
            AudioEvent::Level { direction, level } => {
                match direction {
                    Direction::Input => self.levels.0 = Some(level.rms_dbfs),
                    Direction::Output => self.levels.1 = Some(level.rms_dbfs),
                }
                if let Some(handle) = &self.handle {
                    handle.set_levels(self.levels.0, self.levels.1);
                }
                // Levels are many and only the latest matters: never wait for a slow owner.
                let _ = self.events.try_send(LiveEvent::Level { direction, level });
            }
            event => {
                if let Some(notice) = DeviceNotice::of(&event) {
                    self.tell(notice.into()).await;
                }
            }
        }
    }

    async fn command(&mut self, command: Command) {
        match command {
            Command::Mute(muted) => {
                if let Some(capture) = &self.capture {
                    capture.set_muted(muted);
                }
            }
            Command::Text(text, reply) => {
                let sent = match &self.handle {
                    Some(handle) => handle
                        .send_text(&text)
                        .await
                        .map_err(|_| SessionError::Over),
                    None => Err(SessionError::Over),
                };
                let _ = reply.send(sent);
            }
            Command::End(reply) => {
                self.waiting.push(reply);
                self.hang_up();
            }
        }
    }

    /// Closes the microphone for good (answers are typed from now on); the call has already
    /// stopped sending its frames. A device is released off the runtime: it waits for its
    /// worker thread.
    fn close_microphone(&mut self) {
        if let Some(capture) = self.capture.take() {
            tokio::task::spawn_blocking(move || drop(capture));
        }
        self.paced = None;
        self.levels.0 = None;
        if let Some(handle) = &self.handle {
            handle.set_levels(None, self.levels.1);
        }
        tracing::info!(event = "microphone_closed", session = %self.session_id, "answers are typed from now on");
    }

    /// Asks the call to end; its `Ended` event finishes the session.
    fn hang_up(&mut self) {
        if let Some(handle) = self.handle.take() {
            tokio::spawn(async move {
                let _ = handle.end().await;
            });
        }
    }
}

fn unix_ms() -> i64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| i64::try_from(d.as_millis()).unwrap_or(i64::MAX))
}

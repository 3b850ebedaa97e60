//! A live interview: the microphone and speakers wired to the call, every transcript change
//! saved before anyone is told of it, and the session's ending recorded. One task owns it all;
//! the owner holds a [`LiveSession`] and reads [`LiveEvent`]s.

use std::sync::Arc;
use std::time::{SystemTime, UNIX_EPOCH};

use serde::Serialize;
use tokio::sync::{mpsc, oneshot};
use viva_audio::{
    AudioEvent, Capture, CaptureSettings, Direction, Level, Playback, PlaybackSettings,
};
use viva_realtime::{ClientEvent, SessionState};
use viva_rtc::{CallConfig, CallEvent, CallHandle, Grant, GrantSource, Media, Summary};
use viva_store::{Ending, NewSession, SessionStatus, Store};

use crate::SessionError;

/// How the session runs.
#[derive(Debug, Clone, Default)]
pub struct LiveSettings {
    pub call: CallConfig,
    pub capture: CaptureSettings,
    pub playback: PlaybackSettings,
    /// Answers are typed, not spoken: no microphone is opened.
    pub text_only: bool,
}

/// Where the transcript is kept, and as what.
#[derive(Debug, Clone)]
pub struct Recording {
    pub store: Store,
    /// Its `id` must be the grant's session id.
    pub session: NewSession,
}

/// What a live session tells its owner.
#[derive(Debug, Clone, PartialEq, Serialize)]
#[serde(tag = "type", rename_all = "snake_case")]
pub enum LiveEvent {
    /// From the call. A transcript change in it is already on disk (or [`LiveEvent::NotSaved`]
    /// came first).
    Call { event: CallEvent },
    /// Microphone (what is sent, so silence while muted) or speaker level, every 50 ms.
    Level { direction: Direction, level: Level },
    /// A device changed, went missing or fell silent.
    Audio { event: AudioEvent },
    /// A transcript change could not be written to disk.
    NotSaved { message: String },
    /// The session is over and its ending is recorded.
    Ended { ended: Ended },
}

/// How a session ended.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Ended {
    pub session_id: String,
    pub status: SessionStatus,
    /// `None` when the call stopped without one.
    pub summary: Option<Summary>,
    /// Transcript changes that could not be saved (0 when all were).
    pub unsaved: u32,
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
    text_only: bool,
    commands: mpsc::Sender<Command>,
}

impl LiveSession {
    /// Records the session, opens the microphone (unless text only) and the speakers, and
    /// connects. Must be called inside a tokio runtime.
    ///
    /// # Errors
    /// The store refused the session, or no microphone could be opened (text mode still can).
    pub async fn start(
        grant: Grant,
        grants: Option<Arc<dyn GrantSource>>,
        recording: Recording,
        settings: LiveSettings,
    ) -> Result<(Self, mpsc::Receiver<LiveEvent>), SessionError> {
        let session_id = recording.session.id.clone();
        let (events_tx, events) = mpsc::channel(512);
        let (uplink, capture, capture_events, silent_uplink) = if settings.text_only {
            // The call still wants an uplink; nothing is ever sent on it.
            let (tx, rx) = mpsc::channel(1);
            (rx, None, None, Some(tx))
        } else {
            let (capture, streams) = Capture::start(settings.capture)?;
            (streams.frames, Some(capture), Some(streams.events), None)
        };
        // Without speakers the interview goes on: the questions are in the transcript.
        let (playback, playback_events) = match Playback::start(settings.playback) {
            Ok((playback, events)) => (Some(playback), Some(events)),
            Err(error) => {
                tracing::warn!(event = "no_speakers", %error);
                let _ = events_tx.try_send(LiveEvent::Audio {
                    event: AudioEvent::DeviceUnavailable {
                        direction: Direction::Output,
                        message: error.to_string(),
                    },
                });
                (None, None)
            }
        };
        let new_session = recording.session.clone();
        recording
            .store
            .on_writer(move |store| store.begin_session(&new_session))
            .await?;
        let downlink = playback
            .as_ref()
            .map(|p| Arc::new(p.sender()) as Arc<dyn viva_rtc::VoiceSink>);
        let (handle, call_events) =
            viva_rtc::start(grant, grants, settings.call, Media { uplink, downlink });
        let (commands_tx, commands) = mpsc::channel(16);
        let task = Task {
            session_id: session_id.clone(),
            store: recording.store,
            events: events_tx,
            handle: Some(handle),
            capture,
            _playback: playback,
            _silent_uplink: silent_uplink,
            levels: (None, None),
            unsaved: 0,
            waiting: Vec::new(),
        };
        tokio::spawn(task.run(call_events, capture_events, playback_events, commands));
        Ok((
            Self {
                session_id,
                text_only: settings.text_only,
                commands: commands_tx,
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

    /// Whether answers are typed (no microphone was opened).
    pub fn is_text_only(&self) -> bool {
        self.text_only
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
    store: Store,
    events: mpsc::Sender<LiveEvent>,
    handle: Option<CallHandle>,
    capture: Option<Capture>,
    /// Kept open for the session's life.
    _playback: Option<Playback>,
    _silent_uplink: Option<mpsc::Sender<viva_audio::EncodedFrame>>,
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

impl Task {
    async fn run(
        mut self,
        mut call_events: mpsc::Receiver<CallEvent>,
        mut capture_events: Option<mpsc::Receiver<AudioEvent>>,
        mut playback_events: Option<mpsc::Receiver<AudioEvent>>,
        mut commands: mpsc::Receiver<Command>,
    ) {
        let mut commands_open = true;
        let summary = loop {
            tokio::select! {
                event = call_events.recv() => match event {
                    Some(CallEvent::Ended { summary }) => {
                        self.tell(LiveEvent::Call { event: CallEvent::Ended { summary: summary.clone() } }).await;
                        break Some(summary);
                    }
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
        let (session_id, ending_to_save) = (self.session_id.clone(), ending.clone());
        let saved = self
            .store
            .on_writer(move |store| store.end_session(&session_id, &ending_to_save))
            .await;
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
        };
        tracing::info!(event = "session_ended", session = %self.session_id, status = ?status, unsaved = self.unsaved);
        self.tell(LiveEvent::Ended {
            ended: ended.clone(),
        })
        .await;
        for waiting in self.waiting.drain(..) {
            let _ = waiting.send(ended.clone());
        }
        // Owners that asked to end after this point learn it from the closed channel.
        drop(commands);
    }

    async fn tell(&self, event: LiveEvent) {
        // The owner may have stopped listening (its window closed); the session still records.
        let _ = self.events.send(event).await;
    }

    async fn call_event(&mut self, event: CallEvent) {
        // Written ahead: a line is on disk before it is shown. The write runs on the store's
        // own thread, so a slow disk never stalls the runtime the call's event loop runs on.
        let saved = match &event {
            CallEvent::Transcript { change } => {
                let (session_id, change) = (self.session_id.clone(), change.clone());
                self.store
                    .on_writer(move |store| store.apply(&session_id, &change))
                    .await
            }
            _ => Ok(()),
        };
        if let Err(error) = saved {
            self.unsaved += 1;
            tracing::error!(event = "line_not_saved", %error);
            self.tell(LiveEvent::NotSaved {
                message: error.to_string(),
            })
            .await;
        }
        self.tell(LiveEvent::Call { event }).await;
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
            event => self.tell(LiveEvent::Audio { event }).await,
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
                    Some(handle) => {
                        let answer = handle.send(ClientEvent::user_text(&text)).await;
                        match answer {
                            Ok(()) => handle.send(ClientEvent::response_create()).await,
                            Err(error) => Err(error),
                        }
                        .map_err(|_| SessionError::Over)
                    }
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

//! The conversation core: the protocol state of one interview call, without any I/O.
//!
//! The call loop (in `viva-rtc`) feeds it what happened — a parsed server event, the event
//! channel opening, the connection being lost or replaced, the user ending the call, a client
//! event the app wants sent, a timer firing — each with `now_ms` (milliseconds since the call
//! started). The core updates its state and queues [`Output`]s, which the loop takes with
//! [`Conversation::poll_output`] and carries out: send a client event, publish a transcript
//! change or a state change, report a problem, arm a timer, start a planned re-session.
//! Nothing here reads a clock, touches the network or awaits, so every rule is unit-tested.
//!
//! What it owns:
//! - **turn-taking**: whether the interviewer owes the next turn (so a new connection asks it
//!   to speak, or not), and whether the conversation is quiet (nobody speaking, nothing being
//!   generated or played) — a planned re-session waits for a quiet moment;
//! - **the session cap**: when a connection opens it arms a [`TimerKind::SessionCap`] timer;
//!   once that fires, the first quiet moment yields [`Output::Resession`];
//! - **history replay**: a new connection is given the final lines said so far, with their item
//!   ids; the server's echo of those items is filtered out, so no line is duplicated;
//! - **queueing**: client events the app sends while no event channel is open wait (at most
//!   [`MAX_PENDING`], oldest dropped) and go out when the next channel opens;
//! - **cost** ([`CostMeter`]), **the transcript** ([`Assembler`]) and **the session state**
//!   ([`SessionState`]).
//!
//! What a voice API's events mean is a [`Dialect`]'s business (see [`dialect`]); the core only
//! sees [`Signal`]s.

pub mod dialect;
pub mod gpt_live;

use std::collections::{HashSet, VecDeque};

use serde_json::Value;

use crate::assembler::{Line, LineStatus, Speaker, TranscriptChange};
use crate::client::ClientEvent;
use crate::cost::{Cost, CostMeter};
use crate::live::CloseReason;
use crate::parse::{Limits, ParseError};
use crate::state::{InvalidTransition, SessionInput, SessionState};

pub use dialect::{
    AnyDialect, AnyEvent, Dialect, OpenAiRealtime, Reading, Signal, TypedAnswer, VoiceApi,
};
pub use gpt_live::GptLive;

/// Client events kept while no event channel is open; older ones are dropped past this.
pub const MAX_PENDING: usize = 64;

/// How the conversation behaves.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ConversationConfig {
    /// Ask the interviewer to speak when a channel opens and it owes the next turn (always
    /// true for the first connection).
    pub interviewer_speaks_first: bool,
    /// A connection is replaced, at a quiet moment, once it has been open this long.
    pub session_cap_ms: u64,
    /// The wall-clock time (Unix ms) of call time 0, so that a provider's own end of session
    /// (GPT-Live's `expires_at`) can bring the planned re-session forward; `None` ignores it.
    pub clock_origin_unix_ms: Option<i64>,
}

/// How long before a provider's `expires_at` the planned re-session becomes due: a minute, or
/// a quarter of what is left for short sessions.
const EXPIRY_MARGIN_MS: u64 = 60_000;

/// Which timer.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum TimerKind {
    /// The current connection reaches the provider's session cap.
    SessionCap,
    /// The dialect decides about the transcript (GPT-Live: a turn is due to close, or a
    /// batch of fragments to be decided).
    Transcript,
}

/// Something the call loop must do, in order.
#[derive(Debug, Clone, PartialEq)]
pub enum Output {
    /// Send this on the event channel (only emitted while it is open). `requeue_if_unsent`:
    /// when sending fails, give it back with [`Conversation::unsent`].
    Send {
        event: ClientEvent,
        requeue_if_unsent: bool,
    },
    Transcript(TranscriptChange),
    State(SessionState),
    /// A state change that cannot happen now was asked for; the state is unchanged.
    StateRefused(InvalidTransition),
    /// The voice AI reported an error; the call goes on.
    Problem {
        code: String,
        message: String,
    },
    /// The running cost changed.
    Cost(Cost),
    /// Call [`Conversation::handle_timeout`] at `at_ms`: the earliest deadline now armed
    /// (it replaces the one given before).
    Timer {
        kind: TimerKind,
        at_ms: u64,
    },
    /// The opening events are out: the microphone's frames may now go to this connection.
    Opened,
    /// No channel was open and [`MAX_PENDING`] events were waiting: this, the oldest, is lost.
    Dropped(ClientEvent),
    /// Send this typed answer through the signalling connection (GPT-Live); when that fails,
    /// give it back with [`Conversation::unsent_text`].
    SendViaSignalling {
        text: String,
    },
    /// Replace the connection now: its session cap is reached and nobody is speaking, or
    /// the provider ended the session in a way a new one can continue (expired, lost).
    Resession,
    /// The provider ended the session for good: the user asked (`CloseRequested`), or it
    /// stopped the interview over what was said (`Content`). Open lines are already final.
    ProviderEnded {
        reason: CloseReason,
    },
}

/// What a planned re-session must not cut into.
#[derive(Debug, Default, Clone, Copy, PartialEq, Eq)]
struct Busy {
    /// A response is being generated.
    responding: bool,
    /// The interviewer's voice is still playing out (it may outlast the response's end).
    playing: bool,
    /// The candidate started a turn that is not transcribed yet.
    candidate_turn: bool,
}

impl Busy {
    fn is_quiet(self) -> bool {
        !(self.responding || self.playing || self.candidate_turn)
    }
}

/// How a new connection came about.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Renewal {
    /// After the connection was lost.
    Reconnect,
    /// Planned, before the session cap.
    Resession,
}

/// The protocol state of one call. `D` reads the voice API's events.
#[derive(Debug)]
pub struct Conversation<D: Dialect = OpenAiRealtime> {
    dialect: D,
    config: ConversationConfig,
    state: SessionState,
    cost: CostMeter,
    pending: VecDeque<ClientEvent>,
    /// Typed answers for the signalling connection, waiting for the next connection.
    pending_texts: VecDeque<String>,
    channel_open: bool,
    busy: Busy,
    /// Ids of the earlier lines the current connection was given as history.
    replayed: HashSet<String>,
    /// When the current connection reaches its session cap.
    cap_at_ms: Option<u64>,
    /// The current connection reached its session cap; waiting for a quiet moment.
    resession_due: bool,
    /// [`Output::Resession`] was given for the current connection.
    resession_asked: bool,
    reconnects: u32,
    resessions: u32,
    outputs: VecDeque<Output>,
    scratch: Vec<TranscriptChange>,
    /// The latest time an input gave (the dialect's deadlines are relative to it).
    now_ms: u64,
    /// The wake-up last given in [`Output::Timer`].
    armed_ms: Option<u64>,
    /// Provider sessions opened so far (each priced by its own running time).
    sessions: u32,
}

impl Conversation<OpenAiRealtime> {
    /// A conversation over OpenAI's Realtime API, priced with `cost`.
    pub fn new(config: ConversationConfig, cost: CostMeter) -> Self {
        Self::with_dialect(OpenAiRealtime::default(), config, cost)
    }
}

impl Conversation<AnyDialect> {
    /// A conversation over `api`, chosen at run time.
    pub fn for_api(api: VoiceApi, config: ConversationConfig, cost: CostMeter) -> Self {
        Self::with_dialect(AnyDialect::new(api), config, cost)
    }

    pub fn api(&self) -> VoiceApi {
        self.dialect.api()
    }
}

impl<D: Dialect> Conversation<D> {
    pub fn with_dialect(dialect: D, config: ConversationConfig, cost: CostMeter) -> Self {
        Self {
            dialect,
            config,
            state: SessionState::Idle,
            cost,
            pending: VecDeque::new(),
            pending_texts: VecDeque::new(),
            channel_open: false,
            busy: Busy::default(),
            replayed: HashSet::new(),
            cap_at_ms: None,
            resession_due: false,
            resession_asked: false,
            reconnects: 0,
            resessions: 0,
            outputs: VecDeque::new(),
            scratch: Vec::new(),
            now_ms: 0,
            armed_ms: None,
            sessions: 0,
        }
    }

    /// The next thing to do, oldest first; `None` when there is nothing left.
    pub fn poll_output(&mut self) -> Option<Output> {
        self.outputs.pop_front()
    }

    // ---- inputs -------------------------------------------------------------------------

    /// The call starts connecting.
    pub fn connect(&mut self) {
        self.transition(SessionInput::Connect);
    }

    /// A connection's event channel opened at `now_ms`: the session is configured with
    /// `session`, given the history, asked to speak if the interviewer owes a turn, and the
    /// queued client events follow. Arms the session-cap timer.
    pub fn channel_opened(&mut self, now_ms: u64, session: &Value) {
        self.now_ms = self.now_ms.max(now_ms);
        self.dialect.connection_opened(now_ms);
        self.sessions = self.sessions.saturating_add(1);
        self.channel_open = true;
        self.busy = Busy::default();
        self.resession_due = false;
        self.resession_asked = false;
        // A new connection of a running interview: the voice AI's new session hears what
        // was said so far, as text, and speaks only if it owes the next turn.
        let history: Vec<&Line> = self
            .dialect
            .lines()
            .into_iter()
            .filter(|l| l.status == LineStatus::Final && !l.text.is_empty())
            .collect();
        self.replayed = history.iter().map(|l| l.item_id.clone()).collect();
        let respond = self.config.interviewer_speaks_first && interviewer_owes_a_turn(&history);
        let opening = self.dialect.opening(session, &history, respond);
        for event in opening.into_iter().chain(self.pending.drain(..)) {
            self.outputs.push_back(Output::Send {
                event,
                requeue_if_unsent: false,
            });
        }
        for text in self.pending_texts.drain(..) {
            self.outputs.push_back(Output::SendViaSignalling { text });
        }
        self.outputs.push_back(Output::Opened);
        let cap_at_ms = now_ms.saturating_add(self.config.session_cap_ms);
        self.cap_at_ms = Some(cap_at_ms);
        // A new connection has no timer armed in the loop yet.
        self.armed_ms = None;
        self.arm(TimerKind::SessionCap);
        if self.state != SessionState::Live {
            self.transition(SessionInput::Connected);
        }
    }

    /// A parsed server event arrived at `now_ms`.
    pub fn server_event(&mut self, event: &D::Event, now_ms: u64) {
        self.now_ms = self.now_ms.max(now_ms);
        let reading = self.dialect.read(event);
        if let Some(item) = reading.item {
            // Our own replay of earlier lines coming back: already in the transcript.
            if self.replayed.contains(item) {
                return;
            }
        }
        let mut ended = None;
        if let Some(signal) = reading.signal {
            ended = self.on_signal(signal);
        }
        let mut changes = std::mem::take(&mut self.scratch);
        self.dialect.assemble(event, now_ms, &mut changes);
        self.outputs
            .extend(changes.drain(..).map(Output::Transcript));
        self.scratch = changes;
        if let Some(reason) = ended {
            self.provider_ended(reason);
        }
        self.arm(TimerKind::Transcript);
        self.maybe_resession();
    }

    /// One data-channel message, parsed by the dialect, arrived at `now_ms`. A message that
    /// cannot be read changes nothing and is returned as the error.
    pub fn server_message(
        &mut self,
        message: &str,
        limits: Limits,
        now_ms: u64,
    ) -> Result<(), ParseError> {
        let event = self.dialect.parse(message, limits)?;
        self.server_event(&event, now_ms);
        Ok(())
    }

    /// The user ends the call: the events that ask the provider to close the session (send
    /// them, then wait a moment for [`Output::ProviderEnded`] before hanging up).
    pub fn closing_events(&self) -> Vec<ClientEvent> {
        self.dialect.closing()
    }

    /// The app wants `event` sent: now if a channel is open, else when the next one opens.
    pub fn client_event(&mut self, event: ClientEvent) {
        if self.channel_open {
            self.outputs.push_back(Output::Send {
                event,
                requeue_if_unsent: true,
            });
        } else {
            self.queue(event);
        }
    }

    /// The candidate typed an answer: sent the dialect's way, now if a connection is open,
    /// else when the next one opens.
    pub fn typed_answer(&mut self, text: &str) {
        match self.dialect.typed_answer(text) {
            TypedAnswer::Events(events) => {
                for event in events {
                    self.client_event(event);
                }
            }
            TypedAnswer::ViaSignalling(text) if self.channel_open => {
                self.outputs.push_back(Output::SendViaSignalling { text });
            }
            TypedAnswer::ViaSignalling(text) => self.unsent_text(text),
        }
    }

    /// A typed answer from [`Output::SendViaSignalling`] could not be sent: it waits for the
    /// next connection (at most [`MAX_PENDING`], the oldest reported as dropped).
    pub fn unsent_text(&mut self, text: String) {
        if self.pending_texts.len() == MAX_PENDING
            && let Some(dropped) = self.pending_texts.pop_front()
        {
            self.outputs
                .push_back(Output::Dropped(ClientEvent::user_text(&dropped)));
        }
        self.pending_texts.push_back(text);
    }

    /// An event from [`Output::Send`] with `requeue_if_unsent` could not be sent: it waits
    /// for the next channel.
    pub fn unsent(&mut self, event: ClientEvent) {
        self.queue(event);
    }

    /// The connection was lost (or a reconnect attempt failed) because of `reason`.
    pub fn connection_lost(&mut self, reason: String) {
        self.connection_gone();
        self.transition(SessionInput::ConnectionLost { reason });
    }

    /// The current connection is being replaced on purpose (a planned re-session); the state
    /// stays live.
    pub fn resession_started(&mut self) {
        self.connection_gone();
    }

    /// A new connection took over at `now_ms`: the lines still open are finalised with what
    /// they have (the new connection cannot complete them) and later lines follow them.
    pub fn renewed(&mut self, how: Renewal, now_ms: u64) {
        match how {
            Renewal::Reconnect => self.reconnects = self.reconnects.saturating_add(1),
            Renewal::Resession => self.resessions = self.resessions.saturating_add(1),
        }
        self.now_ms = self.now_ms.max(now_ms);
        let mut changes = Vec::new();
        self.dialect.continue_after_reconnect(now_ms, &mut changes);
        self.outputs
            .extend(changes.into_iter().map(Output::Transcript));
    }

    /// Finalises every open line with what was said so far (the call is ending).
    pub fn close_lines(&mut self, now_ms: u64) {
        self.now_ms = self.now_ms.max(now_ms);
        let mut changes = Vec::new();
        self.dialect.finish(now_ms, &mut changes);
        self.outputs
            .extend(changes.into_iter().map(Output::Transcript));
    }

    /// The call ended normally (the user, the interviewer or the app ended it).
    pub fn end(&mut self, reason: String) {
        self.connection_gone();
        self.transition(SessionInput::End { reason });
    }

    /// The call cannot go on: the problem is reported, open lines are finalised, and the
    /// session fails with `message`.
    pub fn fail(&mut self, code: &str, message: String, now_ms: u64) {
        self.connection_gone();
        self.outputs.push_back(Output::Problem {
            code: code.into(),
            message: message.clone(),
        });
        self.close_lines(now_ms);
        self.transition(SessionInput::Fail { reason: message });
    }

    /// A timer from [`Output::Timer`] fired; it is `now_ms`. Only deadlines that have
    /// passed count, so an early or spurious wake-up changes nothing.
    pub fn handle_timeout(&mut self, now_ms: u64) {
        self.now_ms = self.now_ms.max(now_ms);
        self.armed_ms = None;
        if self
            .dialect
            .deadline(self.now_ms)
            .is_some_and(|at| now_ms >= at)
        {
            let mut changes = Vec::new();
            self.dialect.handle_timeout(now_ms, &mut changes);
            self.outputs
                .extend(changes.into_iter().map(Output::Transcript));
        }
        if self.cap_at_ms.is_some_and(|at| now_ms >= at) {
            self.cap_at_ms = None;
            self.resession_due = true;
        }
        self.arm(TimerKind::Transcript);
        self.maybe_resession();
    }

    /// The earliest armed deadline, if any: when [`Conversation::handle_timeout`] is next due.
    pub fn poll_timeout(&self) -> Option<u64> {
        let transcript = self.dialect.deadline(self.now_ms);
        match (self.cap_at_ms, transcript) {
            (Some(a), Some(b)) => Some(a.min(b)),
            (a, b) => a.or(b),
        }
    }

    // ---- what the loop may read -----------------------------------------------------------

    pub fn state(&self) -> &SessionState {
        &self.state
    }

    /// The transcript so far, in conversation order.
    pub fn lines(&self) -> Vec<&Line> {
        self.dialect.lines()
    }

    pub fn cost(&self) -> Cost {
        self.cost.total()
    }

    pub fn reconnects(&self) -> u32 {
        self.reconnects
    }

    pub fn resessions(&self) -> u32 {
        self.resessions
    }

    /// Nobody is speaking, no answer is being generated or played.
    pub fn is_quiet(&self) -> bool {
        self.busy.is_quiet() && !self.dialect.speech_in_progress()
    }

    /// Whether the interviewer owes the next turn: nothing said yet, the candidate spoke last,
    /// or the interviewer's last line was cut off.
    pub fn interviewer_owes_a_turn(&self) -> bool {
        let lines = self.dialect.lines();
        let history: Vec<&Line> = lines
            .into_iter()
            .filter(|l| l.status == LineStatus::Final && !l.text.is_empty())
            .collect();
        interviewer_owes_a_turn(&history)
    }

    /// Client events waiting for a channel.
    pub fn pending(&self) -> usize {
        self.pending.len()
    }

    // ---- internals --------------------------------------------------------------------------

    /// Applies what an event means; a provider's close comes back to be handled once the
    /// event's transcript changes are out.
    fn on_signal(&mut self, signal: Signal<'_>) -> Option<CloseReason> {
        match signal {
            Signal::Problem { code, message } => {
                self.outputs.push_back(Output::Problem { code, message });
            }
            Signal::ResponseStarted => self.busy.responding = true,
            Signal::CandidateTurnStarted => self.busy.candidate_turn = true,
            Signal::VoiceStarted => self.busy.playing = true,
            Signal::VoiceStopped => self.busy.playing = false,
            Signal::ResponseDone { usage } => {
                self.busy.responding = false;
                if let Some(usage) = usage {
                    self.cost.add_response(usage);
                    self.outputs.push_back(Output::Cost(self.cost.total()));
                }
            }
            Signal::CandidateTurnTranscribed { usage } => {
                self.busy.candidate_turn = false;
                if let Some(usage) = usage {
                    self.cost.add_transcription(usage);
                    self.outputs.push_back(Output::Cost(self.cost.total()));
                }
            }
            Signal::CandidateTurnFailed => self.busy.candidate_turn = false,
            Signal::SessionStarted { expires_at, .. } => self.plan_before_expiry(expires_at),
            Signal::TimeUsage(usage) => self.time_usage(usage),
            Signal::SessionClosed { reason, usage } => {
                if let Some(usage) = usage {
                    self.time_usage(usage);
                }
                return Some(reason);
            }
        }
        None
    }

    /// A session that ends at `expires_at` (Unix seconds) is replaced at a quiet moment
    /// before then, if that comes before the configured cap.
    fn plan_before_expiry(&mut self, expires_at: Option<i64>) {
        let (Some(expires_at), Some(origin)) = (expires_at, self.config.clock_origin_unix_ms)
        else {
            return;
        };
        let Some(cap) = self.cap_at_ms else { return };
        let expires_ms =
            u64::try_from(expires_at.saturating_mul(1000).saturating_sub(origin)).unwrap_or(0);
        let left = expires_ms.saturating_sub(self.now_ms);
        let due = expires_ms.saturating_sub(EXPIRY_MARGIN_MS.min(left / 4));
        if due < cap {
            self.cap_at_ms = Some(due);
            self.arm(TimerKind::SessionCap);
        }
    }

    fn time_usage(&mut self, usage: &crate::live::Usage) {
        self.cost.set_session_time(self.sessions, usage);
        self.outputs.push_back(Output::Cost(self.cost.total()));
    }

    /// The provider closed the session: a new one continues an expired or lost session; a
    /// close the user asked for, or a stop over content, ends the call.
    fn provider_ended(&mut self, reason: CloseReason) {
        match reason {
            CloseReason::CloseRequested | CloseReason::Content => {
                self.outputs.push_back(Output::ProviderEnded { reason });
            }
            CloseReason::Expired
            | CloseReason::RemoteHangup
            | CloseReason::ConnectionLost
            | CloseReason::Other => {
                if self.channel_open && !self.resession_asked {
                    self.resession_asked = true;
                    self.outputs.push_back(Output::Resession);
                }
            }
        }
    }

    /// Tells the loop the earliest deadline when it changed.
    fn arm(&mut self, kind: TimerKind) {
        let next = self.poll_timeout();
        if next != self.armed_ms {
            self.armed_ms = next;
            if let Some(at_ms) = next {
                self.outputs.push_back(Output::Timer { kind, at_ms });
            }
        }
    }

    /// The current connection's channel and its timers are gone.
    fn connection_gone(&mut self) {
        let mut changes = Vec::new();
        self.dialect.connection_gone(self.now_ms, &mut changes);
        self.outputs
            .extend(changes.into_iter().map(Output::Transcript));
        self.channel_open = false;
        self.cap_at_ms = None;
        self.resession_due = false;
    }

    fn maybe_resession(&mut self) {
        if self.resession_due && !self.resession_asked && self.channel_open && self.is_quiet() {
            self.resession_asked = true;
            self.outputs.push_back(Output::Resession);
        }
    }

    fn queue(&mut self, event: ClientEvent) {
        if self.pending.len() == MAX_PENDING
            && let Some(dropped) = self.pending.pop_front()
        {
            self.outputs.push_back(Output::Dropped(dropped));
        }
        self.pending.push_back(event);
    }

    fn transition(&mut self, input: SessionInput) {
        match self.state.next(input) {
            Ok(next) => {
                self.state = next.clone();
                self.outputs.push_back(Output::State(next));
            }
            Err(invalid) => self.outputs.push_back(Output::StateRefused(invalid)),
        }
    }
}

fn interviewer_owes_a_turn(history: &[&Line]) -> bool {
    match history.last() {
        None => true,
        Some(last) => last.speaker == Speaker::Candidate || last.interrupted,
    }
}

#[cfg(test)]
mod tests;

#[cfg(test)]
mod live_tests;

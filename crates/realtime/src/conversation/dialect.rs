//! The boundary between the conversation core and one voice API's wire protocol.
//!
//! A [`Dialect`] says what a server event means for the conversation (a response started or
//! finished, the candidate's turn began or was transcribed, the voice started or stopped, an
//! error, the echo of a history line), drives the transcript assembler with it, and builds the
//! events that open a new connection. The core ([`super::Conversation`]) decides everything
//! else: turn-taking, cost, the replay filter, queueing and the session state.
//!
//! [`OpenAiRealtime`] reads Realtime's events; [`super::live::GptLive`] reads GPT-Live's, where the
//! client decides itself when a line is final. [`AnyDialect`] is either, chosen at run time from
//! the interview's grant, so the call loop has one code path for both.

use serde_json::Value;

use crate::assembler::{Assembler, Line, TranscriptChange};
use crate::client::ClientEvent;
use crate::event::{Envelope, ServerEvent, TranscriptionUsage, Usage};
use crate::live::grouping::GroupingOptions;
use crate::live::{CloseReason, LiveEvent, Usage as TimeUsage};

use super::gpt_live::GptLive;
use crate::parse::{Limits, ParseError, parse_server_event_with};

/// What one server event means for turn-taking, cost and problems.
#[derive(Debug, Clone, PartialEq)]
pub enum Signal<'e> {
    /// The interviewer started generating an answer.
    ResponseStarted,
    /// The answer is generated (its voice may still be playing); with its usage if given.
    ResponseDone { usage: Option<&'e Usage> },
    /// The candidate started speaking.
    CandidateTurnStarted,
    /// The candidate's words are transcribed; with the transcription's usage if given.
    CandidateTurnTranscribed {
        usage: Option<&'e TranscriptionUsage>,
    },
    /// The candidate's words could not be transcribed (the turn is over all the same).
    CandidateTurnFailed,
    /// The interviewer's voice started playing out.
    VoiceStarted,
    /// The interviewer's voice stopped (finished or cleared).
    VoiceStopped,
    /// The voice AI reported an error; the call goes on.
    Problem { code: String, message: String },
    /// A provider session started (its model, when given).
    SessionStarted {
        model: Option<&'e str>,
        /// When the provider will end the session (Unix seconds), if it says.
        expires_at: Option<i64>,
    },
    /// The session's running time so far (a running total, never to be added up).
    TimeUsage(&'e TimeUsage),
    /// The provider ended the session (with its final running time, when given).
    SessionClosed {
        reason: CloseReason,
        usage: Option<&'e TimeUsage>,
    },
}

/// A dialect's reading of one server event.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Reading<'e> {
    /// The conversation item this event announces, if any: when it is one of the history lines
    /// this connection was given, the whole event is our own replay coming back and is dropped.
    pub item: Option<&'e str>,
    pub signal: Option<Signal<'e>>,
}

/// One voice API's protocol, as the conversation core needs it. A dialect owns the transcript
/// it builds from its events, since only it knows how lines are delimited.
pub trait Dialect {
    /// A parsed server event.
    type Event;

    /// Parses one data-channel message.
    fn parse(&self, message: &str, limits: Limits) -> Result<Self::Event, ParseError>;

    /// What `event` means.
    fn read<'e>(&self, event: &'e Self::Event) -> Reading<'e>;

    /// Applies `event`, received at `now_ms`, to the transcript.
    fn assemble(&mut self, event: &Self::Event, now_ms: u64, out: &mut Vec<TranscriptChange>);

    /// The transcript so far, in conversation order.
    fn lines(&self) -> Vec<&Line>;

    /// Finalises every open line with what was said so far (the call is ending).
    fn finish(&mut self, now_ms: u64, out: &mut Vec<TranscriptChange>);

    /// A new connection continues the conversation from `now_ms`: open lines are finalised
    /// (the new connection cannot complete them) and later lines follow them.
    fn continue_after_reconnect(&mut self, now_ms: u64, out: &mut Vec<TranscriptChange>);

    /// A connection's event channel opened at `now_ms`.
    fn connection_opened(&mut self, _now_ms: u64) {}

    /// The connection went at `now_ms` (lost, or replaced on purpose). A dialect whose next
    /// session is built before it connects (GPT-Live: by the proxy, from the history sent with
    /// the offer) finalises its open lines now, so they are kept, saved and heard by the next
    /// session.
    fn connection_gone(&mut self, _now_ms: u64, _out: &mut Vec<TranscriptChange>) {}

    /// When [`Dialect::handle_timeout`] next has work, if ever (milliseconds since the call
    /// started).
    fn deadline(&self, _now_ms: u64) -> Option<u64> {
        None
    }

    /// The time `now_ms` reached a deadline the dialect asked for.
    fn handle_timeout(&mut self, _now_ms: u64, _out: &mut Vec<TranscriptChange>) {}

    /// Someone is speaking, as far as the transcript can tell (for dialects without speech
    /// events).
    fn speech_in_progress(&self) -> bool {
        false
    }

    /// The events that open a connection: configure the session with `session`, give it the
    /// final lines said so far (`history`, in conversation order), and ask the interviewer to
    /// speak when `respond`.
    fn opening(&self, session: &Value, history: &[&Line], respond: bool) -> Vec<ClientEvent>;

    /// The events that ask the provider to end the session (sent before hanging up).
    fn closing(&self) -> Vec<ClientEvent> {
        Vec::new()
    }

    /// How a typed answer reaches the interviewer.
    fn typed_answer(&self, text: &str) -> TypedAnswer;
}

/// How a typed answer reaches the interviewer.
#[derive(Debug, Clone, PartialEq)]
pub enum TypedAnswer {
    /// As client events on the data channel (Realtime: a user message, then a reply asked for).
    Events(Vec<ClientEvent>),
    /// Through the signalling server, which passes it on over its own trusted connection
    /// (GPT-Live: the candidate's data channel takes no text).
    ViaSignalling(String),
}

/// OpenAI's Realtime API (GA): the `oai-events` data channel.
#[derive(Debug, Clone, Default)]
pub struct OpenAiRealtime {
    assembler: Assembler,
}

impl Dialect for OpenAiRealtime {
    type Event = Envelope;

    fn parse(&self, message: &str, limits: Limits) -> Result<Envelope, ParseError> {
        parse_server_event_with(message, limits)
    }

    fn read<'e>(&self, envelope: &'e Envelope) -> Reading<'e> {
        let (item, signal) = match &envelope.event {
            ServerEvent::ItemAdded(e) | ServerEvent::ItemDone(e) => {
                (Some(e.item.id.as_str()), None)
            }
            ServerEvent::Error(e) => (
                None,
                Some(Signal::Problem {
                    code: e
                        .error
                        .code
                        .clone()
                        .or_else(|| e.error.kind.clone())
                        .unwrap_or_else(|| "error".into()),
                    message: e.error.message.clone(),
                }),
            ),
            ServerEvent::ResponseCreated(_) => (None, Some(Signal::ResponseStarted)),
            ServerEvent::SpeechStarted(_) => (None, Some(Signal::CandidateTurnStarted)),
            ServerEvent::OutputAudioStarted(_) => (None, Some(Signal::VoiceStarted)),
            ServerEvent::OutputAudioStopped(_) | ServerEvent::OutputAudioCleared(_) => {
                (None, Some(Signal::VoiceStopped))
            }
            ServerEvent::ResponseDone(done) => (
                None,
                Some(Signal::ResponseDone {
                    usage: done.response.usage.as_ref(),
                }),
            ),
            ServerEvent::InputTranscriptCompleted(done) => (
                None,
                Some(Signal::CandidateTurnTranscribed {
                    usage: done.usage.as_ref(),
                }),
            ),
            ServerEvent::InputTranscriptFailed(_) => (None, Some(Signal::CandidateTurnFailed)),
            _ => (None, None),
        };
        Reading { item, signal }
    }

    fn assemble(&mut self, envelope: &Envelope, now_ms: u64, out: &mut Vec<TranscriptChange>) {
        self.assembler.apply_into(envelope, now_ms, out);
    }

    fn lines(&self) -> Vec<&Line> {
        self.assembler.lines()
    }

    fn finish(&mut self, now_ms: u64, out: &mut Vec<TranscriptChange>) {
        out.extend(self.assembler.finish(now_ms));
    }

    fn continue_after_reconnect(&mut self, now_ms: u64, out: &mut Vec<TranscriptChange>) {
        out.extend(self.assembler.continue_after_reconnect(now_ms));
    }

    fn opening(&self, session: &Value, history: &[&Line], respond: bool) -> Vec<ClientEvent> {
        let mut events = Vec::with_capacity(history.len() + 2);
        events.push(ClientEvent::session_update(session));
        let mut previous: Option<&str> = None;
        for line in history {
            events.push(ClientEvent::history_line(line, previous));
            previous = Some(&line.item_id);
        }
        if respond {
            events.push(ClientEvent::response_create());
        }
        events
    }

    fn typed_answer(&self, text: &str) -> TypedAnswer {
        TypedAnswer::Events(vec![
            ClientEvent::user_text(text),
            ClientEvent::response_create(),
        ])
    }
}

/// Which voice API a call speaks: the grant's `realtime.api`.
pub use viva_contract::grant::VoiceApi;

/// Either dialect, chosen at run time: the call loop holds one of these and never branches on
/// the API itself.
// One per call, never in a collection: boxing the larger variant would buy nothing.
#[allow(clippy::large_enum_variant)]
#[derive(Debug, Clone)]
pub enum AnyDialect {
    Realtime(OpenAiRealtime),
    Live(GptLive),
}

/// A server event of either dialect.
#[derive(Debug, Clone, PartialEq)]
pub enum AnyEvent {
    Realtime(Envelope),
    Live(Envelope<LiveEvent>),
}

impl AnyDialect {
    /// The dialect of `api`, with Live's grouping at its defaults.
    pub fn new(api: VoiceApi) -> Self {
        match api {
            VoiceApi::Realtime => Self::Realtime(OpenAiRealtime::default()),
            VoiceApi::Live => Self::Live(GptLive::new(GroupingOptions::default())),
        }
    }

    pub fn api(&self) -> VoiceApi {
        match self {
            Self::Realtime(_) => VoiceApi::Realtime,
            Self::Live(_) => VoiceApi::Live,
        }
    }
}

/// Forwards a call to whichever dialect this is.
macro_rules! each {
    ($self:expr, $d:ident => $body:expr) => {
        match $self {
            AnyDialect::Realtime($d) => $body,
            AnyDialect::Live($d) => $body,
        }
    };
}

impl Dialect for AnyDialect {
    type Event = AnyEvent;

    fn parse(&self, message: &str, limits: Limits) -> Result<AnyEvent, ParseError> {
        match self {
            Self::Realtime(d) => d.parse(message, limits).map(AnyEvent::Realtime),
            Self::Live(d) => d.parse(message, limits).map(AnyEvent::Live),
        }
    }

    fn read<'e>(&self, event: &'e AnyEvent) -> Reading<'e> {
        match (self, event) {
            (Self::Realtime(d), AnyEvent::Realtime(e)) => d.read(e),
            (Self::Live(d), AnyEvent::Live(e)) => d.read(e),
            // Only this dialect's parser makes its events: another's cannot arrive.
            _ => Reading::default(),
        }
    }

    fn assemble(&mut self, event: &AnyEvent, now_ms: u64, out: &mut Vec<TranscriptChange>) {
        match (self, event) {
            (Self::Realtime(d), AnyEvent::Realtime(e)) => d.assemble(e, now_ms, out),
            (Self::Live(d), AnyEvent::Live(e)) => d.assemble(e, now_ms, out),
            _ => {}
        }
    }

    fn lines(&self) -> Vec<&Line> {
        each!(self, d => d.lines())
    }

    fn finish(&mut self, now_ms: u64, out: &mut Vec<TranscriptChange>) {
        each!(self, d => d.finish(now_ms, out))
    }

    fn continue_after_reconnect(&mut self, now_ms: u64, out: &mut Vec<TranscriptChange>) {
        each!(self, d => d.continue_after_reconnect(now_ms, out))
    }

    fn connection_opened(&mut self, now_ms: u64) {
        each!(self, d => d.connection_opened(now_ms))
    }

    fn connection_gone(&mut self, now_ms: u64, out: &mut Vec<TranscriptChange>) {
        each!(self, d => d.connection_gone(now_ms, out))
    }

    fn deadline(&self, now_ms: u64) -> Option<u64> {
        each!(self, d => d.deadline(now_ms))
    }

    fn handle_timeout(&mut self, now_ms: u64, out: &mut Vec<TranscriptChange>) {
        each!(self, d => d.handle_timeout(now_ms, out))
    }

    fn speech_in_progress(&self) -> bool {
        each!(self, d => d.speech_in_progress())
    }

    fn opening(&self, session: &Value, history: &[&Line], respond: bool) -> Vec<ClientEvent> {
        each!(self, d => d.opening(session, history, respond))
    }

    fn closing(&self) -> Vec<ClientEvent> {
        each!(self, d => d.closing())
    }

    fn typed_answer(&self, text: &str) -> TypedAnswer {
        each!(self, d => d.typed_answer(text))
    }
}

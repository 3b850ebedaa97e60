//! The boundary between the conversation core and one voice API's wire protocol.
//!
//! A [`Dialect`] says what a server event means for the conversation (a response started or
//! finished, the candidate's turn began or was transcribed, the voice started or stopped, an
//! error, the echo of a history line), drives the transcript assembler with it, and builds the
//! events that open a new connection. The core ([`super::Conversation`]) decides everything
//! else: turn-taking, cost, the replay filter, queueing and the session state.
//!
//! [`OpenAiRealtime`] is the only dialect today. A dialect whose client decides when a line is
//! final (no done/turn/response events) would read its own event type and report the
//! [`Signal`]s it can infer.

use serde_json::Value;

use crate::assembler::{Assembler, Line, TranscriptChange};
use crate::client::ClientEvent;
use crate::event::{Envelope, ServerEvent, TranscriptionUsage, Usage};

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
}

/// A dialect's reading of one server event.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Reading<'e> {
    /// The conversation item this event announces, if any: when it is one of the history lines
    /// this connection was given, the whole event is our own replay coming back and is dropped.
    pub item: Option<&'e str>,
    pub signal: Option<Signal<'e>>,
}

/// One voice API's protocol, as the conversation core needs it.
pub trait Dialect {
    /// A parsed server event.
    type Event;

    /// What `event` means.
    fn read<'e>(&self, event: &'e Self::Event) -> Reading<'e>;

    /// Feeds `event`, received at `now_ms`, to the transcript assembler.
    fn assemble(
        &self,
        assembler: &mut Assembler,
        event: &Self::Event,
        now_ms: u64,
        out: &mut Vec<TranscriptChange>,
    );

    /// The events that open a connection: configure the session with `session`, give it the
    /// final lines said so far (`history`, in conversation order), and ask the interviewer to
    /// speak when `respond`.
    fn opening(&self, session: &Value, history: &[&Line], respond: bool) -> Vec<ClientEvent>;
}

/// OpenAI's Realtime API (GA): the `oai-events` data channel.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct OpenAiRealtime;

impl Dialect for OpenAiRealtime {
    type Event = Envelope;

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

    fn assemble(
        &self,
        assembler: &mut Assembler,
        envelope: &Envelope,
        now_ms: u64,
        out: &mut Vec<TranscriptChange>,
    ) {
        assembler.apply_into(envelope, now_ms, out);
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
}

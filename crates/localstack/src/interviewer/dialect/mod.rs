//! How a call speaks: the conversation reports what happens in it ([`Happening`]: a line
//! starts, is played or cut off, a turn starts or ends, a transcript is ready, ...) and the
//! call's [`Writer`] turns that into its voice API's server events — `realtime.rs` the
//! Realtime API's GA events, `live.rs` GPT-Live's. The rest of a dialect is data ([`Flow`]:
//! who speaks first, when a turn is answered) and, for the commands a client sends,
//! `call/client.rs` (Realtime) and `call/commands.rs` (Live). Pure: no I/O, times are passed
//! in as milliseconds on the call's timeline.

mod live;
mod realtime;

use serde_json::Value;
use viva_realtime::event::ResponseStatus;
use viva_speech::stt::SttError;

pub(super) use live::LiveWriter;
pub(super) use realtime::RealtimeWriter;

/// A line the interviewer is saying (a response, in Realtime's terms).
pub(super) struct Active {
    pub(super) id: String,
    pub(super) item_id: String,
    /// The item before this one: `conversation.item.done` names it again, as `.added` did.
    pub(super) previous_item_id: Option<String>,
    pub(super) text: String,
    pub(super) closing: bool,
    pub(super) audio_ms: u64,
    /// Where its voice is audible within `audio_ms` (the words are spoken over it).
    pub(super) voiced_ms: (u64, u64),
    /// Candidate audio heard since the previous response (input tokens).
    pub(super) input_audio_ms: u64,
    /// Where its voice starts on the call's timeline.
    pub(super) start_ms: u64,
}

/// Something that happened in the conversation, for the writer to put into words.
pub(super) enum Happening<'a> {
    /// The event channel opened; `session` is the Realtime session object.
    Opened {
        session: &'a Value,
    },
    /// The interviewer starts a line; `voiced` when its voice plays.
    LineStarted {
        line: &'a Active,
        voiced: bool,
        text_only: bool,
    },
    /// The line's voice was played to its end.
    LinePlayed {
        line: &'a Active,
    },
    /// The line was cut off (barge-in or the client's cancel).
    LineCut {
        line: &'a Active,
        text_only: bool,
    },
    /// The line is over, played or cut.
    LineFinished {
        line: &'a Active,
        status: ResponseStatus,
        details: Option<Value>,
        text_only: bool,
    },
    /// The candidate started speaking: `audio_start_ms` in the listener's audio, `at_ms` on the
    /// timeline.
    TurnStarted {
        item_id: &'a str,
        audio_start_ms: u64,
        at_ms: u64,
    },
    /// The candidate's turn ended (or was committed).
    TurnEnded {
        item_id: &'a str,
        previous_item_id: Option<String>,
        audio_end_ms: u64,
        at_ms: u64,
    },
    /// New words of a turn still being spoken.
    Partial {
        item_id: String,
        delta: String,
    },
    /// A turn's final transcript.
    Transcribed {
        item_id: String,
        transcript: String,
        audio_ms: u64,
    },
    /// The candidate typed their answer: a whole turn, written now (it has no audio).
    Typed {
        text: &'a str,
    },
    TranscriptionFailed {
        item_id: String,
        error: &'a SttError,
    },
    /// A client's event could not be followed.
    Problem {
        code: &'a str,
        message: &'a str,
        event_id: Option<String>,
    },
    /// The candidate's audio is (no longer) heard, as the client asked.
    Muted {
        event_id: Option<String>,
    },
    Unmuted {
        event_id: Option<String>,
    },
    /// A command the session does not permit was ignored.
    Refused {
        kind: &'a str,
        event_id: Option<String>,
    },
    /// The session ends (`close_requested`, `expired`, ...).
    Closed {
        reason: &'static str,
        event_id: Option<String>,
    },
}

/// How a dialect's conversation goes, as data.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) struct Flow {
    /// The interviewer speaks as soon as the channel opens, when it owes a turn (Live: the
    /// model is full duplex), rather than when the client asks (`response.create`).
    pub(super) speaks_unasked: bool,
    /// A candidate's turn is answered once its transcript is out (Live: the transcript is
    /// all a client sees of a turn, so its words come before the answer's), rather than as
    /// soon as the turn ends.
    pub(super) answers_after_transcript: bool,
    /// Partial transcripts go out while the candidate speaks.
    pub(super) partials: bool,
}

/// What a writer's timers produced.
#[derive(Debug, Default)]
pub(super) struct Due {
    pub(super) messages: Vec<String>,
    /// The session is over (`expired`): the call ends.
    pub(super) end: Option<&'static str>,
}

/// One voice API's server events.
pub(super) trait Writer: Send {
    fn flow(&self) -> Flow;

    /// The messages `happening` is told by, in order; `now_ms` on the call's timeline.
    fn write(&mut self, happening: Happening<'_>, now_ms: u64) -> Vec<String>;

    /// When the writer next has something to say unprompted (a fragment, usage, expiry).
    fn next_due_ms(&self) -> Option<u64> {
        None
    }

    /// What is due at `now_ms`.
    fn due(&mut self, _now_ms: u64) -> Due {
        Due::default()
    }
}

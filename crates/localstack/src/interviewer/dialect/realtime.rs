//! The Realtime API's GA events for what happens in a call (docs/protocols.md §2): a line is a
//! response with one assistant item (its words ahead of its voice), a turn is an input item
//! committed by the server's voice detection, a transcript arrives as deltas and a completed
//! event. Stateless: the ids come with each happening.

use serde_json::Value;
use viva_realtime::event::{
    Committed, InputTranscriptDelta, ItemEvent, OutputAudioBuffer, OutputDelta, OutputItem,
    Response, ResponseEnvelope, ResponseStatus, ServerEvent, SessionEnvelope, SpeechStarted,
    SpeechStopped,
};

use super::{Active, Flow, Happening, Writer};
use crate::interviewer::events::{
    assistant_item_done, assistant_item_started, invalid_request, output_done,
    transcript_completed, transcript_failed, usage, user_audio_item, wire, words,
};

/// The Realtime API's writer.
pub(in crate::interviewer) struct RealtimeWriter;

impl Writer for RealtimeWriter {
    fn flow(&self) -> Flow {
        Flow {
            speaks_unasked: false,
            answers_after_transcript: false,
            partials: true,
        }
    }

    fn write(&mut self, happening: Happening<'_>, _now_ms: u64) -> Vec<String> {
        let events = match happening {
            Happening::Opened { session } => vec![ServerEvent::SessionCreated(SessionEnvelope {
                session: session.clone(),
            })],
            Happening::LineStarted {
                line,
                voiced,
                text_only,
            } => line_started(line, voiced, text_only),
            Happening::LinePlayed { line } => {
                vec![ServerEvent::OutputAudioStopped(OutputAudioBuffer {
                    response_id: line.id.clone(),
                })]
            }
            Happening::LineCut { line, text_only } => {
                if text_only {
                    Vec::new()
                } else {
                    vec![ServerEvent::OutputAudioCleared(OutputAudioBuffer {
                        response_id: line.id.clone(),
                    })]
                }
            }
            Happening::LineFinished {
                line,
                status,
                details,
                text_only,
            } => line_finished(line, status, details, text_only),
            Happening::TurnStarted {
                item_id,
                audio_start_ms,
                ..
            } => vec![ServerEvent::SpeechStarted(SpeechStarted {
                audio_start_ms,
                item_id: item_id.to_owned(),
            })],
            Happening::TurnEnded {
                item_id,
                previous_item_id,
                audio_end_ms,
                ..
            } => vec![
                ServerEvent::SpeechStopped(SpeechStopped {
                    audio_end_ms,
                    item_id: item_id.to_owned(),
                }),
                ServerEvent::InputCommitted(Committed {
                    item_id: item_id.to_owned(),
                    previous_item_id: previous_item_id.clone(),
                }),
                ServerEvent::ItemAdded(ItemEvent {
                    previous_item_id,
                    item: user_audio_item(item_id.to_owned()),
                }),
            ],
            Happening::Partial { item_id, delta } => {
                vec![ServerEvent::InputTranscriptDelta(InputTranscriptDelta {
                    item_id,
                    content_index: 0,
                    delta,
                })]
            }
            Happening::Transcribed {
                item_id,
                transcript,
                audio_ms,
            } => vec![transcript_completed(item_id, transcript, audio_ms)],
            Happening::TranscriptionFailed { item_id, error } => {
                vec![transcript_failed(item_id, error)]
            }
            Happening::Problem {
                code,
                message,
                event_id,
            } => vec![invalid_request(code, message, event_id)],
            // Live's commands and its session ending: a Realtime call has neither.
            Happening::Muted { .. }
            | Happening::Unmuted { .. }
            | Happening::Refused { .. }
            | Happening::Typed { .. }
            | Happening::Closed { .. } => Vec::new(),
        };
        events.iter().map(wire).collect()
    }
}

/// `response.created`, the item added, its words ahead of the voice, and the voice starting.
fn line_started(line: &Active, voiced: bool, text_only: bool) -> Vec<ServerEvent> {
    let item = assistant_item_started(line.item_id.clone(), text_only);
    let mut events = vec![
        ServerEvent::ResponseCreated(ResponseEnvelope {
            response: Response {
                id: line.id.clone(),
                status: ResponseStatus::InProgress,
                ..Response::default()
            },
        }),
        ServerEvent::OutputItemAdded(OutputItem {
            response_id: line.id.clone(),
            output_index: 0,
            item: item.clone(),
        }),
        ServerEvent::ItemAdded(ItemEvent {
            previous_item_id: line.previous_item_id.clone(),
            item,
        }),
    ];
    // The words go out ahead of the voice, as the hosted service streams them.
    for word in words(&line.text) {
        let delta = OutputDelta {
            response_id: line.id.clone(),
            item_id: line.item_id.clone(),
            output_index: 0,
            content_index: 0,
            delta: word,
        };
        events.push(if text_only {
            ServerEvent::OutputTextDelta(delta)
        } else {
            ServerEvent::OutputTranscriptDelta(delta)
        });
    }
    if voiced {
        events.push(ServerEvent::OutputAudioStarted(OutputAudioBuffer {
            response_id: line.id.clone(),
        }));
    }
    events
}

/// The text done, the item done (twice: output and conversation) and `response.done` with usage.
fn line_finished(
    line: &Active,
    status: ResponseStatus,
    details: Option<Value>,
    text_only: bool,
) -> Vec<ServerEvent> {
    let completed = status == ResponseStatus::Completed;
    let item = assistant_item_done(line.item_id.clone(), &line.text, text_only, completed);
    let usage = usage(&line.text, line.audio_ms, line.input_audio_ms, completed);
    vec![
        output_done(line.id.clone(), line.item_id.clone(), &line.text, text_only),
        ServerEvent::OutputItemDone(OutputItem {
            response_id: line.id.clone(),
            output_index: 0,
            item: item.clone(),
        }),
        ServerEvent::ItemDone(ItemEvent {
            previous_item_id: line.previous_item_id.clone(),
            item: item.clone(),
        }),
        ServerEvent::ResponseDone(ResponseEnvelope {
            response: Response {
                id: line.id.clone(),
                status,
                status_details: details,
                usage: Some(usage),
                output: vec![item],
            },
        }),
    ]
}

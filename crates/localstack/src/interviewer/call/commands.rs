//! Following a GPT-Live client's commands on `oai-events` (read and judged by
//! [`crate::interviewer::live_command`]): mute and unmute (acknowledged; while muted the
//! candidate is not heard), close (`session.closed`, then the call ends); a command the
//! session does not permit is answered with `info` and changes nothing.

use viva_realtime::live::LiveCommand;

use super::Conversation;
use crate::interviewer::dialect::Happening;
use crate::interviewer::live_command::{Decision, decide, parse_command};
use crate::live_sessions::AllowedEvents;

impl Conversation {
    /// One message from a Live client, judged against the session's `allowed`.
    pub(super) async fn live_command(&mut self, text: &str, allowed: &AllowedEvents) {
        let command = match parse_command(text) {
            Ok(command) => command,
            Err(error) => {
                tracing::debug!(event = "interviewer_live_command_unreadable", code = error.code(), %error);
                return self
                    .error(error.code(), &error.to_string(), error.event_id())
                    .await;
            }
        };
        let event_id = command.event_id;
        match decide(&command.kind, allowed) {
            Decision::Follow(LiveCommand::Mute) => {
                self.muted = true;
                self.report(Happening::Muted { event_id }).await;
            }
            Decision::Follow(LiveCommand::Unmute) => {
                self.muted = false;
                self.report(Happening::Unmuted { event_id }).await;
            }
            Decision::Follow(LiveCommand::Close) => {
                self.report(Happening::Closed {
                    reason: "close_requested",
                    event_id,
                })
                .await;
                self.end = Some("session.close");
            }
            Decision::Refuse => {
                tracing::debug!(event = "interviewer_live_command_refused", kind = %command.kind);
                self.report(Happening::Refused {
                    kind: &command.kind,
                    event_id,
                })
                .await;
            }
            Decision::Unsupported { known } => {
                let (code, message) = if known {
                    (
                        "unsupported_event",
                        format!("the local interviewer does not follow `{}`", command.kind),
                    )
                } else {
                    (
                        "unknown_event",
                        format!("`{}` is not a GPT-Live client event", command.kind),
                    )
                };
                self.error(code, &message, event_id).await;
            }
        }
    }
}

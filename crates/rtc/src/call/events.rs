//! What the connection's events mean for the call: ICE and connection states (through
//! `reconnect`'s rules), the event channel opening or closing, server events (parsed here,
//! understood by the conversation core) and the interviewer's voice.

use std::time::Instant;

use viva_audio::RtpAudio;
use viva_realtime::Limits;

use super::CallEvent;
use super::connect::Connection;
use super::reconnect::{IceChange, ice_change, peer_lost};
use super::run::{Call, Outcome};
use crate::peer::PeerEvent;

impl Call {
    pub(super) async fn on_peer_event(
        &mut self,
        live: &mut Connection,
        event: PeerEvent,
    ) -> Option<Outcome> {
        match event {
            PeerEvent::Ice(state) => {
                tracing::debug!(event = "ice_state", state = %state);
                live.ice_state = state;
                match ice_change(state) {
                    IceChange::Down => {
                        live.disconnected_since.get_or_insert_with(Instant::now);
                    }
                    IceChange::Lost(reason) => return Some(Outcome::Lost(reason)),
                    IceChange::Up => live.disconnected_since = None,
                    IceChange::Unchanged => {}
                }
            }
            PeerEvent::State(state) => {
                live.peer_state = state;
                if let Some(reason) = peer_lost(state) {
                    return Some(Outcome::Lost(reason));
                }
            }
            PeerEvent::ChannelOpen => {
                if !live.channel_open {
                    return self.on_open(live).await;
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
                return self.on_message(live, &text).await;
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

    /// A data-channel message: parsed here, understood by the core.
    async fn on_message(&mut self, live: &mut Connection, text: &str) -> Option<Outcome> {
        let limits = Limits {
            max_message_bytes: self.config.max_event_bytes,
        };
        let now = self.now_ms();
        match self.conversation.server_message(text, limits, now) {
            Ok(()) => self.drain(Some(live)).await,
            Err(error) => {
                tracing::warn!(event = "server_event_unusable", error = %error);
                self.publish(CallEvent::Problem {
                    code: "unusable_event".into(),
                    message: error.to_string(),
                })
                .await;
                None
            }
        }
    }
}

//! The session state machine shared by the call code and the UI:
//! idle → connecting → live ⇄ reconnecting → ended | failed.

use serde::{Deserialize, Serialize};

/// Where a session is. `Ended` and `Failed` are final.
#[cfg_attr(feature = "specta", derive(specta::Type))]
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "state", rename_all = "snake_case")]
pub enum SessionState {
    Idle,
    Connecting,
    Live,
    /// The connection dropped; attempt `attempt` (from 1) is under way.
    Reconnecting {
        attempt: u32,
        reason: String,
    },
    /// The session finished normally (the user or the interviewer ended it).
    Ended {
        reason: String,
    },
    /// The session could not go on; `reason` says why in words a user can act on.
    Failed {
        reason: String,
    },
}

/// What happened to the session.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "input", rename_all = "snake_case")]
pub enum SessionInput {
    /// The user asked to start (or join).
    Connect,
    /// Media and the event channel are up.
    Connected,
    /// The connection dropped or a reconnect attempt failed.
    ConnectionLost { reason: String },
    /// The session ended normally.
    End { reason: String },
    /// The session cannot continue (gave up reconnecting, revoked, refused, ...).
    Fail { reason: String },
}

/// A transition the state machine does not allow; the state is unchanged.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("cannot apply {input:?} to a session that is {from:?}")]
pub struct InvalidTransition {
    pub from: SessionState,
    pub input: SessionInput,
}

impl SessionState {
    pub fn is_final(&self) -> bool {
        matches!(self, Self::Ended { .. } | Self::Failed { .. })
    }

    /// The state after `input`, or an error if `input` cannot happen now.
    pub fn next(&self, input: SessionInput) -> Result<SessionState, InvalidTransition> {
        use SessionInput as In;
        use SessionState as S;
        let next = match (self, &input) {
            (S::Idle, In::Connect) => S::Connecting,
            (S::Connecting | S::Reconnecting { .. }, In::Connected) => S::Live,
            (S::Live, In::ConnectionLost { reason }) => S::Reconnecting {
                attempt: 1,
                reason: reason.clone(),
            },
            (S::Reconnecting { attempt, .. }, In::ConnectionLost { reason }) => S::Reconnecting {
                attempt: attempt.saturating_add(1),
                reason: reason.clone(),
            },
            (S::Idle | S::Connecting | S::Live | S::Reconnecting { .. }, In::End { reason }) => {
                S::Ended {
                    reason: reason.clone(),
                }
            }
            (S::Connecting | S::Live | S::Reconnecting { .. }, In::Fail { reason }) => S::Failed {
                reason: reason.clone(),
            },
            _ => {
                return Err(InvalidTransition {
                    from: self.clone(),
                    input,
                });
            }
        };
        Ok(next)
    }
}

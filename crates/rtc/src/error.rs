//! What can go wrong with a call, one variant per thing a user or caller can act on.

use serde::Serialize;

/// A call's failure. `code()` is stable for the UI; the message is for people.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum CallError {
    /// The user's sign-in was refused (SDP proxy close 1008, or the backend said 401).
    #[error("please sign in again: {0}")]
    SignInAgain(String),
    /// The voice AI refused the client secret (HTTP 401): a fresh one is needed.
    #[error("the voice AI refused the session key: {0}")]
    SecretRejected(String),
    /// Another sign-in (another computer) holds this session's connection: the SDP proxy
    /// still closed with a plain 4009 after the call waited out
    /// `viva_contract::proxy::ALREADY_LIVE_RETRY_FOR` for a stale hold to be released, or the
    /// voice AI answered 409.
    #[error("this interview is already connected on another device")]
    AlreadyConnected,
    /// This interview was opened again with the same sign-in (another window or a restarted
    /// app on this computer): the SDP proxy gave the interview to the newer connection and
    /// closed this one (4009 `replaced`). Final: retrying would take it back from the newer one.
    #[error(
        "this interview was opened again from this computer; this window stopped its connection"
    )]
    Replaced,
    /// Too many attempts (SDP proxy close 4029, or HTTP 429).
    #[error("too many connection attempts; try again in a moment")]
    RateLimited,
    /// The service refused for a reason retrying will not change (403, 404, a closed session).
    #[error("the interview service refused: {0}")]
    Refused(String),
    /// The service is down or failed upstream (5xx, close 1011); worth another try.
    #[error("the interview service is unavailable: {0}")]
    Unavailable(String),
    /// The peer answered with something that is not a usable SDP answer.
    #[error("the voice AI sent an unusable answer: {0}")]
    BadAnswer(String),
    /// A network step did not finish in time.
    #[error("{0} timed out")]
    Timeout(&'static str),
    /// The connection could not be made or broke.
    #[error("network problem: {0}")]
    Network(String),
    /// The WebRTC stack failed.
    #[error("WebRTC failure: {0}")]
    WebRtc(String),
    /// Reconnecting did not succeed within the allowed time.
    #[error("could not reconnect: {0}")]
    GaveUp(String),
    /// The AI provider stopped the interview over what was said (GPT-Live's `content` close).
    #[error(
        "the interview was stopped by the AI provider's content rules; what was said so far is kept"
    )]
    ContentStopped,
    /// The call has already ended.
    #[error("the call has ended")]
    Ended,
}

impl CallError {
    /// A stable, machine-readable name for the UI and logs.
    #[must_use]
    pub fn code(&self) -> &'static str {
        match self {
            Self::SignInAgain(_) => "sign_in_again",
            Self::SecretRejected(_) => "secret_rejected",
            Self::AlreadyConnected => "already_connected",
            Self::Replaced => "replaced",
            Self::RateLimited => "rate_limited",
            Self::Refused(_) => "refused",
            Self::Unavailable(_) => "unavailable",
            Self::BadAnswer(_) => "bad_answer",
            Self::Timeout(_) => "timeout",
            Self::Network(_) => "network",
            Self::WebRtc(_) => "webrtc",
            Self::GaveUp(_) => "gave_up",
            Self::ContentStopped => "content_stopped",
            Self::Ended => "ended",
        }
    }

    /// Whether another attempt, after a pause, may succeed. Refusals about who the user is or
    /// what they may do are final: retrying them would only be a storm of refused requests.
    #[must_use]
    pub fn is_retryable(&self) -> bool {
        matches!(
            self,
            Self::Unavailable(_)
                | Self::BadAnswer(_)
                | Self::Timeout(_)
                | Self::Network(_)
                | Self::WebRtc(_)
                | Self::RateLimited
        )
    }
}

/// The error as the UI receives it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct ErrorReport {
    pub code: &'static str,
    pub message: String,
}

impl From<&CallError> for ErrorReport {
    fn from(error: &CallError) -> Self {
        Self {
            code: error.code(),
            message: error.to_string(),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn being_replaced_is_final_and_says_so() {
        let replaced = CallError::Replaced;
        assert_eq!(replaced.code(), "replaced");
        assert!(!replaced.is_retryable());
        assert!(!CallError::AlreadyConnected.is_retryable());
        let report = ErrorReport::from(&replaced);
        assert_eq!(report.code, "replaced");
        assert!(
            report.message.contains("opened again"),
            "{}",
            report.message
        );
    }
}

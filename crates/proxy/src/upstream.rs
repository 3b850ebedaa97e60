//! Where answers come from: the voice service behind the proxy, the calls it sets up, and its
//! failures as the client is told them (a kind, never the provider's own words).

pub mod openai;

use crate::auth::BoxFuture;
use crate::live::SessionConfig;

/// Which voice API a call speaks.
#[derive(Debug, Clone)]
pub enum CallApi {
    /// The Realtime API: the client configures the session (`session.update`) and replays
    /// what was said before (`conversation.item.create`).
    Realtime,
    /// GPT-Live, with the session config the proxy built (`input` is what was said before).
    Live(Box<SessionConfig>),
}

/// One call an upstream set up for an interview.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct UpstreamCall {
    /// The interview session it belongs to.
    pub session_id: String,
    /// A GPT-Live session (typed answers go through the proxy) rather than a Realtime call.
    pub live: bool,
    /// The provider's id: `live_...` for a Live session, `rtc_...` for a Realtime call (empty
    /// when the provider named none).
    pub id: String,
}

/// An upstream's answer to an offer.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Answered {
    pub sdp: String,
    pub call: UpstreamCall,
}

/// Why the upstream could not help. The client sees the kind ([`UpstreamError::reason`]) and a
/// fixed sentence; a provider's message and request ids stay in the proxy (they can carry
/// account details, and they are not the candidate's to act on).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum UpstreamError {
    #[error("the voice service could not be reached")]
    Unreachable,
    #[error("the voice service did not answer in time")]
    Timeout,
    /// A 4xx: our request or our key; `code` is the provider's error code, filtered to
    /// `[a-z0-9_]`, or the HTTP status.
    #[error("the voice service refused the call ({code})")]
    Refused { code: String },
    /// A 429 or a 5xx: worth trying again shortly.
    #[error("the voice service is busy or failing; try again shortly")]
    Busy,
    /// Not SDP, no usable id, or too large.
    #[error("the voice service answered with something unusable")]
    BadAnswer,
    /// The call the request was for has ended.
    #[error("the call has ended")]
    CallEnded,
    #[error("no voice service is configured behind this proxy")]
    NotConfigured,
}

impl UpstreamError {
    /// The close reason a 1011 carries (docs/protocols.md §3).
    pub fn reason(&self) -> &'static str {
        match self {
            Self::Unreachable => "upstream_unreachable",
            Self::Timeout => "upstream_timeout",
            Self::Refused { .. } => "upstream_refused",
            Self::Busy => "upstream_busy",
            Self::BadAnswer => "upstream_bad_answer",
            Self::CallEnded => "call_ended",
            Self::NotConfigured => "upstream_not_configured",
        }
    }
}

/// Where answers come from: the local interviewer, or a hosted voice service.
pub trait Upstream: Send + Sync + std::fmt::Debug {
    /// Answers `offer` for the interview `session_id` with a call in `api`.
    fn answer<'a>(
        &'a self,
        session_id: &'a str,
        offer: &'a str,
        api: &'a CallApi,
    ) -> BoxFuture<'a, Result<Answered, UpstreamError>>;

    /// Hands the candidate's typed answer to a GPT-Live `call`, as the candidate's words.
    fn typed_answer<'a>(
        &'a self,
        _call: &'a UpstreamCall,
        _text: &'a str,
    ) -> BoxFuture<'a, Result<(), UpstreamError>> {
        Box::pin(async { Err(UpstreamError::NotConfigured) })
    }

    /// Every server event `call` (GPT-Live or Realtime) sends its client from now on, as the
    /// session sent them, for the transcript of record ([`crate::observe`]); called once per
    /// call and instance, and only when observation is on. Fails when the call cannot be
    /// listened to.
    fn observe<'a>(
        &'a self,
        _call: &'a UpstreamCall,
    ) -> BoxFuture<'a, Result<crate::observe::EventStream, UpstreamError>> {
        Box::pin(async { Err(UpstreamError::NotConfigured) })
    }

    /// Ends `call` (the client said `bye`, or a newer call replaced it).
    fn hang_up(&self, _call: &UpstreamCall) {}

    /// Whether the service answers at all (for `/health`; spends no key).
    fn reachable(&self) -> BoxFuture<'_, bool> {
        Box::pin(async { true })
    }
}

/// An upstream that refuses every offer (for tests of the proxy itself).
#[derive(Debug, Default)]
pub struct NoUpstream;

impl Upstream for NoUpstream {
    fn answer<'a>(
        &'a self,
        _session_id: &'a str,
        _offer: &'a str,
        _api: &'a CallApi,
    ) -> BoxFuture<'a, Result<Answered, UpstreamError>> {
        Box::pin(async { Err(UpstreamError::NotConfigured) })
    }
}

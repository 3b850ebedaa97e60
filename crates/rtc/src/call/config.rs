//! How a call behaves: its clocks and limits.

use std::time::Duration;

use crate::backoff::ReconnectPolicy;
use crate::peer::IceTimers;

/// How a call behaves. `Default` suits production; tests shorten the clocks.
#[derive(Debug, Clone)]
pub struct CallConfig {
    /// Local UDP addresses for ICE (`0.0.0.0:0` lets the system choose).
    pub udp_addrs: Vec<String>,
    pub ice: IceTimers,
    pub reconnect: ReconnectPolicy,
    /// How long a plain 4009 from the SDP proxy (another connection holds the interview) is
    /// retried, with `reconnect`'s pauses, from the first one before the call gives up.
    pub already_live_retry_for: Duration,
    /// An SDP proxy link that has pinged and then says nothing for this long is taken as gone
    /// (a half-open socket: the proxy has dropped it by then) and opened again.
    pub proxy_quiet_limit: Duration,
    /// ICE may be `disconnected` this long before we stop waiting for it to recover.
    pub disconnected_grace: Duration,
    /// From the offer to an open event channel.
    pub connect_timeout: Duration,
    /// The provider ends sessions after a while; a new connection is made before this.
    pub session_cap: Duration,
    pub health_every: Duration,
    /// Send `response.create` when the event channel opens, so the interviewer speaks first
    /// (and again on a later connection when the interviewer owes the next turn).
    pub interviewer_speaks_first: bool,
    /// A client secret this close to expiry is renewed before it is used.
    pub secret_margin: Duration,
    /// The largest server event read; bigger ones are reported and skipped unparsed. The
    /// data channel itself carries at most the `max-message-size` we offer (webrtc-rs's
    /// default: 64 KiB), so this bounds what a future transport might let through.
    pub max_event_bytes: usize,
}

impl Default for CallConfig {
    fn default() -> Self {
        Self {
            udp_addrs: vec!["0.0.0.0:0".into()],
            ice: IceTimers::default(),
            reconnect: ReconnectPolicy::default(),
            already_live_retry_for: viva_contract::proxy::ALREADY_LIVE_RETRY_FOR,
            // Two pings missed, and half an interval's leeway.
            proxy_quiet_limit: viva_contract::proxy::PING_EVERY * 2
                + viva_contract::proxy::PING_EVERY / 2,
            disconnected_grace: Duration::from_secs(3),
            connect_timeout: Duration::from_secs(15),
            session_cap: Duration::from_secs(55 * 60),
            health_every: Duration::from_secs(1),
            interviewer_speaks_first: true,
            secret_margin: Duration::from_secs(10),
            max_event_bytes: viva_realtime::parse::DEFAULT_MAX_MESSAGE_BYTES,
        }
    }
}

impl CallConfig {
    /// The part of the configuration the conversation core uses.
    pub(crate) fn conversation(&self) -> viva_realtime::ConversationConfig {
        viva_realtime::ConversationConfig {
            interviewer_speaks_first: self.interviewer_speaks_first,
            session_cap_ms: u64::try_from(self.session_cap.as_millis()).unwrap_or(u64::MAX),
            clock_origin_unix_ms: Some(chrono_now_ms()),
        }
    }
}

/// The wall clock now, in Unix milliseconds (0 if the clock is before 1970).
fn chrono_now_ms() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| i64::try_from(d.as_millis()).unwrap_or(i64::MAX))
}

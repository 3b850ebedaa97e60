//! The call's reconnect and renewal rules, as pure functions the run loop asks: whether a
//! client secret must be renewed before use, what to do when an offer is refused, how long to
//! wait before the next attempt and when to give up, whether a failed attempt is worth
//! another, and what a change of ICE or connection state means. (When to re-session — the
//! session cap reached at a quiet moment — is the conversation core's rule, in
//! `viva_realtime::conversation`.)

use std::time::{Duration, Instant};

use webrtc::peer_connection::{RTCIceConnectionState, RTCPeerConnectionState};

use crate::CallError;
use crate::backoff::{Backoff, ReconnectPolicy};
use crate::grant::ClientSecret;

/// Whether `secret` expires within `margin` of `now_s` (Unix seconds), so a fresh one must be
/// had before it is offered.
pub(crate) fn renew_before_use(secret: &ClientSecret, now_s: i64, margin: Duration) -> bool {
    let margin = i64::try_from(margin.as_secs()).unwrap_or(i64::MAX);
    secret.expires_within(now_s, margin)
}

/// What to do when an offer failed.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum OfferFailed {
    /// Get a fresh grant (`why` says why) and offer again.
    Renew(String),
    /// This attempt failed with this error.
    Fail(CallError),
}

/// An offer failed with `error`; `renewed`: this attempt already renewed its grant. A refused
/// key is renewed once per attempt; refused right after renewal, it is a real refusal.
pub(crate) fn offer_failed(error: CallError, renewed: bool) -> OfferFailed {
    match error {
        CallError::SecretRejected(why) | CallError::SignInAgain(why) if !renewed => {
            OfferFailed::Renew(why)
        }
        CallError::SecretRejected(why) => OfferFailed::Fail(CallError::SignInAgain(why)),
        error => OfferFailed::Fail(error),
    }
}

/// The next step of a reconnect run.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum Retry {
    /// Try again after this pause.
    After(Duration),
    /// Stop: the call fails with this error.
    GiveUp(CallError),
}

/// The connection has been lost for `lost_for`; `last_reason` is the latest problem. `draw`
/// in [0, 1) places the pause in its jitter window.
pub(crate) fn next_attempt(
    backoff: &mut Backoff,
    lost_for: Duration,
    draw: f64,
    last_reason: &str,
) -> Retry {
    match backoff.next_delay(lost_for, draw) {
        Some(delay) => Retry::After(delay),
        None => Retry::GiveUp(CallError::GaveUp(format!(
            "no connection for {} s; the last problem was: {last_reason}",
            lost_for.as_secs()
        ))),
    }
}

/// What a failed connection attempt means for the reconnect run.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum AttemptFailed {
    /// Worth another try; the session is still reconnecting because of this.
    Retry(String),
    /// Final: retrying would only be refused again.
    Fail(CallError),
}

pub(crate) fn attempt_failed(error: CallError) -> AttemptFailed {
    if error.is_retryable() {
        AttemptFailed::Retry(error.to_string())
    } else {
        AttemptFailed::Fail(error)
    }
}

/// A run of sign-ins to the SDP proxy refused with a plain 4009: another connection holds
/// the interview. Under the proxy's rules a dead holder (a half-open socket, a crashed
/// instance) loses its hold within its silence limit or lease, so the sign-in is tried again
/// with the call's backoff until `window` after the run's first 4009, then the call gives up
/// with [`CallError::AlreadyConnected`]. A 4009 `replaced` ([`CallError::Replaced`]) and every
/// other error end the run at once, as they are.
#[derive(Debug, Clone)]
pub(crate) struct AlreadyLive {
    backoff: Backoff,
    first: Option<Instant>,
}

impl AlreadyLive {
    pub(crate) fn new(policy: ReconnectPolicy, window: Duration) -> Self {
        Self {
            backoff: Backoff::new(ReconnectPolicy {
                give_up_after: window,
                ..policy
            }),
            first: None,
        }
    }

    /// A sign-in failed with `error` at `now`; `draw` in [0, 1) places the pause in its
    /// jitter window. `After`: sign in again after the pause; `GiveUp`: stop with the error.
    pub(crate) fn refused(&mut self, error: CallError, now: Instant, draw: f64) -> Retry {
        if error != CallError::AlreadyConnected {
            return Retry::GiveUp(error);
        }
        let first = *self.first.get_or_insert(now);
        match self
            .backoff
            .next_delay(now.saturating_duration_since(first), draw)
        {
            Some(delay) => Retry::After(delay),
            None => Retry::GiveUp(CallError::AlreadyConnected),
        }
    }
}

/// What to do when opening the SDP proxy link again, while the call's media still flows,
/// failed.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum ReopenFailed {
    /// The sign-in was refused: get a fresh access token (`why` says why) and try again.
    Renew(String),
    /// Worth another try after a pause (the reason, for the log).
    Retry(String),
    /// Final: the call cannot keep its hold on the interview.
    Fail(CallError),
}

/// Opening the link again failed with `error` (a plain 4009 has already been waited out);
/// `renewed`: this run already renewed the access token once.
pub(crate) fn reopen_failed(error: CallError, renewed: bool) -> ReopenFailed {
    match error {
        CallError::SignInAgain(why) if !renewed => ReopenFailed::Renew(why),
        error if error.is_retryable() => ReopenFailed::Retry(error.to_string()),
        error => ReopenFailed::Fail(error),
    }
}

/// Why a planned re-session turned into a reconnect.
pub(crate) fn resession_failed(error: &CallError) -> String {
    format!("the planned new connection failed: {error}")
}

/// What an ICE state change means.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum IceChange {
    /// The path is down; it may come back within the grace period.
    Down,
    /// The path works again.
    Up,
    /// The path failed for good: the connection is lost.
    Lost(String),
    Unchanged,
}

pub(crate) fn ice_change(state: RTCIceConnectionState) -> IceChange {
    match state {
        RTCIceConnectionState::Disconnected => IceChange::Down,
        RTCIceConnectionState::Failed => IceChange::Lost("the network path failed".into()),
        RTCIceConnectionState::Connected | RTCIceConnectionState::Completed => IceChange::Up,
        _ => IceChange::Unchanged,
    }
}

/// Whether the connection is lost in `state`, and why.
pub(crate) fn peer_lost(state: RTCPeerConnectionState) -> Option<String> {
    matches!(
        state,
        RTCPeerConnectionState::Failed | RTCPeerConnectionState::Closed
    )
    .then(|| format!("the connection {state}"))
}

/// How much longer to wait for a path that has been down for `down_for` (`None`: it is up).
pub(crate) fn grace_left(down_for: Option<Duration>, grace: Duration) -> Option<Duration> {
    down_for.map(|down| grace.saturating_sub(down))
}

/// Why the call is lost when the grace period ran out.
pub(crate) fn grace_expired(grace: Duration) -> String {
    format!("the network path has been down for {} s", grace.as_secs())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn secret(expires_at: i64) -> ClientSecret {
        ClientSecret {
            value: "ek_test".into(),
            expires_at,
        }
    }

    #[test]
    fn a_secret_is_renewed_only_when_it_expires_within_the_margin() {
        let margin = Duration::from_secs(10);
        let expires = 1_000;
        assert!(!renew_before_use(&secret(expires), expires - 11, margin));
        assert!(renew_before_use(&secret(expires), expires - 9, margin));
        assert!(
            renew_before_use(&secret(expires), expires + 5, margin),
            "expired"
        );
        assert!(!renew_before_use(
            &secret(expires),
            expires - 1,
            Duration::ZERO
        ));
    }

    #[test]
    fn a_refused_key_is_renewed_once_per_attempt() {
        let first = offer_failed(CallError::SecretRejected("401".into()), false);
        assert_eq!(first, OfferFailed::Renew("401".into()));
        let again = offer_failed(CallError::SecretRejected("401".into()), true);
        assert!(
            matches!(again, OfferFailed::Fail(CallError::SignInAgain(_))),
            "{again:?}"
        );
    }

    #[test]
    fn a_refused_sign_in_is_renewed_once_then_reported_as_is() {
        assert!(matches!(
            offer_failed(CallError::SignInAgain("1008".into()), false),
            OfferFailed::Renew(_)
        ));
        assert_eq!(
            offer_failed(CallError::SignInAgain("1008".into()), true),
            OfferFailed::Fail(CallError::SignInAgain("1008".into()))
        );
    }

    #[test]
    fn other_offer_errors_fail_the_attempt_without_renewing() {
        for error in [
            CallError::Unavailable("503".into()),
            CallError::AlreadyConnected,
            CallError::Timeout("the offer"),
        ] {
            assert_eq!(offer_failed(error.clone(), false), OfferFailed::Fail(error));
        }
    }

    #[test]
    fn reconnecting_waits_within_the_policy_and_gives_up_naming_the_last_problem() {
        let policy = ReconnectPolicy::default();
        let mut backoff = Backoff::new(policy);
        match next_attempt(&mut backoff, Duration::ZERO, 0.5, "first") {
            Retry::After(delay) => assert!(delay <= policy.initial),
            other => panic!("{other:?}"),
        }
        let late = policy.give_up_after;
        match next_attempt(&mut backoff, late, 0.5, "the path failed") {
            Retry::GiveUp(CallError::GaveUp(message)) => {
                assert!(message.contains("the path failed"), "{message}");
                assert!(message.contains(&late.as_secs().to_string()), "{message}");
            }
            other => panic!("{other:?}"),
        }
    }

    #[test]
    fn a_pause_never_reaches_past_the_give_up_time() {
        let policy = ReconnectPolicy::default();
        let mut backoff = Backoff::new(policy);
        for _ in 0..10 {
            backoff.next_delay(Duration::ZERO, 0.9);
        }
        let almost = policy.give_up_after - Duration::from_millis(200);
        match next_attempt(&mut backoff, almost, 0.99, "x") {
            Retry::After(delay) => assert!(almost + delay <= policy.give_up_after),
            other => panic!("{other:?}"),
        }
    }

    #[test]
    fn network_trouble_is_retried_and_refusals_are_final() {
        for retryable in [
            CallError::Network("reset".into()),
            CallError::Timeout("opening the connection"),
            CallError::RateLimited,
            CallError::Unavailable("502".into()),
        ] {
            assert_eq!(
                attempt_failed(retryable.clone()),
                AttemptFailed::Retry(retryable.to_string())
            );
        }
        for fatal in [
            CallError::SignInAgain("revoked".into()),
            CallError::Refused("closed".into()),
            CallError::AlreadyConnected,
            CallError::Replaced,
        ] {
            assert_eq!(attempt_failed(fatal.clone()), AttemptFailed::Fail(fatal));
        }
    }

    /// Where a plain-4009 run goes for refusals at these offsets (ms) from `start`, with the
    /// largest pauses (a draw near 1).
    fn run_of_4009s(window: Duration, at_ms: &[u64]) -> Vec<Retry> {
        let start = Instant::now();
        let mut held = AlreadyLive::new(ReconnectPolicy::default(), window);
        at_ms
            .iter()
            .map(|&ms| {
                held.refused(
                    CallError::AlreadyConnected,
                    start + Duration::from_millis(ms),
                    0.999,
                )
            })
            .collect()
    }

    #[test]
    fn a_plain_4009_is_retried_with_backoff_until_the_window_after_the_first_closes() {
        let window = viva_contract::proxy::ALREADY_LIVE_RETRY_FOR;
        let last = u64::try_from(window.as_millis()).unwrap_or(u64::MAX);
        let steps = run_of_4009s(window, &[0, 600, 1_700, 3_800, last - 1, last]);
        let pauses: Vec<u128> = steps[..4]
            .iter()
            .map(|step| match step {
                Retry::After(delay) => delay.as_millis(),
                other => panic!("{other:?}"),
            })
            .collect();
        // The call's own backoff: the window doubles from 0.5 s.
        assert_eq!(pauses, [499, 999, 1998, 3996]);
        // The last pause ends with the window: one more try right at its end.
        assert_eq!(steps[4], Retry::After(Duration::from_millis(1)));
        assert_eq!(steps[5], Retry::GiveUp(CallError::AlreadyConnected));
    }

    #[test]
    fn the_4009_window_counts_from_the_first_4009_not_from_the_first_attempt() {
        let window = Duration::from_secs(25);
        let start = Instant::now();
        let mut held = AlreadyLive::new(ReconnectPolicy::default(), window);
        // Other errors before it pass through as they are and start nothing.
        let network = CallError::Network("reset".into());
        assert_eq!(
            held.refused(network.clone(), start, 0.5),
            Retry::GiveUp(network)
        );
        let first = start + Duration::from_secs(20);
        assert!(matches!(
            held.refused(CallError::AlreadyConnected, first, 0.5),
            Retry::After(_)
        ));
        assert!(matches!(
            held.refused(CallError::AlreadyConnected, first + Duration::from_secs(24), 0.5),
            Retry::After(delay) if delay <= Duration::from_secs(1)
        ));
        assert_eq!(
            held.refused(CallError::AlreadyConnected, first + window, 0.5),
            Retry::GiveUp(CallError::AlreadyConnected)
        );
    }

    #[test]
    fn being_replaced_and_other_refusals_end_a_run_of_4009s_at_once() {
        let start = Instant::now();
        let mut held = AlreadyLive::new(ReconnectPolicy::default(), Duration::from_secs(25));
        assert!(matches!(
            held.refused(CallError::AlreadyConnected, start, 0.5),
            Retry::After(_)
        ));
        for error in [
            CallError::Replaced,
            CallError::SignInAgain("expired".into()),
            CallError::RateLimited,
            CallError::Timeout("the SDP proxy's sign-in"),
        ] {
            assert_eq!(
                held.refused(error.clone(), start + Duration::from_secs(1), 0.5),
                Retry::GiveUp(error)
            );
        }
    }

    #[test]
    fn every_pause_of_a_4009_run_stays_inside_the_window() {
        let window = Duration::from_secs(25);
        for draw in [0.0, 0.3, 0.999] {
            let start = Instant::now();
            let mut held = AlreadyLive::new(ReconnectPolicy::default(), window);
            let mut now = start;
            let mut tries = 0;
            loop {
                match held.refused(CallError::AlreadyConnected, now, draw) {
                    Retry::After(delay) => {
                        assert!(now + delay <= start + window, "{draw}");
                        now += delay;
                        tries += 1;
                    }
                    Retry::GiveUp(error) => {
                        assert_eq!(error, CallError::AlreadyConnected);
                        break;
                    }
                }
                assert!(tries < 1_000, "the run ends");
            }
            assert_eq!(
                now,
                start + window,
                "{draw}: the last try is at the window's end"
            );
        }
    }

    #[test]
    fn reopening_the_link_renews_a_refused_sign_in_once_and_retries_trouble() {
        assert_eq!(
            reopen_failed(CallError::SignInAgain("expired".into()), false),
            ReopenFailed::Renew("expired".into())
        );
        assert_eq!(
            reopen_failed(CallError::SignInAgain("expired".into()), true),
            ReopenFailed::Fail(CallError::SignInAgain("expired".into()))
        );
        for retryable in [
            CallError::Network("reset".into()),
            CallError::Unavailable("the upstream failed".into()),
            CallError::Timeout("connecting to the SDP proxy"),
            CallError::RateLimited,
        ] {
            assert_eq!(
                reopen_failed(retryable.clone(), false),
                ReopenFailed::Retry(retryable.to_string())
            );
        }
        for fatal in [
            CallError::Replaced,
            CallError::AlreadyConnected,
            CallError::Refused("closed".into()),
        ] {
            assert_eq!(
                reopen_failed(fatal.clone(), false),
                ReopenFailed::Fail(fatal)
            );
        }
    }

    #[test]
    fn a_failed_re_session_reconnects_saying_why() {
        let reason = resession_failed(&CallError::Timeout("opening the connection"));
        assert!(reason.contains("planned new connection"), "{reason}");
        assert!(reason.contains("opening the connection"), "{reason}");
    }

    #[test]
    fn ice_failure_loses_the_connection_and_disconnection_only_starts_the_grace() {
        assert!(matches!(
            ice_change(RTCIceConnectionState::Failed),
            IceChange::Lost(_)
        ));
        assert_eq!(
            ice_change(RTCIceConnectionState::Disconnected),
            IceChange::Down
        );
        assert_eq!(ice_change(RTCIceConnectionState::Connected), IceChange::Up);
        assert_eq!(ice_change(RTCIceConnectionState::Completed), IceChange::Up);
        assert_eq!(
            ice_change(RTCIceConnectionState::Checking),
            IceChange::Unchanged
        );
    }

    #[test]
    fn a_failed_or_closed_peer_connection_is_lost_and_others_are_not() {
        assert!(peer_lost(RTCPeerConnectionState::Failed).is_some());
        assert!(peer_lost(RTCPeerConnectionState::Closed).is_some());
        assert!(peer_lost(RTCPeerConnectionState::Disconnected).is_none());
        assert!(peer_lost(RTCPeerConnectionState::Connected).is_none());
    }

    #[test]
    fn the_grace_counts_down_from_when_the_path_went_down() {
        let grace = Duration::from_secs(3);
        assert_eq!(grace_left(None, grace), None, "no timer while up");
        assert_eq!(
            grace_left(Some(Duration::from_secs(1)), grace),
            Some(Duration::from_secs(2))
        );
        assert_eq!(
            grace_left(Some(Duration::from_secs(5)), grace),
            Some(Duration::ZERO)
        );
        assert!(grace_expired(grace).contains('3'));
    }
}

//! When to try reconnecting again: exponential backoff with full jitter, a cap, and a time
//! after which we give up. Pure: the caller passes the time and the random draw in.

use std::time::Duration;

/// The reconnect rules.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ReconnectPolicy {
    /// The first pause's upper bound.
    pub initial: Duration,
    /// No pause is longer than this.
    pub cap: Duration,
    /// Reconnecting stops this long after the connection was lost.
    pub give_up_after: Duration,
}

impl Default for ReconnectPolicy {
    fn default() -> Self {
        Self {
            initial: Duration::from_millis(500),
            cap: Duration::from_secs(10),
            give_up_after: Duration::from_secs(120),
        }
    }
}

/// Where a run of reconnect attempts is.
#[derive(Debug, Clone)]
pub struct Backoff {
    policy: ReconnectPolicy,
    attempts: u32,
}

impl Backoff {
    #[must_use]
    pub fn new(policy: ReconnectPolicy) -> Self {
        Self {
            policy,
            attempts: 0,
        }
    }

    /// Attempts made so far in this run.
    #[must_use]
    pub fn attempts(&self) -> u32 {
        self.attempts
    }

    /// The pause before the next attempt, `lost_for` after the connection was lost, with
    /// `draw` in [0, 1) choosing where in the window it falls ("full jitter", so many clients
    /// cut off together do not return together). `None`: give up.
    pub fn next_delay(&mut self, lost_for: Duration, draw: f64) -> Option<Duration> {
        if lost_for >= self.policy.give_up_after {
            return None;
        }
        let exponent = self.attempts.min(16);
        self.attempts = self.attempts.saturating_add(1);
        let window = self
            .policy
            .initial
            .saturating_mul(1 << exponent)
            .min(self.policy.cap);
        // Never wait past the point of giving up, and never spin: at least 50 ms.
        let left = self.policy.give_up_after.saturating_sub(lost_for);
        let delay = window
            .mul_f64(draw.clamp(0.0, 1.0))
            .max(Duration::from_millis(50));
        Some(delay.min(left))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    #[test]
    fn the_window_doubles_up_to_the_cap() {
        let mut backoff = Backoff::new(ReconnectPolicy::default());
        let delays: Vec<u128> = (0..8)
            .map(|_| {
                backoff
                    .next_delay(Duration::ZERO, 0.999_999)
                    .map_or(0, |d| d.as_millis())
            })
            .collect();
        assert_eq!(delays, [499, 999, 1999, 3999, 7999, 9999, 9999, 9999]);
        assert_eq!(backoff.attempts(), 8);
    }

    #[test]
    fn it_gives_up_after_the_deadline() {
        let mut backoff = Backoff::new(ReconnectPolicy::default());
        assert!(backoff.next_delay(Duration::from_secs(119), 0.5).is_some());
        assert_eq!(backoff.next_delay(Duration::from_secs(120), 0.5), None);
    }

    proptest! {
        #[test]
        fn delays_stay_within_the_cap_and_the_deadline(
            draws in proptest::collection::vec(0.0f64..1.0, 1..40),
            lost_ms in 0u64..130_000,
        ) {
            let policy = ReconnectPolicy::default();
            let mut backoff = Backoff::new(policy);
            let lost = Duration::from_millis(lost_ms);
            for draw in draws {
                match backoff.next_delay(lost, draw) {
                    Some(delay) => {
                        prop_assert!(delay <= policy.cap);
                        prop_assert!(lost + delay <= policy.give_up_after);
                    }
                    None => prop_assert!(lost >= policy.give_up_after),
                }
            }
        }
    }
}

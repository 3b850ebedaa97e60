//! Connection rate limits, per client address (before any token is looked at) and per user
//! (once verified): a reconnect loop or a flood from one machine or one account is closed with
//! 4029 before it costs a token check, a database read or an upstream call. Per instance.

use std::net::IpAddr;
use std::num::NonZeroU32;
use std::time::Duration;

use governor::{DefaultKeyedRateLimiter, Quota, RateLimiter};

/// Connections allowed per minute.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ConnectLimits {
    pub per_address_per_minute: u32,
    pub per_user_per_minute: u32,
}

impl Default for ConnectLimits {
    /// A candidate reconnects a handful of times in a bad minute; an office behind one address
    /// holds a few dozen interviews at once.
    fn default() -> Self {
        Self {
            per_address_per_minute: 60,
            per_user_per_minute: 20,
        }
    }
}

/// The limiters; cheap to share.
#[derive(Debug)]
pub struct ConnectLimiter {
    by_address: DefaultKeyedRateLimiter<IpAddr>,
    by_user: DefaultKeyedRateLimiter<String>,
}

fn per_minute(count: u32) -> Quota {
    let burst = NonZeroU32::new(count.max(1)).unwrap_or(NonZeroU32::MIN);
    let every = Duration::from_secs(60)
        .checked_div(burst.get())
        .unwrap_or(Duration::from_secs(60))
        .max(Duration::from_nanos(1));
    Quota::with_period(every)
        .unwrap_or_else(|| Quota::per_minute(burst))
        .allow_burst(burst)
}

impl ConnectLimiter {
    #[must_use]
    pub fn new(limits: ConnectLimits) -> Self {
        Self {
            by_address: RateLimiter::keyed(per_minute(limits.per_address_per_minute)),
            by_user: RateLimiter::keyed(per_minute(limits.per_user_per_minute)),
        }
    }

    /// Counts a connection from `address`; `false` when it is over the limit.
    pub fn address(&self, address: IpAddr) -> bool {
        self.by_address.check_key(&address).is_ok()
    }

    /// Counts a connection by `user_id`; `false` when it is over the limit.
    pub fn user(&self, user_id: &str) -> bool {
        self.by_user.check_key(&user_id.to_owned()).is_ok()
    }

    /// Forgets keys that have recovered their full allowance (call now and then).
    pub fn forget_idle(&self) {
        self.by_address.retain_recent();
        self.by_user.retain_recent();
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn each_address_and_user_has_its_own_allowance() {
        let limiter = ConnectLimiter::new(ConnectLimits {
            per_address_per_minute: 2,
            per_user_per_minute: 1,
        });
        let (a, b) = (IpAddr::from([10, 0, 0, 1]), IpAddr::from([10, 0, 0, 2]));
        assert!(limiter.address(a) && limiter.address(a));
        assert!(!limiter.address(a));
        assert!(limiter.address(b));
        assert!(limiter.user("u1"));
        assert!(!limiter.user("u1"));
        assert!(limiter.user("u2"));
    }
}

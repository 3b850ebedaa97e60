//! Sign-in and sign-up attempts limited per client address and per e-mail, as GoTrue limits
//! them (429 `over_request_rate_limit`): a guessing run from one machine, or against one
//! account from many, is slowed to a trickle before any password is hashed.

use std::net::IpAddr;
use std::num::NonZeroU32;
use std::time::Duration;

use governor::clock::{Clock, DefaultClock};
use governor::{DefaultKeyedRateLimiter, Quota, RateLimiter};

/// How many attempts, per how long, from one address and for one e-mail.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct AuthLimits {
    pub per_address: u32,
    pub per_email: u32,
    /// The window both are counted over (attempts come back evenly across it).
    pub period: Duration,
}

impl Default for AuthLimits {
    /// GoTrue's hosted default for sign-ins and sign-ups is 30 per 5 minutes per address; one
    /// account gets 10 per 5 minutes, however many addresses try.
    fn default() -> Self {
        Self {
            per_address: 30,
            per_email: 10,
            period: Duration::from_secs(5 * 60),
        }
    }
}

/// The limiters; cheap to share.
#[derive(Debug)]
pub struct AuthLimiter {
    by_address: DefaultKeyedRateLimiter<IpAddr>,
    by_email: DefaultKeyedRateLimiter<String>,
}

fn quota(per_period: u32, period: Duration) -> Quota {
    let burst = NonZeroU32::new(per_period.max(1)).unwrap_or(NonZeroU32::MIN);
    let every = period
        .checked_div(burst.get())
        .unwrap_or(period)
        .max(Duration::from_nanos(1));
    Quota::with_period(every)
        .unwrap_or_else(|| Quota::per_second(burst))
        .allow_burst(burst)
}

impl AuthLimiter {
    #[must_use]
    pub fn new(limits: AuthLimits) -> Self {
        Self {
            by_address: RateLimiter::keyed(quota(limits.per_address, limits.period)),
            by_email: RateLimiter::keyed(quota(limits.per_email, limits.period)),
        }
    }

    /// Counts one attempt; `Err` with how long until the next one is allowed.
    pub fn attempt(&self, address: IpAddr, email: &str) -> Result<(), Duration> {
        let now = DefaultClock::default().now();
        let email = email.trim().to_lowercase();
        for verdict in [
            self.by_address.check_key(&address),
            self.by_email.check_key(&email),
        ] {
            if let Err(not_until) = verdict {
                return Err(not_until.wait_time_from(now));
            }
        }
        // Keys whose limits have fully recovered are dropped, so memory follows the attackers
        // of the last few minutes, not all of them ever.
        if self.by_address.len() > 10_000 {
            self.by_address.retain_recent();
        }
        if self.by_email.len() > 10_000 {
            self.by_email.retain_recent();
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn an_address_and_an_email_each_get_their_share() {
        let limiter = AuthLimiter::new(AuthLimits {
            per_address: 5,
            per_email: 3,
            period: Duration::from_secs(300),
        });
        let one: IpAddr = [10, 0, 0, 1].into();
        let two: IpAddr = [10, 0, 0, 2].into();
        for _ in 0..3 {
            assert!(limiter.attempt(one, "a@x.test").is_ok());
        }
        // The same account from another machine: limited by the e-mail.
        assert!(limiter.attempt(two, "A@x.test ").is_err());
        // Other accounts from the first machine: limited by the address after five.
        assert!(limiter.attempt(one, "b@x.test").is_ok());
        assert!(limiter.attempt(one, "c@x.test").is_ok());
        let wait = limiter.attempt(one, "d@x.test").unwrap_err();
        assert!(
            wait > Duration::ZERO && wait <= Duration::from_secs(60),
            "{wait:?}"
        );
    }
}

//! What the proxy counts, for `GET /metrics` in the Prometheus text format (0.0.4): open
//! connections, offers by voice API and outcome, how connections closed, lease conflicts, rate
//! limits, typed answers, and how long offers take (the upstream's part and the whole; the
//! proxy's own share is the difference).
//!
//! Every series a label can take is created up front (so a rate of zero is a series, not a
//! gap), and recording is an atomic add after a shared-lock lookup: nothing is allocated per
//! event. Labels are small enums; no label carries a user, a session or an address.

use std::time::Duration;

use prometheus_client::encoding::{EncodeLabelSet, EncodeLabelValue, LabelValueEncoder};
use prometheus_client::metrics::counter::Counter;
use prometheus_client::metrics::family::Family;
use prometheus_client::metrics::gauge::Gauge;
use prometheus_client::metrics::histogram::{Histogram, exponential_buckets};
use prometheus_client::registry::{Registry, Unit};
use viva_contract::grant::VoiceApi;

use crate::lease::Acquired;

/// The `Content-Type` of [`Metrics::render`]'s text.
pub const CONTENT_TYPE: &str = prometheus_client::encoding::prometheus_text::CONTENT_TYPE;

/// The close codes a connection can end with (1006: the socket went without a close frame).
pub const CLOSE_CODES: [u16; 7] = [1000, 1001, 1008, 1011, 4009, 4029, 1006];

/// A closed set of label values: an enum, its text, and its encoding.
macro_rules! label_values {
    (
        $(#[$meta:meta])*
        $name:ident { $($(#[$variant_meta:meta])* $variant:ident => $text:literal),+ $(,)? }
    ) => {
        $(#[$meta])*
        #[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
        pub enum $name {
            $($(#[$variant_meta])* $variant),+
        }

        impl $name {
            pub const ALL: &'static [Self] = &[$(Self::$variant),+];

            pub fn as_str(self) -> &'static str {
                match self {
                    $(Self::$variant => $text),+
                }
            }
        }

        impl EncodeLabelValue for $name {
            fn encode(&self, encoder: &mut LabelValueEncoder<'_>) -> Result<(), std::fmt::Error> {
                std::fmt::Write::write_str(encoder, self.as_str())
            }
        }
    };
}

label_values!(
    /// The voice API an offer's call speaks.
    Api {
        Live => "live",
        Realtime => "realtime",
    }
);

impl From<VoiceApi> for Api {
    fn from(api: VoiceApi) -> Self {
        match api {
            VoiceApi::Live => Self::Live,
            VoiceApi::Realtime => Self::Realtime,
        }
    }
}

label_values!(
    /// How an offer ended.
    OfferResult {
        Answered => "answered",
        InvalidSdp => "invalid_sdp",
        UpstreamFailed => "upstream_failed",
        /// The session could not be read again, or is no longer the caller's to call in.
        SessionFailed => "session_failed",
    }
);

label_values!(
    /// A lease that was not simply granted or kept.
    LeaseConflict {
        /// Another sign-in holds the session (4009 at authentication).
        Refused => "refused",
        /// The same sign-in's older connection was replaced.
        ReplacedOwn => "replaced_own",
        /// The holder's lease had expired (its instance is gone).
        TookOverExpired => "took_over_expired",
        /// A holder lost its lease (replaced, or the store could not confirm it).
        Lost => "lost",
    }
);

label_values!(
    /// Which limit closed a connection with 4029.
    RateLimitScope {
        Address => "address",
        User => "user",
        /// Offers on one connection.
        Offers => "offers",
        /// Typed answers on one connection.
        Typed => "typed",
    }
);

label_values!(
    /// How a typed answer went.
    TypedResult {
        Sent => "sent",
        Failed => "failed",
        /// There was no GPT-Live call to take it (before an answer, or a Realtime call).
        NoLiveCall => "no_live_call",
    }
);

#[derive(Debug, Clone, PartialEq, Eq, Hash, EncodeLabelSet)]
struct OfferLabels {
    api: Api,
    result: OfferResult,
}

#[derive(Debug, Clone, PartialEq, Eq, Hash, EncodeLabelSet)]
struct ApiLabels {
    api: Api,
}

#[derive(Debug, Clone, PartialEq, Eq, Hash, EncodeLabelSet)]
struct CloseLabels {
    code: u16,
}

#[derive(Debug, Clone, PartialEq, Eq, Hash, EncodeLabelSet)]
struct LeaseLabels {
    kind: LeaseConflict,
}

#[derive(Debug, Clone, PartialEq, Eq, Hash, EncodeLabelSet)]
struct ScopeLabels {
    scope: RateLimitScope,
}

#[derive(Debug, Clone, PartialEq, Eq, Hash, EncodeLabelSet)]
struct TypedLabels {
    result: TypedResult,
}

/// 5 ms to about 41 s, doubling: an upstream answers in a few hundred milliseconds to a few
/// seconds, and times out at 15 s by default.
fn seconds() -> Histogram {
    Histogram::new(exponential_buckets(0.005, 2.0, 14))
}

/// 0.25 ms to about 33 s, doubling: a whole offer inside the proxy, whose own part (without
/// the upstream) is well under a millisecond.
fn offer_seconds() -> Histogram {
    Histogram::new(exponential_buckets(0.000_25, 2.0, 18))
}

/// The proxy's metrics (one set per [`crate::Proxy`]).
#[derive(Debug)]
pub struct Metrics {
    registry: Registry,
    connections_open: Gauge,
    offers: Family<OfferLabels, Counter>,
    closes: Family<CloseLabels, Counter>,
    lease_conflicts: Family<LeaseLabels, Counter>,
    silent_dropped: Counter,
    rate_limited: Family<ScopeLabels, Counter>,
    typed_answers: Family<TypedLabels, Counter>,
    upstream_seconds: Family<ApiLabels, Histogram, fn() -> Histogram>,
    offer_seconds: Histogram,
}

impl Default for Metrics {
    fn default() -> Self {
        Self::new()
    }
}

impl Metrics {
    #[must_use]
    pub fn new() -> Self {
        let mut registry = Registry::with_prefix("viva_proxy");
        let metrics = Self {
            connections_open: Gauge::default(),
            offers: Family::default(),
            closes: Family::default(),
            lease_conflicts: Family::default(),
            silent_dropped: Counter::default(),
            rate_limited: Family::default(),
            typed_answers: Family::default(),
            upstream_seconds: Family::new_with_constructor(seconds as fn() -> Histogram),
            offer_seconds: offer_seconds(),
            registry: Registry::default(),
        };
        for &api in Api::ALL {
            for &result in OfferResult::ALL {
                drop(metrics.offers.get_or_create(&OfferLabels { api, result }));
            }
            drop(metrics.upstream_seconds.get_or_create(&ApiLabels { api }));
        }
        for code in CLOSE_CODES {
            drop(metrics.closes.get_or_create(&CloseLabels { code }));
        }
        for &kind in LeaseConflict::ALL {
            drop(metrics.lease_conflicts.get_or_create(&LeaseLabels { kind }));
        }
        for &scope in RateLimitScope::ALL {
            drop(metrics.rate_limited.get_or_create(&ScopeLabels { scope }));
        }
        for &result in TypedResult::ALL {
            drop(metrics.typed_answers.get_or_create(&TypedLabels { result }));
        }
        registry.register(
            "connections_open",
            "Signalling connections open now",
            metrics.connections_open.clone(),
        );
        registry.register(
            "offers",
            "SDP offers by voice API and outcome",
            metrics.offers.clone(),
        );
        registry.register(
            "closes",
            "Signalling connections closed, by close code (1006: gone without a close frame)",
            metrics.closes.clone(),
        );
        registry.register(
            "lease_conflicts",
            "Interview leases refused, replaced, taken over after expiry, or lost",
            metrics.lease_conflicts.clone(),
        );
        registry.register(
            "silent_connections_dropped",
            "Connections closed for silence (no message or pong within the limit)",
            metrics.silent_dropped.clone(),
        );
        registry.register(
            "rate_limited",
            "Connections closed 4029, by the limit they hit",
            metrics.rate_limited.clone(),
        );
        registry.register(
            "typed_answers",
            "Typed answers by outcome",
            metrics.typed_answers.clone(),
        );
        registry.register_with_unit(
            "upstream",
            "Time the voice service took to answer an offer, failures included",
            Unit::Seconds,
            metrics.upstream_seconds.clone(),
        );
        registry.register_with_unit(
            "offer",
            "Time from an offer received to its answer sent, for answered offers (the proxy's own share is this minus viva_proxy_upstream_seconds)",
            Unit::Seconds,
            metrics.offer_seconds.clone(),
        );
        Self {
            registry,
            ..metrics
        }
    }

    pub fn connection_opened(&self) {
        self.connections_open.inc();
    }

    pub fn connection_ended(&self) {
        self.connections_open.dec();
    }

    pub fn offer(&self, api: Api, result: OfferResult) {
        self.offers
            .get_or_create(&OfferLabels { api, result })
            .inc();
    }

    /// A connection closed with `code`.
    pub fn closed(&self, code: u16) {
        self.closes.get_or_create(&CloseLabels { code }).inc();
    }

    pub fn lease_conflict(&self, kind: LeaseConflict) {
        self.lease_conflicts
            .get_or_create(&LeaseLabels { kind })
            .inc();
    }

    /// A lease granted `how`: a replacement or a takeover is a conflict worth counting.
    pub fn lease_granted(&self, how: Acquired) {
        match how {
            Acquired::Fresh => {}
            Acquired::ReplacedOwn => self.lease_conflict(LeaseConflict::ReplacedOwn),
            Acquired::TookOverExpired => self.lease_conflict(LeaseConflict::TookOverExpired),
        }
    }

    pub fn silent_connection_dropped(&self) {
        self.silent_dropped.inc();
    }

    pub fn rate_limited(&self, scope: RateLimitScope) {
        self.rate_limited
            .get_or_create(&ScopeLabels { scope })
            .inc();
    }

    pub fn typed_answer(&self, result: TypedResult) {
        self.typed_answers
            .get_or_create(&TypedLabels { result })
            .inc();
    }

    /// Time spent in the upstream's `answer` for a call in `api`.
    pub fn upstream_took(&self, api: Api, took: Duration) {
        self.upstream_seconds
            .get_or_create(&ApiLabels { api })
            .observe(took.as_secs_f64());
    }

    /// Time from an offer received to its answer sent.
    pub fn offer_took(&self, took: Duration) {
        self.offer_seconds.observe(took.as_secs_f64());
    }

    /// Every metric in the Prometheus text format ([`CONTENT_TYPE`]).
    pub fn render(&self) -> String {
        let mut text = String::new();
        if prometheus_client::encoding::prometheus_text::encode(&mut text, &self.registry).is_err()
        {
            // Writing to a String does not fail; should an encoder, what was written stands.
            tracing::warn!(event = "proxy_metrics_unencodable");
        }
        text
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]
    use super::*;

    /// The value of the sample line `series` (name and labels exactly as rendered).
    fn sample(text: &str, series: &str) -> Option<f64> {
        text.lines()
            .find_map(|line| line.strip_prefix(series)?.strip_prefix(' '))
            .and_then(|value| value.parse().ok())
    }

    #[test]
    fn every_series_exists_from_the_start_at_zero() {
        let text = Metrics::new().render();
        assert_eq!(sample(&text, "viva_proxy_connections_open"), Some(0.0));
        for api in ["live", "realtime"] {
            for result in [
                "answered",
                "invalid_sdp",
                "upstream_failed",
                "session_failed",
            ] {
                let series = format!(r#"viva_proxy_offers_total{{api="{api}",result="{result}"}}"#);
                assert_eq!(sample(&text, &series), Some(0.0), "{series}\n{text}");
            }
            let count = format!(r#"viva_proxy_upstream_seconds_count{{api="{api}"}}"#);
            assert_eq!(sample(&text, &count), Some(0.0), "{text}");
        }
        for code in CLOSE_CODES {
            let series = format!(r#"viva_proxy_closes_total{{code="{code}"}}"#);
            assert_eq!(sample(&text, &series), Some(0.0), "{series}");
        }
        for kind in ["refused", "replaced_own", "took_over_expired", "lost"] {
            let series = format!(r#"viva_proxy_lease_conflicts_total{{kind="{kind}"}}"#);
            assert_eq!(sample(&text, &series), Some(0.0), "{series}");
        }
        for scope in ["address", "user", "offers", "typed"] {
            let series = format!(r#"viva_proxy_rate_limited_total{{scope="{scope}"}}"#);
            assert_eq!(sample(&text, &series), Some(0.0), "{series}");
        }
        for result in ["sent", "failed", "no_live_call"] {
            let series = format!(r#"viva_proxy_typed_answers_total{{result="{result}"}}"#);
            assert_eq!(sample(&text, &series), Some(0.0), "{series}");
        }
        assert_eq!(
            sample(&text, "viva_proxy_silent_connections_dropped_total"),
            Some(0.0)
        );
        assert_eq!(sample(&text, "viva_proxy_offer_seconds_count"), Some(0.0));
        assert!(
            text.contains("# TYPE viva_proxy_offers_total counter"),
            "{text}"
        );
        assert!(
            text.contains("# TYPE viva_proxy_offer_seconds histogram"),
            "{text}"
        );
        assert!(!text.contains("# EOF"), "Prometheus text, not OpenMetrics");
    }

    #[test]
    fn events_are_counted_under_their_labels() {
        let metrics = Metrics::new();
        metrics.connection_opened();
        metrics.connection_opened();
        metrics.connection_ended();
        metrics.offer(Api::Live, OfferResult::Answered);
        metrics.offer(Api::Live, OfferResult::Answered);
        metrics.offer(Api::Realtime, OfferResult::InvalidSdp);
        metrics.closed(4009);
        metrics.closed(4242);
        metrics.lease_conflict(LeaseConflict::ReplacedOwn);
        metrics.silent_connection_dropped();
        metrics.rate_limited(RateLimitScope::Typed);
        metrics.typed_answer(TypedResult::Sent);
        metrics.upstream_took(Api::Live, Duration::from_millis(300));
        metrics.offer_took(Duration::from_millis(320));
        let text = metrics.render();
        let expect = [
            ("viva_proxy_connections_open", 1.0),
            (
                r#"viva_proxy_offers_total{api="live",result="answered"}"#,
                2.0,
            ),
            (
                r#"viva_proxy_offers_total{api="realtime",result="invalid_sdp"}"#,
                1.0,
            ),
            (
                r#"viva_proxy_offers_total{api="live",result="invalid_sdp"}"#,
                0.0,
            ),
            (r#"viva_proxy_closes_total{code="4009"}"#, 1.0),
            (r#"viva_proxy_closes_total{code="4242"}"#, 1.0),
            (
                r#"viva_proxy_lease_conflicts_total{kind="replaced_own"}"#,
                1.0,
            ),
            ("viva_proxy_silent_connections_dropped_total", 1.0),
            (r#"viva_proxy_rate_limited_total{scope="typed"}"#, 1.0),
            (r#"viva_proxy_typed_answers_total{result="sent"}"#, 1.0),
            (r#"viva_proxy_upstream_seconds_count{api="live"}"#, 1.0),
            (r#"viva_proxy_upstream_seconds_sum{api="live"}"#, 0.3),
            (
                r#"viva_proxy_upstream_seconds_bucket{api="live",le="0.32"}"#,
                1.0,
            ),
            (
                r#"viva_proxy_upstream_seconds_bucket{api="live",le="0.16"}"#,
                0.0,
            ),
            ("viva_proxy_offer_seconds_count", 1.0),
        ];
        for (series, value) in expect {
            assert_eq!(sample(&text, series), Some(value), "{series}\n{text}");
        }
    }
}

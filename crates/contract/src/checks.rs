//! What must hold for any input to the contract's parsers, checked by the fuzz targets
//! (`crates/contract/fuzz`) and by the test that replays their corpus in the normal suite. Each
//! function panics (the fuzzer's signal) when a rule is broken; none may panic otherwise.

#![allow(clippy::panic)] // Panicking is how a broken rule reaches the fuzzer.

use crate::grant::{Grant, SignalingMode};
use crate::proxy::{parse_client_message, parse_server_message};
use crate::sdp::{MAX_SDP_BYTES, validate_offer};

/// An offer the proxy forwards has exactly one audio and one application section and fits
/// the size limit, by a count independent of the validator's.
pub fn check_offer(text: &str) {
    if validate_offer(text).is_ok() {
        assert!(text.len() <= MAX_SDP_BYTES, "an oversized offer passed");
        let media: Vec<&str> = text
            .lines()
            .filter_map(|line| line.trim_start().strip_prefix("m="))
            .collect();
        assert_eq!(media.len(), 2, "an offer with {media:?} passed");
        let complete = |kind: &str| {
            media
                .iter()
                .filter(|m| {
                    let fields: Vec<&str> = m.split(' ').collect();
                    fields.len() >= 4 && fields[0] == kind && fields.iter().all(|f| !f.is_empty())
                })
                .count()
        };
        assert_eq!(complete("audio"), 1, "{media:?}");
        assert_eq!(complete("application"), 1, "{media:?}");
    }
}

/// A message either side reads survives being written and read again unchanged.
pub fn check_proxy_message(text: &str) {
    if let Ok(message) = parse_client_message(text) {
        let again = serde_json::to_string(&message).map(|t| parse_client_message(&t));
        assert!(
            matches!(again, Ok(Ok(ref m)) if *m == message),
            "client message round trip"
        );
    }
    if let Ok(message) = parse_server_message(text) {
        let again = serde_json::to_string(&message).map(|t| parse_server_message(&t));
        assert!(
            matches!(again, Ok(Ok(ref m)) if *m == message),
            "server message round trip"
        );
    }
}

/// A grant the client accepts meets the transport rules, and its secrets never show in `Debug`.
pub fn check_grant(bytes: &[u8]) {
    let Ok(body) = serde_json::from_slice::<serde_json::Value>(bytes) else {
        return;
    };
    let Ok(mut grant) = Grant::from_interview_start(&body, Some("access-token-sentinel".into()))
    else {
        return;
    };
    let realtime = grant.realtime.clone();
    let Ok(url) = url::Url::parse(realtime.url.trim()) else {
        panic!("a grant with an unparsable url passed: {}", realtime.url);
    };
    let secure = match realtime.signaling {
        SignalingMode::Http => "https",
        SignalingMode::Websocket => "wss",
    };
    let loopback = match url.host() {
        Some(url::Host::Domain(name)) => name == "localhost",
        Some(url::Host::Ipv4(ip)) => ip.is_loopback(),
        Some(url::Host::Ipv6(ip)) => ip.is_loopback(),
        None => false,
    };
    assert!(
        url.scheme() == secure || loopback,
        "an insecure grant passed: {url}"
    );
    for server in &realtime.ice_servers {
        for ice in &server.urls {
            assert!(
                ice.starts_with("stun:") || ice.starts_with("turn:") || ice.starts_with("turns:"),
                "ICE url {ice} passed"
            );
        }
    }
    // Secrets put where the input's own text cannot also contain them, so a hit is the
    // redaction failing, not the input repeating the secret in another field.
    grant.realtime.client_secret.value = "client-secret-sentinel".into();
    for server in &mut grant.realtime.ice_servers {
        server.credential = Some("turn-credential-sentinel".into());
        server.username = Some("turn-username-sentinel".into());
    }
    let shown = format!("{grant:?}");
    for secret in [
        "access-token-sentinel",
        "client-secret-sentinel",
        "turn-credential-sentinel",
        "turn-username-sentinel",
    ] {
        assert!(!shown.contains(secret), "{secret} shows in Debug");
    }
}

/// A reply the outbox accepts never claims more entries than were sent (it would drop lines
/// that were never stored).
pub fn check_processor_reply(bytes: &[u8]) {
    for sent in [0_usize, 1, 7, crate::MAX_ENTRIES_PER_CALL] {
        if let Ok(reply) = crate::parse_processor_reply(bytes, sent) {
            let counted = reply.accepted + reply.duplicates + reply.rejected.len() as u64;
            assert!(
                counted <= sent as u64,
                "{counted} accounted for {sent} sent"
            );
        }
    }
}

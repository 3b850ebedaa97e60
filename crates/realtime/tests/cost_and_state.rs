//! Session cost from usage, and the session state machine's allowed and refused transitions.

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)] // Tests fail loudly by design.

use viva_realtime::cost::{response_cost, transcription_cost};
use viva_realtime::event::{CachedTokens, TokenDetails, TranscriptionUsage, Usage};
use viva_realtime::{Cost, CostMeter, SessionInput, SessionState};

fn usage(text_in: u64, audio_in: u64, cached: u64, text_out: u64, audio_out: u64) -> Usage {
    Usage {
        input_token_details: TokenDetails {
            text_tokens: text_in,
            audio_tokens: audio_in,
            cached_tokens: cached,
            cached_tokens_details: None,
        },
        output_token_details: TokenDetails {
            text_tokens: text_out,
            audio_tokens: audio_out,
            ..TokenDetails::default()
        },
        ..Usage::default()
    }
}

fn close(a: f64, b: f64) -> bool {
    (a - b).abs() < 1e-12
}

#[test]
fn gpt_realtime_response_cost_follows_the_price_table() {
    // 1M uncached text in ($4) + 1M audio out ($64).
    assert!(close(
        response_cost("gpt-realtime", &usage(1_000_000, 0, 0, 0, 1_000_000)).unwrap(),
        68.0
    ));
    // 1,000 audio in ($0.032) + 200 text out ($0.0032).
    assert!(close(
        response_cost("gpt-realtime", &usage(0, 1_000, 0, 200, 0)).unwrap(),
        0.0352
    ));
    // A dated model name uses its family's prices; -mini has its own row.
    assert!(close(
        response_cost("gpt-realtime-2025-08-28", &usage(0, 1_000, 0, 0, 0)).unwrap(),
        0.032
    ));
    assert!(close(
        response_cost("gpt-realtime-mini", &usage(0, 1_000, 0, 0, 0)).unwrap(),
        0.010
    ));
}

#[test]
fn cached_input_is_billed_at_the_cached_price() {
    // 1,000 text in of which 1,000 cached: 1000 × 0.40 / 1M.
    assert!(close(
        response_cost("gpt-realtime", &usage(1_000, 0, 1_000, 0, 0)).unwrap(),
        0.0004
    ));
    // An explicit split by modality wins over the proportional estimate.
    let mut split = usage(1_000, 1_000, 1_000, 0, 0);
    split.input_token_details.cached_tokens_details = Some(CachedTokens {
        text_tokens: 0,
        audio_tokens: 1_000,
    });
    let expected = (1_000.0 * 4.0 + 1_000.0 * 0.40) / 1e6;
    assert!(close(
        response_cost("gpt-realtime", &split).unwrap(),
        expected
    ));
}

#[test]
fn an_unknown_model_makes_the_cost_unknown_not_zero() {
    assert_eq!(
        response_cost("some-other-model", &usage(10, 10, 0, 10, 10)),
        None
    );
    assert_eq!(response_cost("gpt-realtimex", &usage(10, 0, 0, 0, 0)), None);
    let mut meter = CostMeter::new("gpt-realtime", Some("gpt-4o-transcribe"));
    meter.add_response(&usage(0, 1_000, 0, 0, 0));
    assert_eq!(meter.total(), Cost::Known { usd: 0.032 });
    let mut meter = CostMeter::new("mystery", None);
    meter.add_response(&usage(1, 1, 0, 1, 1));
    assert!(matches!(meter.total(), Cost::Unknown { reason } if reason.contains("mystery")));
}

#[test]
fn transcription_usage_is_added_in_its_own_unit() {
    let tokens = TranscriptionUsage::Tokens {
        input_tokens: 1_000,
        output_tokens: 100,
        input_token_details: TokenDetails {
            audio_tokens: 1_000,
            ..TokenDetails::default()
        },
    };
    assert!(close(
        transcription_cost("gpt-4o-transcribe", &tokens).unwrap(),
        (1_000.0 * 6.0 + 100.0 * 10.0) / 1e6
    ));
    let minute = TranscriptionUsage::Duration { seconds: 60.0 };
    assert!(close(
        transcription_cost("whisper-1", &minute).unwrap(),
        0.006
    ));
    assert_eq!(
        transcription_cost("whisper-1", &tokens),
        None,
        "tokens for a per-minute model"
    );
    let mut meter = CostMeter::new("gpt-realtime", None);
    meter.add_transcription(&minute);
    assert!(matches!(meter.total(), Cost::Unknown { .. }));
}

#[test]
fn a_session_goes_live_reconnects_and_ends() {
    let lost = |reason: &str| SessionInput::ConnectionLost {
        reason: reason.into(),
    };
    let mut state = SessionState::Idle;
    for input in [
        SessionInput::Connect,
        SessionInput::Connected,
        lost("ice failed"),
        lost("timeout"),
    ] {
        state = state.next(input).unwrap();
    }
    assert_eq!(
        state,
        SessionState::Reconnecting {
            attempt: 2,
            reason: "timeout".into()
        }
    );
    state = state.next(SessionInput::Connected).unwrap();
    assert_eq!(state, SessionState::Live);
    state = state
        .next(SessionInput::End {
            reason: "candidate ended".into(),
        })
        .unwrap();
    assert!(state.is_final());
}

#[test]
fn impossible_transitions_are_refused_and_change_nothing() {
    let refused = [
        (SessionState::Idle, SessionInput::Connected),
        (
            SessionState::Idle,
            SessionInput::ConnectionLost { reason: "x".into() },
        ),
        (SessionState::Live, SessionInput::Connect),
        (
            SessionState::Ended {
                reason: "done".into(),
            },
            SessionInput::Connect,
        ),
        (
            SessionState::Failed {
                reason: "gone".into(),
            },
            SessionInput::Connected,
        ),
        (
            SessionState::Failed {
                reason: "gone".into(),
            },
            SessionInput::End { reason: "x".into() },
        ),
    ];
    for (from, input) in refused {
        let error = from.next(input.clone()).unwrap_err();
        assert_eq!((error.from, error.input), (from, input));
    }
    let failed = SessionState::Live
        .next(SessionInput::Fail {
            reason: "token revoked".into(),
        })
        .unwrap();
    assert_eq!(
        failed,
        SessionState::Failed {
            reason: "token revoked".into()
        }
    );
}

#[test]
fn states_serialise_for_the_ui_with_a_tag() {
    let json = serde_json::to_value(SessionState::Reconnecting {
        attempt: 3,
        reason: "ice".into(),
    })
    .unwrap();
    assert_eq!(
        json,
        serde_json::json!({"state": "reconnecting", "attempt": 3, "reason": "ice"})
    );
}

/// Usage numbers come from the network: counts at the edge of u64 never overflow, and a total
/// no interview could reach makes the cost unknown instead of a number the backend refuses.
#[test]
fn absurd_usage_never_overflows_and_makes_the_cost_unknown() {
    let huge = usage(u64::MAX, u64::MAX, u64::MAX, u64::MAX, u64::MAX);
    let cost = response_cost("gpt-realtime", &huge).unwrap();
    assert!(cost.is_finite() && cost > 0.0);
    let mut meter = CostMeter::new("gpt-realtime", None);
    meter.add_response(&usage(0, 1_000, 0, 0, 0));
    meter.add_response(&huge);
    assert!(
        matches!(meter.total(), Cost::Unknown { reason } if reason.contains("implausible")),
        "{:?}",
        meter.total()
    );
    let mut meter = CostMeter::new("gpt-realtime", Some("whisper-1"));
    meter.add_transcription(&TranscriptionUsage::Duration {
        seconds: f64::INFINITY,
    });
    assert!(matches!(meter.total(), Cost::Unknown { .. }));
}

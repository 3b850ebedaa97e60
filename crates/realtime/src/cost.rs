//! What a session costs, from the usage the server reports. One price table, keyed by model;
//! a model that is not in it makes the cost unknown, never zero.

use std::collections::BTreeMap;

use crate::event::{TokenDetails, TranscriptionUsage, Usage};
use crate::live::Usage as LiveUsage;

/// USD per one million tokens.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct TokenPrices {
    pub input: f64,
    pub cached_input: f64,
    pub output: f64,
}

/// Prices of a realtime (speech-to-speech) model, per modality.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct RealtimePrices {
    pub text: TokenPrices,
    pub audio: TokenPrices,
}

/// Prices of an input-transcription model.
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum TranscriptionPrices {
    /// Billed by tokens: text and audio input, text output (USD per 1M tokens).
    Tokens {
        text_input: f64,
        audio_input: f64,
        output: f64,
    },
    /// Billed by audio duration (USD per minute).
    PerMinute(f64),
}

const fn prices(input: f64, cached_input: f64, output: f64) -> TokenPrices {
    TokenPrices {
        input,
        cached_input,
        output,
    }
}

/// Realtime models, longest name first so a dated or `-mini` name finds its own row.
/// Source: docs/protocols.md §2 (OpenAI's published prices, 2026). Update here only.
pub const REALTIME_PRICES: &[(&str, RealtimePrices)] = &[
    (
        "gpt-realtime-mini",
        RealtimePrices {
            text: prices(0.60, 0.06, 2.40),
            audio: prices(10.00, 0.30, 20.00),
        },
    ),
    (
        "gpt-realtime",
        RealtimePrices {
            text: prices(4.00, 0.40, 16.00),
            audio: prices(32.00, 0.40, 64.00),
        },
    ),
    // Viva's own offline interviewer: it runs on the user's machine and costs nothing.
    (
        "viva-local",
        RealtimePrices {
            text: prices(0.0, 0.0, 0.0),
            audio: prices(0.0, 0.0, 0.0),
        },
    ),
];

/// Prices of a GPT-Live model: billed by time, per second, quoted per minute.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct LivePrices {
    /// USD per minute the model is active.
    pub active_per_minute: f64,
    /// USD per minute on standby (a session paused while idle).
    pub standby_per_minute: f64,
}

/// GPT-Live models (OpenAI's published prices, 2026). Update here only.
pub const LIVE_PRICES: &[(&str, LivePrices)] = &[
    (
        "gpt-live-1",
        LivePrices {
            active_per_minute: 0.05,
            standby_per_minute: 0.02,
        },
    ),
    (
        "gpt-live-1.1",
        LivePrices {
            active_per_minute: 0.05,
            standby_per_minute: 0.02,
        },
    ),
    // Viva's own offline interviewer speaking Live: it costs nothing.
    (
        "viva-local-live",
        LivePrices {
            active_per_minute: 0.0,
            standby_per_minute: 0.0,
        },
    ),
];

/// Cost of a Live session's running time so far for `model`, or `None` if it has no price:
/// active seconds at the active price and paused seconds at the standby price, or all
/// `seconds` as active when the split is not given.
pub fn live_cost(model: &str, usage: &LiveUsage) -> Option<f64> {
    let prices = lookup(LIVE_PRICES, model)?;
    let (active, paused) = match (usage.active_seconds, usage.paused_seconds) {
        (None, None) => (usage.seconds, 0.0),
        (active, paused) => (active.unwrap_or(0.0), paused.unwrap_or(0.0)),
    };
    Some((active * prices.active_per_minute + paused * prices.standby_per_minute) / 60.0)
}

/// Transcription models (OpenAI's published prices, 2026).
pub const TRANSCRIPTION_PRICES: &[(&str, TranscriptionPrices)] = &[
    (
        "gpt-4o-mini-transcribe",
        TranscriptionPrices::Tokens {
            text_input: 1.25,
            audio_input: 3.00,
            output: 5.00,
        },
    ),
    (
        "gpt-4o-transcribe",
        TranscriptionPrices::Tokens {
            text_input: 2.50,
            audio_input: 6.00,
            output: 10.00,
        },
    ),
    ("whisper-1", TranscriptionPrices::PerMinute(0.006)),
    // The local interviewer's offline Whisper.
    ("whisper-tiny.en", TranscriptionPrices::PerMinute(0.0)),
];

/// The row for `model`: an exact name, or a dated variant (`gpt-realtime-2025-08-28`).
fn lookup<'a, T>(table: &'a [(&str, T)], model: &str) -> Option<&'a T> {
    table
        .iter()
        .filter(|(name, _)| {
            model == *name
                || model.strip_prefix(name).is_some_and(|rest| {
                    rest.starts_with('-') && rest[1..].starts_with(|c: char| c.is_ascii_digit())
                })
        })
        .max_by_key(|(name, _)| name.len())
        .map(|(_, prices)| prices)
}

const PER_MILLION: f64 = 1_000_000.0;

/// Cost of one `response.done` usage for `model`, or `None` if the model has no price.
pub fn response_cost(model: &str, usage: &Usage) -> Option<f64> {
    let prices = lookup(REALTIME_PRICES, model)?;
    let input = usage.input_token_details;
    let (cached_text, cached_audio) = split_cached(&input);
    let text = (input.text_tokens.saturating_sub(cached_text)) as f64 * prices.text.input
        + cached_text as f64 * prices.text.cached_input
        + usage.output_token_details.text_tokens as f64 * prices.text.output;
    let audio = (input.audio_tokens.saturating_sub(cached_audio)) as f64 * prices.audio.input
        + cached_audio as f64 * prices.audio.cached_input
        + usage.output_token_details.audio_tokens as f64 * prices.audio.output;
    Some((text + audio) / PER_MILLION)
}

/// Cached input tokens per modality: as reported, or split in proportion to the input.
fn split_cached(input: &TokenDetails) -> (u64, u64) {
    if let Some(split) = input.cached_tokens_details {
        return (
            split.text_tokens.min(input.text_tokens),
            split.audio_tokens.min(input.audio_tokens),
        );
    }
    let total = input.text_tokens.saturating_add(input.audio_tokens);
    if total == 0 || input.cached_tokens == 0 {
        return (0, 0);
    }
    let cached = input.cached_tokens.min(total);
    let text = (cached as u128 * input.text_tokens as u128 / total as u128) as u64;
    (text, cached - text)
}

/// Cost of one input transcription for `model`, or `None` if it has no price.
pub fn transcription_cost(model: &str, usage: &TranscriptionUsage) -> Option<f64> {
    match (lookup(TRANSCRIPTION_PRICES, model)?, usage) {
        (
            TranscriptionPrices::Tokens {
                text_input,
                audio_input,
                output,
            },
            TranscriptionUsage::Tokens {
                input_tokens,
                output_tokens,
                input_token_details,
            },
        ) => {
            let audio = input_token_details.audio_tokens.min(*input_tokens);
            let text = input_tokens - audio;
            Some(
                (text as f64 * text_input
                    + audio as f64 * audio_input
                    + *output_tokens as f64 * output)
                    / PER_MILLION,
            )
        }
        (TranscriptionPrices::PerMinute(per_minute), TranscriptionUsage::Duration { seconds }) => {
            Some(seconds.max(0.0) / 60.0 * per_minute)
        }
        // Usage in a unit the model is not billed in: we cannot tell what it cost.
        _ => None,
    }
}

/// More than any one interview could cost; a larger total is a bad usage report.
const MAX_PLAUSIBLE_USD: f64 = 1_000_000.0;

/// A session's running cost.
#[derive(Debug, Clone, PartialEq)]
pub struct CostMeter {
    realtime_model: String,
    transcription_model: Option<String>,
    usd: f64,
    /// Each GPT-Live session's cost by its latest running total (sessions are numbered by
    /// the caller); replaced, never added, as totals arrive.
    live_sessions: BTreeMap<u32, f64>,
    unknown_because: Option<String>,
}

/// The total so far.
#[derive(Debug, Clone, PartialEq)]
pub enum Cost {
    Known {
        usd: f64,
    },
    /// Some usage could not be priced; the reason names the model.
    Unknown {
        reason: String,
    },
}

impl CostMeter {
    pub fn new(realtime_model: &str, transcription_model: Option<&str>) -> Self {
        Self {
            realtime_model: realtime_model.to_owned(),
            transcription_model: transcription_model.map(str::to_owned),
            usd: 0.0,
            live_sessions: BTreeMap::new(),
            unknown_because: None,
        }
    }

    pub fn add_response(&mut self, usage: &Usage) {
        match response_cost(&self.realtime_model, usage) {
            Some(usd) => self.add(usd),
            None => self.mark_unknown(format!("no price for model `{}`", self.realtime_model)),
        }
    }

    pub fn add_transcription(&mut self, usage: &TranscriptionUsage) {
        let model = self.transcription_model.clone().unwrap_or_default();
        match transcription_cost(&model, usage) {
            Some(usd) => self.add(usd),
            None => self.mark_unknown(format!("no price for transcription model `{model}`")),
        }
    }

    /// Session `session`'s running time so far (GPT-Live reports a running total).
    pub fn set_session_time(&mut self, session: u32, usage: &LiveUsage) {
        match live_cost(&self.realtime_model, usage) {
            Some(usd) if usd.is_finite() && (0.0..=MAX_PLAUSIBLE_USD).contains(&usd) => {
                self.live_sessions.insert(session, usd);
            }
            Some(usd) => {
                self.mark_unknown(format!("the reported usage is implausible (${usd})"));
            }
            None => self.mark_unknown(format!("no price for model `{}`", self.realtime_model)),
        }
    }

    /// Usage comes from the network: a count no real session reaches (an infinite or
    /// negative cost) makes the total unknown rather than a number the backend would refuse.
    fn add(&mut self, usd: f64) {
        let total = self.usd + usd;
        if usd.is_finite() && usd >= 0.0 && total.is_finite() && total <= MAX_PLAUSIBLE_USD {
            self.usd = total;
        } else {
            self.mark_unknown(format!("the reported usage is implausible (${usd})"));
        }
    }

    fn mark_unknown(&mut self, reason: String) {
        self.unknown_because.get_or_insert(reason);
    }

    pub fn total(&self) -> Cost {
        match &self.unknown_because {
            Some(reason) => Cost::Unknown {
                reason: reason.clone(),
            },
            None => Cost::Known {
                usd: self.usd + self.live_sessions.values().sum::<f64>(),
            },
        }
    }
}

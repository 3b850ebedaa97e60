//! Spoken or typed answers: the one place a session decides whether the microphone is opened.
//! The backend's grant has the last word — `mode: "text"` (its per-tenant switch, or a
//! percentage rollout of voice that left this user out) means the microphone is never opened,
//! whatever the candidate or the caller asked for; typed answers travel over the same call.
//! A grant renewed during the call (a reconnect, a new secret, a re-session) that says text
//! closes a microphone in use; one that says voice never opens the microphone mid-interview.

use serde::Serialize;
use viva_rtc::AnswerMode;

use crate::media::Microphone;

/// How the candidate answers in a session, and why: what the room shows.
#[cfg_attr(feature = "specta", derive(specta::Type))]
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(tag = "mode", rename_all = "snake_case")]
pub enum Answering {
    /// Spoken, into the microphone.
    Voice,
    /// Typed; the microphone is not opened.
    Text { because: TextBecause },
}

/// Why answers are typed.
#[cfg_attr(feature = "specta", derive(specta::Type))]
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum TextBecause {
    /// The backend's grant said `mode: "text"`: the organisation has turned spoken answers off
    /// for now (for everyone, or for this user while voice is being rolled out).
    Organisation,
    /// The candidate asked for typed answers (in pre-flight, or having no microphone).
    Chosen,
}

impl Answering {
    /// The mode as the grant names it.
    #[must_use]
    pub fn mode(self) -> AnswerMode {
        match self {
            Self::Voice => AnswerMode::Voice,
            Self::Text { .. } => AnswerMode::Text,
        }
    }
}

/// Decides how a session's answers are given, from the grant's `mode` and the microphone the
/// caller offers, and returns the microphone to open: for a text grant none at all (the one
/// offered is dropped unopened), else the one offered.
#[must_use]
pub fn decide(granted: AnswerMode, offered: Microphone) -> (Answering, Microphone) {
    match (granted, offered) {
        (AnswerMode::Text, _) => (
            Answering::Text {
                because: TextBecause::Organisation,
            },
            Microphone::None,
        ),
        (AnswerMode::Voice, Microphone::None) => (
            Answering::Text {
                because: TextBecause::Chosen,
            },
            Microphone::None,
        ),
        (AnswerMode::Voice, microphone) => (Answering::Voice, microphone),
    }
}

/// What a renewed grant's `mode` changes during a session: from voice to text, answers become
/// typed (the microphone is to be closed); anything else leaves them as they are — in
/// particular a text session is never switched to the microphone unasked.
#[must_use]
pub fn renewed(current: Answering, granted: AnswerMode) -> Option<Answering> {
    match (current, granted) {
        (Answering::Voice, AnswerMode::Text) => Some(Answering::Text {
            because: TextBecause::Organisation,
        }),
        _ => None,
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]

    use viva_audio::{CaptureSettings, EncoderSettings};

    use super::*;

    fn opened(microphone: &Microphone) -> &'static str {
        match microphone {
            Microphone::Device(_) => "device",
            Microphone::Paced { .. } => "paced",
            Microphone::None => "none",
        }
    }

    #[tokio::test]
    async fn a_text_grant_opens_no_microphone_whatever_was_offered() {
        let organisation = Answering::Text {
            because: TextBecause::Organisation,
        };
        let (answering, microphone) = decide(
            AnswerMode::Text,
            Microphone::Device(CaptureSettings::default()),
        );
        assert_eq!((answering, opened(&microphone)), (organisation, "none"));
        let (paced, _say) = Microphone::paced(EncoderSettings::default()).unwrap();
        let (answering, microphone) = decide(AnswerMode::Text, paced);
        assert_eq!((answering, opened(&microphone)), (organisation, "none"));
        // The candidate chose text too: the organisation's reason is the one to show.
        let (answering, microphone) = decide(AnswerMode::Text, Microphone::None);
        assert_eq!((answering, opened(&microphone)), (organisation, "none"));
    }

    #[tokio::test]
    async fn a_voice_grant_opens_what_was_offered_and_typed_answers_stay_the_candidates_choice() {
        let (answering, microphone) = decide(
            AnswerMode::Voice,
            Microphone::Device(CaptureSettings::default()),
        );
        assert_eq!(
            (answering, opened(&microphone)),
            (Answering::Voice, "device")
        );
        let (paced, _say) = Microphone::paced(EncoderSettings::default()).unwrap();
        let (answering, microphone) = decide(AnswerMode::Voice, paced);
        assert_eq!(
            (answering, opened(&microphone)),
            (Answering::Voice, "paced")
        );
        let (answering, microphone) = decide(AnswerMode::Voice, Microphone::None);
        assert_eq!(
            (answering, opened(&microphone)),
            (
                Answering::Text {
                    because: TextBecause::Chosen
                },
                "none"
            )
        );
        assert_eq!(answering.mode(), AnswerMode::Text);
    }

    #[test]
    fn a_renewed_grant_can_turn_voice_off_but_never_turns_the_microphone_on() {
        let organisation = Answering::Text {
            because: TextBecause::Organisation,
        };
        let chosen = Answering::Text {
            because: TextBecause::Chosen,
        };
        assert_eq!(
            renewed(Answering::Voice, AnswerMode::Text),
            Some(organisation)
        );
        assert_eq!(renewed(Answering::Voice, AnswerMode::Voice), None);
        for typed in [organisation, chosen] {
            assert_eq!(renewed(typed, AnswerMode::Voice), None, "{typed:?}");
            assert_eq!(renewed(typed, AnswerMode::Text), None, "{typed:?}");
        }
    }
}

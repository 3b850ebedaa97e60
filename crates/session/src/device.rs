//! Device news in a candidate's words: what the live session tells its owner when a microphone
//! or speakers change, go missing or fall silent, so every front end (the app's room, the
//! `viva` command) says the same thing and none has to interpret audio events itself.

use viva_audio::{AudioEvent, Direction, OpenReason};

/// A device change or trouble worth showing, in words.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DeviceNotice {
    pub message: String,
    /// The microphone cannot be used at all: typed answers are the way on.
    pub microphone_lost: bool,
}

impl DeviceNotice {
    /// What to tell the candidate of `event`; `None` for what they need not hear of: levels,
    /// the first device opening as planned, and glitches (overflows, underruns) that only logs
    /// care about.
    #[must_use]
    pub fn of(event: &AudioEvent) -> Option<Self> {
        let what = |direction: &Direction| match direction {
            Direction::Input => "microphone",
            Direction::Output => "speakers",
        };
        let notice = |message: String| Self {
            message,
            microphone_lost: false,
        };
        Some(match event {
            AudioEvent::NoSignal { seconds } => notice(format!(
                "Your microphone has picked up nothing for {seconds} s. Is it muted?"
            )),
            AudioEvent::SignalRestored => notice("Your microphone hears you again.".into()),
            AudioEvent::DeviceLost {
                direction, reason, ..
            } => notice(format!(
                "The {} stopped working ({reason}); switching to another.",
                what(direction)
            )),
            AudioEvent::DeviceUnavailable { direction, message } => Self {
                message: format!("No {} can be used: {message}", what(direction)),
                microphone_lost: *direction == Direction::Input,
            },
            AudioEvent::DeviceOpened { device, reason } => {
                if *reason == OpenReason::Started {
                    return None;
                }
                notice(format!("Now using {}.", device.name))
            }
            AudioEvent::Level { .. }
            | AudioEvent::Overflow { .. }
            | AudioEvent::Underrun { .. } => return None,
        })
    }
}

#[cfg(test)]
mod tests {
    use viva_audio::{DeviceInfo, Level};

    use super::*;

    fn device(name: &str) -> DeviceInfo {
        DeviceInfo {
            id: format!("test:{name}"),
            name: name.into(),
            direction: Direction::Input,
            is_default: false,
            is_monitor: false,
        }
    }

    #[test]
    fn only_a_missing_microphone_takes_the_microphone_away() {
        let mic = DeviceNotice::of(&AudioEvent::DeviceUnavailable {
            direction: Direction::Input,
            message: "nothing plugged in".into(),
        });
        assert_eq!(
            mic,
            Some(DeviceNotice {
                message: "No microphone can be used: nothing plugged in".into(),
                microphone_lost: true,
            })
        );
        let speakers = DeviceNotice::of(&AudioEvent::DeviceUnavailable {
            direction: Direction::Output,
            message: "nothing plugged in".into(),
        });
        assert_eq!(speakers.map(|n| n.microphone_lost), Some(false));
    }

    #[test]
    fn a_switch_names_the_new_device_but_the_first_opening_says_nothing() {
        let switched = DeviceNotice::of(&AudioEvent::DeviceOpened {
            device: device("USB Headset"),
            reason: OpenReason::Fallback,
        });
        assert_eq!(
            switched.map(|n| n.message),
            Some("Now using USB Headset.".into())
        );
        let first = DeviceNotice::of(&AudioEvent::DeviceOpened {
            device: device("Built-in"),
            reason: OpenReason::Started,
        });
        assert_eq!(first, None);
    }

    #[test]
    fn levels_and_glitches_are_not_news() {
        for event in [
            AudioEvent::Level {
                direction: Direction::Input,
                level: Level::SILENT,
            },
            AudioEvent::Overflow { dropped_samples: 5 },
            AudioEvent::Underrun { total: 1 },
        ] {
            assert_eq!(DeviceNotice::of(&event), None);
        }
        let silent = DeviceNotice::of(&AudioEvent::NoSignal { seconds: 5 });
        assert!(silent.is_some_and(|n| n.message.contains("5 s") && !n.microphone_lost));
    }
}

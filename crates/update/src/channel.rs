//! Release channels: everyone is on stable; beta gets releases first.

use serde::{Deserialize, Serialize};

/// The setting holding the chosen channel's name.
pub const CHANNEL_KEY: &str = "updates.channel";

/// A release channel.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "specta", derive(specta::Type))]
#[serde(rename_all = "snake_case")]
pub enum UpdateChannel {
    #[default]
    Stable,
    Beta,
}

impl UpdateChannel {
    /// The name in settings, manifest paths and the release tooling's arguments.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Stable => "stable",
            Self::Beta => "beta",
        }
    }

    /// The channel a stored setting names. Anything but `beta` — no setting, an unreadable
    /// one — is stable: a user who never chose is never moved onto pre-releases.
    pub fn from_setting(setting: Option<&str>) -> Self {
        match setting {
            Some("beta") => Self::Beta,
            _ => Self::Stable,
        }
    }
}

impl std::fmt::Display for UpdateChannel {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

/// A name that is not a channel.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("`{0}` is not a channel (stable or beta)")]
pub struct UnknownChannel(pub String);

impl std::str::FromStr for UpdateChannel {
    type Err = UnknownChannel;

    fn from_str(text: &str) -> Result<Self, Self::Err> {
        match text {
            "stable" => Ok(Self::Stable),
            "beta" => Ok(Self::Beta),
            other => Err(UnknownChannel(other.to_owned())),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn channels_round_trip_through_their_names_and_unknown_ones_are_refused() {
        for channel in [UpdateChannel::Stable, UpdateChannel::Beta] {
            assert_eq!(channel.to_string().parse(), Ok(channel));
            assert_eq!(
                serde_json::to_string(&channel).ok(),
                Some(format!("\"{channel}\""))
            );
        }
        assert_eq!(
            "nightly".parse::<UpdateChannel>(),
            Err(UnknownChannel("nightly".into()))
        );
        assert_eq!(
            "Beta".parse::<UpdateChannel>(),
            Err(UnknownChannel("Beta".into()))
        );
    }

    #[test]
    fn only_an_explicit_beta_setting_leaves_stable() {
        assert_eq!(
            UpdateChannel::from_setting(Some("beta")),
            UpdateChannel::Beta
        );
        assert_eq!(
            UpdateChannel::from_setting(Some("stable")),
            UpdateChannel::Stable
        );
        assert_eq!(
            UpdateChannel::from_setting(Some("garbage")),
            UpdateChannel::Stable
        );
        assert_eq!(UpdateChannel::from_setting(None), UpdateChannel::Stable);
    }
}

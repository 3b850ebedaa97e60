//! Audio devices: which sound system we talk to, listing inputs and outputs with stable ids and
//! human names, and opening the chosen one with a configuration we can use.

use std::str::FromStr;

use cpal::traits::{DeviceTrait, HostTrait};
use serde::{Deserialize, Serialize};

use crate::AudioError;

/// Whether a device records or plays.
#[cfg_attr(feature = "specta", derive(specta::Type))]
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Direction {
    Input,
    Output,
}

/// A device as the user sees it in a picker.
#[cfg_attr(feature = "specta", derive(specta::Type))]
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct DeviceInfo {
    /// Stable across runs and reconnects (`pulseaudio:alsa_input.usb-…`, `alsa:default`): store
    /// this to remember the user's choice.
    pub id: String,
    /// What the sound system calls it ("Blue Yeti Analog Stereo").
    pub name: String,
    pub direction: Direction,
    /// The system's current default for its direction.
    pub is_default: bool,
    /// An input that records what an output plays (a PulseAudio monitor), not a microphone.
    pub is_monitor: bool,
}

/// Which device to use.
#[derive(Debug, Clone, Default, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case", tag = "kind", content = "id")]
pub enum DeviceSelection {
    /// Whatever the system's default is, following it when it changes.
    #[default]
    SystemDefault,
    /// This device; while it is gone, the system default stands in.
    Id(String),
}

/// Why the last attempt to reach PulseAudio failed, while ALSA stands in for it.
static PULSE_TROUBLE: std::sync::Mutex<Option<String>> = std::sync::Mutex::new(None);

/// How many times a PulseAudio server whose socket exists is asked before ALSA stands in: a
/// server busy with another client's module load can drop one connection, and falling back to
/// ALSA for that would hide every named device from the user.
#[cfg(target_os = "linux")]
const PULSE_ATTEMPTS: u32 = 3;

/// The sound system: PulseAudio (or PipeWire's PulseAudio server) when one answers, because it
/// names real devices and lets us pick one; plain ALSA otherwise. `VIVA_AUDIO_HOST=alsa` forces
/// ALSA, for systems where the PulseAudio client misbehaves.
pub(crate) fn host() -> cpal::Host {
    #[cfg(target_os = "linux")]
    {
        let forced_alsa = std::env::var("VIVA_AUDIO_HOST").as_deref() == Ok("alsa");
        let pulse_socket = cpal::available_hosts().contains(&cpal::HostId::PulseAudio);
        if !forced_alsa && pulse_socket {
            let mut last_error = String::new();
            for attempt in 0..PULSE_ATTEMPTS {
                if attempt > 0 {
                    std::thread::sleep(std::time::Duration::from_millis(50 << attempt));
                }
                match cpal::host_from_id(cpal::HostId::PulseAudio) {
                    Ok(host) => {
                        set_pulse_trouble(None);
                        return host;
                    }
                    Err(error) => last_error = error.to_string(),
                }
            }
            tracing::warn!(
                event = "sound_system_fallback",
                error = %last_error,
                "PulseAudio did not answer; using ALSA"
            );
            set_pulse_trouble(Some(last_error));
        }
        if let Ok(host) = cpal::host_from_id(cpal::HostId::Alsa) {
            return host;
        }
    }
    cpal::default_host()
}

fn set_pulse_trouble(reason: Option<String>) {
    if let Ok(mut slot) = PULSE_TROUBLE.lock() {
        *slot = reason;
    }
}

/// Why Viva is using plain ALSA although a PulseAudio server is configured (`None` when
/// PulseAudio answered last time, or none is configured). For diagnostics screens and logs.
#[must_use]
pub fn sound_system_trouble() -> Option<String> {
    PULSE_TROUBLE.lock().ok().and_then(|slot| slot.clone())
}

pub(crate) fn is_pulse(host: &cpal::Host) -> bool {
    #[cfg(target_os = "linux")]
    {
        host.id() == cpal::HostId::PulseAudio
    }
    #[cfg(not(target_os = "linux"))]
    {
        let _ = host;
        false
    }
}

fn id_of(device: &cpal::Device) -> Option<String> {
    device.id().ok().map(|id| id.to_string())
}

fn default_id(host: &cpal::Host, direction: Direction) -> Option<String> {
    match direction {
        Direction::Input => host.default_input_device(),
        Direction::Output => host.default_output_device(),
    }
    .as_ref()
    .and_then(id_of)
}

fn default_config(
    device: &cpal::Device,
    direction: Direction,
) -> Result<cpal::SupportedStreamConfig, cpal::Error> {
    match direction {
        Direction::Input => device.default_input_config(),
        Direction::Output => device.default_output_config(),
    }
}

/// ALSA pseudo-devices that open fine but only record silence or discard what they play.
fn is_pseudo(id: &str) -> bool {
    matches!(id, "alsa:null" | "alsa:jack" | "alsa:oss")
}

fn describe(
    device: &cpal::Device,
    id: String,
    direction: Direction,
    default: Option<&str>,
) -> DeviceInfo {
    let name = device
        .description()
        .map(|d| d.name().to_owned())
        .unwrap_or_else(|_| id.clone());
    DeviceInfo {
        is_default: default == Some(id.as_str()),
        is_monitor: id.starts_with("pulseaudio:") && id.ends_with(".monitor"),
        id,
        name,
        direction,
    }
}

/// The devices of one direction the user can choose from, default first.
pub(crate) fn list(host: &cpal::Host, direction: Direction) -> Vec<DeviceInfo> {
    let default = default_id(host, direction);
    let devices = match direction {
        Direction::Input => host.input_devices().map(|d| d.collect::<Vec<_>>()),
        Direction::Output => host.output_devices().map(|d| d.collect::<Vec<_>>()),
    };
    let pulse = is_pulse(host);
    let mut infos: Vec<DeviceInfo> = devices
        .unwrap_or_default()
        .into_iter()
        .filter_map(|device| {
            let id = id_of(&device)?;
            if is_pseudo(&id) {
                return None;
            }
            // ALSA lists every plugin it knows; only those that open with a config are devices.
            // PulseAudio lists only real sinks and sources, so skip the slower check there.
            if !pulse && default_config(&device, direction).is_err() {
                return None;
            }
            Some(describe(&device, id, direction, default.as_deref()))
        })
        .collect();
    infos.sort_by_key(|d| (!d.is_default, d.is_monitor, d.name.to_lowercase()));
    infos
}

/// Microphones and other inputs, default first. Empty when the sound system is not running.
#[must_use]
pub fn input_devices() -> Vec<DeviceInfo> {
    list(&host(), Direction::Input)
}

/// Speakers, headphones and other outputs, default first.
#[must_use]
pub fn output_devices() -> Vec<DeviceInfo> {
    list(&host(), Direction::Output)
}

/// A device ready to build a stream on.
pub(crate) struct Opened {
    pub device: cpal::Device,
    pub info: DeviceInfo,
    pub config: cpal::SupportedStreamConfig,
}

fn missing(direction: Direction, detail: String) -> AudioError {
    match direction {
        Direction::Input => AudioError::NoInputDevice { detail },
        Direction::Output => AudioError::NoOutputDevice { detail },
    }
}

/// Finds the selected device and reads its preferred configuration. On Linux the default device
/// exists even with nothing behind it (ALSA `default` with no sound server); the failure shows
/// when its configuration is read, so that is where "no device" is decided.
pub(crate) fn open(
    host: &cpal::Host,
    direction: Direction,
    selection: &DeviceSelection,
) -> Result<Opened, AudioError> {
    let default = default_id(host, direction);
    let device = match selection {
        DeviceSelection::SystemDefault => match direction {
            Direction::Input => host.default_input_device(),
            Direction::Output => host.default_output_device(),
        }
        .ok_or_else(|| {
            missing(
                direction,
                "the sound system reports no default device".into(),
            )
        })?,
        DeviceSelection::Id(id) => cpal::DeviceId::from_str(id)
            .ok()
            .and_then(|parsed| host.device_by_id(&parsed))
            .ok_or_else(|| AudioError::DeviceNotFound { id: id.clone() })?,
    };
    let id = id_of(&device).unwrap_or_else(|| "unknown".into());
    if is_pseudo(&id) {
        return Err(AudioError::DeviceOpen {
            id,
            detail: "it is a placeholder that carries no sound".into(),
        });
    }
    let config = default_config(&device, direction).map_err(|error| match selection {
        DeviceSelection::SystemDefault => missing(direction, error.to_string()),
        DeviceSelection::Id(_) => AudioError::DeviceOpen {
            id: id.clone(),
            detail: error.to_string(),
        },
    })?;
    let info = describe(&device, id, direction, default.as_deref());
    Ok(Opened {
        device,
        info,
        config,
    })
}

/// What the device watch decided.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum WatchDecision {
    /// All is as it should be.
    Keep,
    /// The device in use has gone.
    Lost,
    /// The chosen device is back while a stand-in is in use.
    Restore,
    /// Following the system default, and the default has changed.
    DefaultChanged,
}

/// Decides, from one look at the device list, whether the stream must move. Pure, so the rules
/// are tested without devices.
pub(crate) fn watch(
    selection: &DeviceSelection,
    current: &str,
    listed: &[String],
    default: Option<&str>,
) -> WatchDecision {
    let present = |id: &str| listed.iter().any(|l| l == id);
    match selection {
        DeviceSelection::Id(chosen) if chosen != current && present(chosen) => {
            WatchDecision::Restore
        }
        _ if !present(current) => WatchDecision::Lost,
        DeviceSelection::SystemDefault if default.is_some_and(|d| d != current) => {
            WatchDecision::DefaultChanged
        }
        _ => WatchDecision::Keep,
    }
}

/// The ids currently listed for a direction (cheap on PulseAudio; not used on ALSA, where
/// listing opens every plugin and the stream's own errors report a lost device).
pub(crate) fn listed_ids(
    host: &cpal::Host,
    direction: Direction,
) -> Option<(Vec<String>, Option<String>)> {
    let devices = match direction {
        Direction::Input => host.input_devices().ok()?.collect::<Vec<_>>(),
        Direction::Output => host.output_devices().ok()?.collect::<Vec<_>>(),
    };
    Some((
        devices.iter().filter_map(id_of).collect(),
        default_id(host, direction),
    ))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ids(list: &[&str]) -> Vec<String> {
        list.iter().map(|s| (*s).to_owned()).collect()
    }

    #[test]
    fn a_chosen_device_that_disappears_is_lost() {
        let chosen = DeviceSelection::Id("p:usb".into());
        assert_eq!(
            watch(
                &chosen,
                "p:usb",
                &ids(&["p:usb", "p:builtin"]),
                Some("p:builtin")
            ),
            WatchDecision::Keep
        );
        assert_eq!(
            watch(&chosen, "p:usb", &ids(&["p:builtin"]), Some("p:builtin")),
            WatchDecision::Lost
        );
    }

    #[test]
    fn the_chosen_device_returning_replaces_the_stand_in() {
        let chosen = DeviceSelection::Id("p:usb".into());
        assert_eq!(
            watch(
                &chosen,
                "p:builtin",
                &ids(&["p:builtin"]),
                Some("p:builtin")
            ),
            WatchDecision::Keep
        );
        assert_eq!(
            watch(
                &chosen,
                "p:builtin",
                &ids(&["p:builtin", "p:usb"]),
                Some("p:builtin")
            ),
            WatchDecision::Restore
        );
    }

    #[test]
    fn following_the_default_moves_when_it_changes() {
        let default = DeviceSelection::SystemDefault;
        assert_eq!(
            watch(&default, "p:a", &ids(&["p:a", "p:b"]), Some("p:a")),
            WatchDecision::Keep
        );
        assert_eq!(
            watch(&default, "p:a", &ids(&["p:a", "p:b"]), Some("p:b")),
            WatchDecision::DefaultChanged
        );
        assert_eq!(
            watch(&default, "p:a", &ids(&["p:b"]), Some("p:b")),
            WatchDecision::Lost
        );
    }

    #[test]
    fn selection_round_trips_through_json() {
        let chosen = DeviceSelection::Id("pulseaudio:vmic.monitor".into());
        let json = serde_json::to_string(&chosen).unwrap();
        assert_eq!(json, r#"{"kind":"id","id":"pulseaudio:vmic.monitor"}"#);
        assert_eq!(
            serde_json::from_str::<DeviceSelection>(&json).unwrap(),
            chosen
        );
    }
}

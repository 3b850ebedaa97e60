//! Device listing, selection and loss against the harness's PulseAudio: a second null sink is
//! the "USB microphone" that gets unplugged mid-capture.

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

mod common;

use std::process::{Child, Command, Stdio};
use std::time::Duration;

use common::*;
use viva_audio::{
    AudioEvent, Capture, CaptureSettings, DeviceSelection, OpenReason, input_devices,
    output_devices,
};

/// A null sink standing in for a removable microphone; unloaded on drop.
struct Removable {
    name: String,
    module: Option<String>,
    keepalive: Option<Child>,
}

impl Removable {
    fn plug(name: &str) -> Self {
        let mut device = Self {
            name: name.to_owned(),
            module: None,
            keepalive: None,
        };
        device.replug();
        device
    }

    fn monitor_id(&self) -> String {
        format!("pulseaudio:{}.monitor", self.name)
    }

    fn replug(&mut self) {
        let out = Command::new("pactl")
            .args(["load-module", "module-null-sink"])
            .arg(format!("sink_name={}", self.name))
            .arg("rate=48000")
            .arg(format!("sink_properties=device.description={}", self.name))
            .output()
            .unwrap();
        assert!(out.status.success(), "pactl load-module failed");
        self.module = Some(String::from_utf8_lossy(&out.stdout).trim().to_owned());
        // Like the harness's own sink: a quiet stream keeps it ticking in small blocks.
        self.keepalive = Some(
            Command::new("pacat")
                .args([
                    "-p",
                    "-d",
                    &self.name,
                    "--latency-msec=20",
                    "--raw",
                    "--format=s16le",
                ])
                .args(["--rate=48000", "--channels=1", "/dev/zero"])
                .stdout(Stdio::null())
                .stderr(Stdio::null())
                .spawn()
                .unwrap(),
        );
    }

    fn unplug(&mut self) {
        if let Some(mut keepalive) = self.keepalive.take() {
            let _ = keepalive.kill();
            let _ = keepalive.wait();
        }
        if let Some(module) = self.module.take() {
            let status = Command::new("pactl")
                .args(["unload-module", &module])
                .status()
                .unwrap();
            assert!(status.success());
        }
    }
}

impl Drop for Removable {
    fn drop(&mut self) {
        self.unplug();
    }
}

#[test]
fn devices_are_listed_with_names_and_the_default_marked() {
    require_pulse();
    let usb = Removable::plug(&format!("viva_list_{}", std::process::id()));
    let inputs = input_devices();
    let default_mic = format!("pulseaudio:{}.monitor", mic_sink());
    assert_eq!(
        inputs.first().map(|d| d.id.as_str()),
        Some(default_mic.as_str()),
        "{inputs:?}\n{}",
        sound_server_report()
    );
    assert!(inputs[0].is_default && inputs[0].is_monitor);
    assert!(
        inputs[0].name.contains("Viva-virtual-microphone"),
        "{:?}",
        inputs[0].name
    );
    let plugged = inputs
        .iter()
        .find(|d| d.id == usb.monitor_id())
        .expect("the plugged device is listed");
    assert!(!plugged.is_default);
    assert!(inputs.iter().all(|d| !d.id.ends_with(":null")));
    let outputs = output_devices();
    let speakers = std::env::var("VIVA_E2E_SPEAKER_SINK").unwrap_or_else(|_| "vspeakers".into());
    assert!(
        outputs
            .iter()
            .any(|d| d.id == format!("pulseaudio:{speakers}") && d.is_default),
        "{outputs:?}\n{}",
        sound_server_report()
    );
    assert!(
        outputs
            .iter()
            .any(|d| d.id == format!("pulseaudio:{}", mic_sink()) && !d.is_default),
        "{outputs:?}"
    );
}

#[test]
fn a_missing_chosen_device_is_stood_in_for_by_the_default() {
    require_pulse();
    let settings = CaptureSettings {
        device: DeviceSelection::Id("pulseaudio:no-such-microphone".into()),
        ..CaptureSettings::default()
    };
    let (capture, _streams) = Capture::start(settings).unwrap();
    let device = capture.stats().device.unwrap();
    assert!(device.is_default, "fell back to {device:?}");
}

#[test]
fn unplugging_the_microphone_falls_back_within_two_seconds_and_replugging_restores_it() {
    require_pulse();
    let dir = scratch("unplug");
    let wav = say(
        &dir,
        "fallback",
        "Sorry, my headset died. Can you still hear me?",
    );
    let mut usb = Removable::plug(&format!("viva_usb_{}", std::process::id()));
    let settings = CaptureSettings {
        device: DeviceSelection::Id(usb.monitor_id()),
        ..CaptureSettings::default()
    };
    let (capture, mut streams) = Capture::start(settings).unwrap();
    assert_eq!(
        capture.stats().device.unwrap().id,
        usb.monitor_id(),
        "{}",
        sound_server_report()
    );

    let mut steps = Steps::default();
    let (frames, events) = record(
        &mut streams,
        Duration::from_secs(10),
        |elapsed, frames, events| {
            if steps.unplugged.is_none() && elapsed >= Duration::from_secs(1) {
                usb.unplug();
                steps.unplugged = Some((elapsed, events.len()));
            }
            if steps.played.is_none() && elapsed >= Duration::from_millis(3_500) {
                steps.played = Some((play_into(&mic_sink(), &wav).0, frames.len()));
            }
            if steps.replugged.is_none() && elapsed >= Duration::from_secs(6) {
                usb.replug();
                steps.replugged = Some(events.len());
            }
            if steps.fallback_at.is_none() && steps.unplugged.is_some() {
                let fell_back = events.iter().any(|e| {
                    matches!(
                        e,
                        AudioEvent::DeviceOpened {
                            reason: OpenReason::Fallback,
                            ..
                        }
                    )
                });
                if fell_back {
                    steps.fallback_at = Some(elapsed);
                }
            }
        },
    );
    let (unplugged_at, events_before) = steps.unplugged.unwrap();
    let (mut player, frames_before_speech) = steps.played.unwrap();
    player.wait().unwrap();

    // A typed event names the lost device, then the default stands in, within 2 s.
    let after: Vec<_> = events[events_before..]
        .iter()
        .filter(|e| !matches!(e, AudioEvent::Level { .. }))
        .collect();
    assert!(
        matches!(after.first(), Some(AudioEvent::DeviceLost { device_id, .. }) if *device_id == usb.monitor_id()),
        "{after:?}"
    );
    let fallback = steps.fallback_at.expect("a fallback device was opened");
    assert!(
        fallback - unplugged_at <= Duration::from_secs(2),
        "fell back after {:?}",
        fallback - unplugged_at
    );
    assert!(after.iter().any(|e| matches!(
        e,
        AudioEvent::DeviceOpened { device, reason: OpenReason::Fallback } if device.is_default
    )));

    // The session never stopped: frames kept their pace and numbering, and speech into the
    // default microphone was captured on the stand-in.
    assert!(
        (485..=512).contains(&frames.len()),
        "{} frames in 10 s",
        frames.len()
    );
    assert!(
        frames
            .windows(2)
            .all(|w| w[1].sequence == w[0].sequence + 1)
    );
    let speech = envelope(&decode(&frames[frames_before_speech..]), 48_000, 20);
    assert!(
        onset(&speech, -30.0).is_some(),
        "no speech captured after the fallback"
    );

    // Plugged back in: capture returns to the chosen device (a new null sink takes up to 2 s
    // to start streaming).
    let restored = events[steps.replugged.unwrap()..].iter().any(|e| matches!(
        e,
        AudioEvent::DeviceOpened { device, reason: OpenReason::Restored } if device.id == usb.monitor_id()
    ));
    assert!(restored, "{:?}", &events[steps.replugged.unwrap()..]);
    assert_eq!(
        capture.stats().device.unwrap().id,
        usb.monitor_id(),
        "{}",
        sound_server_report()
    );
}

#[test]
fn choosing_another_microphone_mid_capture_switches_without_a_gap() {
    require_pulse();
    let usb = Removable::plug(&format!("viva_pick_{}", std::process::id()));
    let (capture, mut streams) = Capture::start(CaptureSettings::default()).unwrap();
    assert!(capture.stats().device.unwrap().is_default);
    let mut selected = false;
    let (frames, events) = record(&mut streams, Duration::from_secs(5), |elapsed, _, _| {
        if !selected && elapsed >= Duration::from_millis(500) {
            capture.select(DeviceSelection::Id(usb.monitor_id()));
            selected = true;
        }
    });
    let switched = events.iter().any(|e| {
        matches!(e, AudioEvent::DeviceOpened { device, reason: OpenReason::Selected } if device.id == usb.monitor_id())
    });
    assert!(switched, "{events:?}");
    assert_eq!(
        capture.stats().device.unwrap().id,
        usb.monitor_id(),
        "{}",
        sound_server_report()
    );
    // The old microphone kept recording until the new one ran: no lost device, no gap.
    assert!(
        !events
            .iter()
            .any(|e| matches!(e, AudioEvent::DeviceLost { .. }))
    );
    assert!(
        (240..=262).contains(&frames.len()),
        "{} frames in 5 s",
        frames.len()
    );
    assert!(
        frames
            .windows(2)
            .all(|w| w[1].sequence == w[0].sequence + 1)
    );
}

#[derive(Default)]
struct Steps {
    unplugged: Option<(Duration, usize)>,
    fallback_at: Option<Duration>,
    played: Option<(Child, usize)>,
    replugged: Option<usize>,
}

#[test]
fn without_a_sound_server_there_is_no_input_device_and_a_clear_message() {
    // A separate process, so that its sound-server address points nowhere.
    let output = Command::new(env!("CARGO_BIN_EXE_viva-audio-check"))
        .env("PULSE_SERVER", "unix:/nonexistent/viva-no-pulse")
        .output()
        .unwrap();
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert_eq!(output.status.code(), Some(2), "{stderr}");
    assert!(stderr.contains("no_input_device"), "{stderr}");
    assert!(
        stderr.contains("No usable microphone was found"),
        "{stderr}"
    );
    assert!(!stderr.contains("panicked"), "{stderr}");
}

//! `viva-audio-check`: lists the audio devices Viva sees and records one second from the chosen
//! (or default) microphone — the first thing to run when someone says "Viva cannot hear me".
//!
//! Usage: `viva-audio-check [DEVICE_ID]`. Exit status: 0 when the microphone delivered sound
//! frames, 2 when no microphone could be opened, 1 for any other failure.

use std::process::ExitCode;
use std::time::{Duration, Instant};

use viva_audio::{Capture, CaptureSettings, DeviceSelection, input_devices, output_devices};

fn main() -> ExitCode {
    for (title, devices) in [("Inputs", input_devices()), ("Outputs", output_devices())] {
        println!("{title}:");
        if devices.is_empty() {
            println!("  (none)");
        }
        for device in devices {
            let mark = if device.is_default { "*" } else { " " };
            let monitor = if device.is_monitor {
                " (records an output)"
            } else {
                ""
            };
            println!(" {mark} {}  {}{monitor}", device.id, device.name);
        }
    }
    let device = std::env::args()
        .nth(1)
        .map_or(DeviceSelection::SystemDefault, DeviceSelection::Id);
    let (capture, mut streams) = match Capture::start(CaptureSettings {
        device,
        ..CaptureSettings::default()
    }) {
        Ok(started) => started,
        Err(error) => {
            eprintln!("error [{}]: {error}", error.code());
            return ExitCode::from(if error.code() == "no_input_device" {
                2
            } else {
                1
            });
        }
    };
    let started = Instant::now();
    let mut frames = 0;
    while started.elapsed() < Duration::from_secs(1) {
        while streams.frames.try_recv().is_ok() {
            frames += 1;
        }
        std::thread::sleep(Duration::from_millis(20));
    }
    let stats = capture.stats();
    let name = stats.device.map(|d| d.name).unwrap_or_default();
    println!("Recorded {frames} frames of 20 ms from {name}.");
    if frames == 0 {
        eprintln!("error [no_frames]: the microphone opened but delivered nothing");
        return ExitCode::from(1);
    }
    ExitCode::SUCCESS
}

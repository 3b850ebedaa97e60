//! Opening cpal streams in whatever sample format the device offers, and catching what the
//! device reports about them from its error callback.

use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use cpal::traits::{DeviceTrait, StreamTrait};
use cpal::{BufferSize, ErrorKind, FromSample, SampleFormat, SizedSample, StreamConfig};

use crate::AudioError;
use crate::device::Opened;
use crate::rt::{CaptureCallback, PlaybackCallback};

/// How long a sound server may take to create a stream before we call the device unusable.
const BUILD_TIMEOUT: Duration = Duration::from_secs(3);

/// What the stream's error callback has seen. Written from the device's thread on the (rare)
/// error path, read by the worker.
#[derive(Debug, Default)]
pub(crate) struct StreamHealth {
    failed: AtomicBool,
    reason: Mutex<Option<String>>,
    pub xruns: AtomicU64,
}

impl StreamHealth {
    fn report(&self, error: &cpal::Error) {
        match error.kind() {
            // A glitch, not a lost device; a rerouted default stream keeps running.
            ErrorKind::Xrun => {
                self.xruns.fetch_add(1, Ordering::Relaxed);
            }
            ErrorKind::DeviceChanged | ErrorKind::RealtimeDenied => {}
            _ => {
                if let Ok(mut reason) = self.reason.lock() {
                    reason.get_or_insert_with(|| error.to_string());
                }
                self.failed.store(true, Ordering::Release);
            }
        }
    }

    /// The reason the stream stopped working, once it has.
    pub fn failure(&self) -> Option<String> {
        if !self.failed.load(Ordering::Acquire) {
            return None;
        }
        let reason = self.reason.lock().ok().and_then(|r| r.clone());
        Some(reason.unwrap_or_else(|| "the device stopped working".into()))
    }
}

/// Ten milliseconds of the device's frames: small callbacks keep latency low on PulseAudio,
/// which otherwise delivers in large blocks.
fn low_latency(opened: &Opened) -> BufferSize {
    BufferSize::Fixed((opened.config.sample_rate() / 100).max(64))
}

fn config(opened: &Opened, buffer_size: BufferSize) -> StreamConfig {
    StreamConfig {
        channels: opened.config.channels(),
        sample_rate: opened.config.sample_rate(),
        buffer_size,
    }
}

fn open_error(opened: &Opened, error: &cpal::Error) -> AudioError {
    AudioError::DeviceOpen {
        id: opened.info.id.clone(),
        detail: error.to_string(),
    }
}

macro_rules! by_format {
    ($format:expr, $build:ident, $($arg:expr),*) => {
        match $format {
            SampleFormat::F32 => $build::<f32>($($arg),*),
            SampleFormat::I16 => $build::<i16>($($arg),*),
            SampleFormat::I32 => $build::<i32>($($arg),*),
            SampleFormat::U16 => $build::<u16>($($arg),*),
            SampleFormat::U8 => $build::<u8>($($arg),*),
            SampleFormat::I8 => $build::<i8>($($arg),*),
            SampleFormat::F64 => $build::<f64>($($arg),*),
            SampleFormat::U32 => $build::<u32>($($arg),*),
            other => Err(cpal::Error::with_message(
                ErrorKind::UnsupportedConfig,
                format!("the sample format {other} is not supported"),
            )),
        }
    };
}

fn build_input<T>(
    device: &cpal::Device,
    config: StreamConfig,
    mut callback: CaptureCallback,
    health: Arc<StreamHealth>,
) -> Result<cpal::Stream, cpal::Error>
where
    T: SizedSample,
    f32: FromSample<T>,
{
    device.build_input_stream::<T, _, _>(
        config,
        move |data: &[T], _| callback.on_data(data, Instant::now()),
        move |error| health.report(&error),
        Some(BUILD_TIMEOUT),
    )
}

fn build_output<T>(
    device: &cpal::Device,
    config: StreamConfig,
    mut callback: PlaybackCallback,
    health: Arc<StreamHealth>,
) -> Result<cpal::Stream, cpal::Error>
where
    T: SizedSample + FromSample<f32>,
    f32: FromSample<T>,
{
    device.build_output_stream::<T, _, _>(
        config,
        move |data: &mut [T], _| callback.on_data(data),
        move |error| health.report(&error),
        Some(BUILD_TIMEOUT),
    )
}

/// Starts a stream built by `build`, trying a 10 ms buffer first and the device's own choice
/// second.
fn start_with(
    opened: &Opened,
    mut build: impl FnMut(StreamConfig) -> Result<cpal::Stream, cpal::Error>,
) -> Result<cpal::Stream, AudioError> {
    let mut last = None;
    for buffer in [low_latency(opened), BufferSize::Default] {
        match build(config(opened, buffer)).and_then(|stream| stream.play().map(|()| stream)) {
            Ok(stream) => return Ok(stream),
            Err(error) => last = Some(error),
        }
    }
    Err(last.map_or_else(
        || AudioError::DeviceOpen {
            id: opened.info.id.clone(),
            detail: "no stream configuration worked".into(),
        },
        |error| open_error(opened, &error),
    ))
}

/// Opens and starts an input stream feeding a callback from `make_callback`.
pub(crate) fn start_input(
    opened: &Opened,
    mut make_callback: impl FnMut() -> CaptureCallback,
    health: &Arc<StreamHealth>,
) -> Result<cpal::Stream, AudioError> {
    let format = opened.config.sample_format();
    start_with(opened, |config| {
        by_format!(
            format,
            build_input,
            &opened.device,
            config,
            make_callback(),
            Arc::clone(health)
        )
    })
}

/// Opens and starts an output stream drawing from a callback from `make_callback`.
pub(crate) fn start_output(
    opened: &Opened,
    mut make_callback: impl FnMut() -> PlaybackCallback,
    health: &Arc<StreamHealth>,
) -> Result<cpal::Stream, AudioError> {
    let format = opened.config.sample_format();
    start_with(opened, |config| {
        by_format!(
            format,
            build_output,
            &opened.device,
            config,
            make_callback(),
            Arc::clone(health)
        )
    })
}

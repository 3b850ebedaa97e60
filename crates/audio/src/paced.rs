//! A microphone stand-in for scripted calls, tests and benchmarks: speech queued from a WAV
//! file (or samples) goes out as real-time 20 ms Opus frames, with silence between, exactly
//! like [`crate::Capture`]'s frames. No sound card needed.

use std::collections::VecDeque;
use std::path::Path;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use tokio::sync::mpsc;

use crate::AudioError;
use crate::capture::EncodedFrame;
use crate::codec::{EncoderSettings, FRAME_SAMPLES, OpusEncoder, SAMPLE_RATE};
use crate::level::to_dbfs;
use crate::resample::StreamResampler;

/// Reads a WAV file (any rate, channels, 16-bit or float) as mono 48 kHz samples.
///
/// # Errors
/// [`AudioError::File`] when the file cannot be read or is not a WAV we understand.
pub fn read_wav(path: &Path) -> Result<Vec<f32>, AudioError> {
    let file_error = |detail: String| AudioError::File {
        path: path.display().to_string(),
        detail,
    };
    let mut reader = hound::WavReader::open(path).map_err(|e| file_error(e.to_string()))?;
    let spec = reader.spec();
    let channels = usize::from(spec.channels.max(1));
    let interleaved: Vec<f32> = match spec.sample_format {
        hound::SampleFormat::Float => reader
            .samples::<f32>()
            .collect::<Result<_, _>>()
            .map_err(|e| file_error(e.to_string()))?,
        hound::SampleFormat::Int => {
            let scale = 1.0 / (1_i64 << (spec.bits_per_sample.clamp(1, 32) - 1)) as f32;
            reader
                .samples::<i32>()
                .map(|s| s.map(|v| v as f32 * scale))
                .collect::<Result<_, _>>()
                .map_err(|e| file_error(e.to_string()))?
        }
    };
    let mono: Vec<f32> = interleaved
        .chunks(channels)
        .map(|frame| frame.iter().sum::<f32>() / frame.len() as f32)
        .collect();
    if spec.sample_rate == SAMPLE_RATE {
        return Ok(mono);
    }
    let mut resampler = StreamResampler::new(spec.sample_rate, SAMPLE_RATE)?;
    let mut out = Vec::with_capacity(
        mono.len() * SAMPLE_RATE as usize / spec.sample_rate as usize + FRAME_SAMPLES,
    );
    resampler.process(&mono, &mut out)?;
    // Flush the resampler's delay with a little silence so the last word is not cut.
    resampler.process(&vec![0.0; spec.sample_rate as usize / 20], &mut out)?;
    Ok(out)
}

/// Speech waiting to be "said", shared with the pacing task.
#[derive(Debug, Clone, Default)]
pub struct PacedMicrophone {
    queue: Arc<Mutex<VecDeque<f32>>>,
    level: Arc<Mutex<f32>>,
}

impl PacedMicrophone {
    /// Starts sending frames (silence until something is queued) on the returned channel,
    /// every 20 ms until the receiver is dropped. Must be called inside a tokio runtime.
    ///
    /// # Errors
    /// [`AudioError::Codec`] when the encoder cannot be made.
    pub fn start(
        settings: EncoderSettings,
    ) -> Result<(Self, mpsc::Receiver<EncodedFrame>), AudioError> {
        let mut encoder = OpusEncoder::new(settings)?;
        let microphone = Self::default();
        let (frames_tx, frames) = mpsc::channel(50);
        let (queue, level) = (microphone.queue.clone(), microphone.level.clone());
        tokio::spawn(async move {
            let mut ticker = tokio::time::interval(Duration::from_millis(20));
            ticker.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Burst);
            let mut samples = vec![0.0; FRAME_SAMPLES];
            for sequence in 0u64.. {
                ticker.tick().await;
                let filled_at = Instant::now();
                let silent = {
                    let Ok(mut pending) = queue.lock() else {
                        return;
                    };
                    let silent = pending.is_empty();
                    for sample in &mut samples {
                        *sample = pending.pop_front().unwrap_or(0.0);
                    }
                    silent
                };
                let peak = samples.iter().fold(0.0f32, |m, s| m.max(s.abs()));
                if let Ok(mut shown) = level.lock() {
                    *shown = to_dbfs(peak);
                }
                let Ok(payload) = encoder.encode(&samples) else {
                    return;
                };
                let frame = EncodedFrame {
                    sequence,
                    captured_at: filled_at - Duration::from_millis(20),
                    filled_at,
                    encoded_at: Instant::now(),
                    payload,
                    silent,
                };
                // Like a real microphone: a reader that falls behind loses frames.
                match frames_tx.try_send(frame) {
                    Ok(()) | Err(mpsc::error::TrySendError::Full(_)) => {}
                    Err(mpsc::error::TrySendError::Closed(_)) => return,
                }
            }
        });
        Ok((microphone, frames))
    }

    /// Queues speech (48 kHz mono) to be said after what is already queued.
    pub fn say(&self, samples: &[f32]) {
        if let Ok(mut queue) = self.queue.lock() {
            queue.extend(samples.iter().copied());
        }
    }

    /// Whether everything queued has been sent.
    #[must_use]
    pub fn is_idle(&self) -> bool {
        self.queue.lock().map(|q| q.is_empty()).unwrap_or(true)
    }

    /// Peak level of the last frame sent, in dBFS.
    #[must_use]
    pub fn level_dbfs(&self) -> f32 {
        self.level
            .lock()
            .map(|l| *l)
            .unwrap_or(crate::level::FLOOR_DBFS)
    }
}
